// The page in a real browser: Debian's Chromium driven by playwright-core, one browser context
// per user (separate cookie jars), against herald and nexora started by the harness.
//
// Chromium: `apt-get update && apt-get install -y chromium` (tests/run.sh does it when missing).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { PASSWORD, startStack } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = 15000;

let stack;
let browser;

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: run \`apt-get update && apt-get install -y chromium\``);
  }
  stack = await startStack();
  // playwright gives every launch a fresh temporary user-data-dir and removes it on close.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

/// A new browser context (own cookies) logged in through the form; resolves once connected.
async function loginAs(name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e));
  await page.goto(stack.url);
  await page.fill('#login-name', name);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await connectedPage(page);
  return { context, page };
}

async function connectedPage(page) {
  await page.waitForSelector('#app:not([hidden])', { timeout: WAIT });
  await waitText(page, '#conn-state', /^connected$/);
}

/// Waits until the element's text matches `pattern` (a RegExp or an exact string).
async function waitText(page, selector, pattern) {
  const source = pattern instanceof RegExp ? { re: pattern.source, flags: pattern.flags } : { exact: pattern };
  await page.waitForFunction(({ selector, source }) => {
    const node = document.querySelector(selector);
    if (!node) return false;
    const text = node.textContent;
    return source.exact !== undefined ? text === source.exact : new RegExp(source.re, source.flags).test(text);
  }, { selector, source }, { timeout: WAIT });
}

const badge = (page) => page.evaluate(() => {
  const node = document.querySelector('#bell-count');
  return node.hidden ? '' : node.textContent;
});

describe('the nexora page in Chromium', () => {
  let alice;
  let bob;

  it('shows both members online in the guild', async () => {
    alice = await loginAs('alice');
    bob = await loginAs('bob');
    for (const { page } of [alice, bob]) {
      await waitText(page, '#conv-title', 'Rustaceans');
      await waitText(page, '#online', /alice.*bob|bob.*alice/);
    }
  });

  it('shows and clears the typing indicator', async () => {
    await alice.page.locator('#message-input').pressSequentially('hel', { delay: 30 });
    await waitText(bob.page, '#typing', 'alice is typing…');
    // Two idle seconds send client-typing:stop.
    await waitText(bob.page, '#typing', '');
  });

  it('delivers a message live to the other user', async () => {
    await alice.page.fill('#message-input', 'Hello from Chromium');
    await alice.page.press('#message-input', 'Enter');
    await waitText(bob.page, '#messages', /alice\s*Hello from Chromium/);
    // The sender's copy comes from the POST's answer, which may land after bob's event.
    await waitText(alice.page, '#messages', /alice\s*Hello from Chromium/);
    const own = await alice.page.locator('#messages li', { hasText: 'Hello from Chromium' }).count();
    assert.equal(own, 1, 'the sender sees it once');
  });

  it('pops a toast and bumps the bell when a DM arrives', async () => {
    assert.equal(await badge(bob.page), '1', 'one seeded unread notification');
    await alice.page.click('#dm-list li:text-is("bob")');
    await waitText(alice.page, '#conv-title', 'bob');
    await alice.page.fill('#message-input', 'psst, bob');
    await alice.page.press('#message-input', 'Enter');
    const toast = bob.page.locator('.toast', { hasText: 'New message from alice' });
    await toast.waitFor({ state: 'visible', timeout: WAIT });
    assert.match(await toast.textContent(), /psst, bob/);
    await waitText(bob.page, '#bell-count', '2');
    await toast.waitFor({ state: 'detached', timeout: WAIT });
  });

  it('marking all read in one tab clears the badge in the other', async () => {
    const tab2 = await bob.context.newPage();
    await tab2.goto(stack.url);
    await connectedPage(tab2);
    assert.equal(await badge(tab2), '2');
    await bob.page.click('#bell');
    await bob.page.waitForSelector('#notif-list li.unread', { timeout: WAIT });
    await bob.page.click('#mark-all');
    await tab2.waitForFunction(() => document.querySelector('#bell-count').hidden, null, { timeout: WAIT });
    // The clicking tab clears its own badge when its request or the live event completes,
    // which may be after the other tab's: wait for it rather than read it at once.
    await bob.page.waitForFunction(() => document.querySelector('#bell-count').hidden, null, { timeout: WAIT });
    assert.equal(await badge(bob.page), '');

    // More than nine unread shows 9+.
    await alice.page.evaluate(async (bobId) => {
      for (let i = 0; i < 10; i++) {
        await fetch(`/api/dms/${bobId}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: `ping ${i}` }) });
      }
    }, (await bob.page.evaluate(() => window.nexora.me.id)));
    await waitText(tab2, '#bell-count', '9+');

    const shot = path.join(os.tmpdir(), 'nexora-browser.png');
    await bob.page.screenshot({ path: shot });
    console.log(`screenshot of bob's page: ${shot}`);
  });

  it('refuses a guild channel to a user outside the guild', async () => {
    const erin = await loginAs('erin');
    assert.equal(await erin.page.locator('#guild-list li').count(), 0, 'erin is in no guild');
    const outcome = await erin.page.evaluate(() => window.nexora.trySubscribe('presence-guild-1'));
    assert.equal(outcome, 403);
    const own = await erin.page.evaluate(() => window.nexora.trySubscribe(`private-user-${window.nexora.me.id}`));
    assert.equal(own, 'ok');
  });
});

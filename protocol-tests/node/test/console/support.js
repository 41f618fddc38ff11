// Support for the debug console tests: a herald with the console on, Debian's Chromium driven
// by playwright-core, and small waiting helpers.
//
// This module registers no tests and has no side effects on import: `node --test test/` also
// loads it as if it were a test file.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startHerald } from '../helpers/herald.js';

export { APP1, APP2, delay, eventually, subscribed, waitFor } from '../helpers/herald.js';

export const CHROMIUM = '/usr/bin/chromium';
const INSTALL_CHROMIUM = 'apt-get update && apt-get install -y chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A random admin token of 32 characters. */
export function randomToken() {
  return randomBytes(16).toString('hex');
}

/**
 * Starts herald (HERALD_BIN or target/debug/herald) with apps 1001 (client events on) and
 * 1002, metrics off, and the console on with `token` (off when `token` is empty).
 */
export function startConsoleHerald(token) {
  const config = { metrics_enabled: false };
  if (token) config.console_token = token;
  return startHerald({ config });
}

/** Installs Chromium if it is missing (the tests run as root), or explains how to. */
function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  try {
    execFileSync('sh', ['-c', INSTALL_CHROMIUM], { stdio: 'pipe', timeout: 15 * 60_000 });
  } catch (e) {
    throw new Error(`${CHROMIUM} is missing and installing it failed; run \`${INSTALL_CHROMIUM}\` as root (${e.message.split('\n')[0]})`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is still missing; run \`${INSTALL_CHROMIUM}\` as root`);
}

/**
 * Launches headless Chromium with a fresh profile directory. Returns the browser context and
 * `close()`, which also removes the profile.
 */
export async function launchBrowser() {
  ensureChromium();
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'herald-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the console in a new tab and signs in with `token`; resolves once the stream is live. */
export async function openConsole(context, herald, token) {
  const page = await context.newPage();
  await page.goto(`${herald.baseUrl}/console`);
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#stream-state[data-state="live"]', { timeout: 5000 });
  return page;
}

/** Waits until the text of `selector` equals `expected`. */
export async function waitForText(page, selector, expected, timeout = 5000) {
  try {
    await page.waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.textContent.trim() === want,
      [selector, String(expected)],
      { timeout },
    );
  } catch {
    const actual = await page.evaluate((sel) => document.querySelector(sel)?.textContent.trim(), selector);
    throw new Error(`expected '${selector}' to read '${expected}', it reads '${actual}'`);
  }
}

/** A CSS selector for events-log lines; `fields` match the line's data attributes. */
export function logLine({ kind, channel, event } = {}) {
  const esc = (v) => JSON.stringify(String(v));
  return (
    '#log li' +
    (kind ? `[data-kind=${esc(kind)}]` : '') +
    (channel ? `[data-channel=${esc(channel)}]` : '') +
    (event ? `[data-event=${esc(event)}]` : '')
  );
}

/** Saves a screenshot when CONSOLE_SCREENSHOT_DIR is set (for looking at the page). */
export async function maybeScreenshot(page, name) {
  const dir = process.env.CONSOLE_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

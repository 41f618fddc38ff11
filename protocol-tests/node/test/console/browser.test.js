// The debug console in a real browser: Debian's Chromium driven by playwright-core against a
// herald with the console on; pusher-js (Node build) as the client being watched, the
// `pusher` library in a separate process as an app server.

import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  APP1,
  launchBrowser,
  logLine,
  maybeScreenshot,
  openConsole,
  randomToken,
  startConsoleHerald,
  subscribed,
  waitFor,
  waitForText,
} from './support.js';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Triggers an event from a separate Node process with the `pusher` server library. */
async function triggerFromAnotherProcess(herald, channel, event, data) {
  const script = `
    import Pusher from 'pusher';
    const [port, channel, event, data] = process.argv.slice(1);
    const pusher = new Pusher({ appId: '${APP1.id}', key: '${APP1.key}', secret: '${APP1.secret}', host: '127.0.0.1', port, useTLS: false });
    const res = await pusher.trigger(channel, event, JSON.parse(data));
    if (res.status !== 200) throw new Error('trigger answered ' + res.status);
  `;
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, String(herald.port), channel, event, JSON.stringify(data)], {
    cwd: PACKAGE_DIR,
    timeout: 10_000,
  });
}

describe('debug console in Chromium', () => {
  const token = randomToken();
  let herald;
  let browser;
  let page;
  let client;
  let news;

  before(async () => {
    herald = await startConsoleHerald(token);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await herald?.stop();
  });

  it('refuses a wrong token and says so', async () => {
    const wrong = await browser.context.newPage();
    await wrong.goto(`${herald.baseUrl}/console`);
    await wrong.fill('#token', `${token.slice(0, -1)}x`);
    await wrong.click('#login-form button[type=submit]');
    await wrong.waitForSelector('#login-error:not([hidden])', { timeout: 5000 });
    assert.match(await wrong.textContent('#login-error'), /wrong token/i);
    assert.equal(await wrong.isVisible('#console'), false, 'the console stays hidden');
    await maybeScreenshot(wrong, 'wrong-token');
    await wrong.close();
  });

  it('signs in with the right token and lists the apps without their secrets', async () => {
    page = await openConsole(browser.context, herald, token);
    const options = await page.$$eval('#app option', (opts) => opts.map((o) => ({ value: o.value, text: o.textContent })));
    assert.deepEqual(options.map((o) => o.value), ['1001', '1002']);
    assert.ok(options[0].text.includes(APP1.key));
    assert.ok(!(await page.content()).includes(APP1.secret), 'no secret on the page');
    await waitForText(page, '#connections', '0');
  });

  it('shows a pusher-js client connecting and subscribing', async () => {
    client = await herald.connectedClient({ user: { user_id: 'ada', user_info: { name: 'Ada' } } });
    news = await subscribed(client, 'console-news');
    await subscribed(client, 'presence-console-room');

    await page.waitForSelector(logLine({ kind: 'connection_opened' }));
    await page.waitForSelector(logLine({ kind: 'subscribed', channel: 'console-news' }));
    await page.waitForSelector(logLine({ kind: 'subscribed', channel: 'presence-console-room' }));
    const socketLine = await page.textContent(logLine({ kind: 'connection_opened' }));
    assert.ok(socketLine.includes(client.connection.socket_id), `the line names the socket: ${socketLine}`);

    await waitForText(page, '#connections', '1');
    await waitForText(page, '#channel-count', '2');
    await waitForText(page, '#channels tr[data-channel="console-news"] td:nth-child(2)', '1');
    await waitForText(page, '#channels tr[data-channel="presence-console-room"] td:nth-child(3)', '1');
  });

  it('shows client events', async () => {
    const other = await herald.connectedClient();
    await subscribed(other, 'private-console-chat');
    const chat = await subscribed(client, 'private-console-chat');
    chat.trigger('client-typing', { who: 'ada' });
    await page.waitForSelector(logLine({ kind: 'client_event', channel: 'private-console-chat', event: 'client-typing' }));
    other.disconnect();
    await page.waitForSelector(logLine({ kind: 'connection_closed' }));
  });

  it('shows an event triggered by the pusher library in another process', async () => {
    const received = waitFor(news, 'from-another-process', 5000);
    await triggerFromAnotherProcess(herald, 'console-news', 'from-another-process', { n: 1 });
    assert.deepEqual(await received, { n: 1 });
    await page.waitForSelector(logLine({ kind: 'api_event', channel: 'console-news', event: 'from-another-process' }));
  });

  it('sends an event from the trigger form that the pusher-js client receives', async () => {
    const received = waitFor(news, 'console-ping', 5000);
    await page.fill('#t-channels', 'console-news');
    await page.fill('#t-event', 'console-ping');
    await page.fill('#t-data', '{"hello":"from the console"}');
    await page.click('#t-send');
    assert.deepEqual(await received, { hello: 'from the console' });
    await waitForText(page, '#t-result', 'Sent to 1 channel.');
    await page.waitForSelector(logLine({ kind: 'api_event', channel: 'console-news', event: 'console-ping' }));
  });

  it("shows the HTTP API's refusal when the form's event is invalid", async () => {
    await page.fill('#t-channels', 'not a valid channel');
    await page.click('#t-send');
    await page.waitForSelector('#t-result.bad');
    assert.match(await page.textContent('#t-result'), /Invalid channel name/);
  });

  it('filters the log by channel, event and kind', async () => {
    const visible = () => page.$$eval('#log li:not([hidden])', (lis) => lis.map((li) => ({ ...li.dataset })));
    const total = await page.$$eval('#log li', (lis) => lis.length);

    await page.fill('#filter-channel', 'console-news');
    let shown = await visible();
    assert.ok(shown.length > 0 && shown.length < total, `some lines hidden (${shown.length} of ${total})`);
    assert.ok(shown.every((l) => l.channel.includes('console-news')), JSON.stringify(shown));
    assert.equal(await page.isVisible(logLine({ kind: 'connection_opened' })), false);

    await page.fill('#filter-event', 'console-ping');
    shown = await visible();
    assert.deepEqual(shown.map((l) => l.event), ['console-ping']);
    await maybeScreenshot(page, 'filtered');

    // New lines obey the filters as they arrive.
    await triggerFromAnotherProcess(herald, 'console-news', 'not-matching', {});
    await page.waitForSelector(logLine({ event: 'not-matching' }), { state: 'attached' });
    assert.equal(await page.isVisible(logLine({ event: 'not-matching' })), false);

    await page.fill('#filter-channel', '');
    await page.fill('#filter-event', '');
    await page.selectOption('#filter-kind', 'subscribed');
    shown = await visible();
    assert.ok(shown.length >= 3 && shown.every((l) => l.kind === 'subscribed'), JSON.stringify(shown));

    await page.selectOption('#filter-kind', '');
    assert.equal((await visible()).length, await page.$$eval('#log li', (lis) => lis.length));
    await maybeScreenshot(page, 'console');
  });

  it('drops the session when the server stops accepting the token', async () => {
    // A tampered token in storage stands in for a rotated one.
    await page.evaluate(() => sessionStorage.setItem('herald-console-token', 'not-the-token-anymore-0000000000'));
    await page.reload();
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.isVisible('#console'), false);
  });
});

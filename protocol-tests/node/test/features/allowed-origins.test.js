// allowed_origins: pages from other origins cannot open sockets with an app's key. Proven in
// Chromium (Debian's, through playwright-core) with pusher-js's browser build loaded from a page
// on an allowed origin and from the same page on an origin that is not; the exact refusal
// (pusher:error 4009, then close 4009) and the handshakes that must pass (no Origin at all,
// an app without the setting) with raw sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { startHerald, APP1, APP2, RawClient } from '../helpers/herald.js';
import { launchBrowser } from '../console/support.js';

const require = createRequire(import.meta.url);
const PUSHER_JS_WEB = readFileSync(require.resolve('pusher-js/dist/web/pusher.js'));

/** `promise`, or a failure naming `what` after `ms`. */
function within(promise, what, ms = 5000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A page that connects pusher-js to herald and records what became of it in `window.outcome`. */
function page(herald, key) {
  return `<!doctype html><meta charset="utf-8"><title>origin test</title>
<script src="/pusher.js"></script>
<script>
  const pusher = new Pusher(${JSON.stringify(key)}, { cluster: 'local', wsHost: '127.0.0.1', wsPort: ${herald.port}, forceTLS: false, enabledTransports: ['ws'] });
  window.outcome = new Promise((resolve) => {
    pusher.connection.bind('connected', () => resolve({ state: 'connected' }));
    pusher.connection.bind('error', (e) => resolve({ state: 'error', code: e?.error?.data?.code ?? e?.data?.code }));
  });
  window.subscribed = (name) => new Promise((resolve) => pusher.subscribe(name).bind('pusher:subscription_succeeded', () => resolve(true)));
  window.nextEvent = (name, event) => new Promise((resolve) => pusher.channel(name).bind(event, resolve));
</script>`;
}

describe('allowed_origins', () => {
  let herald;
  let site;
  let sitePort;
  let browser;

  before(async () => {
    // The page's server first: its port is part of the allowed origin.
    site = createServer((req, res) => {
      if (req.url === '/pusher.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(PUSHER_JS_WEB);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end(page(herald, APP1.key));
      }
    });
    await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
    sitePort = site.address().port;
    herald = await startHerald({
      config: { metrics_enabled: false },
      app1: { allowed_origins: [`http://127.0.0.1:${sitePort}`, '*.example.org'] },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await herald?.stop();
    site?.close();
  });

  it('lets pusher-js connect from a page on an allowed origin, and deliver', async () => {
    const tab = await browser.context.newPage();
    try {
      await tab.goto(`http://127.0.0.1:${sitePort}/`);
      assert.deepEqual(await within(tab.evaluate(() => window.outcome), 'pusher-js to connect'), { state: 'connected' });
      assert.equal(await within(tab.evaluate(() => window.subscribed('news')), 'the subscription'), true);
      // Bound in the page before the trigger is sent, so the event cannot arrive unwatched.
      await tab.evaluate(() => {
        window.update = window.nextEvent('news', 'update');
      });
      await herald.server().trigger('news', 'update', { from: 'server' });
      assert.deepEqual(await within(tab.evaluate(() => window.update), 'the event'), { from: 'server' });
    } finally {
      await tab.close();
    }
  });

  it('refuses pusher-js on a page from another origin with 4009', async () => {
    const tab = await browser.context.newPage();
    try {
      // The same page from http://localhost:PORT: another origin.
      await tab.goto(`http://localhost:${sitePort}/`);
      assert.deepEqual(await within(tab.evaluate(() => window.outcome), 'pusher-js to connect or fail'), { state: 'error', code: 4009 });
    } finally {
      await tab.close();
    }
  });

  it('sends pusher:error 4009 then closes with 4009 to a raw socket from another origin', async () => {
    const raw = new RawClient(herald.wsUrl(APP1.key), { wsOptions: { origin: 'https://evil.example' } });
    const closed = await within(raw.closed, 'the close');
    assert.equal(closed.code, 4009);
    assert.equal(raw.messages[0]?.event, 'pusher:error', `first frame: ${raw.messages[0]?.__raw}`);
    assert.equal(raw.messages[0].data.code, 4009);
    assert.match(raw.messages[0].data.message, /allowed_origins/);
    assert.equal(raw.messages.some((m) => m.event === 'pusher:connection_established'), false);
  });

  it("lets through a subdomain of an allowed wildcard, a client without Origin or with the server's own, and other apps", async () => {
    for (const [what, key, origin] of [
      ['a subdomain of *.example.org', APP1.key, 'https://chat.example.org'],
      ['a handshake without Origin (server libraries, native clients)', APP1.key, undefined],
      ["the server's own origin (what Python's websocket-client sends)", APP1.key, `http://127.0.0.1:${herald.port}`],
      ['an app without allowed_origins', APP2.key, 'https://evil.example'],
    ]) {
      const raw = new RawClient(herald.wsUrl(key), { wsOptions: origin ? { origin } : {} });
      try {
        const established = await raw.established();
        assert.match(established.socket_id, /^\d+\.\d+$/, what);
      } finally {
        raw.terminate();
      }
    }
    const apex = new RawClient(herald.wsUrl(APP1.key), { wsOptions: { origin: 'https://example.org' } });
    assert.equal((await within(apex.closed, 'the close')).code, 4009, '*.example.org does not cover example.org itself');
  });
});

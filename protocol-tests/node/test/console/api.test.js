// The debug console's HTTP surface without a browser: off by default, token checks, the JSON
// endpoints and the Server-Sent Events stream.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { APP1, APP2, eventually, randomToken, startConsoleHerald, subscribed, waitFor } from './support.js';

const PATHS = ['/console', '/console/console.js', '/console/console.css', '/console/api/apps', '/console/api/apps/1001/channels', '/console/api/apps/1001/stream'];

describe('console off (no console_token)', () => {
  let herald;
  before(async () => {
    herald = await startConsoleHerald('');
  });
  after(async () => {
    await herald?.stop();
  });

  it('answers 404 everywhere, even with a token', async () => {
    for (const path of PATHS) {
      const res = await fetch(`${herald.baseUrl}${path}`, { headers: { Authorization: 'Bearer anything-at-all-0000000000000000' } });
      assert.equal(res.status, 404, path);
      assert.ok((await res.json()).error, path);
    }
    const post = await fetch(`${herald.baseUrl}/console/api/apps/1001/events`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 404);
  });
});

describe('console on', () => {
  const token = randomToken();
  let herald;
  const get = (path, auth = token) => fetch(`${herald.baseUrl}/console/api/${path}`, { headers: auth === null ? {} : { Authorization: `Bearer ${auth}` } });
  const post = (path, body, auth = token) =>
    fetch(`${herald.baseUrl}/console/api/${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  before(async () => {
    herald = await startConsoleHerald(token);
  });
  after(async () => {
    await herald?.stop();
  });

  it('serves the page and its assets without a token, with a strict CSP', async () => {
    const page = await fetch(`${herald.baseUrl}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.headers.get('content-security-policy'), /default-src 'none'/);
    const html = await page.text();
    assert.ok(!/https?:\/\//.test(html.replace(/<!doctype html>/i, '')), 'no external URL in the page');
    assert.match((await fetch(`${herald.baseUrl}/console/console.js`)).headers.get('content-type'), /javascript/);
    assert.match((await fetch(`${herald.baseUrl}/console/console.css`)).headers.get('content-type'), /text\/css/);
  });

  it('refuses a wrong, truncated or missing token with 401 JSON', async () => {
    const lastCharChanged = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a');
    for (const auth of [lastCharChanged, token.slice(0, 16), '', null]) {
      for (const path of ['apps', 'apps/1001/channels', 'apps/1001/stream']) {
        const res = await get(path, auth);
        assert.equal(res.status, 401, `${path} with ${JSON.stringify(auth)}`);
        assert.match(res.headers.get('content-type'), /application\/json/);
        assert.ok((await res.json()).error);
      }
    }
    const res = await post('apps/1001/events', { channels: ['x'], name: 'e', data: '{}' }, 'wrong-token-wrong-token-wrong-tok');
    assert.equal(res.status, 401);
    const basic = await fetch(`${herald.baseUrl}/console/api/apps`, { headers: { Authorization: `Basic ${token}` } });
    assert.equal(basic.status, 401, 'only the Bearer scheme');
  });

  it('lists the apps with id and key, never the secret', async () => {
    const res = await get('apps');
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes(APP1.secret) && !text.includes(APP2.secret), text);
    const { apps } = JSON.parse(text);
    assert.deepEqual(apps.map((a) => [a.id, a.key]), [[APP1.id, APP1.key], [APP2.id, APP2.key]]);
    assert.equal(apps[0].connections, 0);
  });

  it('reports connections and occupied channels with subscriber and member counts', async () => {
    const ada = await herald.connectedClient({ user: { user_id: 'ada' } });
    const bob = await herald.connectedClient({ user: { user_id: 'bob' } });
    const ada2 = await herald.connectedClient({ user: { user_id: 'ada' } });
    for (const c of [ada, bob, ada2]) await subscribed(c, 'presence-api-room');
    await subscribed(ada, 'api-news');

    const answer = await eventually(async () => {
      const body = await (await get('apps/1001/channels')).json();
      return body.connections === 3 && body.total === 2 && body;
    }, 3000, 'three connections and two channels');
    assert.deepEqual(answer.channels, [
      { name: 'api-news', subscription_count: 1, user_count: null },
      { name: 'presence-api-room', subscription_count: 3, user_count: 2 },
    ]);
    assert.equal(answer.truncated, false);

    const filtered = await (await get('apps/1001/channels?prefix=presence-')).json();
    assert.deepEqual(filtered.channels.map((c) => c.name), ['presence-api-room']);
    assert.equal((await get('apps/9999/channels')).status, 404);
    await herald.disconnectAll();
  });

  it('publishes through the signed HTTP API and reports its refusals', async () => {
    const client = await herald.connectedClient();
    const channel = await subscribed(client, 'api-trigger');
    const received = waitFor(channel, 'console-event', 5000);
    const ok = await post('apps/1001/events', { channels: [' api-trigger ', ''], name: 'console-event', data: '{"a":1}' });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await received, { a: 1 });

    const invalid = await post('apps/1001/events', { channels: ['bad channel'], name: 'e', data: '{}' });
    assert.equal(invalid.status, 422);
    assert.match((await invalid.json()).error, /The HTTP API answered 400: Invalid channel name/);

    const empty = await post('apps/1001/events', { channels: [' '], name: 'e', data: '{}' });
    assert.equal(empty.status, 400);
    const malformed = await post('apps/1001/events', { channel: 'x' });
    assert.equal(malformed.status, 400);
    assert.equal((await post('apps/9999/events', { channels: ['x'], name: 'e', data: '' })).status, 404);
    await herald.disconnectAll();
  });

  it('streams the app’s tap events as Server-Sent Events', async () => {
    const abort = new AbortController();
    const res = await fetch(`${herald.baseUrl}/console/api/apps/1001/stream`, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    const frames = [];
    const nextFrame = async () => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          return frame;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended; frames so far: ${frames.join(' | ')}`);
        buffer += value;
      }
    };
    try {
      assert.equal(await nextFrame(), 'event: ready\ndata: {"app":"1001"}');
      // App 1002's events are not part of app 1001's stream.
      await herald.server(APP2).trigger('other-app', 'ignored', {});
      await herald.server().trigger('api-stream', 'streamed', { x: 1 });
      // Sockets of the previous test may still be closing: skip to the trigger's event.
      let event;
      do {
        const frame = await nextFrame();
        frames.push(frame);
        assert.ok(frame.startsWith('data: '), frame);
        event = JSON.parse(frame.slice('data: '.length));
        assert.equal(event.app, '1001', frame);
      } while (event.kind !== 'api_event');
      assert.equal(event.channel, 'api-stream');
      assert.equal(event.event, 'streamed');
      assert.equal(event.detail, '7 bytes');
      assert.equal(typeof event.time_ms, 'number');
    } finally {
      abort.abort();
    }
  });
});

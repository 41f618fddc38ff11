// Server-side liveness checks with short timeouts (spec §1.5, §1.7 close code 4201).
// Config: activity_timeout = 1, pong_timeout = 1, so a silent client is probed after 1 s and
// closed with 4201 one second later.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { collect, delay, eventually, stallConsumer, startHerald, waitFor } from './helpers/herald.js';

let herald;
before(async () => {
  herald = await startHerald({ config: { activity_timeout: 1, pong_timeout: 1 } });
});
// No afterEach(disconnectAll) here: it would cut the concurrent tests below short. Every
// test closes its own sockets (`t.after`), and herald.stop() closes whatever is left.
after(() => herald?.stop());

test('handshake advertises the configured activity_timeout', async (t) => {
  const raw = herald.raw();
  t.after(() => raw.terminate());
  const data = await raw.established();
  assert.equal(data.activity_timeout, 1);
});

test('a client that answers nothing (no WS pong, no pusher:pong) is closed with 4201', async (t) => {
  const raw = herald.raw({ autoPong: false });
  await raw.established();
  const start = Date.now();
  const closed = await Promise.race([raw.closed, delay(8000).then(() => null)]);
  const elapsed = Date.now() - start;
  assert.ok(closed, 'silent client was not closed within 8 s');
  assert.equal(closed.code, 4201, `close code ${closed.code} (${closed.reason})`);
  // The server must wait activity_timeout (1 s) before probing and pong_timeout (1 s) after.
  assert.ok(elapsed >= 1800, `closed after only ${elapsed} ms; expected >= activity_timeout + pong_timeout`);
  // It probed first: a WebSocket ping frame and/or a pusher:ping event.
  assert.ok(raw.pings > 0 || raw.messages.some((m) => m.event === 'pusher:ping'), 'server closed without probing first');
});

// The three "stays connected" cases each watch a fixed 4 s window (two full
// activity_timeout + pong_timeout cycles); they run concurrently to save time.
describe('clients that answer stay connected', { concurrency: true }, () => {
  const WINDOW_MS = 4000;

  test('a raw client that answers WebSocket pings (automatic pong frames)', async (t) => {
    const raw = herald.raw({ autoPong: true });
    t.after(() => raw.terminate());
    await raw.established();
    const closed = await Promise.race([raw.closed, delay(WINDOW_MS).then(() => null)]);
    assert.equal(closed, null, `closed with ${closed?.code} (${closed?.reason})`);
    assert.ok(raw.pings > 0, 'expected the server to probe with WebSocket ping frames');
  });

  test('a raw client that only answers pusher:ping events with pusher:pong', async (t) => {
    const raw = herald.raw({ autoPong: false });
    t.after(() => raw.terminate());
    await raw.established();
    let answered = 0;
    raw.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.event === 'pusher:ping') {
        answered++;
        raw.send({ event: 'pusher:pong', data: {} });
      }
    });
    const closed = await Promise.race([raw.closed, delay(WINDOW_MS).then(() => null)]);
    assert.equal(closed, null, `closed with ${closed?.code} (${closed?.reason}) after answering ${answered} pusher:ping`);
    assert.ok(answered > 0, 'expected the server to send pusher:ping events');
  });

  test('pusher-js stays connected on the same socket', async (t) => {
    const client = await herald.connectedClient();
    t.after(() => client.disconnect());
    const id = client.connection.socket_id;
    const states = collect(client.connection, 'state_change');
    await delay(WINDOW_MS);
    states.stop();
    assert.deepEqual(states.seen, [], `pusher-js changed state: ${JSON.stringify(states.seen)}`);
    assert.equal(client.connection.state, 'connected');
    assert.equal(client.connection.socket_id, id, 'pusher-js reconnected (new socket id)');
  });
});

test('pusher-js sees a connection_established it accepts with activity_timeout 1', async (t) => {
  const client = herald.client();
  t.after(() => client.disconnect());
  await waitFor(client.connection, 'connected', 5000);
  // pusher-js takes min(its default 120 s, server value) as its activity timeout.
  assert.equal(client.connection.activityTimeout, 1000);
});

test('a client that stops reading its socket is dropped (slow consumer 4100 or no pong 4201)', async (t) => {
  // The socket still has its TCP connection open but reads nothing and answers nothing:
  // after the flood it is both over its outbound queue (connection_queue_size) and silent
  // for longer than activity_timeout + pong_timeout.
  const api = herald.server();
  const raw = herald.raw();
  t.after(() => raw.terminate());
  const ok = await raw.subscribe('public-stops-reading');
  assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
  assert.ok(await stallConsumer(api, raw, 'public-stops-reading'), 'could not stall the consumer (setup problem)');
  const stalledAt = Date.now();
  // Polling: no client-visible event exists while the socket is not read.
  await eventually(
    async () => !(await (await api.get({ path: '/channels/public-stops-reading' })).json()).occupied,
    6000,
    'the stalled socket to be dropped from its channel',
  ).catch((e) => {
    throw new Error(`${e.message} (still subscribed ${Date.now() - stalledAt} ms after it stopped reading)`);
  });
});

// Connection handshake, protocol versions, refusals and pusher:ping (spec §1.1, §1.4–1.8, §7.1).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { APP1, SOCKET_ID_RE, collect, delay, startHerald, waitFor } from './helpers/herald.js';

let herald;
before(async () => {
  herald = await startHerald();
});
afterEach(() => herald.disconnectAll());
after(() => herald?.stop());

describe('pusher-js connects', () => {
  test('reaches the connected state with a socket_id of the form digits.digits', async () => {
    const client = herald.client();
    const data = await waitFor(client.connection, 'connected', 5000);
    assert.equal(client.connection.state, 'connected');
    assert.match(client.connection.socket_id, SOCKET_ID_RE);
    assert.equal(data.socket_id, client.connection.socket_id);
  });

  test('socket ids are unique across clients', async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => herald.connectedClient()));
    const ids = clients.map((c) => c.connection.socket_id);
    for (const id of ids) assert.match(id, SOCKET_ID_RE);
    assert.equal(new Set(ids).size, ids.length, `duplicate socket ids: ${ids.join(', ')}`);
  });
});

describe('raw handshake frames', () => {
  test('the first frame is pusher:connection_established with double-encoded data', async () => {
    const raw = herald.raw();
    await raw.next('pusher:connection_established');
    const first = raw.messages[0];
    assert.equal(first.event, 'pusher:connection_established', `first frame was ${first.__raw}`);
    assert.equal(first.__binary, false, 'handshake must be a text frame');
    assert.equal(typeof first.data, 'string', `data must be a JSON string (double encoding), got ${first.__raw}`);
    const data = JSON.parse(first.data);
    assert.match(data.socket_id, SOCKET_ID_RE);
    assert.ok(Number.isInteger(data.activity_timeout), `activity_timeout must be an integer: ${first.data}`);
    assert.ok(data.activity_timeout > 0, `activity_timeout must be > 0: ${first.data}`);
  });

  for (const protocol of [5, 6, 7]) {
    test(`protocol=${protocol} is accepted`, async () => {
      const raw = herald.raw({ query: `protocol=${protocol}&client=test&version=1.0.0` });
      const data = await raw.established();
      assert.match(data.socket_id, SOCKET_ID_RE);
    });
  }

  for (const [query, code, what] of [
    ['protocol=3&client=js&version=1.0', 4007, 'an unsupported protocol version'],
    ['client=js&version=8.6.0', 4008, 'a missing protocol version'],
    ['protocol=abc&client=js&version=8.6.0', 4006, 'a malformed protocol version'],
  ]) {
    test(`${what} (${query}) is closed with ${code}`, async () => {
      const raw = herald.raw({ query });
      await raw.opened; // refusals come as close codes after the upgrade
      const closed = await Promise.race([raw.closed, delay(5000).then(() => null)]);
      assert.ok(closed, 'socket was not closed within 5 s');
      assert.equal(closed.code, code, `close code ${closed.code} (${closed.reason}); frames: ${raw.messages.map((m) => m.__raw).join(' | ')}`);
      assert.ok(!raw.messages.some((m) => m.event === 'pusher:connection_established'), 'must not be established');
      const err = raw.messages.find((m) => m.event === 'pusher:error');
      if (err) assert.equal(err.data.code, code, `pusher:error before the close carries the same code: ${err.__raw}`);
    });
  }

  test('unknown query parameters are ignored', async () => {
    const raw = herald.raw({ query: 'protocol=7&client=js&version=8.6.0&flash=false&t=1712345678901&x-custom=yes&empty=' });
    const data = await raw.established();
    assert.match(data.socket_id, SOCKET_ID_RE);
  });

  test('offering subprotocol pusher-channels-protocol-7 upgrades (echoed or omitted)', async () => {
    const raw = herald.raw({ protocols: ['pusher-channels-protocol-7'] });
    await raw.opened;
    assert.ok(['pusher-channels-protocol-7', ''].includes(raw.ws.protocol), `server chose subprotocol '${raw.ws.protocol}'`);
    const data = await raw.established();
    assert.match(data.socket_id, SOCKET_ID_RE);
  });
});

describe('unknown app key', () => {
  test('raw: pusher:error 4001 (object data) then close 4001', async () => {
    const raw = herald.raw({ key: 'no-such-key' });
    const closed = await Promise.race([raw.closed, delay(5000).then(() => null)]);
    assert.ok(closed, 'socket was not closed within 5 s');
    assert.equal(closed.code, 4001);
    assert.ok(raw.messages.length >= 1, 'expected a pusher:error frame before the close');
    const first = raw.messages[0];
    assert.equal(first.event, 'pusher:error', `first frame: ${first.__raw}`);
    assert.equal(typeof first.data, 'object', `pusher:error data must be an object: ${first.__raw}`);
    assert.equal(first.data.code, 4001);
    assert.equal(typeof first.data.message, 'string');
  });

  test('pusher-js reports 4001 and stops (no reconnect)', async () => {
    const client = herald.client({ app: { ...APP1, key: 'no-such-key' } });
    const states = collect(client.connection, 'state_change');
    const errors = collect(client.connection, 'error');
    await waitFor(client.connection, 'disconnected', 5000);
    const codes = errors.seen.map((e) => e?.error?.data?.code ?? e?.data?.code);
    assert.ok(codes.includes(4001), `expected an error with code 4001, got ${JSON.stringify(errors.seen)}`);
    // Documented window: pusher-js would retry at once (retry) or after 1 s (backoff); 1.5 s
    // without a new 'connecting' shows it treated the refusal as permanent.
    const before = states.seen.length;
    await delay(1500);
    const later = states.stop().slice(before);
    errors.stop();
    assert.deepEqual(later, [], `pusher-js changed state after the refusal: ${JSON.stringify(later)}`);
    assert.equal(client.connection.state, 'disconnected');
  });
});

describe('pusher:ping', () => {
  test('{"event":"pusher:ping","data":{}} is answered with pusher:pong', async () => {
    const raw = herald.raw();
    await raw.established();
    raw.send('{"event":"pusher:ping","data":{}}');
    const pong = await raw.next('pusher:pong', 3000);
    assert.equal(pong.event, 'pusher:pong');
  });

  test('{"event":"pusher:ping"} without data (Java client) is answered with pusher:pong', async () => {
    const raw = herald.raw({ query: 'client=java-client&protocol=5&version=2.4.4' });
    await raw.established();
    raw.send('{"event": "pusher:ping"}');
    const pong = await raw.next('pusher:pong', 3000);
    assert.equal(pong.event, 'pusher:pong');
  });
});

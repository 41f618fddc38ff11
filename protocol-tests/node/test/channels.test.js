// Public, private and encrypted channels; subscription errors; channel name limits
// (spec §2.1–2.7, §2.9, §2.10, §3.1–3.2).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { APP1, collect, startHerald, subscribed, waitFor } from './helpers/herald.js';

let herald;
let api;
before(async () => {
  herald = await startHerald();
  api = herald.server();
});
afterEach(() => herald.disconnectAll());
after(() => herald?.stop());

describe('public channels', () => {
  test('subscribe, then receive an event triggered with pusher.trigger', async () => {
    const client = await herald.connectedClient();
    const channel = await subscribed(client, 'public-news');
    const got = waitFor(channel, 'headline', 5000, { all: true });
    await api.trigger('public-news', 'headline', { title: 'hello', n: 1 });
    const [data] = await got;
    assert.deepEqual(data, { title: 'hello', n: 1 });
  });

  test('raw: subscription_succeeded has channel and string data "{}"; the event data is the exact API string', async () => {
    const raw = herald.raw();
    const ok = await raw.subscribe('public-raw');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', `got ${ok.__raw}`);
    assert.equal(ok.channel, 'public-raw');
    assert.equal(typeof ok.data, 'string', `data must be a JSON string: ${ok.__raw}`);
    assert.deepEqual(JSON.parse(ok.data), {});
    await api.trigger('public-raw', 'ev', 'plain text, not JSON');
    const ev = await raw.next('ev');
    assert.equal(ev.channel, 'public-raw');
    assert.equal(ev.data, 'plain text, not JSON');
  });
});

describe('client-to-server data encodings', () => {
  test('pusher:subscribe / pusher:unsubscribe with data as a JSON string (older docs) are accepted', async () => {
    const raw = herald.raw();
    await raw.established();
    raw.send({ event: 'pusher:subscribe', data: JSON.stringify({ channel: 'public-string-data' }) });
    const ok = await raw.next((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === 'public-string-data');
    assert.equal(ok.channel, 'public-string-data');
    raw.send({ event: 'pusher:unsubscribe', data: JSON.stringify({ channel: 'public-string-data' }) });
    await raw.subscribe('public-string-data-marker'); // frames are handled in order
    const info = await (await api.get({ path: '/channels/public-string-data' })).json();
    assert.equal(info.occupied, false, 'string-encoded unsubscribe was ignored');
  });

  test('a public subscribe without any auth member (Java client) is accepted', async () => {
    const raw = herald.raw({ query: 'client=java-client&protocol=5&version=2.4.4' });
    await raw.established();
    raw.send({ event: 'pusher:subscribe', data: { channel: 'public-no-auth' } });
    await raw.next((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === 'public-no-auth');
  });
});

describe('private channels', () => {
  test('subscribe with a valid signature and receive triggered events', async () => {
    const client = await herald.connectedClient();
    const channel = await subscribed(client, 'private-orders');
    assert.equal(channel.subscribed, true);
    const got = waitFor(channel, 'order-created', 5000);
    await api.trigger('private-orders', 'order-created', { id: 42 });
    assert.deepEqual(await got, { id: 42 });
  });

  test('a bad signature: pusher:subscription_error on the channel, connection stays, other channels keep working', async () => {
    const client = await herald.connectedClient({ authSecret: 'not-the-secret' });
    // A channel that needs no auth, subscribed before the failure.
    const before = await subscribed(client, 'public-still-works');
    const states = collect(client.connection, 'state_change');

    const bad = client.subscribe('private-denied');
    const err = await waitFor(bad, 'pusher:subscription_error', 5000);
    assert.ok(err, 'subscription_error carried no data');
    assert.equal(bad.subscribed, false, 'the channel must not be marked subscribed');

    // The connection was not dropped or replaced.
    assert.equal(client.connection.state, 'connected');

    // The earlier channel still receives events, and a new subscription still works.
    const got1 = waitFor(before, 'ping-1', 5000);
    await api.trigger('public-still-works', 'ping-1', { ok: 1 });
    assert.deepEqual(await got1, { ok: 1 });
    const after = await subscribed(client, 'public-after-failure');
    const got2 = waitFor(after, 'ping-2', 5000);
    await api.trigger('public-after-failure', 'ping-2', { ok: 2 });
    assert.deepEqual(await got2, { ok: 2 });

    states.stop();
    assert.deepEqual(states.seen, [], `connection state changed: ${JSON.stringify(states.seen)}`);
  });

  test('a bad signature is not subscribed server-side (no events delivered, not counted)', async () => {
    const raw = herald.raw();
    const { socket_id } = await raw.established();
    const reply = await raw.subscribe('private-forged', { auth: `${APP1.key}:${'0'.repeat(64)}`, socketId: socket_id });
    assert.equal(reply.event, 'pusher:error', `expected pusher:error, got ${reply.__raw}`);
    assert.equal(typeof reply.data, 'object', `pusher:error data must be an object: ${reply.__raw}`);
    assert.equal(typeof reply.data.message, 'string');
    assert.ok(!raw.messages.some((m) => m.event === 'pusher_internal:subscription_succeeded'), 'must not succeed');
    const res = await api.get({ path: '/channels/private-forged', params: { info: 'subscription_count' } });
    const info = await res.json();
    assert.equal(info.occupied, false, `channel must not be occupied: ${JSON.stringify(info)}`);
    // The socket is still usable.
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next('pusher:pong', 3000);
  });

  test('a signature for another socket id is refused', async () => {
    const raw = herald.raw();
    await raw.established();
    const reply = await raw.subscribe('private-stolen', { socketId: '1234.5678' });
    assert.equal(reply.event, 'pusher:error', `expected pusher:error, got ${reply.__raw}`);
  });
});

describe('encrypted channels', () => {
  test('pusher-js decrypts an event the pusher library encrypted; the server relays the ciphertext untouched', async () => {
    const client = await herald.connectedClient();
    const channel = await subscribed(client, 'private-encrypted-vault');
    const raw = herald.raw();
    const ok = await raw.subscribe('private-encrypted-vault');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', `raw subscribe: ${ok.__raw}`);

    const got = waitFor(channel, 'secret-message', 5000);
    await api.trigger('private-encrypted-vault', 'secret-message', { text: 'top secret', n: 7 });
    assert.deepEqual(await got, { text: 'top secret', n: 7 });

    const wire = await raw.next('secret-message');
    assert.equal(typeof wire.data, 'string');
    const payload = JSON.parse(wire.data);
    assert.ok(payload.nonce && payload.ciphertext, `expected {nonce, ciphertext}: ${wire.data}`);
    assert.ok(!wire.__raw.includes('top secret'), 'plaintext must not appear on the wire');
  });
});

describe('channel names', () => {
  test('a 200-character channel name can be subscribed', async () => {
    const client = await herald.connectedClient();
    const name = 'c'.repeat(200);
    const channel = await subscribed(client, name);
    const got = waitFor(channel, 'long', 5000);
    await api.trigger(name, 'long', { ok: true });
    assert.deepEqual(await got, { ok: true });
  });

  test('a 201-character channel name is refused with an error and not subscribed', async () => {
    const raw = herald.raw();
    await raw.established();
    const name = 'c'.repeat(201);
    const mark = raw.messages.length;
    raw.send({ event: 'pusher:subscribe', data: { channel: name, auth: '' } });
    // Ordering marker: the server handles a socket's frames in order, so once this later
    // subscription is confirmed, any reply to the long name has already been sent.
    raw.send({ event: 'pusher:subscribe', data: { channel: 'marker-201', auth: '' } });
    await raw.next((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === 'marker-201');
    const replies = raw.messages.slice(mark);
    assert.ok(
      !replies.some((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === name),
      'a 201-character channel must not be subscribed',
    );
    assert.ok(
      replies.some((m) => m.event === 'pusher:error' || m.event === 'pusher:subscription_error'),
      `expected an error frame; got ${replies.map((m) => m.__raw).join(' | ')}`,
    );
  });

  test('pusher-js gets pusher:subscription_error for a 201-character name', async () => {
    const client = await herald.connectedClient();
    const channel = client.subscribe('d'.repeat(201));
    await waitFor(channel, 'pusher:subscription_error', 5000);
    assert.equal(channel.subscribed, false);
  });

  test('a name with characters outside [-a-zA-Z0-9_=@,.;] is refused', async () => {
    const raw = herald.raw();
    await raw.established();
    const mark = raw.messages.length;
    raw.send({ event: 'pusher:subscribe', data: { channel: 'bad name!', auth: '' } });
    raw.send({ event: 'pusher:subscribe', data: { channel: 'marker-chars', auth: '' } });
    await raw.next((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === 'marker-chars');
    const replies = raw.messages.slice(mark);
    assert.ok(!replies.some((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === 'bad name!'));
    assert.ok(replies.some((m) => m.event === 'pusher:error'), `expected pusher:error; got ${replies.map((m) => m.__raw).join(' | ')}`);
  });
});

describe('unsubscribe', () => {
  test('after pusher:unsubscribe no more events arrive on that channel (raw frames)', async () => {
    const raw = herald.raw();
    await raw.established();
    assert.equal((await raw.subscribe('public-leave')).event, 'pusher_internal:subscription_succeeded');
    assert.equal((await raw.subscribe('public-stay')).event, 'pusher_internal:subscription_succeeded');
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'public-leave' } });
    // Frames are handled in order: once this later subscription is confirmed, the
    // unsubscribe has been processed.
    await raw.subscribe('public-unsub-marker');
    const mark = raw.messages.length;
    await api.trigger(['public-leave', 'public-stay'], 'after-leave', { x: 1 });
    // Ordering marker: a second event on the still-subscribed channel, published after the
    // first; once it arrives, an event for the left channel would have arrived before it.
    await api.trigger('public-stay', 'marker', {});
    await raw.next((m) => m.event === 'marker' && m.channel === 'public-stay', 5000, { after: mark });
    const got = raw.messages.slice(mark).map((m) => `${m.event}@${m.channel}`);
    assert.deepEqual(got, ['after-leave@public-stay', 'marker@public-stay']);
  });
});

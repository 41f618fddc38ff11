// Client events (spec §4, §1.6, §1.7 code 4301, §8): relayed to the other subscribers of
// private and presence channels, never echoed, refused elsewhere, rate limited.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { APP2, collect, delay, startHerald, subscribed, waitFor } from './helpers/herald.js';

let herald;
let api;
before(async () => {
  herald = await startHerald();
  api = herald.server();
});
afterEach(() => herald.disconnectAll());
after(() => herald?.stop());

/** Waits until `channel` (pusher-js) receives an API marker event triggered after now. */
async function flush(channel) {
  const name = `marker-${Math.random().toString(36).slice(2)}`;
  const got = waitFor(channel, name, 5000);
  await api.trigger(channel.name, name, {});
  await got;
}

/** Sends `frames` on a raw socket followed by a ping, and returns every frame received up
 * to the pong (the server answers a socket's frames in order). */
async function sendAndCollect(raw, ...frames) {
  const mark = raw.messages.length;
  for (const f of frames) raw.send(f);
  raw.send({ event: 'pusher:ping', data: {} });
  await raw.next('pusher:pong', 5000, { after: mark });
  return raw.messages.slice(mark);
}

describe('relay', () => {
  test('private channel: delivered to the other subscriber, not echoed to the sender', async () => {
    const sender = await herald.connectedClient();
    const receiver = await herald.connectedClient();
    const sChan = await subscribed(sender, 'private-chat');
    const rChan = await subscribed(receiver, 'private-chat');
    const echoed = collect(sChan, 'client-typing');

    const got = waitFor(rChan, 'client-typing', 5000, { all: true });
    assert.equal(sChan.trigger('client-typing', { on: true, text: 'héllo' }), true, 'pusher-js refused to send');
    const [data] = await got;
    assert.deepEqual(data, { on: true, text: 'héllo' });

    // The relay to all subscribers happens in one step, so an echo would be queued to the
    // sender before this API marker.
    await flush(sChan);
    assert.deepEqual(echoed.stop(), [], 'the sender received its own client event');
  });

  test('presence channel: delivered with user_id in the metadata, not echoed', async () => {
    const sender = await herald.connectedClient({ user: { user_id: 'sender-1', user_info: { n: 1 } } });
    const receiver = await herald.connectedClient({ user: { user_id: 'receiver-1' } });
    const sChan = await subscribed(sender, 'presence-chat');
    const rChan = await subscribed(receiver, 'presence-chat');
    const echoed = collect(sChan, 'client-wave');

    const got = waitFor(rChan, 'client-wave', 5000, { all: true });
    sChan.trigger('client-wave', { hi: 1 });
    const [data, metadata] = await got;
    assert.deepEqual(data, { hi: 1 });
    assert.equal(metadata?.user_id, 'sender-1', `metadata was ${JSON.stringify(metadata)}`);

    await flush(sChan);
    assert.deepEqual(echoed.stop(), [], 'the sender received its own client event');
  });

  test('raw frame on presence: top-level user_id and string data', async () => {
    const sender = await herald.connectedClient({ user: { user_id: 'sender-2' } });
    const sChan = await subscribed(sender, 'presence-raw-chat');
    const raw = herald.raw();
    const ok = await raw.subscribe('presence-raw-chat', { channelData: { user_id: 'raw-receiver' } });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    sChan.trigger('client-note', { k: [1, 2] });
    const frame = await raw.next('client-note');
    assert.equal(frame.channel, 'presence-raw-chat');
    assert.equal(frame.user_id, 'sender-2', frame.__raw);
    assert.equal(typeof frame.data, 'string', `relayed data must be a JSON string: ${frame.__raw}`);
    assert.deepEqual(JSON.parse(frame.data), { k: [1, 2] });
  });

  test('raw frame on private: no user_id', async () => {
    const sender = herald.raw();
    const receiver = herald.raw();
    await sender.subscribe('private-raw-chat');
    await receiver.subscribe('private-raw-chat');
    sender.send({ event: 'client-x', channel: 'private-raw-chat', data: { a: 1 } });
    const frame = await receiver.next('client-x');
    assert.equal(frame.user_id, undefined, frame.__raw);
    assert.deepEqual(JSON.parse(frame.data), { a: 1 });
  });
});

describe('refusals', () => {
  test('on a public channel: pusher:error, not relayed', async () => {
    const sender = herald.raw();
    const receiver = herald.raw();
    await sender.subscribe('public-no-client-events');
    await receiver.subscribe('public-no-client-events');
    const replies = await sendAndCollect(sender, { event: 'client-x', channel: 'public-no-client-events', data: {} });
    const err = replies.find((m) => m.event === 'pusher:error');
    assert.ok(err, `expected pusher:error; got ${replies.map((m) => m.__raw).join(' | ')}`);
    assert.equal(typeof err.data, 'object');
    assert.equal(typeof err.data.message, 'string');
    await api.trigger('public-no-client-events', 'marker', {});
    await receiver.next('marker');
    assert.ok(!receiver.messages.some((m) => m.event === 'client-x'), 'client event relayed on a public channel');
  });

  test('on a channel the sender has not subscribed to: pusher:error, not relayed', async () => {
    const sender = herald.raw();
    const receiver = herald.raw();
    await sender.established();
    await receiver.subscribe('private-members-only');
    const replies = await sendAndCollect(sender, { event: 'client-x', channel: 'private-members-only', data: {} });
    assert.ok(replies.some((m) => m.event === 'pusher:error'), `expected pusher:error; got ${replies.map((m) => m.__raw).join(' | ')}`);
    await api.trigger('private-members-only', 'marker', {});
    await receiver.next('marker');
    assert.ok(!receiver.messages.some((m) => m.event === 'client-x'), 'client event relayed from a non-subscriber');
  });

  test('app 1002 (client_events = false): pusher:error, not relayed', async () => {
    const sender = herald.raw({ key: APP2.key });
    const receiver = herald.raw({ key: APP2.key });
    assert.equal((await sender.subscribe('private-app2', { app: APP2 })).event, 'pusher_internal:subscription_succeeded');
    assert.equal((await receiver.subscribe('private-app2', { app: APP2 })).event, 'pusher_internal:subscription_succeeded');
    const replies = await sendAndCollect(sender, { event: 'client-x', channel: 'private-app2', data: {} });
    assert.ok(replies.some((m) => m.event === 'pusher:error'), `expected pusher:error; got ${replies.map((m) => m.__raw).join(' | ')}`);
    await herald.server(APP2).trigger('private-app2', 'marker', {});
    await receiver.next('marker');
    assert.ok(!receiver.messages.some((m) => m.event === 'client-x'), 'client event relayed although the app disables them');
  });

  test('app 1002 via pusher-js: the connection gets a PusherError and stays connected', async () => {
    const client = await herald.connectedClient({ app: APP2 });
    const channel = await subscribed(client, 'private-app2-js');
    const error = waitFor(client.connection, 'error', 5000);
    channel.trigger('client-x', {});
    const e = await error;
    assert.equal(e.type, 'PusherError', JSON.stringify(e));
    assert.equal(typeof e.data.message, 'string');
    assert.equal(client.connection.state, 'connected');
  });
});

describe('rate limit', () => {
  test('raw: more than 10 client events in a second → pusher:error 4301, connection stays open', async () => {
    const sender = herald.raw();
    const receiver = herald.raw();
    await sender.subscribe('private-flood');
    await receiver.subscribe('private-flood');
    const frames = Array.from({ length: 15 }, (_, i) => ({ event: 'client-flood', channel: 'private-flood', data: { i } }));
    const replies = await sendAndCollect(sender, ...frames);
    const errors = replies.filter((m) => m.event === 'pusher:error');
    assert.ok(errors.length >= 1, `expected pusher:error 4301; got ${replies.map((m) => m.__raw).join(' | ')}`);
    assert.ok(errors.every((e) => e.data.code === 4301), errors.map((e) => e.__raw).join(' | '));

    // The socket is still open and usable.
    const closed = await Promise.race([sender.closed, delay(300).then(() => null)]);
    assert.equal(closed, null, `socket closed with ${closed?.code}`);

    await api.trigger('private-flood', 'marker', {});
    await receiver.next('marker');
    const delivered = receiver.messages.filter((m) => m.event === 'client-flood').length;
    assert.ok(delivered >= 1 && delivered <= 10, `receiver got ${delivered} client events; limit is 10 per second`);
    assert.equal(delivered + errors.length, 15, `each event is either relayed or refused: ${delivered} relayed, ${errors.length} refused`);
  });

  test('pusher-js: the connection emits error code 4301 and stays connected; events flow again after the window', async () => {
    const sender = await herald.connectedClient();
    const receiver = await herald.connectedClient();
    const sChan = await subscribed(sender, 'private-flood-js');
    const rChan = await subscribed(receiver, 'private-flood-js');
    const states = collect(sender.connection, 'state_change');
    const error = waitFor(sender.connection, 'error', 5000, { filter: (e) => e?.data?.code === 4301 });
    for (let i = 0; i < 12; i++) sChan.trigger('client-burst', { i });
    const e = await error;
    assert.equal(e.type, 'PusherError');
    assert.equal(e.data.code, 4301);

    // The limit is per second: after the window, client events are relayed again.
    await delay(1100);
    const got = waitFor(rChan, 'client-after', 5000);
    sChan.trigger('client-after', { ok: true });
    assert.deepEqual(await got, { ok: true });
    states.stop();
    assert.deepEqual(states.seen, [], `sender changed state: ${JSON.stringify(states.seen)}`);
  });
});

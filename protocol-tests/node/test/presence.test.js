// Presence channels: member lists, member_added / member_removed, one member per user,
// limits (spec §2.5, §2.8, §3.2, §8). Config: max_presence_members = 2 for app 1001.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { collect, startHerald, subscribed, waitFor } from './helpers/herald.js';

let herald;
let api;
before(async () => {
  herald = await startHerald({ app1: { max_presence_members: 2 } });
  api = herald.server();
});
afterEach(() => herald.disconnectAll());
after(() => herald?.stop());

const ALICE = { user_id: 'alice', user_info: { name: 'Alice' } };
const BOB = { user_id: 'bob', user_info: { name: 'Bob' } };
const CAROL = { user_id: 'carol', user_info: { name: 'Carol' } };

async function join(user, channelName) {
  const client = await herald.connectedClient({ user });
  const channel = await subscribed(client, channelName);
  return { client, channel };
}

/** Triggers an API event on `channelName` and waits for `channel` to receive it: everything
 * the server queued for that subscriber before the trigger has then been delivered. */
async function flush(channel, channelName) {
  const name = `marker-${Math.random().toString(36).slice(2)}`;
  const got = waitFor(channel, name, 5000);
  await api.trigger(channelName, name, {});
  await got;
}

describe('subscription_succeeded', () => {
  test('the member list includes the subscriber itself', async () => {
    const { channel } = await join(ALICE, 'presence-me');
    assert.equal(channel.members.count, 1);
    assert.deepEqual(channel.members.me, { id: 'alice', info: { name: 'Alice' } });
    assert.deepEqual(channel.members.get('alice'), { id: 'alice', info: { name: 'Alice' } });
  });

  test('raw frame: data is a JSON string with presence.ids, presence.hash and presence.count', async () => {
    await join(BOB, 'presence-raw');
    const raw = herald.raw();
    const ok = await raw.subscribe('presence-raw', { channelData: ALICE });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', `got ${ok.__raw}`);
    assert.equal(typeof ok.data, 'string', `data must be a JSON string: ${ok.__raw}`);
    const { presence } = JSON.parse(ok.data);
    assert.deepEqual([...presence.ids].sort(), ['alice', 'bob']);
    assert.deepEqual(presence.hash, { alice: { name: 'Alice' }, bob: { name: 'Bob' } });
    assert.equal(presence.count, 2);
  });
});

describe('member_added / member_removed', () => {
  test('a second user joining fires pusher:member_added on the first', async () => {
    const first = await join(ALICE, 'presence-added');
    const added = waitFor(first.channel, 'pusher:member_added', 5000);
    const second = await join(BOB, 'presence-added');
    assert.deepEqual(await added, { id: 'bob', info: { name: 'Bob' } });
    assert.equal(first.channel.members.count, 2);
    assert.equal(second.channel.members.count, 2);
    assert.deepEqual(second.channel.members.get('alice'), { id: 'alice', info: { name: 'Alice' } });
  });

  test('the joining socket itself does not get member_added for its own user', async () => {
    await join(ALICE, 'presence-self');
    const raw = herald.raw();
    const ok = await raw.subscribe('presence-self', { channelData: BOB });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    // Ordering marker: an API event published after the subscription.
    await api.trigger('presence-self', 'marker', {});
    await raw.next('marker');
    assert.ok(!raw.messages.some((m) => m.event === 'pusher_internal:member_added'), raw.messages.map((m) => m.__raw).join(' | '));
  });

  test('member_removed on unsubscribe', async () => {
    const watcher = await join(ALICE, 'presence-unsub');
    const leaver = await join(BOB, 'presence-unsub');
    const removed = waitFor(watcher.channel, 'pusher:member_removed', 5000);
    leaver.client.unsubscribe('presence-unsub');
    assert.deepEqual(await removed, { id: 'bob', info: { name: 'Bob' } });
    assert.equal(watcher.channel.members.count, 1);
  });

  test('member_removed when a raw socket is dropped without a close handshake', async () => {
    const watcher = await join(ALICE, 'presence-abrupt');
    const raw = herald.raw();
    const ok = await raw.subscribe('presence-abrupt', { channelData: BOB });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    await flush(watcher.channel, 'presence-abrupt');
    assert.equal(watcher.channel.members.count, 2);
    const removed = waitFor(watcher.channel, 'pusher:member_removed', 5000);
    raw.terminate();
    assert.deepEqual(await removed, { id: 'bob', info: { name: 'Bob' } });
  });

  test('member_removed when a pusher-js client calls disconnect()', async () => {
    const watcher = await join(ALICE, 'presence-disconnect');
    const leaver = await join(BOB, 'presence-disconnect');
    const removed = waitFor(watcher.channel, 'pusher:member_removed', 5000);
    leaver.client.disconnect();
    assert.deepEqual(await removed, { id: 'bob', info: { name: 'Bob' } });
  });
});

describe('user_id types', () => {
  test('a numeric user_id keeps its JSON type in member events', async () => {
    const watcher = herald.raw();
    const ok = await watcher.subscribe('presence-numeric', { channelData: { user_id: 'w' } });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    const joiner = herald.raw();
    const ok2 = await joiner.subscribe('presence-numeric', { channelData: { user_id: 10, user_info: { name: 'Ten' } } });
    assert.equal(ok2.event, 'pusher_internal:subscription_succeeded');
    const added = await watcher.next('pusher_internal:member_added');
    assert.equal(typeof added.data, 'string', `member_added data must be a JSON string: ${added.__raw}`);
    assert.deepEqual(JSON.parse(added.data), { user_id: 10, user_info: { name: 'Ten' } });
    joiner.send({ event: 'pusher:unsubscribe', data: { channel: 'presence-numeric' } });
    const removed = await watcher.next('pusher_internal:member_removed');
    assert.deepEqual(JSON.parse(removed.data), { user_id: 10 });
  });
});

describe('one member per user', () => {
  test('the same user on two sockets is counted once and removed only when the last socket leaves', async () => {
    const channelName = 'presence-twice';
    const watcher = await join(BOB, channelName);
    const addedEvents = collect(watcher.channel, 'pusher:member_added');
    const removedEvents = collect(watcher.channel, 'pusher:member_removed');

    // Alice's first socket: pusher-js; second socket: raw ws (so its close can be awaited).
    const alice1 = await join(ALICE, channelName);
    const aliceRaw = herald.raw();
    const ok = await aliceRaw.subscribe(channelName, { channelData: ALICE });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    const { presence } = JSON.parse(ok.data);
    assert.equal(presence.count, 2, `second socket of alice sees ${ok.data}`);

    await flush(watcher.channel, channelName);
    assert.equal(addedEvents.seen.length, 1, `member_added fired ${addedEvents.seen.length} times`);
    assert.equal(watcher.channel.members.count, 2);

    const users = await (await api.get({ path: `/channels/${channelName}/users` })).json();
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['alice', 'bob']);
    const info = await (await api.get({ path: `/channels/${channelName}`, params: { info: 'user_count' } })).json();
    assert.equal(info.user_count, 2);

    // Alice's raw socket leaves with a clean close; the server answers the close only after
    // it has cleaned the socket up, so any member_removed would already be queued to bob.
    aliceRaw.close(1000);
    await aliceRaw.closed;
    await flush(watcher.channel, channelName);
    assert.equal(removedEvents.seen.length, 0, 'member_removed fired while alice still has a socket');
    assert.equal(watcher.channel.members.count, 2);

    const removed = waitFor(watcher.channel, 'pusher:member_removed', 5000);
    alice1.client.disconnect();
    assert.deepEqual(await removed, { id: 'alice', info: { name: 'Alice' } });
    assert.equal(watcher.channel.members.count, 1);
    addedEvents.stop();
    removedEvents.stop();
  });
});

describe('limits', () => {
  test('max_presence_members = 2: a third distinct user gets pusher:subscription_error', async () => {
    const channelName = 'presence-full';
    const a = await join(ALICE, channelName);
    await join(BOB, channelName);
    const carol = await herald.connectedClient({ user: CAROL });
    const channel = carol.subscribe(channelName);
    const err = await waitFor(channel, 'pusher:subscription_error', 5000);
    assert.ok(err);
    assert.equal(channel.subscribed, false);
    await flush(a.channel, channelName);
    assert.equal(a.channel.members.count, 2, 'carol must not have been added');
    assert.equal(a.channel.members.get('carol'), null);
  });

  test('a full channel still admits another socket of an existing member', async () => {
    const channelName = 'presence-full-same-user';
    await join(ALICE, channelName);
    await join(BOB, channelName);
    const again = await join(ALICE, channelName);
    assert.equal(again.channel.members.count, 2);
  });

  test('user_info over 1 KB is refused', async () => {
    const big = { user_id: 'big', user_info: { bio: 'x'.repeat(1100) } };
    const client = await herald.connectedClient({ user: big });
    const channel = client.subscribe('presence-big-info');
    await waitFor(channel, 'pusher:subscription_error', 5000);
    assert.equal(channel.subscribed, false);
    assert.equal(client.connection.state, 'connected');
  });

  test('user_info under 1 KB is accepted', async () => {
    const ok = { user_id: 'medium', user_info: { bio: 'x'.repeat(900) } };
    const { channel } = await join(ok, 'presence-medium-info');
    assert.equal(channel.members.me.info.bio.length, 900);
  });
});

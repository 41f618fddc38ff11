// Subscription count (spec §2.12): `pusher_internal:subscription_count` to the subscribers of
// non-presence channels when the app enables `subscription_count`; pusher-js re-emits it as
// `pusher:subscription_count` and keeps `channel.subscriptionCount`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { barrier, record, startHerald, subscribe, unique, waitFor } from './support.js';

const countIs = (n) => ({
  filter: (d) => d?.subscription_count === n,
  what: `pusher:subscription_count with subscription_count = ${n}`,
});

describe('subscription_count = true', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { subscription_count: true } });
  });
  after(async () => {
    await env?.stop();
  });

  for (const prefix of ['count-', 'private-count-', 'private-encrypted-count-', 'cache-count-']) {
    it(`${prefix}*: counts follow clients joining and leaving`, async () => {
      const name = unique(prefix);
      const a = await env.connect();
      const chA = a.subscribe(name);
      const countsA = record(chA, 'pusher:subscription_count');
      await waitFor(chA, 'pusher:subscription_count', countIs(1));
      assert.ok(chA.subscribed);

      const b = await env.connect();
      const chB = b.subscribe(name);
      const countsB = record(chB, 'pusher:subscription_count');
      const aSees2 = waitFor(chA, 'pusher:subscription_count', countIs(2));
      await waitFor(chB, 'pusher:subscription_count', countIs(2));
      await aSees2;
      assert.equal(chA.subscriptionCount, 2, 'pusher-js keeps channel.subscriptionCount');
      assert.equal(chB.subscriptionCount, 2);

      const info = await env.channelInfo(name, 'subscription_count');
      assert.equal(info.subscription_count, 2, `HTTP info: ${JSON.stringify(info)}`);

      const aSees1 = waitFor(chA, 'pusher:subscription_count', countIs(1));
      b.unsubscribe(name);
      await aSees1;
      assert.equal(chA.subscriptionCount, 1);

      await barrier(env, a, b);
      assert.deepEqual(countsA.map((d) => d.subscription_count), [1, 2, 1]);
      assert.deepEqual(countsB.map((d) => d.subscription_count), [2], 'b gets nothing after it left');
    });
  }

  it('a disconnecting client also lowers the count', async () => {
    const name = unique('count-drop-');
    const a = await env.connect();
    const chA = a.subscribe(name);
    await waitFor(chA, 'pusher:subscription_count', countIs(1));
    const b = await env.connect();
    // Listen before b subscribes: the count reaches a as b's subscription is confirmed.
    const aSees2 = waitFor(chA, 'pusher:subscription_count', countIs(2));
    await subscribe(b, name);
    await aSees2;
    const back = waitFor(chA, 'pusher:subscription_count', countIs(1));
    b.disconnect();
    env.forget(b);
    await back;
  });

  it('the wire frame: pusher_internal:subscription_count with a string data {"subscription_count": n}', async () => {
    const raw = await env.raw();
    const name = unique('count-raw-');
    raw.send('pusher:subscribe', { channel: name });
    const frame = await raw.next((f) => f.event === 'pusher_internal:subscription_count', 4000, 'pusher_internal:subscription_count');
    assert.equal(frame.channel, name);
    assert.equal(typeof JSON.parse(frame.__raw).data, 'string', 'data is a JSON string');
    assert.deepEqual(frame.data, { subscription_count: 1 });
    await raw.close();
  });

  it('presence channels get no subscription_count', async () => {
    const name = unique('presence-count-');
    const a = await env.connect({ presence: { user_id: unique('pa-'), user_info: {} } });
    const b = await env.connect({ presence: { user_id: unique('pb-'), user_info: {} } });
    const framesA = record(a.connection, 'message');
    const framesB = record(b.connection, 'message');
    const chA = await subscribe(a, name);
    const countsA = record(chA, 'pusher:subscription_count');
    const joined = waitFor(chA, 'pusher:member_added', { what: 'member_added for b' });
    await subscribe(b, name);
    await joined;
    b.unsubscribe(name);
    await waitFor(chA, 'pusher:member_removed', { what: 'member_removed for b' });
    await barrier(env, a, b);
    assert.deepEqual(countsA, []);
    const counts = [...framesA, ...framesB].filter((m) => m.event === 'pusher_internal:subscription_count' && m.channel === name);
    assert.deepEqual(counts, [], 'no pusher_internal:subscription_count frame on a presence channel');
  });
});

describe('subscription_count off (the default)', () => {
  let env;
  before(async () => {
    env = await startHerald();
  });
  after(async () => {
    await env?.stop();
  });

  it('no subscription_count events', async () => {
    const name = unique('count-off-');
    const a = await env.connect();
    const b = await env.connect();
    const frames = [...[a, b].map((c) => record(c.connection, 'message'))];
    const chA = await subscribe(a, name);
    const countsA = record(chA, 'pusher:subscription_count');
    await subscribe(b, name);
    b.unsubscribe(name);
    await barrier(env, a, b);
    assert.deepEqual(countsA, []);
    assert.deepEqual(frames.flat().filter((m) => m.event === 'pusher_internal:subscription_count'), [], 'not even on the sync channels');
  });
});

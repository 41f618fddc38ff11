// Cache channels (spec §2.11, HTTP `info=cache` in §5.3 "one channel"): pusher-js as the client,
// the `pusher` library to trigger (it encrypts for private-encrypted-cache-*) and to query.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { barrier, pollUntil, startHerald, subscribe, unique, waitFor } from './support.js';

const KINDS = ['cache-', 'private-cache-', 'presence-cache-', 'private-encrypted-cache-'];

/** A pusher-js client able to join any kind of channel. */
function clientFor(env) {
  return env.connect({ presence: { user_id: unique('cache-user-'), user_info: { role: 'reader' } } });
}

/** Subscribes while recording every event the channel emits, in order. */
async function subscribeRecording(client, name) {
  const channel = client.subscribe(name);
  const seen = [];
  channel.bind_global((event, data) => seen.push({ event, data }));
  if (!channel.subscribed) await waitFor(channel, 'pusher:subscription_succeeded', { what: `subscription to ${name}` });
  return { channel, seen };
}

describe('cache channels (default cache_ttl)', () => {
  let env;
  before(async () => {
    env = await startHerald();
  });
  after(async () => {
    await env?.stop();
  });

  for (const prefix of KINDS) {
    it(`${prefix}*: a new subscriber gets the last event right after subscription_succeeded`, async () => {
      const name = unique(`${prefix}last-`);
      await env.api.trigger(name, 'price', { v: 1 });
      await env.api.trigger(name, 'price', { v: 2 });

      const client = await clientFor(env);
      const channel = client.subscribe(name);
      const seen = [];
      channel.bind_global((event, data) => seen.push({ event, data }));
      const replay = waitFor(channel, 'price', { what: `the cached 'price' event on ${name}` });
      assert.deepEqual(await replay, { v: 2 }, 'the last event is replayed (decrypted by pusher-js on encrypted channels)');
      await barrier(env, client);

      const names = seen.map((e) => e.event);
      assert.equal(names[0], 'pusher:subscription_succeeded', `first event: ${names}`);
      assert.deepEqual(names.filter((n) => !n.startsWith('pusher:subscription_count')), ['pusher:subscription_succeeded', 'price'], `events: ${names}`);
      assert.ok(!names.includes('pusher:cache_miss'));
    });

    it(`${prefix}*: an empty cache channel gives pusher:cache_miss after subscription_succeeded`, async () => {
      const name = unique(`${prefix}empty-`);
      const client = await clientFor(env);
      const channel = client.subscribe(name);
      const seen = [];
      channel.bind_global((event) => seen.push(event));
      await waitFor(channel, 'pusher:cache_miss', { what: `pusher:cache_miss on ${name}` });
      assert.deepEqual(seen.slice(0, 2), ['pusher:subscription_succeeded', 'pusher:cache_miss']);

      // A live event after the miss is delivered normally, and is cached for the next one.
      const live = waitFor(channel, 'fresh', { what: 'the live event' });
      await env.api.trigger(name, 'fresh', { ok: true });
      assert.deepEqual(await live, { ok: true });
      const second = await clientFor(env);
      const ch2 = second.subscribe(name);
      assert.deepEqual(await waitFor(ch2, 'fresh', { what: 'the replay for the second subscriber' }), { ok: true });
    });
  }

  it('the raw pusher:cache_miss frame names the channel and follows subscription_succeeded', async () => {
    const raw = await env.raw();
    const name = unique('cache-raw-');
    raw.send('pusher:subscribe', { channel: name });
    const miss = await raw.next((f) => f.event === 'pusher:cache_miss', 4000, 'pusher:cache_miss');
    assert.equal(miss.channel, name);
    const succeeded = raw.frames.findIndex((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name);
    assert.ok(succeeded >= 0 && succeeded < raw.frames.indexOf(miss), 'cache_miss follows subscription_succeeded');
    await raw.close();
  });

  it('foo-cache-bar is an ordinary public channel: no cache_miss, no replay', async () => {
    const name = unique('foo-cache-bar-');
    const client = await clientFor(env);
    const { seen } = await subscribeRecording(client, name);
    await barrier(env, client);
    assert.deepEqual(seen.map((e) => e.event), ['pusher:subscription_succeeded'], 'no pusher:cache_miss');

    await env.api.trigger(name, 'news', { n: 1 });
    const other = await clientFor(env);
    const { seen: seen2 } = await subscribeRecording(other, name);
    await barrier(env, other);
    assert.deepEqual(seen2.map((e) => e.event), ['pusher:subscription_succeeded'], 'nothing replayed');
    const info = await env.channelInfo(name);
    assert.equal(info.cache, undefined);
  });

  it('client events are not cached', async () => {
    const name = unique('private-cache-client-');
    const a = await clientFor(env);
    const ch = await subscribe(a, name);
    const b = await clientFor(env);
    const chb = await subscribe(b, name);
    const relayed = waitFor(chb, 'client-typing', { what: 'the client event at the other subscriber' });
    ch.trigger('client-typing', { who: 'a' });
    await relayed;
    const c = await clientFor(env);
    const chc = c.subscribe(name);
    const seen = [];
    chc.bind_global((event) => seen.push({ event }));
    await waitFor(chc, 'pusher:cache_miss', { what: 'cache_miss (client events are not cached)' });
    await barrier(env, c);
    assert.deepEqual(seen.map((e) => e.event), ['pusher:subscription_succeeded', 'pusher:cache_miss']);
  });

  it('GET /channels/cache-x?info=cache answers {data, ttl}', async () => {
    const name = unique('cache-info-');
    await env.api.trigger(name, 'quote', { price: 42 });
    const body = await env.channelInfo(name, 'cache');
    assert.equal(body.occupied, false);
    assert.ok(body.cache && typeof body.cache === 'object', `cache attribute: ${JSON.stringify(body)}`);
    assert.equal(body.cache.data, JSON.stringify({ price: 42 }), 'data is the event data string');
    assert.equal(typeof body.cache.ttl, 'number');
    assert.ok(body.cache.ttl > 0 && body.cache.ttl <= 1800, `ttl ${body.cache.ttl} within (0, 1800]`);

    // An empty cache channel: no cached data to show.
    const empty = await env.channelInfo(unique('cache-none-'), 'cache');
    assert.ok(empty.cache === undefined || empty.cache === null, JSON.stringify(empty));
  });
});

describe('cache channels with cache_ttl = 1', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { cache_ttl: 1 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('the cached event expires: the API stops showing it and new subscribers get cache_miss', async () => {
    const name = unique('cache-ttl-');
    const triggeredAt = Date.now();
    await env.api.trigger(name, 'tick', { n: 1 });
    const first = await env.channelInfo(name, 'cache');
    assert.equal(first.cache?.data, JSON.stringify({ n: 1 }), JSON.stringify(first));

    await pollUntil(
      async () => {
        const body = await env.channelInfo(name, 'cache');
        return body.cache === undefined || body.cache === null;
      },
      { timeout: 4000, interval: 100, what: 'the cache entry to expire (cache_ttl = 1)' },
    );
    assert.ok(Date.now() - triggeredAt >= 900, 'not expired before the TTL');

    const client = await env.connect();
    const channel = client.subscribe(name);
    const seen = [];
    channel.bind_global((event) => seen.push(event));
    await waitFor(channel, 'pusher:cache_miss', { what: 'cache_miss after expiry' });
    assert.ok(!seen.includes('tick'));
  });
});

// Cluster delivery (issue 4): a 3-node cluster sharing one private Redis.
// - a trigger through any node reaches every subscriber on every node exactly once;
// - events published through one node arrive at subscribers on other nodes in publish order;
// - client events relay across nodes (private and presence, with user_id), never echoed;
// - cache channels replay an event triggered through another node;
// - two clusters with different prefixes on one Redis do not see each other.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { barrier, defineApp, on, startCluster, subscribe, unique, withLogs } from './support.js';

describe('cluster delivery (3 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    cluster = await startCluster({ nodes: 3, apps: [defineApp({ client_events: true })] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a trigger through any node reaches every subscriber on every node exactly once', logged(async () => {
    const pub = unique('fanout-');
    const priv = unique('private-fanout-');
    const pres = unique('presence-fanout-');
    // Two subscribers on node1, one on each other node.
    const placement = [0, 1, 1, 2];
    const clients = await Promise.all(placement.map((n, i) => cluster.connect(n, { presence: { user_id: `fan-${i}` } })));
    for (const c of clients) {
      await subscribe(c, pub);
      await subscribe(c, priv);
      await subscribe(c, pres);
    }
    const from = clients.map((c) => c.inbox.mark());
    // One multi-channel trigger through each node, and one batch through node 2.
    for (const [i] of cluster.nodes.entries()) {
      await cluster.api(i).trigger([pub, priv, pres], 'hello', { via: i });
    }
    await cluster.api(2).triggerBatch([
      { channel: pub, name: 'batched', data: JSON.stringify({ n: 1 }) },
      { channel: priv, name: 'batched', data: JSON.stringify({ n: 2 }) },
    ]);
    await barrier(cluster, clients);
    for (const [i, c] of clients.entries()) {
      for (const ch of [pub, priv, pres]) {
        const got = c.inbox.filter(on('hello', ch), from[i]).map((m) => m.data.via);
        assert.deepEqual(got.sort(), [0, 1, 2], `${c.label} on ${ch}: one 'hello' from each node, got ${JSON.stringify(got)}`);
      }
      const batched = c.inbox.filter(on('batched'), from[i]).map((m) => `${m.channel}:${m.data.n}`);
      assert.deepEqual(batched.sort(), [`${priv}:2`, `${pub}:1`].sort(), `${c.label}: each batched event once`);
    }
  }));

  it('socket_id exclusion works for a socket on another node', logged(async () => {
    const ch = unique('exclude-');
    const [a, b, c] = await Promise.all([cluster.connect(0), cluster.connect(1), cluster.connect(2)]);
    for (const x of [a, b, c]) await subscribe(x, ch);
    const from = [a, b, c].map((x) => x.inbox.mark());
    await cluster.api(0).trigger(ch, 'not-for-b', { x: 1 }, { socket_id: b.connection.socket_id });
    await barrier(cluster, [a, b, c]);
    assert.equal(a.inbox.count(on('not-for-b', ch), from[0]), 1, 'node0 subscriber gets it once');
    assert.equal(c.inbox.count(on('not-for-b', ch), from[2]), 1, 'node2 subscriber gets it once');
    assert.equal(b.inbox.count(on('not-for-b', ch), from[1]), 0, 'the excluded socket (on node1) must not get it');
  }));

  it('50 events published sequentially through node A arrive in order at subscribers on the other nodes', logged(async () => {
    const ch = unique('ordered-');
    const subs = await Promise.all([cluster.connect(1), cluster.connect(2), cluster.connect(0)]);
    for (const s of subs) await subscribe(s, ch);
    const from = subs.map((s) => s.inbox.mark());
    const api = cluster.api(0);
    const last = subs.map((s, i) => s.inbox.next(on('seq', ch, (m) => m.data.i === 49), { timeout: 10_000, from: from[i], what: `event 49 at ${s.label}` }));
    for (let i = 0; i < 50; i += 1) await api.trigger(ch, 'seq', { i });
    await Promise.all(last);
    await barrier(cluster, subs);
    for (const [k, s] of subs.entries()) {
      const seq = s.inbox.filter(on('seq', ch), from[k]).map((m) => m.data.i);
      assert.deepEqual(seq, Array.from({ length: 50 }, (_, i) => i), `${s.label}: all 50 events once, in publish order`);
    }
  }));

  it('client events on a private channel relay to every node, exactly once, and are not echoed', logged(async () => {
    const ch = unique('private-chat-');
    const sender = await cluster.connect(0);
    const receivers = await Promise.all([cluster.connect(1), cluster.connect(2), cluster.connect(0)]);
    const channels = [];
    for (const c of [sender, ...receivers]) channels.push(await subscribe(c, ch));
    const from = [sender, ...receivers].map((c) => c.inbox.mark());
    const arrivals = receivers.map((r, i) => r.inbox.next(on('client-typing', ch), { from: from[i + 1], what: `client-typing at ${r.label}` }));
    assert.equal(channels[0].trigger('client-typing', { who: 'sender' }), true, 'pusher-js accepted the client event');
    const got = await Promise.all(arrivals);
    for (const m of got) {
      assert.deepEqual(m.data, { who: 'sender' });
      assert.equal(m.user_id, undefined, 'no user_id on a private channel');
    }
    await barrier(cluster, [sender, ...receivers]);
    assert.equal(sender.inbox.count(on('client-typing', ch), from[0]), 0, 'the sender must not receive its own client event');
    for (const [i, r] of receivers.entries()) assert.equal(r.inbox.count(on('client-typing', ch), from[i + 1]), 1, `${r.label} got it exactly once`);
  }));

  it('client events on a presence channel carry the sender user_id to the other nodes', logged(async () => {
    const ch = unique('presence-chat-');
    const alice = await cluster.connect(1, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const bob = await cluster.connect(2, { presence: { user_id: 'bob' } });
    const carol = await cluster.connect(0, { presence: { user_id: 'carol' } });
    const aliceCh = await subscribe(alice, ch);
    const bobCh = await subscribe(bob, ch);
    const carolCh = await subscribe(carol, ch);
    const seen = [];
    bobCh.bind('client-wave', (data, meta) => seen.push({ at: 'bob', data, meta }));
    carolCh.bind('client-wave', (data, meta) => seen.push({ at: 'carol', data, meta }));
    aliceCh.bind('client-wave', (data, meta) => seen.push({ at: 'alice', data, meta }));
    const from = alice.inbox.mark();
    const atBob = bob.inbox.next(on('client-wave', ch), { from: bob.inbox.mark() });
    const atCarol = carol.inbox.next(on('client-wave', ch), { from: carol.inbox.mark() });
    aliceCh.trigger('client-wave', { hi: true });
    await Promise.all([atBob, atCarol]);
    await barrier(cluster, [alice, bob, carol]);
    assert.equal(alice.inbox.count(on('client-wave', ch), from), 0, 'not echoed to the sender');
    assert.deepEqual(seen.map((s) => s.at).sort(), ['bob', 'carol']);
    for (const s of seen) {
      assert.deepEqual(s.data, { hi: true });
      assert.equal(s.meta?.user_id, 'alice', `pusher-js metadata.user_id at ${s.at}`);
    }
  }));

  it('a cache channel replays an event triggered through node A to a later subscriber on node B', logged(async () => {
    const ch = unique('cache-news-');
    await cluster.api(0).trigger(ch, 'headline', { text: 'cluster-wide cache' });
    // No waiting: a client connecting right after the trigger is the real-world case.
    const late = await cluster.connect(1);
    const from = late.inbox.mark();
    const replay = late.inbox.next((m) => m.channel === ch && (m.event === 'headline' || m.event === 'pusher:cache_miss'), { from, what: `the cached event or cache_miss on ${ch}` });
    await subscribe(late, ch);
    const first = await replay;
    assert.equal(first.event, 'headline', `expected the cached event, got ${first.event}`);
    assert.deepEqual(first.data, { text: 'cluster-wide cache' });
    // And on the third node too.
    const third = await cluster.connect(2);
    const from3 = third.inbox.mark();
    const replay3 = third.inbox.next((m) => m.channel === ch && (m.event === 'headline' || m.event === 'pusher:cache_miss'), { from: from3 });
    await subscribe(third, ch);
    assert.equal((await replay3).event, 'headline', 'node2 replays the event triggered through node0');
    // Every node answers info=cache the same way.
    const answers = await Promise.all(cluster.nodes.map((n) => cluster.get(n, `/channels/${ch}`, { info: 'cache' })));
    for (const [i, a] of answers.entries()) {
      assert.ok(a.cache, `node${i} info=cache: ${JSON.stringify(a)}`);
      assert.deepEqual(JSON.parse(a.cache.data), { text: 'cluster-wide cache' }, `node${i} cached data`);
    }
  }));

  it('two clusters with different prefixes share one Redis without seeing each other', logged(async () => {
    // A second one-node cluster with the same app credentials on the same Redis.
    const other = await startCluster({ nodes: 1, apps: cluster.apps, redis: cluster.redis });
    try {
      const ch = unique('shared-name-');
      const mine = await cluster.connect(0);
      const theirs = await other.connect(0);
      await subscribe(mine, ch);
      await subscribe(theirs, ch);
      const fromTheirs = theirs.inbox.mark();
      await cluster.api(1).trigger(ch, 'only-mine', { x: 1 });
      await mine.inbox.next(on('only-mine', ch), { from: 0 });
      await barrier(other, [theirs]);
      assert.equal(theirs.inbox.count(on('only-mine', ch), fromTheirs), 0, 'an event in cluster 1 leaked into cluster 2');
      const mineInfo = await cluster.get(2, `/channels/${ch}`, { info: 'subscription_count' });
      const theirInfo = await other.get(0, `/channels/${ch}`, { info: 'subscription_count' });
      assert.equal(mineInfo.subscription_count, 1, 'cluster 1 counts only its own subscriber');
      assert.equal(theirInfo.subscription_count, 1, 'cluster 2 counts only its own subscriber');
      // Every key either cluster wrote is under its own prefix.
      const keys = await cluster.redis.keys();
      const stray = keys.filter((k) => !k.startsWith(`${cluster.prefix}:`) && !k.startsWith(`${other.prefix}:`));
      assert.deepEqual(stray, [], 'keys outside both cluster prefixes');
    } finally {
      await other.stop();
    }
  }));
});

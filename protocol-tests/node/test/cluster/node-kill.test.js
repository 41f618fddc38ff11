// SIGKILL of a node (issue 4), on a 3-node cluster with node_timeout = 3 s: within node_timeout
// plus a few seconds the survivors remove everything the dead node's sockets held — presence
// members only on it get member_removed (once), members also on a live node stay, counts in the
// HTTP API drop on every surviving node, watchers see the user go offline, and the
// channel_vacated / member_removed webhooks fire once. The API keeps answering fast meanwhile.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  barrier,
  defineApp,
  delay,
  eventually,
  hook,
  on,
  rosterOf,
  startCluster,
  startWebhookReceiver,
  subscribe,
  unique,
  withLogs,
} from './support.js';

const NODE_TIMEOUT_S = 3;
// node_timeout, plus the janitor's 1 s tick, plus slack for a loaded machine.
const REAP_DEADLINE_MS = NODE_TIMEOUT_S * 1000 + 4000;

describe('SIGKILL of a node (3 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  let receiver;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    const app = defineApp({ watchlist_events: true });
    receiver = await startWebhookReceiver({ app });
    app.webhooks = [{ url: receiver.url, event_types: ['channel_vacated', 'member_removed', 'channel_occupied', 'member_added'] }];
    cluster = await startCluster({ nodes: 3, apps: [app], config: { node_timeout: NODE_TIMEOUT_S, webhook_leave_delay_ms: 200 } });
  });
  after(async () => {
    await cluster?.stop();
    await receiver?.close();
  });

  it('the survivors clean up after the dead node within node_timeout + a few seconds', logged(async () => {
    const room = unique('presence-kill-');
    const onlyDead = unique('only-on-dead-');
    const mixed = unique('mixed-');
    const [dead, n1, n2] = cluster.nodes;

    // On the node to be killed (node0): 'doomed' (only there), one socket of 'shared'
    // (which also has a socket on node2), a subscriber of onlyDead and of mixed.
    const doomed = await cluster.connect(0, { presence: { user_id: 'doomed' }, user: { id: 'doomed' } });
    const sharedDead = await cluster.connect(0, { presence: { user_id: 'shared' } });
    const sharedLive = await cluster.connect(2, { presence: { user_id: 'shared' } });
    const watcher = await cluster.connect(1, { presence: { user_id: 'watcher' }, user: { id: 'watcher', watchlist: ['doomed'] } });
    const other = await cluster.connect(2, { presence: { user_id: 'other' } });
    for (const c of [doomed, sharedDead, sharedLive, watcher, other]) await subscribe(c, room);
    await subscribe(doomed, onlyDead);
    await subscribe(doomed, mixed);
    await subscribe(watcher, mixed);
    await eventually(async () => {
      assert.deepEqual(rosterOf(watcher.channel(room)), ['doomed', 'other', 'shared', 'watcher']);
      assert.ok(receiver.count(hook('channel_occupied', onlyDead)) === 1, 'occupied webhook for the channel only on node0');
    }, { what: 'the initial state' });
    await eventually(() => {
      const wl = watcher.inbox.filter((m) => m.event === 'pusher_internal:watchlist_events').flatMap((m) => m.data.events);
      assert.ok(wl.some((e) => e.name === 'online' && e.user_ids.includes('doomed')), `watchlist so far: ${JSON.stringify(wl)}`);
    }, { what: 'doomed online for the watcher' });
    for (const n of cluster.nodes) {
      const info = await cluster.get(n, `/channels/${room}`, { info: 'user_count,subscription_count' });
      assert.deepEqual(info, { occupied: true, user_count: 4, subscription_count: 5 }, `${n.name} before the kill`);
    }
    for (const id of ['doomed', 'shared', 'watcher', 'other']) await receiver.waitForEvent(hook('member_added', room, id), { what: `member_added(${id}) webhook` });
    await receiver.waitForEvent(hook('channel_occupied', mixed));
    const hooksBefore = receiver.events().length;
    const from = [watcher, other, sharedLive].map((c) => c.inbox.mark());

    // Kill node0 without any goodbye; stop its clients from reconnecting (to a dead port).
    const killedAt = Date.now();
    await dead.kill();
    for (const c of [doomed, sharedDead]) cluster.disconnect(c);

    // Remaining members hear that 'doomed' left, in time.
    const removals = [watcher, other].map((c, i) =>
      c.inbox.next(on('pusher_internal:member_removed', room, (m) => m.data.user_id === 'doomed'), {
        timeout: REAP_DEADLINE_MS,
        from: from[i],
        what: `member_removed(doomed) at ${c.label} after node0 was killed`,
      }),
    );
    const got = await Promise.all(removals);
    const elapsed = Math.max(...got.map((m) => m.at)) - killedAt;
    assert.ok(elapsed <= REAP_DEADLINE_MS, `member_removed took ${elapsed} ms`);
    assert.ok(elapsed >= NODE_TIMEOUT_S * 1000 - 1500, `member_removed after ${elapsed} ms, sooner than node_timeout: was the node declared dead early?`);

    // Counts and lists on every surviving node.
    await eventually(async () => {
      for (const n of [n1, n2]) {
        const started = Date.now();
        const info = await cluster.get(n, `/channels/${room}`, { info: 'user_count,subscription_count' });
        const users = (await cluster.get(n, `/channels/${room}/users`)).users.map((u) => u.id).sort();
        const mixedInfo = await cluster.get(n, `/channels/${mixed}`, { info: 'subscription_count' });
        const gone = await cluster.get(n, `/channels/${onlyDead}`);
        const list = await cluster.get(n, '/channels');
        const took = Date.now() - started;
        assert.deepEqual(info, { occupied: true, user_count: 3, subscription_count: 3 }, `${n.name} ${room}`);
        assert.deepEqual(users, ['other', 'shared', 'watcher'], `${n.name} users`);
        assert.deepEqual(mixedInfo, { occupied: true, subscription_count: 1 }, `${n.name} ${mixed}`);
        assert.equal(gone.occupied, false, `${n.name}: ${onlyDead} still occupied`);
        assert.equal(list.channels[onlyDead], undefined, `${n.name} still lists ${onlyDead}`);
        assert.ok(took < 1500, `${n.name}: five API calls took ${took} ms with a dead node in the cluster`);
      }
    }, { timeout: 3000, what: 'API counts after the reap' });

    // Webhooks: vacated for the channel only the dead node held, member_removed for doomed, once.
    await receiver.waitForEvent(hook('channel_vacated', onlyDead), { timeout: 3000, what: `channel_vacated for ${onlyDead}` });
    await receiver.waitForEvent(hook('member_removed', room, 'doomed'), { timeout: 3000, what: 'member_removed(doomed) webhook' });

    // The watcher on node1 sees doomed go offline.
    await watcher.inbox.next(
      (m) => m.event === 'pusher_internal:watchlist_events' && m.data.events.some((e) => e.name === 'offline' && e.user_ids.includes('doomed')),
      { from: from[0], timeout: 3000, what: 'offline(doomed) at the watcher' },
    );

    // Nothing else, and nothing twice.
    await barrier(cluster, [watcher, other, sharedLive]);
    await delay(800);
    for (const [i, c] of [watcher, other, sharedLive].entries()) {
      const removedIds = c.inbox.filter(on('pusher_internal:member_removed', room), from[i]).map((m) => m.data.user_id);
      if (c !== sharedLive) assert.deepEqual(removedIds, ['doomed'], `${c.label}: member_removed exactly once, only for doomed`);
      else assert.deepEqual(removedIds.filter((id) => id === 'shared'), [], "shared's live socket must not hear of its own removal");
    }
    assert.deepEqual(rosterOf(watcher.channel(room)), ['other', 'shared', 'watcher']);
    const mine = (e) => [room, onlyDead, mixed].includes(e.channel);
    const after = receiver.events().slice(hooksBefore).filter(mine).map((e) => `${e.name} ${e.channel} ${e.user_id ?? ''}`.trim()).sort();
    assert.deepEqual(after, [`channel_vacated ${onlyDead}`, `member_removed ${room} doomed`].sort(), 'webhooks after the kill, each once');

    // No state of the dead node is left behind in Redis.
    const keys = await cluster.ownKeys();
    assert.ok(!keys.includes(`${cluster.prefix}:node:${dead.nodeId}`), `the dead node's hash is still in Redis: ${keys.join(', ')}`);
    const live = await cluster.redis.command('ZRANGE', `${cluster.prefix}:nodes`, '0', '-1');
    assert.deepEqual([...live].sort(), [n1.nodeId, n2.nodeId].sort(), 'the live set lists only the survivors');

    // The cluster keeps working: a trigger through node1 reaches node2.
    const ping = other.inbox.next(on('after-kill', room), { from: other.inbox.mark() });
    await cluster.api(n1).trigger(room, 'after-kill', {});
    await ping;
  }));
});

// A frozen node (SIGSTOP) looks dead to the cluster: after node_timeout its members are removed
// everywhere, while the other nodes keep answering promptly. When it resumes (SIGCONT) it must
// notice it was declared dead and rebuild its share: its members come back for everyone, and
// delivery across nodes works again.
describe('a frozen node (SIGSTOP, then SIGCONT), 2 nodes', { timeout: 120_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    cluster = await startCluster({ nodes: 2, apps: [defineApp()], config: { node_timeout: NODE_TIMEOUT_S } });
  });
  after(async () => {
    if (cluster?.nodes[0].alive) cluster.nodes[0].child.kill('SIGCONT');
    await cluster?.stop();
  });

  it('is declared dead after node_timeout, and rebuilds its state when it resumes', logged(async () => {
    const room = unique('presence-frozen-');
    const pub = unique('frozen-');
    const [frozen, live] = cluster.nodes;
    const sleeper = await cluster.connect(frozen, { presence: { user_id: 'sleeper' } });
    const observer = await cluster.connect(live, { presence: { user_id: 'observer' } });
    await subscribe(sleeper, room);
    await subscribe(sleeper, pub);
    const obsCh = await subscribe(observer, room);
    await subscribe(observer, pub);
    assert.deepEqual(rosterOf(obsCh), ['observer', 'sleeper']);
    const from = observer.inbox.mark();

    frozen.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // The live node keeps answering promptly while the other one is frozen.
    const started = Date.now();
    const early = await cluster.get(live, `/channels/${room}`, { info: 'user_count' });
    assert.ok(Date.now() - started < 1000, `API call on node1 took ${Date.now() - started} ms with node0 frozen`);
    assert.equal(early.user_count, 2, 'not yet declared dead right after the freeze');

    await observer.inbox.next(on('pusher_internal:member_removed', room, (m) => m.data.user_id === 'sleeper'), {
      from,
      timeout: REAP_DEADLINE_MS,
      what: 'member_removed(sleeper) after node0 froze',
    });
    assert.ok(Date.now() - stoppedAt >= NODE_TIMEOUT_S * 1000 - 1500, 'declared dead before node_timeout');
    await eventually(async () => {
      const info = await cluster.get(live, `/channels/${room}`, { info: 'user_count,subscription_count' });
      assert.deepEqual(info, { occupied: true, user_count: 1, subscription_count: 1 });
      const p = await cluster.get(live, `/channels/${pub}`, { info: 'subscription_count' });
      assert.deepEqual(p, { occupied: true, subscription_count: 1 });
    }, { timeout: 3000, what: 'counts without the frozen node' });

    // Resume: node0 finds itself declared dead and re-adds its sockets' state.
    const fromResume = observer.inbox.mark();
    frozen.child.kill('SIGCONT');
    await observer.inbox.next(on('pusher_internal:member_added', room, (m) => m.data.user_id === 'sleeper'), {
      from: fromResume,
      timeout: 6000,
      what: 'member_added(sleeper) after node0 resumed and resynchronised',
    });
    await eventually(async () => {
      for (const n of cluster.nodes) {
        const info = await cluster.get(n, `/channels/${room}`, { info: 'user_count,subscription_count' });
        assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 2 }, n.name);
        const p = await cluster.get(n, `/channels/${pub}`, { info: 'subscription_count' });
        assert.deepEqual(p, { occupied: true, subscription_count: 2 }, n.name);
      }
    }, { timeout: 6000, what: 'counts after node0 resumed' });
    assert.deepEqual(rosterOf(obsCh), ['observer', 'sleeper']);
    assert.equal(sleeper.connection.state, 'connected', "the frozen node's client stayed connected");
    // Delivery across nodes in both directions.
    const toSleeper = sleeper.inbox.next(on('wake', pub), { from: sleeper.inbox.mark() });
    await cluster.api(live).trigger(pub, 'wake', {});
    await toSleeper;
    const toObserver = observer.inbox.next(on('wake2', pub), { from: observer.inbox.mark() });
    await cluster.api(frozen).trigger(pub, 'wake2', {});
    await toObserver;
    const liveSet = await cluster.redis.command('ZRANGE', `${cluster.prefix}:nodes`, '0', '-1');
    assert.deepEqual([...liveSet].sort(), [frozen.nodeId, live.nodeId].sort(), 'both nodes are in the live set again');
  }));
});

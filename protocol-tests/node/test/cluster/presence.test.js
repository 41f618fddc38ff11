// Cluster-wide presence and limits (issue 4), on a 2-node cluster:
// - a user with sockets on two nodes is one member; member_added only for the first socket
//   anywhere, member_removed only when the last one anywhere leaves;
// - the subscription_succeeded roster includes members on the other node (with user_info);
// - max_presence_members and max_connections are enforced cluster-wide.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  barrier,
  connectOutcome,
  defineApp,
  on,
  pollUntil,
  rosterOf,
  startCluster,
  subscribe,
  subscriptionRefused,
  unique,
  withLogs,
} from './support.js';

const MAIN = defineApp();
const SMALL_ROOMS = defineApp({ max_presence_members: 2 });
const QUOTA = defineApp({ max_connections: 2 });

const added = (ch, id) => on('pusher_internal:member_added', ch, (m) => String(m.data?.user_id) === id);
const removed = (ch, id) => on('pusher_internal:member_removed', ch, (m) => String(m.data?.user_id) === id);

describe('cluster-wide presence (2 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    cluster = await startCluster({ nodes: 2, apps: [MAIN, SMALL_ROOMS, QUOTA] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a user with sockets on two nodes is one member: member_added for the first socket anywhere, member_removed after the last', logged(async () => {
    const ch = unique('presence-room-');
    const observer = await cluster.connect(0, { presence: { user_id: 'observer', user_info: { role: 'watch' } } });
    const obsCh = await subscribe(observer, ch);
    const obsFrom = observer.inbox.mark();

    // First socket of 'dana' on node1: the observer on node0 hears about her once.
    const dana1 = await cluster.connect(1, { presence: { user_id: 'dana', user_info: { name: 'Dana' } } });
    const d1Ch = await subscribe(dana1, ch);
    await observer.inbox.next(added(ch, 'dana'), { from: obsFrom, what: 'member_added(dana) at the observer' });
    assert.deepEqual(rosterOf(d1Ch), ['dana', 'observer'], 'the roster dana gets on node1 includes the observer on node0');
    assert.deepEqual(d1Ch.members.get('observer')?.info, { role: 'watch' }, 'user_info of a member on the other node');

    // Second socket of 'dana', on node0: no new member anywhere.
    const dana2 = await cluster.connect(0, { presence: { user_id: 'dana', user_info: { name: 'Dana' } } });
    const d1From = dana1.inbox.mark();
    const d2Ch = await subscribe(dana2, ch);
    assert.deepEqual(rosterOf(d2Ch), ['dana', 'observer']);
    assert.equal(d2Ch.members.count, 2);
    await barrier(cluster, [observer, dana1, dana2]);
    assert.equal(observer.inbox.count(added(ch, 'dana'), obsFrom), 1, 'member_added(dana) exactly once although she has sockets on two nodes');
    assert.equal(dana1.inbox.count(added(ch, 'dana'), d1From), 0, "dana's first socket must not hear about her own second socket");
    assert.equal(obsCh.members.count, 2, "the observer's pusher-js roster has 2 members");

    // The API agrees from both nodes.
    for (const node of cluster.nodes) {
      const info = await cluster.get(node, `/channels/${ch}`, { info: 'user_count,subscription_count' });
      assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 3 }, `${node.name}: ${JSON.stringify(info)}`);
    }

    // dana leaves node1: she is still on node0, so nobody hears a removal.
    const obsMid = observer.inbox.mark();
    cluster.disconnect(dana1);
    await pollUntil(async () => (await cluster.get(0, `/channels/${ch}`, { info: 'subscription_count' })).subscription_count === 2, {
      what: 'subscription_count 2 after the node1 socket left',
    });
    await barrier(cluster, [observer, dana2]);
    assert.equal(observer.inbox.count(removed(ch, 'dana'), obsMid), 0, 'member_removed(dana) while she still has a socket on node0');
    for (const node of cluster.nodes) {
      const users = await cluster.get(node, `/channels/${ch}/users`);
      assert.deepEqual(users.users.map((u) => u.id).sort(), ['dana', 'observer'], `${node.name} users`);
    }

    // Her last socket leaves: exactly one member_removed.
    const removal = observer.inbox.next(removed(ch, 'dana'), { from: obsMid, what: 'member_removed(dana) after her last socket left' });
    dana2.unsubscribe(ch);
    await removal;
    await barrier(cluster, [observer]);
    assert.equal(observer.inbox.count(removed(ch, 'dana'), obsMid), 1, 'member_removed(dana) exactly once');
    assert.deepEqual(rosterOf(obsCh), ['observer']);
    for (const node of cluster.nodes) {
      const info = await cluster.get(node, `/channels/${ch}`, { info: 'user_count' });
      assert.equal(info.user_count, 1, `${node.name} user_count after dana left everywhere`);
    }
  }));

  it('the subscription_succeeded roster includes members on the other node, with their user_info', logged(async () => {
    const ch = unique('presence-roster-');
    const a = await cluster.connect(0, { presence: { user_id: 'r-a', user_info: { n: 'A' } } });
    const b = await cluster.connect(0, { presence: { user_id: 'r-b', user_info: { n: 'B' } } });
    await subscribe(a, ch);
    await subscribe(b, ch);
    const late = await cluster.connect(1, { presence: { user_id: 'r-late', user_info: { n: 'L' } } });
    const lateCh = await subscribe(late, ch);
    assert.deepEqual(rosterOf(lateCh), ['r-a', 'r-b', 'r-late']);
    assert.equal(lateCh.members.count, 3);
    assert.deepEqual(lateCh.members.get('r-a').info, { n: 'A' });
    assert.deepEqual(lateCh.members.get('r-b').info, { n: 'B' });
    assert.equal(lateCh.members.me.id, 'r-late');
  }));

  it('max_presence_members is enforced cluster-wide; an existing member may add a socket on another node', logged(async () => {
    const app = SMALL_ROOMS;
    const ch = unique('presence-small-');
    const a = await cluster.connect(0, { app, presence: { user_id: 'm-a' } });
    const b = await cluster.connect(1, { app, presence: { user_id: 'm-b' } });
    await subscribe(a, ch);
    await subscribe(b, ch);
    for (const n of [0, 1]) {
      const c = await cluster.connect(n, { app, presence: { user_id: `m-c${n}` } });
      const err = await subscriptionRefused(c, ch);
      assert.equal(err.status, 403, `third user on node${n}: status ${JSON.stringify(err)}`);
    }
    // The existing member 'm-a' joins again from node1: accepted.
    const a2 = await cluster.connect(1, { app, presence: { user_id: 'm-a' } });
    const a2Ch = await subscribe(a2, ch);
    assert.deepEqual(rosterOf(a2Ch), ['m-a', 'm-b']);
    for (const node of cluster.nodes) {
      const info = await cluster.get(node, `/channels/${ch}`, { info: 'user_count,subscription_count' }, app);
      assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 3 }, node.name);
    }
    // Once a member leaves everywhere, a new user fits again (on either node).
    cluster.disconnect(b);
    await pollUntil(async () => (await cluster.get(0, `/channels/${ch}`, { info: 'user_count' }, app)).user_count === 1, { what: 'user_count 1' });
    const d = await cluster.connect(0, { app, presence: { user_id: 'm-d' } });
    await subscribe(d, ch);
  }));

  it('max_connections is enforced cluster-wide: with one socket on each node, a third on either node gets 4004', logged(async () => {
    const app = QUOTA;
    const first = await cluster.connect(0, { app });
    const second = await cluster.connect(1, { app });
    for (const n of [0, 1]) {
      const third = cluster.client(n, { app });
      const outcome = await connectOutcome(third);
      assert.equal(outcome, 'error 4004', `a third connection on node${n} (max_connections = 2, one socket open on each node${n ? ', after a refused attempt on node0' : ''})`);
      // 4004 is "refused" for pusher-js: it must stop, not reconnect.
      await pollUntil(() => ['disconnected', 'failed'].includes(third.connection.state), {
        timeout: 3000,
        interval: 50,
        what: `pusher-js to give up after 4004 on node${n} (state ${third.connection.state})`,
      });
      cluster.disconnect(third);
    }
    assert.equal(first.connection.state, 'connected', 'the existing sockets are untouched');
    assert.equal(second.connection.state, 'connected');
    // A slot freed on node0 can be used from node1.
    cluster.disconnect(first);
    await pollUntil(
      async () => {
        const probe = cluster.client(1, { app });
        const outcome = await connectOutcome(probe, 3000).catch(() => 'timeout');
        if (outcome === 'connected') return true;
        cluster.disconnect(probe);
        return false;
      },
      { timeout: 8000, interval: 200, what: 'a connection on node1 to be accepted after one closed on node0' },
    );
  }));
});

// User features across nodes (issue 4), on a 2-node cluster: server-to-user messages reach a
// user signed in on another node, watchlist online/offline events follow the user wherever it
// signs in, and terminate_connections through one node closes the user's sockets on the other.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { barrier, closedWith, defineApp, on, pollUntil, startCluster, subscribe, unique, waitFor, withLogs } from './support.js';

const watchlistEvents = (client, from) =>
  client.inbox
    .filter((m) => m.event === 'pusher_internal:watchlist_events', from)
    .flatMap((m) => m.data.events.map((e) => `${e.name}:${[...e.user_ids].sort().join(',')}`));

describe('user features across nodes (2 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    cluster = await startCluster({ nodes: 2, apps: [defineApp({ watchlist_events: true })] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('sendToUser through node A reaches the user on node B, once per socket, on every node', logged(async () => {
    const id = unique('ann-');
    const annB = await cluster.connect(1, { user: { id } });
    const got = [];
    annB.user.bind('greeting', (data) => got.push(data));
    const fromB = annB.inbox.mark();
    const arrival = annB.inbox.next((m) => m.event === 'greeting', { from: fromB, what: 'the server-to-user event on node1' });
    await cluster.api(0).sendToUser(id, 'greeting', { hello: id });
    await arrival;
    assert.deepEqual(got, [{ hello: id }], 'pusher.user.bind() handler got the event');

    // A second socket of the same user on node0: each socket gets it exactly once.
    const annA = await cluster.connect(0, { user: { id } });
    const from = [annA.inbox.mark(), annB.inbox.mark()];
    await cluster.api(1).sendToUser(id, 'again', { n: 2 });
    await barrier(cluster, [annA, annB]);
    assert.equal(annA.inbox.count((m) => m.event === 'again', from[0]), 1, 'socket on node0');
    assert.equal(annB.inbox.count((m) => m.event === 'again', from[1]), 1, 'socket on node1');

    // Other users get nothing.
    const other = await cluster.connect(0, { user: { id: unique('other-') } });
    const fromOther = other.inbox.mark();
    await cluster.api(0).sendToUser(id, 'private-note', {});
    await barrier(cluster, [other]);
    assert.equal(other.inbox.count((m) => m.event === 'private-note', fromOther), 0);
  }));

  it('watchlist: online/offline follow the watched user across nodes, once per change', logged(async () => {
    const bob = unique('bob-');
    const watcher = await cluster.connect(0, { user: { id: unique('wat-'), watchlist: [bob] } });
    const online = [];
    const offline = [];
    watcher.user.watchlist.bind('online', (e) => online.push(e.user_ids));
    watcher.user.watchlist.bind('offline', (e) => offline.push(e.user_ids));
    // The initial state after sign-in: bob is offline.
    await pollUntil(() => watchlistEvents(watcher, 0).includes(`offline:${bob}`), { what: 'the initial offline status of bob' });
    const from = watcher.inbox.mark();

    const bob1 = await cluster.connect(1, { user: { id: bob } });
    await watcher.inbox.next((m) => m.event === 'pusher_internal:watchlist_events' && m.data.events.some((e) => e.name === 'online' && e.user_ids.includes(bob)), {
      from,
      what: 'online(bob) after he signed in on node1',
    });
    // A second socket of bob (on node0) is no change.
    const bob2 = await cluster.connect(0, { user: { id: bob } });
    await barrier(cluster, [watcher]);
    assert.deepEqual(watchlistEvents(watcher, from), [`online:${bob}`], 'exactly one online event for two sockets');

    // A watcher signing in now (on node1) sees bob online although one of his sockets is on node0.
    const late = await cluster.connect(1, { user: { id: unique('late-'), watchlist: [bob] } });
    await pollUntil(() => watchlistEvents(late, 0).includes(`online:${bob}`), { what: 'the initial online status of bob for a late watcher' });

    // bob leaves node1: still online through node0. To know node1 has handled the close, bob1
    // holds a public channel: herald unsubscribes a closing socket and then signs it out, so
    // once the channel is empty the sign-out follows at once; the barrier then orders it.
    const track = unique('track-bob-');
    await subscribe(bob1, track);
    const fromLeave = watcher.inbox.mark();
    cluster.disconnect(bob1);
    await pollUntil(async () => !(await cluster.get(0, `/channels/${track}`)).occupied, { what: 'node1 to handle the close of bob1' });
    await barrier(cluster, [watcher]);
    assert.deepEqual(watchlistEvents(watcher, fromLeave), [], 'no offline event while bob still has a socket on node0');
    // His last socket leaves: one offline event.
    cluster.disconnect(bob2);
    await watcher.inbox.next((m) => m.event === 'pusher_internal:watchlist_events' && m.data.events.some((e) => e.name === 'offline' && e.user_ids.includes(bob)), {
      from: fromLeave,
      what: 'offline(bob) after his last socket left',
    });
    await barrier(cluster, [watcher, late]);
    assert.deepEqual(watchlistEvents(watcher, fromLeave), [`offline:${bob}`], 'exactly one offline event');
    assert.ok(online.some((ids) => ids.includes(bob)), 'pusher-js emitted online on user.watchlist');
    assert.ok(offline.some((ids) => ids.includes(bob)), 'pusher-js emitted offline on user.watchlist');
  }));

  it('terminateUserConnections through node A closes the user sockets on node B (and A) with 4009', logged(async () => {
    const id = unique('cat-');
    const ch = unique('presence-term-');
    const catB = await cluster.connect(1, { user: { id } });
    const catA = await cluster.connect(0, { user: { id } });
    const bystander = await cluster.connect(1, { user: { id: unique('dog-') } });
    await subscribe(catB, ch);
    await subscribe(bystander, ch);
    const closedB = closedWith(catB, 4009);
    const closedA = closedWith(catA, 4009);
    const stateB = waitFor(catB.connection, 'state_change', {
      filter: ({ current }) => current === 'disconnected' || current === 'failed',
      what: 'the node1 socket to end up disconnected',
    });
    const res = await cluster.api(0).terminateUserConnections(id);
    assert.equal(res.status, 200);
    await Promise.all([closedB, closedA, stateB]);
    // 4009 is "refused" for pusher-js: no automatic reconnect.
    assert.notEqual(catB.connection.state, 'connected');
    assert.equal(bystander.connection.state, 'connected', 'another user on the same node is untouched');
    // The cluster forgets cat's membership everywhere.
    await pollUntil(
      async () => {
        const users = await Promise.all(cluster.nodes.map((n) => cluster.get(n, `/channels/${ch}/users`)));
        return users.every((u) => u.users.length === 1 && u.users[0].id !== id);
      },
      { what: `${id} to disappear from ${ch} on every node` },
    );
    const from = bystander.inbox.mark();
    await cluster.api(1).sendToUser(id, 'after-terminate', {});
    await cluster.api(0).trigger(ch, 'still-there', {});
    await bystander.inbox.next(on('still-there', ch), { from });
  }));
});

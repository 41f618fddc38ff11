// Graceful shutdown of one node (issue 4), on a 2-node cluster behind a TCP round-robin load
// balancer that health-checks GET /ready: SIGTERM on node0 closes its clients with 4200,
// pusher-js reconnects at once through the balancer, lands on node1, resubscribes, and the
// cluster keeps no stale member, count or node record — not even after node_timeout.
//
// A second test checks what a stopping node does with the connections that arrive right after
// it told its clients to reconnect (docs/compatibility.md: "new sockets get 4200"): they must be
// answered with close 4200 or refused outright, never accepted and then dropped without a
// close frame — pusher-js then waits for its 15 s transport timeout before trying again, and a
// load balancer cannot retry a connection the backend accepted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import {
  barrier,
  closedWith,
  defineApp,
  delay,
  eventually,
  on,
  rosterOf,
  startCluster,
  startProxy,
  startWebhookReceiver,
  subscribe,
  unique,
  waitConnected,
  waitFor,
  withLogs,
} from './support.js';

const NODE_TIMEOUT_S = 3;

describe('graceful shutdown of one node behind a load balancer (2 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  let proxy;
  let receiver;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    const app = defineApp();
    receiver = await startWebhookReceiver({ app });
    app.webhooks = [{ url: receiver.url, event_types: ['member_added', 'member_removed', 'channel_vacated', 'channel_occupied'] }];
    cluster = await startCluster({ nodes: 2, apps: [app], config: { node_timeout: NODE_TIMEOUT_S, shutdown_grace_period: 2, webhook_leave_delay_ms: 1000 } });
    proxy = await startProxy(cluster.nodes);
    cluster.diagnostics = () => `balancer routes: ${proxy.log.join(', ')}`;
  });
  after(async () => {
    await cluster?.stop();
    await proxy?.close();
    await receiver?.close();
  });

  it('clients of the stopped node get 4200, reconnect through the balancer to the other node, and no stale member remains', logged(async () => {
    const room = unique('presence-move-');
    const pub = unique('move-');
    const [node0, node1] = cluster.nodes;

    // 'mover' and a public-channel subscriber land on node0, 'stayer' on node1, all through the balancer.
    proxy.pin(node0);
    const mover = await cluster.connect(proxy, { presence: { user_id: 'mover', user_info: { v: 1 } }, label: 'mover' });
    const listener = await cluster.connect(proxy, { label: 'listener' });
    proxy.pin(node1);
    const stayer = await cluster.connect(proxy, { presence: { user_id: 'stayer' }, label: 'stayer' });
    proxy.pin(null);
    assert.deepEqual(proxy.routes.slice(-3), ['node0', 'node0', 'node1'], 'initial placement through the balancer');
    await subscribe(mover, room);
    await subscribe(mover, pub);
    await subscribe(listener, pub);
    const stayerCh = await subscribe(stayer, room);
    await subscribe(stayer, pub);
    assert.deepEqual(rosterOf(stayerCh), ['mover', 'stayer']);
    const oldSocket = mover.connection.socket_id;

    // SIGTERM node0.
    const resubscribed = waitFor(mover.channel(room), 'pusher:subscription_succeeded', { timeout: 8000, what: 'mover to resubscribe after reconnecting' });
    const listenerBack = waitFor(listener.channel(pub), 'pusher:subscription_succeeded', { timeout: 8000, what: 'listener to resubscribe' });
    const moverClosed = closedWith(mover, 4200, 5000);
    const listenerClosed = closedWith(listener, 4200, 5000);
    const exit = node0.terminate();
    await Promise.all([moverClosed, listenerClosed]);
    await Promise.all([resubscribed, listenerBack]);
    await waitConnected(mover);
    assert.notEqual(mover.connection.socket_id, oldSocket, 'a new connection');
    assert.equal(proxy.routes.at(-1), 'node1', `the reconnect landed on ${proxy.routes.at(-1)}; routes: ${proxy.routes.join(',')}`);
    const status = await exit;
    assert.deepEqual(status, { code: 0, signal: null }, 'node0 exits 0 after its grace period');

    // The moved clients work on node1: presence roster, delivery, API.
    assert.deepEqual(rosterOf(mover.channel(room)), ['mover', 'stayer'], "mover's roster after the move");
    const checkState = async (label) => {
      const info = await cluster.get(node1, `/channels/${room}`, { info: 'user_count,subscription_count' });
      const users = (await cluster.get(node1, `/channels/${room}/users`)).users.map((u) => u.id).sort();
      const pubInfo = await cluster.get(node1, `/channels/${pub}`, { info: 'subscription_count' });
      assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 2 }, `${label}: ${room}`);
      assert.deepEqual(users, ['mover', 'stayer'], `${label}: users`);
      assert.deepEqual(pubInfo, { occupied: true, subscription_count: 3 }, `${label}: ${pub}`);
      assert.deepEqual(rosterOf(stayerCh), ['mover', 'stayer'], `${label}: stayer's pusher-js roster`);
    };
    await eventually(() => checkState('right after the move'), { timeout: 3000 });
    const from = mover.inbox.mark();
    await cluster.api(node1).trigger(pub, 'after-move', { ok: true });
    await mover.inbox.next(on('after-move', pub), { from });

    // After node_timeout the cluster would reap anything node0 left behind: it must not
    // remove the members that moved, nor leave node0 in the live set.
    await delay(NODE_TIMEOUT_S * 1000 + 1500);
    await checkState(`${NODE_TIMEOUT_S + 1.5} s later`);
    await barrier(cluster, [stayer]);
    // Either the move was invisible to stayer, or mover was removed and re-added: the last
    // member event about mover must not be a removal.
    const aboutMover = stayer.inbox
      .filter((m) => m.channel === room && /member_(added|removed)$/.test(m.event) && m.data.user_id === 'mover')
      .map((m) => m.event.replace('pusher_internal:', ''));
    assert.ok(aboutMover.length === 0 || aboutMover.at(-1) === 'member_added', `member events about mover at stayer: ${JSON.stringify(aboutMover)}`);
    const live = await cluster.redis.command('ZRANGE', `${cluster.prefix}:nodes`, '0', '-1');
    assert.deepEqual([...live], [node1.nodeId], 'only node1 is in the live set');
    const keys = await cluster.ownKeys();
    assert.ok(!keys.includes(`${cluster.prefix}:node:${node0.nodeId}`), 'node0 left no per-node record behind');

    // Webhooks: the room was never empty, so no vacated; mover is a member at the end.
    const roomHooks = receiver.events((e) => e.channel === room).map((e) => `${e.name} ${e.user_id ?? ''}`.trim());
    assert.ok(!roomHooks.includes('channel_vacated'), `webhooks for ${room}: ${JSON.stringify(roomHooks)}`);
    const moverHooks = roomHooks.filter((h) => h.endsWith(' mover'));
    assert.ok(moverHooks.length === 0 || moverHooks.at(-1) === 'member_added mover', `the last webhook about mover must not be a removal: ${JSON.stringify(moverHooks)}`);
  }));

  it('connections arriving while a node shuts down get close 4200 or are refused, never accepted and dropped', logged(async () => {
    const own = await startCluster({ nodes: 2, apps: cluster.apps, redis: cluster.redis, config: { shutdown_grace_period: 2 } });
    const saved = cluster;
    cluster = own; // for withLogs
    try {
      const node0 = own.nodes[0];
      const app = own.app;
      const client = await own.connect(node0, { label: 'existing' });
      await subscribe(client, unique('stopping-'));
      // Connections arriving from the moment of SIGTERM on: the existing client is told to
      // reconnect somewhere in this window, and pusher-js does so at once.
      const attempt = () =>
        new Promise((resolvePromise) => {
          const ws = new WebSocket(`ws://127.0.0.1:${node0.port}/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`);
          let established = false;
          const timer = setTimeout(() => {
            ws.terminate();
            resolvePromise('no answer within 3 s');
          }, 3000);
          const done = (outcome) => {
            clearTimeout(timer);
            resolvePromise(outcome);
          };
          ws.on('message', (m) => {
            if (String(m).includes('pusher:connection_established')) established = true;
          });
          ws.on('unexpected-response', (_req, res) => {
            ws.terminate();
            done(`HTTP ${res.statusCode} to the upgrade`);
          });
          ws.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `dropped (${e.code ?? e.message})`));
          ws.on('close', (code) => done(code === 4200 ? 'close 4200' : `close ${code}${established ? ' after connection_established' : ''}`));
        });
      const told = closedWith(client, 4200, 5000);
      const sentAt = Date.now();
      const exit = node0.terminate();
      let toldAt;
      told.then(() => (toldAt = Date.now() - sentAt), () => {});
      // Three new connections per millisecond until the listener refuses them (at most 300 ms).
      const pending = [];
      let refused = false;
      for (let i = 0; i < 300 && !refused; i += 1) {
        for (let k = 0; k < 3; k += 1) pending.push(attempt().then((o) => ((refused ||= o === 'refused'), o)));
        await delay(1);
      }
      await told;
      pending.push(attempt());
      const outcomes = await Promise.all(pending);
      const summary = {};
      for (const o of outcomes) summary[o] = (summary[o] ?? 0) + 1;
      own.disconnect(client);
      const bad = outcomes.filter((o) => o !== 'close 4200' && o !== 'refused');
      assert.deepEqual(bad, [], `${outcomes.length} connections made from SIGTERM on, 3 per ms (the existing client got its 4200 after ${toldAt} ms): ${JSON.stringify(summary)}`);
      assert.deepEqual(await exit, { code: 0, signal: null });
    } finally {
      cluster = saved;
      await own.stop();
    }
  }));
});

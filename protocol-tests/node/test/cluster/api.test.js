// The HTTP API answers cluster-wide (issue 4): on a 3-node cluster with subscribers spread over
// the nodes, every node gives the same answer to /channels, /channels/NAME, /channels/NAME/users
// and to `info` on triggers, through the `pusher` server library.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { defineApp, eventually, startCluster, subscribe, unique, withLogs } from './support.js';

describe('HTTP API answers cluster-wide (3 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);
  const tag = unique('api').replace(/-/g, '');
  const presA = `presence-${tag}-a`;
  const presB = `presence-${tag}-b`;
  const pub = `${tag}-public`;
  const priv = `private-${tag}`;
  let clients;

  before(async () => {
    cluster = await startCluster({ nodes: 3, apps: [defineApp({ subscription_count: true })] });
    // presA: u1@node0, u2@node1 and u2@node2 (one member, two sockets), u3@node2
    // presB: u1@node1
    // pub: two sockets on node0, one on node2; priv: one on node1
    const plan = [
      { node: 0, user: 'u1', channels: [presA, pub] },
      { node: 1, user: 'u2', channels: [presA, priv] },
      { node: 2, user: 'u2', channels: [presA, pub] },
      { node: 2, user: 'u3', channels: [presA] },
      { node: 1, user: 'u1', channels: [presB] },
      { node: 0, user: 'x', channels: [pub] },
    ];
    clients = [];
    for (const p of plan) {
      const c = await cluster.connect(p.node, { presence: { user_id: p.user, user_info: { name: p.user.toUpperCase() } } });
      for (const ch of p.channels) await subscribe(c, ch);
      clients.push(c);
    }
  });
  after(async () => {
    await cluster?.stop();
  });

  const fromEveryNode = (fn) => Promise.all(cluster.nodes.map(async (n) => ({ node: n.name, answer: await fn(n) })));
  const assertSame = (answers, label) => {
    for (const a of answers.slice(1)) assert.deepEqual(a.answer, answers[0].answer, `${label}: ${a.node} answers differently from ${answers[0].node}`);
  };

  it('GET /channels?filter_by_prefix=presence-&info=user_count', logged(async () => {
    const answers = await fromEveryNode((n) => cluster.get(n, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' }));
    assertSame(answers, '/channels presence-');
    const mine = Object.fromEntries(Object.entries(answers[0].answer.channels).filter(([k]) => k.includes(tag)));
    assert.deepEqual(mine, { [presA]: { user_count: 3 }, [presB]: { user_count: 1 } });
    for (const name of Object.keys(answers[0].answer.channels)) assert.ok(name.startsWith('presence-'), `${name} does not match the prefix`);
  }));

  it('GET /channels (all, and with info=subscription_count)', logged(async () => {
    const plain = await fromEveryNode((n) => cluster.get(n, '/channels'));
    assertSame(plain, '/channels');
    for (const ch of [presA, presB, pub, priv]) assert.deepEqual(plain[0].answer.channels[ch], {}, `${ch} listed`);
    const counted = await fromEveryNode((n) => cluster.get(n, '/channels', { filter_by_prefix: `${tag}-`, info: 'subscription_count' }));
    assertSame(counted, '/channels subscription_count');
    assert.deepEqual(counted[0].answer.channels, { [pub]: { subscription_count: 3 } });
  }));

  it('GET /channels/NAME?info=subscription_count,user_count', logged(async () => {
    const presence = await fromEveryNode((n) => cluster.get(n, `/channels/${presA}`, { info: 'subscription_count,user_count' }));
    assertSame(presence, presA);
    assert.deepEqual(presence[0].answer, { occupied: true, subscription_count: 4, user_count: 3 });
    const publics = await fromEveryNode((n) => cluster.get(n, `/channels/${pub}`, { info: 'subscription_count' }));
    assertSame(publics, pub);
    assert.deepEqual(publics[0].answer, { occupied: true, subscription_count: 3 });
    const privates = await fromEveryNode((n) => cluster.get(n, `/channels/${priv}`, { info: 'subscription_count' }));
    assert.deepEqual(privates.map((p) => p.answer), cluster.nodes.map(() => ({ occupied: true, subscription_count: 1 })));
    const empty = await fromEveryNode((n) => cluster.get(n, `/channels/presence-${tag}-nobody`, { info: 'user_count' }));
    for (const e of empty) assert.equal(e.answer.occupied, false, `${e.node}: unoccupied channel`);
  }));

  it('GET /channels/presence-x/users', logged(async () => {
    const answers = await fromEveryNode(async (n) => {
      const body = await cluster.get(n, `/channels/${presA}/users`);
      return body.users.map((u) => u.id).sort();
    });
    assertSame(answers, 'users');
    assert.deepEqual(answers[0].answer, ['u1', 'u2', 'u3']);
  }));

  it('info on trigger and batch trigger is cluster-wide from every node', logged(async () => {
    for (const [i] of cluster.nodes.entries()) {
      const res = await cluster.api(i).trigger([presA, pub], 'info-probe', { i }, { info: 'user_count,subscription_count' });
      const body = await res.json();
      assert.deepEqual(
        body,
        { channels: { [presA]: { user_count: 3, subscription_count: 4 }, [pub]: { subscription_count: 3 } } },
        `trigger info through node${i}`,
      );
      const batch = await cluster.api(i).triggerBatch([
        { channel: presA, name: 'info-probe', data: '{}', info: 'user_count' },
        { channel: pub, name: 'info-probe', data: '{}', info: 'subscription_count' },
      ]);
      assert.deepEqual(await batch.json(), { batch: [{ user_count: 3 }, { subscription_count: 3 }] }, `batch info through node${i}`);
    }
  }));

  it('counts drop on every node when sockets leave on one node', logged(async () => {
    // The u2 socket on node2 and the u3 socket (node2) leave: u2 stays a member (node1).
    cluster.disconnect(clients[2]);
    cluster.disconnect(clients[3]);
    await eventually(
      async () => {
        const answers = await fromEveryNode(async (n) => ({
          pres: await cluster.get(n, `/channels/${presA}`, { info: 'subscription_count,user_count' }),
          users: (await cluster.get(n, `/channels/${presA}/users`)).users.map((u) => u.id).sort(),
          pub: await cluster.get(n, `/channels/${pub}`, { info: 'subscription_count' }),
        }));
        for (const a of answers) {
          assert.deepEqual(a.answer, {
            pres: { occupied: true, subscription_count: 2, user_count: 2 },
            users: ['u1', 'u2'],
            pub: { occupied: true, subscription_count: 2 },
          }, a.node);
        }
      },
      { timeout: 3000, what: 'counts after two sockets on node2 left' },
    );
    // The last presB socket leaves: the channel disappears from every node's list.
    cluster.disconnect(clients[4]);
    await eventually(
      async () => {
        const answers = await fromEveryNode((n) => cluster.get(n, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' }));
        for (const a of answers) {
          assert.equal(a.answer.channels[presB], undefined, `${a.node} still lists ${presB}`);
          assert.deepEqual(a.answer.channels[presA], { user_count: 2 }, a.node);
        }
      },
      { timeout: 3000, what: `${presB} to be gone everywhere` },
    );
  }));
});

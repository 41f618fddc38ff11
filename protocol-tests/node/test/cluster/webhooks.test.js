// Webhooks fire once per cluster (issue 4), on a 2-node cluster whose nodes all post to one
// receiver: channel_occupied once when subscribers join on both nodes, channel_vacated once and
// only after the last subscriber anywhere left (regression seen in peers: vacated fired while a
// subscriber remained on another node), member_added/member_removed once per member, and the
// leave delay cancels a vacate when a subscriber returns on the other node.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { defineApp, delay, hook, pollUntil, startCluster, startWebhookReceiver, subscribe, unique, withLogs } from './support.js';

const LEAVE_DELAY_MS = 400;
const BATCH_MS = 20;
// After the last expected webhook, how long to keep watching for duplicates: the leave delay
// (held events) plus batching and delivery.
const QUIET_MS = LEAVE_DELAY_MS + 600;

describe('webhooks once per cluster (2 nodes)', { timeout: 120_000 }, () => {
  let cluster;
  let receiver;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    const app = defineApp();
    receiver = await startWebhookReceiver({ app });
    app.webhooks = [{ url: receiver.url, event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] }];
    cluster = await startCluster({ nodes: 2, apps: [app], config: { webhook_leave_delay_ms: LEAVE_DELAY_MS, webhook_batch_ms: BATCH_MS } });
  });
  after(async () => {
    await cluster?.stop();
    await receiver?.close();
  });

  /** Unsubscribes and waits until every node's API says the socket left; returns when it unsubscribed. */
  async function leave(client, ch, expectedCount) {
    const at = Date.now();
    client.unsubscribe(ch);
    await pollUntil(
      async () => {
        const answers = await Promise.all(cluster.nodes.map((n) => cluster.get(n, `/channels/${ch}`, { info: 'subscription_count' })));
        return answers.every((a) => (a.subscription_count ?? 0) === expectedCount);
      },
      { what: `subscription_count ${expectedCount} on ${ch} everywhere` },
    );
    return at;
  }

  it('channel_occupied once when subscribers join on both nodes at the same time', logged(async () => {
    const ch = unique('wh-occupied-');
    const clients = await Promise.all([cluster.connect(0), cluster.connect(1), cluster.connect(0), cluster.connect(1)]);
    // Concurrent first subscriptions on two nodes: only one may be "first".
    await Promise.all(clients.map((c) => subscribe(c, ch)));
    const occupied = await receiver.waitForEvent(hook('channel_occupied', ch), { what: `channel_occupied for ${ch}` });
    assert.ok(occupied._valid, 'the webhook signature is valid (pusher library webhook().isValid())');
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_occupied', ch)), 1, 'channel_occupied exactly once');
  }));

  it('channel_vacated not while a subscriber remains on another node; once after the last one anywhere leaves', logged(async () => {
    const ch = unique('wh-room-');
    const [a, b, c] = await Promise.all([cluster.connect(0), cluster.connect(1), cluster.connect(1)]);
    for (const x of [a, b, c]) await subscribe(x, ch);
    await receiver.waitForEvent(hook('channel_occupied', ch), { what: `channel_occupied for ${ch}` });

    // The node0 subscriber leaves; two remain on node1: no vacated.
    await leave(a, ch, 2);
    // One of the two on node1 leaves: node1 still has one.
    await leave(b, ch, 1);
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_vacated', ch)), 0, 'channel_vacated fired while a subscriber remains on node1');

    // The last subscriber anywhere leaves: vacated, once, after it left.
    const leftAt = await leave(c, ch, 0);
    const vacated = await receiver.waitForEvent(hook('channel_vacated', ch), {
      timeout: LEAVE_DELAY_MS + 3000,
      what: `channel_vacated for ${ch} after its last subscriber (on node1) left`,
    });
    assert.ok(vacated._at >= leftAt, 'vacated arrived after the last subscriber left');
    assert.ok(vacated._valid, 'the webhook signature is valid');
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_vacated', ch)), 1, 'channel_vacated exactly once');
    assert.equal(receiver.count(hook('channel_occupied', ch)), 1, 'no second channel_occupied');
  }));

  it('the last subscriber on node0 leaving does not vacate a channel still held on node1 (and vice versa)', logged(async () => {
    const ch = unique('wh-regression-');
    const a = await cluster.connect(0);
    const b = await cluster.connect(1);
    await subscribe(a, ch);
    await subscribe(b, ch);
    await leave(b, ch, 1); // node1 is now empty, node0 still holds it
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_vacated', ch)), 0, 'vacated while a subscriber remains on node0');
    const b2 = await cluster.connect(1);
    await subscribe(b2, ch);
    await leave(a, ch, 1); // node0 is now empty, node1 holds it again
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_vacated', ch)), 0, 'vacated while a subscriber remains on node1');
    assert.equal(receiver.count(hook('channel_occupied', ch)), 1, 'occupied once: the channel never became empty');
    await leave(b2, ch, 0);
    await receiver.waitForEvent(hook('channel_vacated', ch), { timeout: LEAVE_DELAY_MS + 3000, what: `channel_vacated for ${ch} once it is empty everywhere` });
  }));

  it('member_added once per member, whatever the nodes of its sockets', logged(async () => {
    const ch = unique('presence-wh-added-');
    const u1a = await cluster.connect(0, { presence: { user_id: 'wh-a1' } });
    const u1b = await cluster.connect(1, { presence: { user_id: 'wh-a1' } });
    const u2 = await cluster.connect(1, { presence: { user_id: 'wh-a2' } });
    await Promise.all([subscribe(u1a, ch), subscribe(u1b, ch)]);
    await subscribe(u2, ch);
    await receiver.waitForEvent(hook('member_added', ch, 'wh-a2'), { what: 'member_added wh-a2' });
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('member_added', ch, 'wh-a1')), 1, 'member_added(wh-a1) once for sockets on two nodes');
    assert.equal(receiver.count(hook('member_added', ch, 'wh-a2')), 1);
    assert.equal(receiver.count(hook('channel_occupied', ch)), 1);
  }));

  it("member_removed once, only after the member's last socket anywhere left", logged(async () => {
    const ch = unique('presence-wh-removed-');
    const u1a = await cluster.connect(0, { presence: { user_id: 'wh-r1' } });
    const u1b = await cluster.connect(1, { presence: { user_id: 'wh-r1' } });
    const u2 = await cluster.connect(1, { presence: { user_id: 'wh-r2' } });
    for (const c of [u1a, u1b, u2]) await subscribe(c, ch);
    await receiver.waitForEvent(hook('member_added', ch, 'wh-r2'));

    await leave(u1a, ch, 2);
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('member_removed', ch, 'wh-r1')), 0, 'member_removed while wh-r1 still has a socket on node1');
    await leave(u1b, ch, 1);
    await receiver.waitForEvent(hook('member_removed', ch, 'wh-r1'), { timeout: LEAVE_DELAY_MS + 3000, what: 'member_removed wh-r1 after its last socket (node1) left' });
    await leave(u2, ch, 0);
    await receiver.waitForEvent(hook('channel_vacated', ch), { timeout: LEAVE_DELAY_MS + 3000, what: 'channel_vacated' });
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('member_removed', ch, 'wh-r1')), 1, 'member_removed(wh-r1) once');
    assert.equal(receiver.count(hook('member_removed', ch, 'wh-r2')), 1, 'member_removed(wh-r2) once');
    assert.equal(receiver.count(hook('channel_vacated', ch)), 1);
    for (const e of receiver.events((x) => x.channel === ch)) assert.ok(e._valid, `signature of ${e.name}`);
  }));

  it('a subscriber returning on the other node within the leave delay cancels channel_vacated (and the occupied pair)', logged(async () => {
    const ch = unique('wh-bounce-');
    const a = await cluster.connect(0);
    await subscribe(a, ch);
    await receiver.waitForEvent(hook('channel_occupied', ch));
    const b = await cluster.connect(1);
    await leave(a, ch, 0);
    await subscribe(b, ch); // well within LEAVE_DELAY_MS
    await delay(QUIET_MS);
    assert.equal(receiver.count(hook('channel_vacated', ch)), 0, 'vacated although a subscriber came back on node1 within the leave delay');
    assert.equal(receiver.count(hook('channel_occupied', ch)), 1, 'a second occupied although the vacate was cancelled');
    await leave(b, ch, 0);
    await receiver.waitForEvent(hook('channel_vacated', ch), { timeout: LEAVE_DELAY_MS + 3000, what: `channel_vacated for ${ch} once it is empty everywhere` });
  }));
});

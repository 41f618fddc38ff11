// pusher-js clients (Node build) against herald, authorized by nexora: every server action
// reaches the right clients, and only them. Run with NEXORA_TEST_DB=postgres for PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, connect, connected, login, next, record, startStack, subscribe, withTimeout, CRON_SECRET } from './harness.mjs';

let stack;
const sessions = {};
const clients = [];

function client(session) {
  const pusher = connect(stack, session);
  clients.push(pusher);
  return pusher;
}

before(async () => {
  stack = await startStack();
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) sessions[name] = await login(stack, name);
});

after(async () => {
  for (const pusher of clients) pusher.disconnect();
  if (stack) await stack.stop();
});

const id = (name) => sessions[name].user.id;
const dmChannel = (a, b) => `private-dm-${Math.min(id(a), id(b))}-${Math.max(id(a), id(b))}`;

describe(`nexora on herald with pusher-js (${process.env.NEXORA_TEST_DB || 'sqlite'})`, () => {
  it('delivers a guild message to the other members, not back to its sender', async () => {
    const alice = client(sessions.alice);
    const bob = client(sessions.bob);
    const [aliceGuild, bobGuild] = await Promise.all([subscribe(alice, 'presence-guild-1'), subscribe(bob, 'presence-guild-1')]);
    const aliceSaw = record(aliceGuild, 'message:new');
    const arriving = next(bobGuild, 'message:new');
    const sent = await api(stack, sessions.alice, 'POST', '/api/guilds/1/messages', { content: 'live hello', socket_id: alice.connection.socket_id });
    assert.equal(sent.status, 201);
    assert.equal(sent.data.delivered, true);
    const { data } = await arriving;
    assert.equal(data.content, 'live hello');
    assert.equal(data.sender.name, 'alice');
    assert.equal(data.id, sent.data.message.id);
    // herald keeps each socket's deliveries in order, so once bob's later message reaches
    // alice, a copy of her own would have arrived before it.
    const barrier = next(aliceGuild, 'message:new');
    assert.equal((await api(stack, sessions.bob, 'POST', '/api/guilds/1/messages', { content: 'bob replies' })).status, 201);
    assert.equal((await barrier).data.content, 'bob replies');
    assert.deepEqual(aliceSaw.map((m) => m.content), ['bob replies'], 'the sender socket is excluded');
  });

  it('shows who is online on the guild presence channel', async () => {
    const bob = client(sessions.bob);
    const guild = await subscribe(bob, 'presence-guild-1');
    const names = [];
    guild.members.each((m) => names.push(m.info.name));
    assert.ok(names.includes('bob'));
    const joined = next(guild, 'pusher:member_added', { filter: (m) => m.info.name === 'carol' });
    const carol = client(sessions.carol);
    await subscribe(carol, 'presence-guild-1');
    const { data: member } = await joined;
    assert.equal(member.id, String(id('carol')));
    const left = next(guild, 'pusher:member_removed', { filter: (m) => m.id === String(id('carol')) });
    carol.unsubscribe('presence-guild-1');
    await left;
  });

  it('relays client typing events between members, and server-side typing events', async () => {
    const alice = client(sessions.alice);
    const bob = client(sessions.bob);
    const [aliceGuild, bobGuild] = await Promise.all([subscribe(alice, 'presence-guild-1'), subscribe(bob, 'presence-guild-1')]);
    const typing = next(bobGuild, 'client-typing:start');
    assert.equal(aliceGuild.trigger('client-typing:start', { user_id: String(id('alice')), name: 'alice' }), true);
    const { data, metadata } = await typing;
    assert.equal(data.name, 'alice');
    assert.equal(metadata.user_id, String(id('alice')), 'herald stamps the sender on presence channels');
    const stopped = next(bobGuild, 'client-typing:stop');
    aliceGuild.trigger('client-typing:stop', { user_id: String(id('alice')), name: 'alice' });
    await stopped;

    const serverSide = next(bobGuild, 'typing:start');
    const response = await api(stack, sessions.alice, 'POST', '/api/guilds/1/typing', { typing: true, socket_id: alice.connection.socket_id });
    assert.equal(response.status, 200);
    assert.equal((await serverSide).data.name, 'alice');
  });

  it('publishes edits and deletes on the conversation channel', async () => {
    const bob = client(sessions.bob);
    const guild = await subscribe(bob, 'presence-guild-1');
    const { data: sent } = await api(stack, sessions.carol, 'POST', '/api/guilds/1/messages', { content: 'tpyo' });
    const edited = next(guild, 'message:edit');
    await api(stack, sessions.carol, 'PATCH', `/api/messages/${sent.message.id}`, { content: 'typo' });
    assert.equal((await edited).data.content, 'typo');
    const deleted = next(guild, 'message:delete');
    await api(stack, sessions.carol, 'DELETE', `/api/messages/${sent.message.id}`);
    const { data } = await deleted;
    assert.equal(data.id, sent.message.id);
    assert.equal(data.deleted, true);
  });

  it('refuses channels a user may not join', async () => {
    const erin = client(sessions.erin);
    await connected(erin);
    for (const name of ['presence-guild-1', `private-user-${id('alice')}`, dmChannel('alice', 'bob'), 'private-dispute-1']) {
      await assert.rejects(subscribe(erin, name), /403/, name);
    }
    const anonymous = client(null);
    await assert.rejects(subscribe(anonymous, `private-user-${id('erin')}`), /401/);
    await subscribe(erin, `private-user-${id('erin')}`);
  });

  it('delivers a DM, notifies the recipient, and syncs "read" to their other tabs', async () => {
    const tab1 = client(sessions.alice);
    const tab2 = client(sessions.alice);
    const [dm, personal1, personal2] = await Promise.all([
      subscribe(tab1, dmChannel('alice', 'bob')),
      subscribe(tab1, `private-user-${id('alice')}`),
      subscribe(tab2, `private-user-${id('alice')}`),
    ]);
    const message = next(dm, 'message:new');
    const note1 = next(personal1, 'notification:new');
    const note2 = next(personal2, 'notification:new');
    const sent = await api(stack, sessions.bob, 'POST', `/api/dms/${id('alice')}/messages`, { content: 'are you there?' });
    assert.equal(sent.status, 201);
    assert.equal((await message).data.content, 'are you there?');
    const { data: note } = await note1;
    assert.equal(note.notification.type, 'message_received');
    assert.equal(note.notification.title, 'New message from bob');
    assert.equal(note.notification.message, 'are you there?');
    assert.equal((await note2).data.unread_count, note.unread_count);

    const tab1Saw = record(personal1, 'notification:read');
    const readElsewhere = next(personal2, 'notification:read');
    const marked = await api(stack, sessions.alice, 'POST', `/api/notifications/${note.notification.id}/read`, { socket_id: tab1.connection.socket_id });
    assert.equal(marked.status, 200);
    const { data: read } = await readElsewhere;
    assert.deepEqual(read.ids, [note.notification.id]);
    assert.equal(read.unread_count, note.unread_count - 1);

    // Marking all read reaches both tabs, after the earlier event had it reached tab 1.
    const allRead = next(personal2, 'notification:read', { filter: (d) => d.all });
    const allReadInTab1 = next(personal1, 'notification:read', { filter: (d) => d.all });
    await api(stack, sessions.alice, 'POST', '/api/notifications/read-all', {});
    assert.equal((await allRead).data.unread_count, 0);
    await allReadInTab1;
    assert.deepEqual(tab1Saw.filter((d) => !d.all), [], 'the tab that marked it is excluded');
  });

  it('notifies a dispute\'s respondent and arbiter in one batch, and publishes its resolution', async () => {
    const carol = client(sessions.carol);
    const alice = client(sessions.alice);
    const [toCarol, toAlice] = await Promise.all([subscribe(carol, `private-user-${id('carol')}`), subscribe(alice, `private-user-${id('alice')}`)]);
    const raised = next(toCarol, 'notification:new', { filter: (d) => d.notification.type === 'dispute_raised' });
    const vote = next(toAlice, 'notification:new', { filter: (d) => d.notification.type === 'tribunal_vote_needed' });
    const response = await api(stack, sessions.bob, 'POST', '/api/disputes', { title: 'Late delivery', reason: 'two weeks late', respondent_id: id('carol') });
    assert.equal(response.status, 201);
    const disputeId = response.data.dispute.id;
    assert.equal((await raised).data.notification.message, 'bob raised a dispute: "Late delivery".');
    assert.match((await vote).data.notification.message, new RegExp(`dispute #${disputeId}: "Late delivery"`));

    const channel = await subscribe(carol, `private-dispute-${disputeId}`);
    const outsider = client(sessions.erin);
    await assert.rejects(subscribe(outsider, `private-dispute-${disputeId}`), /403/);
    const resolved = next(channel, 'dispute:resolved');
    const refused = await api(stack, sessions.carol, 'POST', `/api/disputes/${disputeId}/resolve`, { resolution: 'mine' });
    assert.equal(refused.status, 403, 'a party cannot resolve its own dispute');
    assert.equal((await api(stack, sessions.alice, 'POST', `/api/disputes/${disputeId}/resolve`, { resolution: 'split the fee' })).status, 200);
    const { data } = await resolved;
    assert.deepEqual([data.status, data.resolution], ['resolved', 'split the fee']);
  });

  it('signs users in through /api/realtime/user-auth', async () => {
    const bob = client(sessions.bob);
    // pusher-js reads user_data in its own handler of this message, bound before this one.
    const signedIn = new Promise((resolve) => bob.connection.bind('message', (m) => m.event === 'pusher:signin_success' && resolve()));
    bob.signin();
    await withTimeout(signedIn, 10000, 'pusher:signin_success');
    assert.equal(bob.user.user_data?.id, String(id('bob')));
    assert.equal(bob.user.user_data?.user_info?.name, 'bob');
  });

  it('sends announcements once on platform-global', async () => {
    const erin = client(null);
    const global = await subscribe(erin, 'platform-global');
    const announced = next(global, 'notification:new');
    const response = await api(stack, sessions.alice, 'POST', '/api/announcements', { title: 'Maintenance', message: 'Back in 5 minutes' });
    assert.equal(response.status, 201);
    const { data } = await announced;
    assert.equal(data.notification.title, 'Maintenance');
    assert.equal(data.notification.type, 'platform_announcement');
    const refused = await api(stack, sessions.bob, 'POST', '/api/announcements', { title: 'x', message: 'y' });
    assert.equal(refused.status, 403, 'admins only');
  });

  it('tells a decayed user live when the trust-decay job runs', async () => {
    const unauthorized = await fetch(`${stack.url}/api/cron/trust-decay`);
    assert.equal(unauthorized.status, 401, 'the cron endpoint wants the bearer secret');
    const dave = client(sessions.dave);
    const personal = await subscribe(dave, `private-user-${id('dave')}`);
    const trust = next(personal, 'user:trust-changed');
    const note = next(personal, 'notification:new', { filter: (d) => d.notification.type === 'trust_score_changed' });
    // dave just logged in, so run the job as of 40 days from now: 40 days inactive → −10.
    const at = new Date(Date.now() + 40 * 86400000).toISOString();
    const report = JSON.parse(stack.cli('run-job', 'trust-decay', '--at', at));
    assert.equal(report.applied, true);
    const { data } = await trust;
    assert.deepEqual([data.old_score, data.new_score], [640, 630]);
    assert.match((await note).data.notification.message, /from 640 to 630/);
    const again = JSON.parse(stack.cli('run-job', 'trust-decay', '--at', at));
    assert.equal(again.applied, false, 'the same period does not apply twice');
  });

  it('lets a client that missed events catch up from history', async () => {
    const bob = client(sessions.bob);
    const guild = await subscribe(bob, 'presence-guild-1');
    const seen = next(guild, 'message:new');
    await api(stack, sessions.alice, 'POST', '/api/guilds/1/messages', { content: 'before the outage' });
    const lastSeen = (await seen).data.id;
    bob.disconnect();
    await api(stack, sessions.alice, 'POST', '/api/guilds/1/messages', { content: 'missed one' });
    await api(stack, sessions.carol, 'POST', '/api/guilds/1/messages', { content: 'missed two' });
    bob.connect();
    await connected(bob);
    const { data } = await api(stack, sessions.bob, 'GET', `/api/guilds/1/messages?after=${lastSeen}`);
    assert.deepEqual(data.messages.map((m) => m.content), ['missed one', 'missed two']);
  });
});

// User features with unchanged libraries: pusher-js signin() / pusher.user, the `pusher`
// library's authenticateUser / sendToUser / terminateUserConnections, watchlist events.
// Spec: pusher-protocol.md §3.6 (sign-in), §3.8 (server-to-user), §3.9 (watchlist),
// §3.10 (terminate), §1.7 (close codes).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  barrier,
  delay,
  hmacHex,
  rawSignIn,
  record,
  signIn,
  startHerald,
  subscribe,
  unique,
  waitConnected,
  waitFor,
  waitForMessage,
} from './support.js';

let env;
before(async () => {
  env = await startHerald();
});
after(async () => {
  await env?.stop();
});

/** A user auth handler that returns whatever `make(socketId)` builds (for forged answers). */
const handlerFrom = (make) => ({ socketId }, callback) => {
  try {
    callback(null, make(socketId));
  } catch (e) {
    callback(e, null);
  }
};

/** Flips the last hex digit of an `key:signature` token. */
const corrupt = (auth) => auth.slice(0, -1) + (auth.endsWith('0') ? '1' : '0');

describe('sign-in: pusher-js signin() with userAuthentication.customHandler', () => {
  it('a correctly signed user_data signs the socket in (pusher:signin_success, pusher.user)', async () => {
    const userData = { id: unique('alice-'), user_info: { name: 'Alice' } };
    const client = env.client({ user: userData });
    await waitConnected(client);
    const success = waitForMessage(client, (m) => m.event === 'pusher:signin_success', { what: 'pusher:signin_success' });
    client.signin();
    const message = await success;

    // The library's token and user_data string, as pusher-js sent them.
    const expected = env.api.authenticateUser(client.connection.socket_id, userData);
    assert.equal(typeof message.data.user_data, 'string', 'signin_success data.user_data is a string (spec §3.6)');
    assert.equal(message.data.user_data, expected.user_data, 'user_data is echoed exactly as signed');
    assert.equal(client.user.user_data?.id, userData.id, 'pusher.user.user_data is set: pusher-js considers itself signed in');
    assert.deepEqual(client.user.user_data.user_info, { name: 'Alice' });

    // pusher-js then subscribes to its server-to-user channel; herald must confirm it.
    const s2u = client.user.serverToUserChannel;
    assert.ok(s2u, 'pusher-js created the #server-to-user channel');
    assert.equal(s2u.name, `#server-to-user-${userData.id}`);
    if (!s2u.subscribed) await waitFor(s2u, 'pusher:subscription_succeeded', { what: 'subscription to #server-to-user' });
    assert.equal(client.connection.state, 'connected');
  });

  it('a bad signature: herald sends pusher:error, pusher-js stays signed out and connected', async () => {
    const userData = { id: unique('mallory-') };
    const client = env.client({
      userAuth: handlerFrom((socketId) => {
        const good = env.api.authenticateUser(socketId, userData);
        return { auth: corrupt(good.auth), user_data: good.user_data };
      }),
    });
    await waitConnected(client);
    const successes = record(client.connection, 'message');
    const error = waitFor(client.connection, 'error', { filter: (e) => e?.type === 'PusherError', what: 'pusher:error for the bad signature' });
    client.signin();
    const err = await error;
    assert.equal(typeof err.data.message, 'string');
    assert.notEqual(err.data.code, 4009, 'a refused sign-in does not use the closing code 4009 (spec §3.6 [REC])');
    await barrier(env, client);
    assert.equal(successes.filter((m) => m.event === 'pusher:signin_success').length, 0, 'no pusher:signin_success');
    assert.equal(client.user.user_data, null, 'pusher.user is not signed in');
    assert.equal(client.connection.state, 'connected', 'the socket is kept open');
  });

  it('a bad signature on the wire: pusher:error and no signin_success (raw socket)', async () => {
    const raw = await env.raw();
    const good = env.api.authenticateUser(raw.socketId, { id: unique('raw-') });
    raw.send('pusher:signin', { auth: corrupt(good.auth), user_data: good.user_data });
    const err = await raw.next((f) => f.event === 'pusher:error', 4000, 'pusher:error');
    assert.equal(typeof err.data.message, 'string');
    await raw.sync();
    assert.ok(!raw.frames.some((f) => f.event === 'pusher:signin_success'));
    // A signature made for another socket is as bad as a corrupted one.
    const other = env.api.authenticateUser('1234.5678', { id: 'someone' });
    const before = raw.frames.length;
    raw.send('pusher:signin', other);
    await raw.next((f) => f.event === 'pusher:error' && raw.frames.indexOf(f) >= before, 4000, 'pusher:error (signature of another socket)');
    await raw.sync();
    assert.ok(!raw.frames.some((f) => f.event === 'pusher:signin_success'));
    await raw.close();
  });

  it('missing id: the library refuses to sign it, and herald refuses a hand-signed one', async () => {
    assert.throws(() => env.api.authenticateUser('1.1', { user_info: { name: 'x' } }), /user id/i);

    const client = env.client({
      userAuth: handlerFrom((socketId) => {
        const userDataString = JSON.stringify({ user_info: { name: 'No Id' } });
        return { auth: `${env.app.key}:${hmacHex(env.app.secret, `${socketId}::user::${userDataString}`)}`, user_data: userDataString };
      }),
    });
    await waitConnected(client);
    const messages = record(client.connection, 'message');
    const error = waitFor(client.connection, 'error', { filter: (e) => e?.type === 'PusherError', what: 'pusher:error for the missing id' });
    client.signin();
    await error;
    await barrier(env, client);
    assert.equal(messages.filter((m) => m.event === 'pusher:signin_success').length, 0, 'no pusher:signin_success');
    assert.equal(client.user.user_data, null);
    assert.equal(client.connection.state, 'connected');
  });

  it('a socket signed in as one user cannot sign in as another (raw socket)', async () => {
    const raw = await env.raw();
    assert.equal((await rawSignIn(raw, env.api, { id: unique('first-') })).event, 'pusher:signin_success');
    const answer = await rawSignIn(raw, env.api, { id: unique('second-') });
    assert.equal(answer.event, 'pusher:error', 'spec §3.6: sign-in fails if the connection is already another user');
    await raw.close();
  });

  it('presence without channel_data: the signed-in identity is the member (pusher-js waits for sign-in)', async () => {
    const channel = `presence-${unique('signed-')}`;
    const sam = { id: unique('sam-'), user_info: { name: 'Sam' } };
    const observer = await env.connect({ presence: { user_id: unique('obs-'), user_info: { name: 'Observer' } } });
    const obsChannel = await subscribe(observer, channel);
    const added = waitFor(obsChannel, 'pusher:member_added', { what: 'member_added for the signed-in user' });

    // No presence data: the library signs `socket_id:channel` and returns no channel_data.
    const client = env.client({ user: sam });
    await waitConnected(client);
    // signin() first: pusher-js then holds the presence authorization until sign-in is done.
    const signed = signIn(client);
    const joined = subscribe(client, channel);
    await signed;
    const ch = await joined;
    const member = await added;
    assert.equal(member.id, sam.id, 'the member id is user_data.id');
    assert.deepEqual(member.info, { name: 'Sam' }, 'the member info is user_data.user_info');
    assert.equal(ch.members.me?.id, sam.id);
    assert.ok(ch.members.get(sam.id));
  });

  it('missing, empty or non-string id on the wire: pusher:error, never signin_success', async () => {
    const raw = await env.raw();
    for (const userData of [{ user_info: {} }, { id: '' }, { id: 42 }]) {
      const userDataString = JSON.stringify(userData);
      const auth = `${env.app.key}:${hmacHex(env.app.secret, `${raw.socketId}::user::${userDataString}`)}`;
      const from = raw.frames.length;
      raw.send('pusher:signin', { auth, user_data: userDataString });
      const answer = await raw.next(
        (f) => raw.frames.indexOf(f) >= from && (f.event === 'pusher:error' || f.event === 'pusher:signin_success'),
        4000,
        `the answer to user_data ${userDataString}`,
      );
      assert.equal(answer.event, 'pusher:error', `user_data ${userDataString} must be refused`);
    }
    await raw.close();
  });
});

describe('server-to-user: pusher sendToUser() → pusher.user.bind()', () => {
  let bob1;
  let bob2;
  let carol;
  let anon;
  let bobRaw;
  let bobId;
  let carolId;

  before(async () => {
    bobId = unique('bob-');
    carolId = unique('carol-');
    [bob1, bob2, carol, anon] = await Promise.all([
      env.connect({ user: { id: bobId } }),
      env.connect({ user: { id: bobId } }),
      env.connect({ user: { id: carolId } }),
      env.connect(),
    ]);
    bobRaw = await env.raw();
    const answer = await rawSignIn(bobRaw, env.api, { id: bobId });
    assert.equal(answer.event, 'pusher:signin_success');
  });

  it('reaches every socket signed in as the user, and nobody else', async () => {
    const got1 = waitFor(bob1.user, 'order-ready', { what: "'order-ready' on bob's first client" });
    const got2 = waitFor(bob2.user, 'order-ready', { what: "'order-ready' on bob's second client" });
    const carolGot = record(carol.user, 'order-ready');
    const carolFrames = record(carol.connection, 'message');
    const anonFrames = record(anon.connection, 'message');

    await env.api.sendToUser(bobId, 'order-ready', { order: 7 });
    assert.deepEqual(await got1, { order: 7 });
    assert.deepEqual(await got2, { order: 7 });
    const frame = await bobRaw.next((f) => f.event === 'order-ready', 4000, 'order-ready on the raw socket');
    assert.equal(frame.channel, `#server-to-user-${bobId}`, 'delivered on the #server-to-user channel (spec §3.8)');
    assert.deepEqual(frame.data, { order: 7 });
    assert.equal(typeof JSON.parse(frame.__raw).data, 'string', 'data is a JSON string on the wire');

    await barrier(env, carol, anon);
    assert.equal(carolGot.length, 0, 'a client signed in as another user does not get it');
    const leaked = (frames) => frames.filter((m) => m.event === 'order-ready' || String(m.channel).startsWith('#server-to-user-'));
    assert.deepEqual(leaked(carolFrames), []);
    assert.deepEqual(leaked(anonFrames), [], 'an unsigned client does not get it');
  });

  it('each socket gets the event once (no duplicate through the #server-to-user subscription)', async () => {
    const seen = record(bob1.user, 'ping-once');
    await env.api.sendToUser(bobId, 'ping-once', { n: 1 });
    await barrier(env, bob1);
    assert.equal(seen.length, 1);
  });

  it('an unsigned raw socket subscribing to #server-to-user-X gets a subscription error', async () => {
    const raw = await env.raw();
    const channel = `#server-to-user-${bobId}`;
    raw.send('pusher:subscribe', { auth: '', channel });
    const err = await raw.next(
      (f) => (f.event === 'pusher:subscription_error' && f.channel === channel) || f.event === 'pusher:error',
      4000,
      'a subscription error',
    );
    assert.ok(err);
    await raw.sync();
    assert.ok(
      !raw.frames.some((f) => f.event === 'pusher_internal:subscription_succeeded'),
      `no subscription_succeeded for ${channel}; frames: ${raw.frames.map((f) => f.__raw).join(' ')}`,
    );
    // And it receives nothing sent to that user.
    await env.api.sendToUser(bobId, 'not-for-you', {});
    await bobRaw.next((f) => f.event === 'not-for-you', 4000, 'not-for-you on bob');
    await raw.sync();
    assert.ok(!raw.frames.some((f) => f.event === 'not-for-you'));
    await raw.close();
  });

  it("a socket signed in as another user may not subscribe to someone else's #server-to-user channel", async () => {
    const raw = await env.raw();
    assert.equal((await rawSignIn(raw, env.api, { id: unique('eve-') })).event, 'pusher:signin_success');
    const channel = `#server-to-user-${bobId}`;
    raw.send('pusher:subscribe', { auth: '', channel });
    await raw.next((f) => (f.event === 'pusher:subscription_error' && f.channel === channel) || f.event === 'pusher:error', 4000, 'a subscription error');
    await raw.sync();
    assert.ok(!raw.frames.some((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === channel));
    // Its own channel is fine (pusher-js does exactly this after signin).
    const own = `#server-to-user-${JSON.parse(raw.frames.find((f) => f.event === 'pusher:signin_success').data.user_data).id}`;
    raw.send('pusher:subscribe', { auth: '', channel: own });
    await raw.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === own, 4000, `subscription_succeeded for ${own}`);
    await raw.close();
  });
});

describe('watchlist: pusher.user.watchlist online/offline', () => {
  it('A watching B: offline at first, online when B signs in, offline when B leaves', async () => {
    const a = unique('wa-');
    const b = unique('wb-');
    const clientA = env.client({ user: { id: a, watchlist: [b] } });
    const events = [];
    clientA.user.watchlist.bind('online', (e) => events.push(e));
    clientA.user.watchlist.bind('offline', (e) => events.push(e));
    const firstOffline = waitFor(clientA.user.watchlist, 'offline', { filter: (e) => e.user_ids?.includes(b), what: `offline for ${b}` });
    await waitConnected(clientA);
    await signIn(clientA);
    const initial = await firstOffline;
    assert.equal(initial.name, 'offline');
    assert.deepEqual(initial.user_ids, [b]);

    const online = waitFor(clientA.user.watchlist, 'online', { filter: (e) => e.user_ids?.includes(b), what: `online for ${b}` });
    const clientB = await env.connect({ user: { id: b } });
    const on = await online;
    assert.equal(on.name, 'online');
    assert.deepEqual(on.user_ids, [b]);

    const offline = waitFor(clientA.user.watchlist, 'offline', { filter: (e) => e.user_ids?.includes(b), what: `offline for ${b} after B left` });
    clientB.disconnect();
    env.forget(clientB);
    const off = await offline;
    assert.deepEqual(off.user_ids, [b]);
    assert.deepEqual(events.map((e) => e.name), ['offline', 'online', 'offline']);
  });

  it('a watched user already online is reported online at sign-in; a second socket is no new transition', async () => {
    const a = unique('wa-');
    const b = unique('wb-');
    const clientB = await env.connect({ user: { id: b } });
    const clientA = env.client({ user: { id: a, watchlist: [b] } });
    const events = [];
    clientA.user.watchlist.bind('online', (e) => events.push(e));
    clientA.user.watchlist.bind('offline', (e) => events.push(e));
    const online = waitFor(clientA.user.watchlist, 'online', { what: `online for ${b}` });
    await waitConnected(clientA);
    await signIn(clientA);
    assert.deepEqual((await online).user_ids, [b]);

    // B opens a second socket, then closes the first: B stays online throughout.
    const clientB2 = await env.connect({ user: { id: b } });
    clientB.disconnect();
    env.forget(clientB);
    await barrier(env, clientA);
    assert.deepEqual(events.map((e) => e.name), ['online'], 'no offline while B still has a signed-in socket');
    clientB2.disconnect();
    env.forget(clientB2);
    await waitFor(clientA.user.watchlist, 'offline', { what: `offline for ${b}` });
  });

  it('a watchlist of 101 ids: sign-in succeeds and pusher:error 4302 arrives; 100 ids are watched', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `wl${i}-${unique('')}`);
    const client = env.client({ user: { id: unique('big-'), watchlist: ids } });
    const offline = waitFor(client.user.watchlist, 'offline', { what: 'the initial watchlist offline event' });
    await waitConnected(client);
    const limit = waitFor(client.connection, 'error', { filter: (e) => e?.type === 'PusherError' && e.data?.code === 4302, what: 'pusher:error 4302' });
    const success = waitForMessage(client, (m) => m.event === 'pusher:signin_success', { what: 'pusher:signin_success' });
    client.signin();
    await success;
    const err = await limit;
    assert.equal(typeof err.data.message, 'string');
    assert.ok(client.user.user_data, 'pusher-js is signed in despite the 4302 error');
    const initial = await offline;
    assert.equal(initial.user_ids.length, 100, 'only the first 100 ids are accepted (spec §3.6)');
    assert.deepEqual([...initial.user_ids].sort(), ids.slice(0, 100).sort());
    await barrier(env, client);
    assert.equal(client.connection.state, 'connected', 'the 4302 error does not close the socket');
  });
});

describe('terminateUserConnections() from the pusher library', () => {
  it("closes every socket of that user with 4009; pusher-js does not reconnect; others stay", async () => {
    const victim = unique('term-');
    const bystanderId = unique('stay-');
    const [v1, v2, other] = await Promise.all([
      env.connect({ user: { id: victim } }),
      env.connect({ user: { id: victim } }),
      env.connect({ user: { id: bystanderId } }),
    ]);
    const raw = await env.raw();
    assert.equal((await rawSignIn(raw, env.api, { id: victim })).event, 'pusher:signin_success');

    const watch = (client) => {
      const states = record(client.connection, 'state_change');
      const errors = record(client.connection, 'error');
      const closed = waitFor(client.connection, 'error', {
        filter: (e) => e?.type === 'WebSocketError' && e.error?.data?.code === 4009,
        what: 'the close with code 4009 (pusher-js WebSocketError)',
      });
      const disconnected = waitFor(client.connection, 'state_change', { filter: ({ current }) => current === 'disconnected', what: 'state disconnected' });
      return { states, errors, closed, disconnected };
    };
    const w1 = watch(v1);
    const w2 = watch(v2);
    const otherStates = record(other.connection, 'state_change');

    const res = await env.api.terminateUserConnections(victim);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});

    for (const w of [w1, w2]) {
      await w.closed;
      await w.disconnected;
      assert.ok(
        w.errors.some((e) => e?.type === 'PusherError' && e.data?.code === 4009),
        'a pusher:error 4009 precedes the close',
      );
    }
    const rawError = await raw.next((f) => f.event === 'pusher:error', 4000, 'pusher:error before the close');
    assert.equal(rawError.data.code, 4009);
    const { code } = await raw.closed;
    assert.equal(code, 4009, 'the WebSocket close code is 4009');

    // 4000–4099 means "do not reconnect": pusher-js would retry after at most 1 s otherwise.
    await delay(1300);
    for (const [client, w] of [[v1, w1], [v2, w2]]) {
      assert.equal(client.connection.state, 'disconnected');
      assert.ok(!w.states.some(({ previous, current }) => previous === 'disconnected' && current !== 'disconnected'), 'no reconnect attempt');
    }

    await barrier(env, other);
    assert.equal(other.connection.state, 'connected', 'another user stays connected');
    assert.deepEqual(otherStates, []);
    assert.ok(other.user.user_data, 'and stays signed in');
  });

  it('terminating a user with no sockets answers {} and disturbs nobody', async () => {
    const other = await env.connect({ user: { id: unique('calm-') } });
    const res = await env.api.terminateUserConnections(unique('nobody-'));
    assert.equal(res.status, 200);
    await barrier(env, other);
    assert.equal(other.connection.state, 'connected');
  });

  it('a socket that is only a presence member (not signed in) is not terminated', async () => {
    const userId = unique('member-');
    const member = await env.connect({ presence: { user_id: userId, user_info: {} } });
    await subscribe(member, `presence-${unique('t-')}`);
    const states = record(member.connection, 'state_change');
    await env.api.terminateUserConnections(userId);
    await barrier(env, member);
    assert.deepEqual(states, [], 'spec §3.10: only signed-in connections are terminated');
  });
});

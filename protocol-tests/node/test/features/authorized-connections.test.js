// Authorized connections (spec §3.7, close code 4009 in §1.7): with
// `authorized_connections = true` a socket must sign in or join a private/presence channel
// within `authorization_timeout` seconds, else herald closes it with 4009 — which pusher-js
// treats as "refused" and does not retry.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { barrier, delay, record, signIn, startHerald, subscribe, unique, waitConnected, waitFor } from './support.js';

/** Resolves when pusher-js reports the 4009 close and goes to "disconnected". */
function closedWith4009(client, timeout = 4000) {
  const errors = record(client.connection, 'error');
  const closed = waitFor(client.connection, 'error', {
    timeout,
    filter: (e) => e?.type === 'WebSocketError' && e.error?.data?.code === 4009,
    what: 'a close with code 4009',
  });
  const disconnected = waitFor(client.connection, 'state_change', {
    timeout,
    filter: ({ current }) => current === 'disconnected',
    what: 'state "disconnected"',
  });
  return Promise.all([closed, disconnected]).then(() => errors);
}

describe('authorized_connections = true, authorization_timeout = 1', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { authorized_connections: true, authorization_timeout: 1 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('a plain connection is closed with 4009 after the timeout and pusher-js does not reconnect', async () => {
    const client = env.client();
    const states = record(client.connection, 'state_change');
    const openedAt = Date.now();
    const closing = closedWith4009(client, 5000);
    await waitConnected(client);
    const errors = await closing;
    const elapsed = Date.now() - openedAt;
    assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before the 1 s authorization timeout`);
    assert.ok(errors.some((e) => e?.type === 'PusherError' && e.data?.code === 4009), 'a pusher:error 4009 precedes the close');
    await delay(1300); // pusher-js would retry within 1 s if the code allowed it
    assert.equal(client.connection.state, 'disconnected');
    const names = states.map((s) => s.current);
    assert.deepEqual(names.slice(names.indexOf('disconnected')), ['disconnected'], `no reconnect after 4009 (states: ${names})`);
  });

  it('on the wire: pusher:error {code: 4009} then close code 4009 (raw socket)', async () => {
    const raw = await env.raw();
    const { code } = await Promise.race([raw.closed, delay(4000).then(() => ({ code: 'no close within 4 s' }))]);
    assert.equal(code, 4009);
    const err = raw.frames.find((f) => f.event === 'pusher:error');
    assert.ok(err, 'a pusher:error arrives before the close');
    assert.equal(err.data.code, 4009);
  });

  it('a public subscription does not authorize a connection', async () => {
    const client = env.client();
    const closing = closedWith4009(client, 5000);
    await waitConnected(client);
    await subscribe(client, unique('public-'));
    await closing;
  });

  it('a connection that signs in in time stays; one that subscribes to a private channel in time stays', async () => {
    const signedIn = env.client({ user: { id: unique('auth-user-') } });
    const privateOne = env.client();
    const reference = env.client(); // does nothing, so it is closed at the deadline
    const signedInStates = record(signedIn.connection, 'state_change');
    const privateStates = record(privateOne.connection, 'state_change');
    const referenceClosed = closedWith4009(reference, 5000);

    await Promise.all([waitConnected(signedIn), waitConnected(privateOne), waitConnected(reference)]);
    await signIn(signedIn);
    await subscribe(privateOne, unique('private-auth-'));

    // Once the reference socket (opened at the same time) has been closed, the deadline of the
    // other two has passed too.
    await referenceClosed;
    await delay(300);
    await barrier(env, signedIn, privateOne);
    assert.equal(signedIn.connection.state, 'connected', 'signed-in socket kept');
    assert.equal(privateOne.connection.state, 'connected', 'socket with a private channel kept');
    assert.ok(!signedInStates.some((s) => s.current !== 'connected'), JSON.stringify(signedInStates));
    assert.ok(!privateStates.some((s) => s.current !== 'connected'), JSON.stringify(privateStates));
  });

  it('a presence subscription in time also authorizes the connection', async () => {
    const member = env.client({ presence: { user_id: unique('p-'), user_info: {} } });
    const reference = env.client();
    const referenceClosed = closedWith4009(reference, 5000);
    const states = record(member.connection, 'state_change');
    await Promise.all([waitConnected(member), waitConnected(reference)]);
    await subscribe(member, unique('presence-auth-'));
    await referenceClosed;
    await delay(300);
    await barrier(env, member);
    assert.ok(!states.some((s) => s.current !== 'connected'), JSON.stringify(states));
  });

  it('a failed sign-in does not authorize the connection', async () => {
    const client = env.client({
      userAuth: ({ socketId }, callback) => {
        const good = env.api.authenticateUser(socketId, { id: 'forger' });
        callback(null, { auth: `${good.auth.slice(0, -1)}${good.auth.endsWith('0') ? '1' : '0'}`, user_data: good.user_data });
      },
    });
    const closing = closedWith4009(client, 5000);
    await waitConnected(client);
    client.signin();
    await closing;
  });
});

describe('authorized_connections off (the default)', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { authorization_timeout: 1 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('a plain connection stays past authorization_timeout', async () => {
    const client = await env.connect();
    const states = record(client.connection, 'state_change');
    await delay(1600);
    await barrier(env, client);
    assert.deepEqual(states, []);
  });
});

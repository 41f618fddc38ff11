// Laravel Echo 2.x with `broadcaster: 'pusher'` against herald, in Node.
//
// What Echo needs in Node: nothing global. It only reads `window`/`document` behind
// `typeof … < "u"` guards (CSRF token lookup, window.Pusher fallback), so no `global.window`
// shim is required as long as the Pusher class is passed as `Pusher` (or a ready pusher-js
// instance as `client`). Channel authorization goes through Echo's documented `authorizer`
// option, which pusher-js 8 still honours.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import Echo from 'laravel-echo';

import { Pusher, startHerald, unique, waitConnected, waitFor } from './support.js';

let env;
const echoes = [];

before(async () => {
  env = await startHerald({ app: { client_events: true } });
});
after(async () => {
  for (const echo of echoes) {
    try {
      echo.disconnect();
    } catch {
      // already gone
    }
  }
  await env?.stop();
});

/** Echo's `authorizer` option, signing with the `pusher` server library. */
function authorizer(presenceData) {
  return (channel) => ({
    authorize: (socketId, callback) => {
      try {
        const data = channel.name.startsWith('presence-') ? presenceData : undefined;
        callback(null, env.api.authorizeChannel(socketId, channel.name, data));
      } catch (e) {
        callback(e, null);
      }
    },
  });
}

/** An Echo instance that builds its own pusher-js from the `Pusher` option. */
async function makeEcho(presenceData) {
  const echo = new Echo({
    broadcaster: 'pusher',
    key: env.app.key,
    cluster: 'local',
    wsHost: env.host,
    wsPort: env.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    Pusher,
    authorizer: authorizer(presenceData),
  });
  echoes.push(echo);
  await waitConnected(echo.connector.pusher);
  return echo;
}

/** Resolves when an Echo channel's subscription succeeded (Echo's `subscribed()` hook). */
function subscribed(echoChannel, what) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 4000);
    echoChannel.subscribed(() => {
      clearTimeout(timer);
      resolvePromise();
    });
    echoChannel.error((e) => {
      clearTimeout(timer);
      reject(new Error(`${what} failed: ${JSON.stringify(e)}`));
    });
  });
}

/** Resolves with the next argument passed to a callback-registering function. */
function nextCall(register, what, timeout = 4000) {
  return new Promise((resolvePromise, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
    register((value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolvePromise(value);
    });
  });
}

describe('Laravel Echo (broadcaster: pusher)', () => {
  it("channel('orders').listen('.OrderShipped') receives an event triggered as 'OrderShipped'", async () => {
    const echo = await makeEcho();
    const name = 'orders';
    const channel = echo.channel(name);
    const ready = subscribed(channel, `subscription to ${name}`);
    const got = nextCall((cb) => channel.listen('.OrderShipped', cb), "the '.OrderShipped' listener");
    await ready;
    await env.api.trigger(name, 'OrderShipped', { order: { id: 7 } });
    assert.deepEqual(await got, { order: { id: 7 } });
  });

  it("listen('OrderPaid') without a dot receives the namespaced 'App\\Events\\OrderPaid'", async () => {
    const echo = await makeEcho();
    const name = unique('orders-ns-');
    const channel = echo.channel(name);
    const ready = subscribed(channel, `subscription to ${name}`);
    const got = nextCall((cb) => channel.listen('OrderPaid', cb), "the 'OrderPaid' listener");
    await ready;
    await env.api.trigger(name, 'App\\Events\\OrderPaid', { paid: true });
    assert.deepEqual(await got, { paid: true });
  });

  it("private('invoices') — Echo prefixes private- and authorizes through the authorizer", async () => {
    const echo = await makeEcho();
    const base = unique('invoices-');
    const channel = echo.private(base);
    const ready = subscribed(channel, `subscription to private-${base}`);
    const got = nextCall((cb) => channel.listen('.InvoiceSent', cb), "the '.InvoiceSent' listener");
    await ready;
    assert.ok(echo.connector.pusher.channel(`private-${base}`)?.subscribed);
    await env.api.trigger(`private-${base}`, 'InvoiceSent', { n: 1 });
    assert.deepEqual(await got, { n: 1 });
  });

  it("presence: join('room') subscribes presence-room; here(), joining(), leaving() and whispers work", async () => {
    const room = 'room';
    const ann = { user_id: unique('ann-'), user_info: { name: 'Ann' } };
    const bob = { user_id: unique('bob-'), user_info: { name: 'Bob' } };

    const echoA = await makeEcho(ann);
    const presenceA = echoA.join(room);
    const hereA = nextCall((cb) => presenceA.here(cb), 'here() for Ann');
    assert.deepEqual(await hereA, [{ name: 'Ann' }]);
    assert.ok(echoA.connector.pusher.channel('presence-room')?.subscribed, 'Echo subscribed presence-room');
    assert.deepEqual(Object.keys(echoA.connector.channels), ['presence-room']);

    const joining = nextCall((cb) => presenceA.joining(cb), 'joining() for Bob');

    // The second client: a ready pusher-js instance handed to Echo as `client`.
    const bobPusher = env.client({ presence: bob });
    await waitConnected(bobPusher);
    const echoB = new Echo({ broadcaster: 'pusher', client: bobPusher });
    echoes.push(echoB);
    const presenceB = echoB.join(room);
    const hereB = nextCall((cb) => presenceB.here(cb), 'here() for Bob');

    assert.deepEqual(await joining, { name: 'Bob' });
    const users = await hereB;
    assert.deepEqual(users.map((u) => u.name).sort(), ['Ann', 'Bob']);

    const whisper = nextCall((cb) => presenceA.listenForWhisper('typing', cb), 'the whisper from Bob');
    presenceB.whisper('typing', { typing: true });
    assert.deepEqual(await whisper, { typing: true });

    const leaving = nextCall((cb) => presenceA.leaving(cb), 'leaving() for Bob');
    echoB.leave(room);
    assert.deepEqual(await leaving, { name: 'Bob' });
  });

  it('echo.socketId() is the socket id herald assigned', async () => {
    const echo = await makeEcho();
    assert.match(echo.socketId(), /^\d+\.\d+$/);
    assert.equal(echo.connectionStatus(), 'connected');
    const ch = echo.channel(unique('sock-'));
    await subscribed(ch, 'subscription');
    // A trigger that excludes this socket does not reach it; one without socket_id does.
    const got = [];
    ch.listen('.Ping', (d) => got.push(d));
    await env.api.trigger(ch.name, 'Ping', { n: 1 }, { socket_id: echo.socketId() });
    const second = waitFor(echo.connector.pusher.channel(ch.name), 'Ping', { what: 'the second Ping' });
    await env.api.trigger(ch.name, 'Ping', { n: 2 });
    await second;
    assert.deepEqual(got, [{ n: 2 }]);
  });
});

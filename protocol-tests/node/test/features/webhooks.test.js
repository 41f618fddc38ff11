// Webhooks (spec §6): herald posts signed JSON to real HTTP receivers run by this file; every
// request is validated with the `pusher` library's webhook() (isValid / getEvents), and the
// event shapes, ordering, leave delay with cancellation, filters, extra headers and retries
// are checked.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  delay,
  hmacHex,
  startHerald,
  startWebhookReceiver,
  subscribe,
  unique,
  waitFor,
} from './support.js';

const LEAVE_DELAY_MS = 300;
const BATCH_MS = 50;

/** The pusher library's view of one recorded request. */
function libraryWebhook(env, request) {
  return env.api.webhook({ headers: request.headers, rawBody: request.rawBody });
}

/** Checks everything §6 requires of one request. */
function assertWellFormed(env, request, { extraHeaders = {} } = {}) {
  const label = `webhook request ${request.rawBody.slice(0, 120)}`;
  assert.equal(request.method, 'POST', label);
  assert.equal(request.headers['content-type'], 'application/json', `${label}: Content-Type must be exactly application/json`);
  assert.equal(request.headers['x-pusher-key'], env.app.key, `${label}: X-Pusher-Key`);
  assert.equal(request.headers['x-pusher-signature'], hmacHex(env.app.secret, request.rawBody), `${label}: X-Pusher-Signature = hex HMAC-SHA256(secret, raw body)`);
  for (const [name, value] of Object.entries(extraHeaders)) {
    assert.equal(request.headers[name.toLowerCase()], value, `${label}: configured header ${name}`);
  }
  const hook = libraryWebhook(env, request);
  assert.equal(hook.isValid(), true, `${label}: pusher.webhook().isValid()`);
  const body = JSON.parse(request.rawBody);
  assert.deepEqual(Object.keys(body).sort(), ['events', 'time_ms']);
  assert.ok(Number.isInteger(body.time_ms), 'time_ms is an integer (milliseconds)');
  assert.ok(Math.abs(body.time_ms - request.receivedAt) < 5000, `time_ms ${body.time_ms} is within 5 s of the receipt time ${request.receivedAt}`);
  assert.deepEqual(hook.getEvents(), body.events);
  assert.equal(hook.getTime().getTime(), body.time_ms);
  assert.ok(Array.isArray(body.events) && body.events.length > 0);
  for (const e of body.events) {
    assert.equal(typeof e.name, 'string');
    assert.equal(typeof e.channel, 'string');
  }
}

describe('webhooks', () => {
  let env;
  let main;
  let filtered;
  const extraHeaders = { 'X-Herald-Test': 'features', Authorization: 'Bearer test-token' };

  before(async () => {
    main = await startWebhookReceiver();
    filtered = await startWebhookReceiver();
    env = await startHerald({
      config: {
        webhook_leave_delay_ms: LEAVE_DELAY_MS,
        webhook_batch_ms: BATCH_MS,
        webhook_retry_horizon: 10,
        webhook_timeout: 2,
      },
      app: { client_events: true, subscription_count: true },
      webhooks: [
        { url: main.url, headers: extraHeaders },
        { url: filtered.url, event_types: ['channel_occupied', 'member_added'], channel_prefix: 'presence-' },
      ],
    });
  });
  after(async () => {
    await env?.stop();
    await main?.close();
    await filtered?.close();
  });

  const is = (name, channel, more = () => true) => (e) => e.name === name && e.channel === channel && more(e);

  /**
   * Waits until a leave held back *now* would have been delivered: occupies and leaves a fresh
   * channel and awaits its channel_vacated (held for the same delay, released after).
   */
  async function pastLeaveDelay() {
    const name = unique('wh-marker-');
    const c = await env.connect();
    await subscribe(c, name);
    c.unsubscribe(name);
    await main.waitForEvent(is('channel_vacated', name), { what: `channel_vacated for the marker ${name}` });
    c.disconnect();
    env.forget(c);
    await delay(BATCH_MS * 2); // an earlier, separate batch may still be in flight
  }

  it('channel_occupied, then channel_vacated only after webhook_leave_delay_ms', async () => {
    const name = unique('wh-pub-');
    const client = await env.connect();
    await subscribe(client, name);
    const occupied = await main.waitForEvent(is('channel_occupied', name), { what: `channel_occupied for ${name}` });
    assert.deepEqual(Object.keys(occupied).filter((k) => !k.startsWith('_')).sort(), ['channel', 'name']);

    const leftAt = Date.now();
    client.unsubscribe(name);
    const vacated = await main.waitForEvent(is('channel_vacated', name), { what: `channel_vacated for ${name}` });
    const waited = vacated._at - leftAt;
    assert.ok(waited >= LEAVE_DELAY_MS - 50, `channel_vacated came ${waited} ms after the unsubscribe; the leave delay is ${LEAVE_DELAY_MS} ms`);
    assert.ok(occupied._request < vacated._request, 'occupied is delivered before vacated');
    const forChannel = main.events().filter((e) => e.channel === name && e.name.startsWith('channel_'));
    assert.deepEqual(forChannel.map((e) => e.name), ['channel_occupied', 'channel_vacated']);
  });

  it('every request: Content-Type application/json, X-Pusher-Key, X-Pusher-Signature, {time_ms, events}, configured headers', async () => {
    const name = unique('wh-format-');
    const client = await env.connect();
    await subscribe(client, name);
    await main.waitForEvent(is('channel_occupied', name));
    assert.ok(main.accepted().length > 0);
    for (const request of main.accepted()) assertWellFormed(env, request, { extraHeaders });
    for (const request of filtered.accepted()) assertWellFormed(env, request);
    // Configured headers go only to their own target.
    for (const request of filtered.requests) assert.equal(request.headers['x-herald-test'], undefined);
  });

  it('a tampered body or a wrong key fails the library validation (the check is meaningful)', async () => {
    const request = main.accepted()[0];
    assert.ok(request, 'at least one webhook was received');
    const tampered = { ...request, rawBody: request.rawBody.replace('"events"', '"events" ') };
    assert.equal(libraryWebhook(env, tampered).isValid(), false);
    const wrongKey = { ...request, headers: { ...request.headers, 'x-pusher-key': 'other-key' } };
    assert.equal(libraryWebhook(env, wrongKey).isValid(), false);
  });

  it('header names are sent as X-Pusher-Key / X-Pusher-Signature (the PHP library reads that exact case)', async () => {
    const request = main.accepted()[0];
    assert.ok(request, 'at least one webhook was received');
    const names = request.rawHeaders.filter((_, i) => i % 2 === 0);
    assert.ok(names.includes('X-Pusher-Key'), `header names on the wire: ${names.join(', ')}`);
    assert.ok(names.includes('X-Pusher-Signature'), `header names on the wire: ${names.join(', ')}`);
    assert.ok(names.includes('Content-Type') || names.includes('content-type'));
  });

  it('member_added / member_removed carry the user_id as a string', async () => {
    const name = unique('presence-wh-');
    const userId = unique('wh-user-');
    const numericId = 4200000 + Math.floor(Math.random() * 99999);
    const a = await env.connect({ presence: { user_id: userId, user_info: { name: 'A' } } });
    const b = await env.connect({ presence: { user_id: numericId, user_info: { name: 'B' } } });
    await subscribe(a, name);
    await subscribe(b, name);
    const addedA = await main.waitForEvent(is('member_added', name, (e) => e.user_id === userId), { what: `member_added ${userId}` });
    const addedB = await main.waitForEvent(is('member_added', name, (e) => e.user_id === String(numericId)), { what: `member_added "${numericId}" (string)` });
    assert.deepEqual(Object.keys(addedA).filter((k) => !k.startsWith('_')).sort(), ['channel', 'name', 'user_id']);
    assert.equal(typeof addedB.user_id, 'string', 'a numeric user_id is sent as a string (§6: the Go library decodes strings)');

    const leftAt = Date.now();
    a.unsubscribe(name);
    const removed = await main.waitForEvent(is('member_removed', name, (e) => e.user_id === userId), { what: `member_removed ${userId}` });
    assert.ok(removed._at - leftAt >= LEAVE_DELAY_MS - 50, 'member_removed is held back for the leave delay');
    b.disconnect();
    env.forget(b);
    await main.waitForEvent(is('member_removed', name, (e) => e.user_id === String(numericId)), { what: `member_removed "${numericId}"` });
    await main.waitForEvent(is('channel_vacated', name), { what: `channel_vacated ${name}` });
  });

  it('a second socket of the same presence user adds no second member_added', async () => {
    const name = unique('presence-wh-twice-');
    const userId = unique('twice-');
    const a1 = await env.connect({ presence: { user_id: userId, user_info: {} } });
    const a2 = await env.connect({ presence: { user_id: userId, user_info: {} } });
    await subscribe(a1, name);
    await subscribe(a2, name);
    await main.waitForEvent(is('member_added', name));
    a1.unsubscribe(name);
    await pastLeaveDelay();
    const forChannel = main.events().filter((e) => e.channel === name && e.name.startsWith('member_'));
    assert.deepEqual(forChannel.map((e) => e.name), ['member_added'], 'one member_added; no member_removed while a2 stays');
  });

  it('client_event: event, data (string), socket_id; user_id on presence channels', async () => {
    const priv = unique('private-wh-ce-');
    const a = await env.connect();
    const b = await env.connect();
    const chA = await subscribe(a, priv);
    const chB = await subscribe(b, priv);
    const relayed = waitFor(chB, 'client-msg', { what: 'the relayed client event' });
    chA.trigger('client-msg', { text: 'hi' });
    await relayed;
    const ev = await main.waitForEvent(is('client_event', priv), { what: `client_event on ${priv}` });
    assert.equal(ev.event, 'client-msg');
    assert.equal(typeof ev.data, 'string', 'data is a string (§6 [REC]; the Go library requires it)');
    assert.deepEqual(JSON.parse(ev.data), { text: 'hi' });
    assert.equal(ev.socket_id, a.connection.socket_id);
    assert.equal(ev.user_id, undefined, 'no user_id on a private channel');

    const pres = unique('presence-wh-ce-');
    const userId = unique('talker-');
    const p1 = await env.connect({ presence: { user_id: userId, user_info: {} } });
    const p2 = await env.connect({ presence: { user_id: unique('listener-'), user_info: {} } });
    const ch1 = await subscribe(p1, pres);
    const ch2 = await subscribe(p2, pres);
    const got = waitFor(ch2, 'client-typing', { what: 'the relayed presence client event' });
    ch1.trigger('client-typing', { on: true });
    await got;
    const pev = await main.waitForEvent(is('client_event', pres), { what: `client_event on ${pres}` });
    assert.equal(pev.event, 'client-typing');
    assert.deepEqual(JSON.parse(pev.data), { on: true });
    assert.equal(pev.socket_id, p1.connection.socket_id);
    assert.equal(pev.user_id, userId);
  });

  it('cache_miss when subscribing to an empty cache channel (de-duplicated)', async () => {
    const name = unique('cache-wh-');
    const a = await env.connect();
    const chA = a.subscribe(name);
    await waitFor(chA, 'pusher:cache_miss');
    const miss = await main.waitForEvent(is('cache_miss', name), { what: `cache_miss for ${name}` });
    assert.deepEqual(Object.keys(miss).filter((k) => !k.startsWith('_')).sort(), ['channel', 'name']);

    const b = await env.connect();
    const chB = b.subscribe(name);
    await waitFor(chB, 'pusher:cache_miss');
    await pastLeaveDelay();
    assert.equal(main.events().filter(is('cache_miss', name)).length, 1, 'several clients hitting the same empty cache give one cache_miss');
  });

  it('subscription_count events with the count', async () => {
    const name = unique('wh-count-');
    const a = await env.connect();
    const b = await env.connect();
    await subscribe(a, name);
    await main.waitForEvent(is('subscription_count', name, (e) => e.subscription_count === 1), { what: 'subscription_count 1' });
    await subscribe(b, name);
    const two = await main.waitForEvent(is('subscription_count', name, (e) => e.subscription_count === 2), { what: 'subscription_count 2' });
    assert.equal(typeof two.subscription_count, 'number');
    b.unsubscribe(name);
    await main.waitForEvent(is('subscription_count', name, (e) => e.subscription_count === 1 && e._request > two._request), { what: 'subscription_count back to 1' });
  });

  it('a target with event_types and channel_prefix filters gets only matching events', async () => {
    const pub = unique('wh-filter-');
    const pres = unique('presence-wh-filter-');
    const userId = unique('f-');
    const c = await env.connect({ presence: { user_id: userId, user_info: {} } });
    await subscribe(c, pub);
    await subscribe(c, pres);
    await filtered.waitForEvent(is('channel_occupied', pres), { what: `filtered: channel_occupied ${pres}` });
    await filtered.waitForEvent(is('member_added', pres, (e) => e.user_id === userId), { what: `filtered: member_added ${pres}` });
    await main.waitForEvent(is('channel_occupied', pub));
    c.disconnect();
    env.forget(c);
    await main.waitForEvent(is('channel_vacated', pres), { what: `main: channel_vacated ${pres}` });
    await main.waitForEvent(is('member_removed', pres), { what: `main: member_removed ${pres}` });
    await delay(BATCH_MS * 2);

    const got = filtered.events();
    const wrong = got.filter((e) => !['channel_occupied', 'member_added'].includes(e.name) || !e.channel.startsWith('presence-'));
    assert.deepEqual(wrong.map(({ _at, _request, ...e }) => e), [], 'the filtered target only gets channel_occupied/member_added on presence-*');
    assert.ok(!got.some((e) => e.channel === pub));
  });

  it('delay-and-cancel: unsubscribe and resubscribe within the delay → no vacated, no second occupied', async () => {
    const name = unique('wh-reload-');
    const client = await env.connect();
    const channel = await subscribe(client, name);
    await main.waitForEvent(is('channel_occupied', name));
    client.unsubscribe(name);
    const again = client.subscribe(name);
    if (!again.subscribed) await waitFor(again, 'pusher:subscription_succeeded', { what: 'the resubscription' });
    assert.ok(channel);
    await pastLeaveDelay();
    const forChannel = main.events().filter((e) => e.channel === name && e.name.startsWith('channel_'));
    assert.deepEqual(forChannel.map((e) => e.name), ['channel_occupied'], 'a quick leave + return produces no vacated/occupied pair');

    // A page reload: a new socket of the same presence user within the delay.
    const pres = unique('presence-wh-reload-');
    const userId = unique('reload-');
    const first = await env.connect({ presence: { user_id: userId, user_info: {} } });
    await subscribe(first, pres);
    await main.waitForEvent(is('member_added', pres));
    first.disconnect();
    env.forget(first);
    const second = await env.connect({ presence: { user_id: userId, user_info: {} } });
    await subscribe(second, pres);
    await pastLeaveDelay();
    const presEvents = main.events().filter((e) => e.channel === pres);
    assert.deepEqual(
      presEvents.map((e) => e.name),
      ['channel_occupied', 'member_added'],
      'the reload produces no member_removed/member_added nor vacated/occupied',
    );
  });

  it('configured headers may not override the Pusher ones (herald refuses such a config)', async () => {
    await assert.rejects(
      startHerald({ webhooks: [{ url: main.url, headers: { 'X-Pusher-Key': 'forged' } }] }),
      /X-Pusher-Key/,
    );
  });
});

describe('webhook retries', () => {
  let env;
  let receiver;
  before(async () => {
    receiver = await startWebhookReceiver({ failFirst: 2, failStatus: 500 });
    env = await startHerald({
      config: { webhook_leave_delay_ms: LEAVE_DELAY_MS, webhook_batch_ms: BATCH_MS, webhook_retry_horizon: 10, webhook_timeout: 2 },
      webhooks: [{ url: receiver.url }],
    });
  });
  after(async () => {
    await env?.stop();
    await receiver?.close();
  });

  it('a receiver that answers 500 twice still gets the event, with the same signed body, after backoff', async () => {
    const name = unique('wh-retry-');
    const client = await env.connect();
    await subscribe(client, name);
    const event = await receiver.waitForEvent(is('channel_occupied', name), { timeout: 8000, what: `channel_occupied for ${name} after retries` });
    assert.ok(event);
    const attempts = receiver.requests.filter((r) => r.rawBody.includes(name));
    assert.equal(attempts.length, 3, `two failures then a success, got ${attempts.map((r) => r.status)}`);
    assert.deepEqual(attempts.map((r) => r.status), [500, 500, 200]);
    assert.equal(new Set(attempts.map((r) => r.rawBody)).size, 1, 'each retry resends the same body');
    for (const r of attempts) assertWellFormed(env, r);
    const gaps = [attempts[1].receivedAt - attempts[0].receivedAt, attempts[2].receivedAt - attempts[1].receivedAt];
    assert.ok(gaps[0] >= 400, `first retry after ${gaps[0]} ms (backoff starts at 500 ms)`);
    assert.ok(gaps[1] >= gaps[0] * 1.5, `backoff grows: ${gaps.join(' ms, ')} ms`);
  });

  function is(name, channel) {
    return (e) => e.name === name && e.channel === channel;
  }
});

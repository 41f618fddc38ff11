// The HTTP API driven by the `pusher` server library (spec §5, §2.2–2.3, §8), cross-app
// isolation, and cleanup of channel state after clients disappear.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { APP1, APP2, apiResult, eventually, signedUrl, startHerald, subscribed, waitFor } from './helpers/herald.js';

let herald;
let api;
before(async () => {
  herald = await startHerald();
  api = herald.server();
});
afterEach(() => herald.disconnectAll());
after(() => herald?.stop());

const framesOf = (raw, after = 0) => raw.messages.slice(after).map((m) => m.__raw).join(' | ');

async function rawSubscriber(...channels) {
  const raw = herald.raw();
  for (const c of channels) {
    const ok = await raw.subscribe(c, c.startsWith('presence-') ? { channelData: { user_id: `raw-${c}` } } : {});
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', `subscribe ${c}: ${ok.__raw}`);
  }
  return raw;
}

describe('POST /events (pusher.trigger)', () => {
  test('a successful trigger answers 200 with a JSON object', async () => {
    const r = await apiResult(api.trigger('public-empty', 'ev', { a: 1 }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {});
  });

  test('one trigger to several channels reaches every channel', async () => {
    const a = await rawSubscriber('multi-a');
    const b = await rawSubscriber('multi-b');
    const c = await herald.connectedClient();
    const cChan = await subscribed(c, 'private-multi-c');
    const gotC = waitFor(cChan, 'fanout', 5000);
    await api.trigger(['multi-a', 'multi-b', 'private-multi-c'], 'fanout', { v: 3 });
    const fa = await a.next('fanout');
    const fb = await b.next('fanout');
    assert.equal(fa.channel, 'multi-a');
    assert.equal(fb.channel, 'multi-b');
    assert.deepEqual(JSON.parse(fa.data), { v: 3 });
    assert.deepEqual(await gotC, { v: 3 });
  });

  test('socket_id excludes that connection only', async () => {
    const excluded = await rawSubscriber('public-exclude');
    const other = await rawSubscriber('public-exclude');
    const { socket_id } = JSON.parse(excluded.messages[0].data);
    const mark = excluded.messages.length;
    await api.trigger('public-exclude', 'not-for-you', { x: 1 }, { socket_id });
    await other.next('not-for-you');
    // Ordering marker: published after, delivered to both; the excluded socket would have
    // received the first event before it.
    await api.trigger('public-exclude', 'marker', {});
    await excluded.next('marker', 5000, { after: mark });
    assert.deepEqual(
      excluded.messages.slice(mark).map((m) => m.event),
      ['marker'],
      `excluded socket got: ${framesOf(excluded, mark)}`,
    );
  });

  test("info: 'subscription_count,user_count' answers per channel", async () => {
    await rawSubscriber('public-info', 'presence-info');
    await rawSubscriber('public-info');
    const r = await apiResult(api.trigger(['public-info', 'presence-info'], 'ev', {}, { info: 'subscription_count,user_count' }));
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.channels, `expected {channels: ...}: ${r.text}`);
    assert.equal(r.body.channels['public-info']?.subscription_count, 2, r.text);
    assert.equal(r.body.channels['presence-info']?.user_count, 1, r.text);
    assert.equal(r.body.channels['public-info'].user_count, undefined, `user_count is for presence channels only: ${r.text}`);
  });

  test('info for a channel with no subscribers reports zero', async () => {
    const r = await apiResult(api.trigger('public-nobody-here', 'ev', {}, { info: 'subscription_count' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.channels['public-nobody-here']?.subscription_count ?? 0, 0, r.text);
  });

  test('data of exactly 10240 bytes is accepted', async () => {
    const r = await apiResult(api.trigger('public-size', 'ev', 'x'.repeat(10240)));
    assert.equal(r.status, 200, r.text);
  });

  test('data over 10240 bytes → 413', async () => {
    const r = await apiResult(api.trigger('public-size', 'ev', 'x'.repeat(10241)));
    assert.equal(r.status, 413, r.text);
  });

  test('data size counts bytes, not characters (multi-byte UTF-8)', async () => {
    // 5000 × 'é' is 5000 characters but 10000 bytes (+ 2 × '€' = 6 bytes) → still ≤ 10240.
    const ok = await apiResult(api.trigger('public-size', 'ev', 'é'.repeat(5000) + '€€'));
    assert.equal(ok.status, 200, ok.text);
    // 5200 characters, 10400 bytes → over the limit.
    const big = await apiResult(api.trigger('public-size', 'ev', 'é'.repeat(5200)));
    assert.equal(big.status, 413, big.text);
  });

  for (const name of ['pusher:custom', 'pusher_internal:subscription_succeeded']) {
    test(`event name '${name}' (reserved prefix) → 400`, async () => {
      const raw = await rawSubscriber('public-reserved');
      const mark = raw.messages.length;
      const r = await apiResult(api.trigger('public-reserved', name, {}));
      assert.equal(r.status, 400, r.text);
      await api.trigger('public-reserved', 'marker', {});
      await raw.next('marker', 5000, { after: mark });
      assert.deepEqual(raw.messages.slice(mark).map((m) => m.event), ['marker'], `a reserved event was delivered: ${framesOf(raw, mark)}`);
    });
  }

  test('100 channels are accepted, 101 → 400 (sent with pusher.post: the library refuses client-side)', async () => {
    const names = (n) => Array.from({ length: n }, (_, i) => `bulk-${i}`);
    const ok = await apiResult(api.post({ path: '/events', body: { name: 'ev', data: '{}', channels: names(100) } }));
    assert.equal(ok.status, 200, ok.text);
    const tooMany = await apiResult(api.post({ path: '/events', body: { name: 'ev', data: '{}', channels: names(101) } }));
    assert.equal(tooMany.status, 400, tooMany.text);
  });

  test('channel name of 200 characters accepted, 201 → 400', async () => {
    const ok = await apiResult(api.trigger('n'.repeat(200), 'ev', {}));
    assert.equal(ok.status, 200, ok.text);
    const long = await apiResult(api.post({ path: '/events', body: { name: 'ev', data: '{}', channels: ['n'.repeat(201)] } }));
    assert.equal(long.status, 400, long.text);
  });

  test('event name of 200 characters accepted, 201 → 400', async () => {
    const raw = await rawSubscriber('public-event-names');
    const ok = await apiResult(api.trigger('public-event-names', 'e'.repeat(200), {}));
    assert.equal(ok.status, 200, ok.text);
    await raw.next('e'.repeat(200));
    const long = await apiResult(api.post({ path: '/events', body: { name: 'e'.repeat(201), data: '{}', channels: ['public-event-names'] } }));
    assert.equal(long.status, 400, long.text);
  });

  test('an encrypted channel together with another channel → 400', async () => {
    const r = await apiResult(
      api.post({ path: '/events', body: { name: 'ev', data: '{}', channels: ['private-encrypted-x', 'public-y'] } }),
    );
    assert.equal(r.status, 400, r.text);
  });

  test('the single "channel" form (PHP library) is accepted', async () => {
    const raw = await rawSubscriber('public-single');
    const r = await apiResult(api.post({ path: '/events', body: { name: 'single', data: '{"s":1}', channel: 'public-single' } }));
    assert.equal(r.status, 200, r.text);
    const f = await raw.next('single');
    assert.equal(f.data, '{"s":1}');
  });
});

describe('POST /batch_events (pusher.triggerBatch)', () => {
  test('delivers every event of the batch', async () => {
    const raw = await rawSubscriber('batch-a', 'batch-b');
    const r = await apiResult(
      api.triggerBatch([
        { channel: 'batch-a', name: 'one', data: { n: 1 } },
        { channel: 'batch-b', name: 'two', data: { n: 2 } },
      ]),
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {});
    const one = await raw.next('one');
    const two = await raw.next('two');
    assert.equal(one.channel, 'batch-a');
    assert.equal(two.channel, 'batch-b');
    assert.deepEqual(JSON.parse(two.data), { n: 2 });
  });

  test('with info: answers {batch: [...]} index by index', async () => {
    await rawSubscriber('batch-info', 'presence-batch-info');
    const r = await apiResult(
      api.triggerBatch([
        { channel: 'batch-info', name: 'x', data: {}, info: 'subscription_count' },
        { channel: 'presence-batch-info', name: 'y', data: {}, info: 'user_count' },
      ]),
    );
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.body.batch), r.text);
    assert.equal(r.body.batch.length, 2);
    assert.equal(r.body.batch[0].subscription_count, 1, r.text);
    assert.equal(r.body.batch[1].user_count, 1, r.text);
  });

  test('10 events are accepted, 11 → 400', async () => {
    const batch = (n) => Array.from({ length: n }, (_, i) => ({ channel: 'batch-limit', name: `e${i}`, data: {} }));
    assert.equal((await apiResult(api.triggerBatch(batch(10)))).status, 200);
    const r = await apiResult(api.triggerBatch(batch(11)));
    assert.equal(r.status, 400, r.text);
  });

  test('an oversized event in a batch → 413', async () => {
    const r = await apiResult(api.triggerBatch([{ channel: 'batch-size', name: 'big', data: 'x'.repeat(10241) }]));
    assert.equal(r.status, 413, r.text);
  });
});

describe('GET /channels', () => {
  test("filter_by_prefix 'presence-' with info user_count lists only occupied presence channels", async () => {
    await rawSubscriber('presence-list-1', 'presence-list-2', 'public-list-3');
    const other = herald.raw();
    await other.subscribe('presence-list-1', { channelData: { user_id: 'second' } });
    const res = await api.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    assert.equal(res.status, 200);
    const body = await res.json();
    const names = Object.keys(body.channels);
    assert.ok(names.every((n) => n.startsWith('presence-')), `non-presence channel listed: ${names}`);
    assert.deepEqual(body.channels['presence-list-1'], { user_count: 2 });
    assert.deepEqual(body.channels['presence-list-2'], { user_count: 1 });
  });

  test('without filter lists every occupied channel with {} values', async () => {
    await rawSubscriber('public-all-1', 'private-all-2');
    const body = await (await api.get({ path: '/channels' })).json();
    assert.deepEqual(body.channels['public-all-1'], {});
    assert.deepEqual(body.channels['private-all-2'], {});
    assert.equal(body.channels['never-subscribed'], undefined);
  });

  test('info=user_count without a presence- filter → 400', async () => {
    const r = await apiResult(api.get({ path: '/channels', params: { info: 'user_count' } }));
    assert.equal(r.status, 400, r.text);
  });
});

describe('GET /channels/NAME', () => {
  test('occupied public channel: occupied true and subscription_count', async () => {
    await rawSubscriber('public-show');
    await rawSubscriber('public-show');
    const body = await (await api.get({ path: '/channels/public-show', params: { info: 'subscription_count' } })).json();
    assert.equal(body.occupied, true);
    assert.equal(body.subscription_count, 2);
  });

  test('occupied presence channel: occupied true and user_count', async () => {
    await rawSubscriber('presence-show');
    const body = await (await api.get({ path: '/channels/presence-show', params: { info: 'user_count' } })).json();
    assert.equal(body.occupied, true);
    assert.equal(body.user_count, 1);
  });

  test('unoccupied channel: occupied false', async () => {
    const body = await (await api.get({ path: '/channels/public-nobody' })).json();
    assert.equal(body.occupied, false);
  });

  test('info=user_count on a non-presence channel → 400', async () => {
    const r = await apiResult(api.get({ path: '/channels/public-show', params: { info: 'user_count' } }));
    assert.equal(r.status, 400, r.text);
  });
});

describe('GET /channels/NAME/users', () => {
  test('presence channel: the list of user ids', async () => {
    const a = herald.raw();
    await a.subscribe('presence-users', { channelData: { user_id: 'u1' } });
    const b = herald.raw();
    await b.subscribe('presence-users', { channelData: { user_id: 'u2', user_info: { x: 1 } } });
    const body = await (await api.get({ path: '/channels/presence-users/users' })).json();
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['u1', 'u2']);
  });

  test('public channel → 400', async () => {
    await rawSubscriber('public-users');
    const r = await apiResult(api.get({ path: '/channels/public-users/users' }));
    assert.equal(r.status, 400, r.text);
  });
});

describe('authentication and routing errors', () => {
  test('wrong secret → 401 with a JSON body', async () => {
    const bad = herald.server({ ...APP1, secret: 'wrong-secret' });
    const r = await apiResult(bad.trigger('public-auth', 'ev', {}));
    assert.equal(r.status, 401, r.text);
    assert.ok(r.body && typeof r.body === 'object', `body is not JSON: ${r.text}`);
  });

  test('wrong secret on GET → 401', async () => {
    const bad = herald.server({ ...APP1, secret: 'wrong-secret' });
    const r = await apiResult(bad.get({ path: '/channels' }));
    assert.equal(r.status, 401, r.text);
  });

  test('unknown app id → 404', async () => {
    const ghost = herald.server({ id: '9999', key: 'ghost-key', secret: 'ghost-secret' });
    const r = await apiResult(ghost.trigger('public-x', 'ev', {}));
    assert.equal(r.status, 404, r.text);
  });

  test("app 1001's id with app 1002's key and secret → 401", async () => {
    const mixed = herald.server({ ...APP2, id: APP1.id });
    const r = await apiResult(mixed.get({ path: '/channels' }));
    assert.equal(r.status, 401, r.text);
  });

  test('hand-signed request per §5.2 (values percent-encoded in the URL, signed decoded) → 200', async () => {
    const raw = await rawSubscriber('presence-hand');
    const body = JSON.stringify({ name: 'hand', data: '{"h":1}', channels: ['presence-hand', 'public-hand'] });
    const url = signedUrl(herald, { method: 'POST', path: `/apps/${APP1.id}/events`, params: { info: 'user_count,subscription_count' }, body });
    assert.ok(url.includes('info=user_count%2Csubscription_count'), url);
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(JSON.parse(text).channels['presence-hand'].user_count, 1, text);
    await raw.next('hand');
  });

  test('hand-signed GET with body_md5 of the empty body (as the Python library sends) → 200', async () => {
    const url = signedUrl(herald, {
      method: 'GET',
      path: `/apps/${APP1.id}/channels`,
      params: { filter_by_prefix: 'presence-', info: 'user_count', body_md5: 'd41d8cd98f00b204e9800998ecf8427e' },
    });
    const res = await fetch(url);
    assert.equal(res.status, 200, await res.text());
  });

  test('timestamp older than 600 s → 401', async () => {
    const url = signedUrl(herald, { method: 'GET', path: `/apps/${APP1.id}/channels`, timestamp: Math.floor(Date.now() / 1000) - 700 });
    const res = await fetch(url);
    assert.equal(res.status, 401, await res.text());
  });

  test('body_md5 not matching the body → 401', async () => {
    const body = JSON.stringify({ name: 'ev', data: '{}', channels: ['public-md5'] });
    const url = signedUrl(herald, { method: 'POST', path: `/apps/${APP1.id}/events`, body });
    const res = await fetch(url, { method: 'POST', body: body.replace('public-md5', 'public-md6'), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 401, await res.text());
  });
});

describe('cross-app isolation', () => {
  test("app 1002's channel list does not include app 1001's channels", async () => {
    await rawSubscriber('public-iso-list', 'presence-iso-list');
    const api2 = herald.server(APP2);
    const all = await (await api2.get({ path: '/channels' })).json();
    assert.equal(all.channels['public-iso-list'], undefined, JSON.stringify(all));
    const pres = await (await api2.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
    assert.equal(pres.channels['presence-iso-list'], undefined, JSON.stringify(pres));
    const one = await (await api2.get({ path: '/channels/public-iso-list', params: { info: 'subscription_count' } })).json();
    assert.equal(one.occupied, false, JSON.stringify(one));
    const users = await (await api2.get({ path: '/channels/presence-iso-list/users' })).json();
    assert.deepEqual(users.users, []);
  });

  test("a trigger with app 1002's credentials does not reach app 1001's subscribers", async () => {
    const raw1 = await rawSubscriber('public-iso');
    const raw2 = herald.raw({ key: APP2.key });
    await raw2.subscribe('public-iso', { app: APP2 });
    const mark = raw1.messages.length;
    const api2 = herald.server(APP2);
    await api2.trigger('public-iso', 'from-app-2', {});
    await raw2.next('from-app-2'); // app 1002's own subscriber gets it
    await api.trigger('public-iso', 'marker', {});
    await raw1.next('marker', 5000, { after: mark });
    assert.deepEqual(raw1.messages.slice(mark).map((m) => m.event), ['marker'], framesOf(raw1, mark));
    assert.ok(!raw2.messages.some((m) => m.event === 'marker'), "app 1001's event reached app 1002");
  });
});

describe('cleanup after clients disappear', () => {
  test('abruptly dropped sockets: channels vanish from /channels and presence user_count drops', async () => {
    const stays = herald.raw();
    await stays.subscribe('presence-cleanup', { channelData: { user_id: 'stays' } });
    const goes = herald.raw();
    await goes.subscribe('presence-cleanup', { channelData: { user_id: 'goes' } });
    await goes.subscribe('public-cleanup');
    await goes.subscribe('private-cleanup');
    const js = await herald.connectedClient();
    await subscribed(js, 'public-cleanup-js');

    const list = async (params) => (await (await api.get({ path: '/channels', params })).json()).channels;
    const before = await list({});
    for (const n of ['public-cleanup', 'private-cleanup', 'public-cleanup-js', 'presence-cleanup']) assert.ok(before[n], `${n} should be listed`);
    assert.equal((await list({ filter_by_prefix: 'presence-', info: 'user_count' }))['presence-cleanup'].user_count, 2);

    goes.terminate(); // no close frame: the TCP connection is just dropped
    js.disconnect();

    // No event tells an HTTP client when the server noticed; poll with a deadline.
    await eventually(async () => {
      const now = await list({});
      return !now['public-cleanup'] && !now['private-cleanup'] && !now['public-cleanup-js'];
    }, 5000, 'channels to be vacated');
    await eventually(
      async () => (await list({ filter_by_prefix: 'presence-', info: 'user_count' }))['presence-cleanup']?.user_count === 1,
      5000,
      'presence user_count to drop to 1',
    );
    const users = await (await api.get({ path: '/channels/presence-cleanup/users' })).json();
    assert.deepEqual(users.users, [{ id: 'stays' }]);
    const gone = await (await api.get({ path: '/channels/public-cleanup', params: { info: 'subscription_count' } })).json();
    assert.equal(gone.occupied, false);
  });
});

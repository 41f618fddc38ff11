// Prometheus metrics: scraped from the separate listener and parsed as the text exposition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, freePort, subscribed, waitFor, APP1 } from '../helpers/herald.js';

let herald;
let metricsPort;

/** Parses the Prometheus text format into [{ name, labels, value }]. */
function parse(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
    assert.ok(m, `unparseable metrics line: ${line}`);
    const labels = {};
    for (const pair of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

async function scrape() {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain/);
  return parse(await res.text());
}

function value(samples, name, labels = {}) {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

before(async () => {
  metricsPort = await freePort();
  herald = await startHerald({ config: { metrics_enabled: true, metrics_port: metricsPort } });
});
after(() => herald?.stop());

test('metrics are served on their own listener, not on the main port', async () => {
  const samples = await scrape();
  assert.ok(samples.length > 0);
  const main = await fetch(`${herald.baseUrl}/metrics`);
  assert.equal(main.status, 404);
});

test('connections, messages, API requests, client events and fan-out are counted per app', async () => {
  const before = await scrape();
  const a = await herald.connectedClient();
  const b = await herald.connectedClient();
  const chA = await subscribed(a, 'private-metrics');
  const chB = await subscribed(b, 'private-metrics');
  const got = waitFor(chB, 'api-event');
  await herald.server().trigger('private-metrics', 'api-event', { n: 1 });
  await got;
  const relayed = waitFor(chB, 'client-hi');
  chA.trigger('client-hi', { n: 2 });
  await relayed;
  // A rejected client event: public channels do not relay them.
  const pub = await subscribed(a, 'public-metrics');
  const refused = waitFor(a.connection, 'error');
  pub.trigger('client-nope', {});
  await refused;

  const after = await scrape();
  const app = { app: APP1.id };
  assert.equal(value(after, 'herald_connections', app), 2);
  assert.ok(value(after, 'herald_connections_opened_total', app) >= value(before, 'herald_connections_opened_total', app) + 2);
  assert.ok(value(after, 'herald_messages_in_total', app) > value(before, 'herald_messages_in_total', app));
  assert.ok(value(after, 'herald_bytes_in_total', app) > value(before, 'herald_bytes_in_total', app));
  assert.ok(value(after, 'herald_messages_out_total', app) >= value(before, 'herald_messages_out_total', app) + 2);
  assert.ok(value(after, 'herald_bytes_out_total', app) > value(before, 'herald_bytes_out_total', app));
  assert.equal(value(after, 'herald_api_requests_total', { app: APP1.id, route: '/apps/{app_id}/events', status: '200' }) - value(before, 'herald_api_requests_total', { app: APP1.id, route: '/apps/{app_id}/events', status: '200' }), 1);
  assert.ok(value(after, 'herald_api_request_duration_seconds_count', { route: '/apps/{app_id}/events' }) >= 1);
  assert.equal(value(after, 'herald_client_events_total', { app: APP1.id, outcome: 'relayed' }) - value(before, 'herald_client_events_total', { app: APP1.id, outcome: 'relayed' }), 1);
  assert.equal(value(after, 'herald_client_events_total', { app: APP1.id, outcome: 'channel_type' }) - value(before, 'herald_client_events_total', { app: APP1.id, outcome: 'channel_type' }), 1);
  assert.ok(value(after, 'herald_fanout_duration_seconds_count', app) >= 2);
  assert.equal(value(after, 'herald_occupied_channels', app), 2);
  await herald.disconnectAll();
});

test('a bad API signature is counted under its status', async () => {
  const before = await scrape();
  const wrong = herald.server({ ...APP1, secret: 'wrong' });
  await wrong.trigger('x', 'e', {}).catch(() => {});
  const after = await scrape();
  const labels = { app: APP1.id, route: '/apps/{app_id}/events', status: '401' };
  assert.equal(value(after, 'herald_api_requests_total', labels) - value(before, 'herald_api_requests_total', labels), 1);
});

test('closed connections are counted by close code, and no label carries a channel name', async () => {
  const before = await scrape();
  const raw = herald.raw({ key: 'no-such-key' });
  await raw.closed;
  const samples = await scrape();
  assert.ok(value(samples, 'herald_connections_closed_total', { code: '4001' }) === 0, 'refused before admission: not an app connection');
  assert.equal(
    value(samples, 'herald_connections_refused_total', { code: '4001' }) - value(before, 'herald_connections_refused_total', { code: '4001' }),
    1,
    'counted as a refused handshake instead',
  );
  for (const s of samples) {
    for (const v of Object.values(s.labels)) {
      assert.ok(!/metrics/.test(v), `label value ${v} of ${s.name} looks like a channel name`);
    }
  }
  const c = await herald.connectedClient();
  const closed = waitFor(c.connection, 'disconnected');
  c.disconnect();
  await closed;
  const deadline = Date.now() + 3000;
  for (;;) {
    const now = await scrape();
    if (value(now, 'herald_connections_closed_total', { app: APP1.id, code: 'none' }) >= 1) break;
    assert.ok(Date.now() < deadline, 'a client-initiated close is counted with code="none"');
    await new Promise((r) => setTimeout(r, 50));
  }
});

// SIGHUP reloads the apps from the configuration file while pusher-js sockets stay open: an
// added app accepts clients, a rotated secret signs from then on, a switch turned on applies
// to sockets already connected, a removed app's sockets are closed with 4001 and a disabled
// app's with 4003. A file that does not load changes nothing, and a setting that needs a
// restart is named. The tests run in order, each reloading the file the previous one left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startHerald, freePort, subscribed, waitFor, collect, apiResult, APP1, APP2 } from '../helpers/herald.js';
import { toToml } from '../helpers/toml.js';

const ROTATED = { ...APP1, secret: 'app-secret-rotated' };
const APP3 = { id: '1003', key: 'app-key-3', secret: 'app-secret-3' };

let herald;
let metricsPort;

before(async () => {
  metricsPort = await freePort();
  herald = await startHerald({ config: { log_format: 'json', log: 'info', metrics_port: metricsPort } });
});
after(() => herald?.stop());

/** Writes the file herald was started from, with `apps` and top-level `changes`. */
function rewrite(apps, changes = {}) {
  const { apps: _, ...top } = herald.config;
  writeFileSync(herald.configPath, toToml({ ...top, ...changes }, apps));
}

/** Sends SIGHUP and resolves with the JSON log line that reports the reload. */
async function reload() {
  const line = herald.nextOutput(/configuration reload/);
  herald.proc.kill('SIGHUP');
  return JSON.parse(await line);
}

async function reloadsCounted(result) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`herald_config_reloads_total{result="${result}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The `pusher:error` data ({ code, message }) a pusher-js connection reports next. */
async function nextError(client) {
  const error = await waitFor(client.connection, 'error', 5000);
  return error?.error?.data ?? error?.data;
}

test('SIGHUP adds an app, rotates a secret and turns on client events; open sockets stay connected', async () => {
  const alice = await herald.connectedClient();
  const states = collect(alice.connection, 'state_change');
  const news = await subscribed(alice, 'news');
  // App 1002 starts without client events: a client event is refused.
  const carol = await herald.connectedClient({ app: APP2 });
  const dave = await herald.connectedClient({ app: APP2 });
  const carolRoom = await subscribed(carol, 'private-room');
  const daveRoom = await subscribed(dave, 'private-room');
  const refused = nextError(carol);
  carolRoom.trigger('client-hello', { n: 1 });
  assert.match((await refused).message, /Client events are disabled/, 'client events are off before the reload');

  rewrite([ROTATED, { ...APP2, client_events: true }, APP3]);
  const line = await reload();
  assert.equal(line.message, 'configuration reloaded', JSON.stringify(line));
  assert.equal(line.added, '["1003"]');
  assert.equal(line.changed, '["1001", "1002"]');
  assert.equal(line.removed, '[]');

  // The rotated secret signs the HTTP API; the old one no longer does.
  const stale = await apiResult(herald.server(APP1).trigger('news', 'update', { n: 1 }));
  assert.equal(stale.status, 401, `the old secret still signs: ${stale.text}`);
  const delivered = waitFor(news, 'update');
  const fresh = await apiResult(herald.server(ROTATED).trigger('news', 'update', { n: 2 }));
  assert.equal(fresh.status, 200, fresh.text);
  assert.deepEqual(await delivered, { n: 2 }, 'the socket opened before the reload receives');

  // Channel authorization follows the rotated secret too, on the socket opened before.
  await assert.rejects(subscribed(alice, 'private-signed-with-old-secret'), /subscription to private-signed-with-old-secret failed/);
  const erin = await herald.connectedClient({ app: ROTATED });
  await subscribed(erin, 'private-signed-with-new-secret');

  // The switch applies to sockets already connected.
  const hello = waitFor(daveRoom, 'client-hello');
  carolRoom.trigger('client-hello', { n: 2 });
  assert.deepEqual(await hello, { n: 2 });

  // The added app takes clients and its credentials sign.
  const frank = await herald.connectedClient({ app: APP3 });
  const frankNews = await subscribed(frank, 'news');
  const forFrank = waitFor(frankNews, 'update');
  assert.equal((await apiResult(herald.server(APP3).trigger('news', 'update', { app: 3 }))).status, 200);
  assert.deepEqual(await forFrank, { app: 3 });

  assert.deepEqual(states.stop(), [], 'the socket opened before the reload never changed state');
  assert.equal(await reloadsCounted('applied'), 1);
  await herald.disconnectAll();
});

test('SIGHUP closes the sockets of a removed app with 4001 and of a disabled app with 4003', async () => {
  const stays = await herald.connectedClient({ app: ROTATED });
  const states = collect(stays.connection, 'state_change');
  const removed = herald.raw({ key: APP3.key });
  await removed.established();
  const disabled = await herald.connectedClient({ app: APP2 });
  const disabledError = nextError(disabled);
  const disabledStates = collect(disabled.connection, 'state_change');

  rewrite([ROTATED, { ...APP2, client_events: true, enabled: false }]);
  const line = await reload();
  assert.equal(line.removed, '["1003"]');
  assert.equal(line.changed, '["1002"]');

  const error = await removed.next('pusher:error');
  assert.equal(error.data.code, 4001);
  assert.equal((await removed.closed).code, 4001, 'the removed app\'s socket is closed with 4001');
  assert.equal((await disabledError).code, 4003, 'pusher-js reports the disabled app\'s 4003');
  if (disabled.connection.state !== 'disconnected') await waitFor(disabled.connection, 'disconnected', 5000);
  assert.deepEqual(disabledStates.stop().map((s) => s.current), ['disconnected'], 'pusher-js went from connected to disconnected');

  // New sockets are refused the same way.
  const late = herald.raw({ key: APP3.key });
  assert.equal((await late.closed).code, 4001);
  const lateDisabled = herald.raw({ key: APP2.key });
  assert.equal((await lateDisabled.closed).code, 4003);
  assert.equal((await apiResult(herald.server(APP3).trigger('news', 'x', {}))).status, 404, 'the removed app\'s API is gone');

  assert.deepEqual(states.stop(), [], 'the app that stays keeps its socket');
  await herald.disconnectAll();
});

test('a file that does not load leaves the running apps as they were', async () => {
  const alice = await herald.connectedClient({ app: ROTATED });
  const news = await subscribed(alice, 'news');
  // A second app with the same key: the file parses, validation refuses it.
  rewrite([ROTATED, { id: '1004', key: ROTATED.key, secret: 'another' }]);
  const line = await reload();
  assert.equal(line.level, 'ERROR');
  assert.match(line.message, /configuration reload failed, the running configuration stays/);
  assert.match(line.message, /`apps\[1\].key` = "app-key" is used twice/, 'the error names the key and the problem');

  const delivered = waitFor(news, 'update');
  assert.equal((await apiResult(herald.server(ROTATED).trigger('news', 'update', { after: 'failed reload' }))).status, 200);
  assert.deepEqual(await delivered, { after: 'failed reload' });
  assert.equal(alice.connection.state, 'connected');
  assert.equal(await reloadsCounted('failed'), 1);
  await herald.disconnectAll();
});

test('a changed setting that needs a restart is named, and not applied', async () => {
  rewrite([ROTATED], { activity_timeout: 30 });
  const warning = herald.nextOutput(/take effect only at a restart/);
  const line = await reload();
  assert.equal(line.message, 'configuration reloaded');
  assert.match(JSON.parse(await warning).message, /: activity_timeout$/);
  const raw = herald.raw({ key: ROTATED.key });
  const established = await raw.established();
  assert.equal(established.activity_timeout, 120, 'the running activity_timeout stays until a restart');
});

test('SIGHUP applies a changed log filter', async () => {
  // Down to warn: the reload's own info line is filtered out, so the restart warning (a
  // setting still differs) marks that the reload happened.
  rewrite([ROTATED], { log: 'warn', activity_timeout: 30 });
  const warned = herald.nextOutput(/take effect only at a restart/);
  herald.proc.kill('SIGHUP');
  await warned;
  const from = herald.output.length;
  const quiet = herald.raw({ key: ROTATED.key });
  const { socket_id: quietId } = await quiet.established();
  // An error line written after the socket's open would have been logged marks the end of
  // the window (the open is logged before connection_established is sent).
  rewrite([ROTATED, { id: '1005', key: ROTATED.key, secret: 'another' }], { log: 'warn' });
  assert.equal((await reload()).level, 'ERROR');
  assert.ok(!herald.output.slice(from).includes(quietId), `an info line was logged at warn:\n${herald.output.slice(from)}`);

  // Back to info: connection lines are logged again.
  rewrite([ROTATED]);
  assert.equal((await reload()).message, 'configuration reloaded');
  const opened = herald.nextOutput(/"connection opened"/);
  const loud = herald.raw({ key: ROTATED.key });
  const { socket_id: loudId } = await loud.established();
  assert.equal(JSON.parse(await opened).socket_id, loudId);
});

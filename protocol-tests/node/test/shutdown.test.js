// Graceful shutdown on SIGTERM (spec §1.7: 4200 = "reconnect immediately").
// Each test starts and stops its own herald, with shutdown_grace_period = 3.

import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { delay, stallConsumer, startHerald, subscribed, waitFor } from './helpers/herald.js';

const GRACE_S = 3;
// Slack for process start-up/tear-down and timer granularity on a loaded machine.
const EXIT_SLACK_MS = 1500;

let herald;
afterEach(async () => {
  await herald?.stop('SIGKILL');
  herald = undefined;
});

/** Resolves with the exit status, or null if the process is still running after `ms`. */
const exitWithin = (h, ms) => Promise.race([h.exited, delay(ms).then(() => null)]);

describe('SIGTERM', () => {
  test('pusher-js and raw clients are closed with 4200 and the process exits 0 within the grace period', async () => {
    herald = await startHerald({ config: { shutdown_grace_period: GRACE_S } });
    const ready = await fetch(`${herald.baseUrl}/ready`);
    assert.equal(ready.status, 200, 'ready before shutdown');

    const clients = await Promise.all([herald.connectedClient(), herald.connectedClient()]);
    await subscribed(clients[0], 'public-shutdown');
    await subscribed(clients[1], 'presence-shutdown');
    const raw = herald.raw();
    await raw.subscribe('private-shutdown');

    const errors = clients.map((c) => waitFor(c.connection, 'error', 5000, { filter: (e) => e?.data?.code === 4200 }));
    const start = Date.now();
    herald.proc.kill('SIGTERM');

    const closed = await Promise.race([raw.closed, delay(5000).then(() => null)]);
    assert.ok(closed, 'raw socket was not closed within 5 s of SIGTERM');
    assert.equal(closed.code, 4200, `raw close code ${closed.code} (${closed.reason})`);
    for (const e of await Promise.all(errors)) {
      assert.equal(e.type, 'PusherError');
      assert.equal(e.data.code, 4200);
    }

    const exit = await exitWithin(herald, GRACE_S * 1000 + EXIT_SLACK_MS);
    const elapsed = Date.now() - start;
    assert.ok(exit, `herald still running ${elapsed} ms after SIGTERM (grace period ${GRACE_S} s)`);
    assert.equal(exit.signal, null, `killed by ${exit.signal}`);
    assert.equal(exit.code, 0, `exit code ${exit.code}; output:\n${herald.output}`);
    for (const c of clients) c.disconnect();
  });

  test('while a stalled consumer keeps it draining: /ready is 503, new sockets get 4200, and it still exits 0 within the grace period', async () => {
    herald = await startHerald({ config: { shutdown_grace_period: GRACE_S, connection_queue_size: 100000 } });
    const api = herald.server();

    // A subscriber that stops reading: the server's writer for it blocks once the TCP
    // buffers and the server's internal buffers are full.
    const stalled = herald.raw();
    const ok = await stalled.subscribe('public-stalled');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');

    const stuck = await stallConsumer(api, stalled, 'public-stalled');
    assert.ok(stuck, 'could not stall the consumer (setup problem, not a server bug)');

    const start = Date.now();
    herald.proc.kill('SIGTERM');

    // /ready answers 503 while draining.
    const readyBody = await waitForReady503(herald);
    assert.equal(readyBody.ready, false);

    // A new socket during the drain is refused with 4200 (reconnect elsewhere).
    const late = herald.raw();
    const lateClosed = await Promise.race([late.closed, delay(3000).then(() => null)]);
    assert.ok(lateClosed, 'a socket opened during the drain was not closed');
    assert.ok(
      !late.messages.some((m) => m.event === 'pusher:connection_established'),
      'a socket opened during shutdown must not be established',
    );
    assert.equal(lateClosed.code, 4200, `close code ${lateClosed.code}`);

    const exit = await exitWithin(herald, GRACE_S * 1000 + EXIT_SLACK_MS);
    if (!exit) {
      // Measure how long it really takes, for the failure message.
      const late = await exitWithin(herald, GRACE_S * 3000);
      const took = late ? `exited (code ${late.code}) after ${Date.now() - start} ms` : `still running after ${Date.now() - start} ms`;
      assert.fail(`herald did not exit within the ${GRACE_S} s grace period (+${EXIT_SLACK_MS} ms slack): it ${took}`);
    }
    assert.equal(exit.code, 0, `exit code ${exit.code}`);
    stalled.terminate();
  });
});

async function waitForReady503(h) {
  const deadline = Date.now() + 2000;
  let last;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${h.baseUrl}/ready`);
      last = `${r.status} ${await r.text()}`;
      if (r.status === 503) return JSON.parse(last.slice(4));
    } catch (e) {
      last = String(e.cause?.code ?? e);
    }
    await delay(50);
  }
  throw new Error(`GET /ready did not answer 503 during the drain; last: ${last}`);
}

test('SIGINT also shuts down cleanly with exit code 0', async () => {
  herald = await startHerald({ config: { shutdown_grace_period: GRACE_S } });
  const raw = herald.raw();
  await raw.established();
  herald.proc.kill('SIGINT');
  const closed = await Promise.race([raw.closed, delay(5000).then(() => null)]);
  assert.equal(closed?.code, 4200);
  const exit = await exitWithin(herald, GRACE_S * 1000 + EXIT_SLACK_MS);
  assert.ok(exit, 'still running');
  assert.equal(exit.code, 0);
});

// Graceful shutdown on SIGTERM (spec §1.7: 4200 = "reconnect immediately").
// Each test starts and stops its own herald, with shutdown_grace_period = 3.

import net from 'node:net';
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
    const logBeforeSignal = herald.output.length;
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
    // A clean shutdown is not an error: closing the listening socket under actix's accept
    // loop once logged "Error accepting connection" on every shutdown.
    const shutdownLog = herald.output.slice(logBeforeSignal);
    assert.doesNotMatch(shutdownLog, /ERROR/, `a clean shutdown logged an error:\n${shutdownLog}`);
    for (const c of clients) c.disconnect();
  });

  test('while a stalled consumer keeps it draining: /ready is 503, new connections are refused, and it still exits 0 within the grace period', async () => {
    herald = await startHerald({ config: { shutdown_grace_period: GRACE_S, connection_queue_size: 100000 } });
    const api = herald.server();

    // A subscriber that stops reading: the server's writer for it blocks once the TCP
    // buffers and the server's internal buffers are full.
    const stalled = herald.raw();
    const ok = await stalled.subscribe('public-stalled');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');

    const stuck = await stallConsumer(api, stalled, 'public-stalled');
    assert.ok(stuck, 'could not stall the consumer (setup problem, not a server bug)');

    // A load balancer's kept-alive health-check connection, opened before the shutdown.
    const probe = await keepAliveProbe(herald.port);
    assert.equal((await probe.get('/ready')).status, 200, 'ready before shutdown');

    const start = Date.now();
    herald.proc.kill('SIGTERM');

    // /ready answers 503 on the existing connection while draining.
    const deadline = Date.now() + 2000;
    let answer;
    do {
      answer = await probe.get('/ready');
    } while (answer.status !== 503 && Date.now() < deadline && (await delay(50), true));
    assert.equal(answer.status, 503, `GET /ready during the drain: ${answer.status}`);
    assert.equal(JSON.parse(answer.body).ready, false);
    probe.close();

    // A new connection during the drain is refused outright (stop accepting), so a client or
    // load balancer goes elsewhere at once; it is never established.
    const refused = await new Promise((resolve) => {
      const s = net.connect(herald.port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(false); });
      s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    });
    assert.ok(refused, 'a connection opened during the drain must be refused');

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

/** One kept-alive HTTP/1.1 connection that can send several GETs in turn. */
function keepAliveProbe(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      resolve({
        get(path) {
          return new Promise((res, rej) => {
            let buf = '';
            // A connection the server closed fails the request instead of leaving it pending.
            const onClose = () => rej(new Error(`the server closed the kept-alive connection before answering GET ${path}`));
            if (socket.destroyed || socket.readableEnded) return onClose();
            const onData = (d) => {
              buf += d;
              const end = buf.indexOf('\r\n\r\n');
              if (end < 0) return;
              const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
              if (buf.length < end + 4 + length) return;
              socket.off('data', onData);
              socket.off('close', onClose);
              res({ status: Number(buf.slice(9, 12)), body: buf.slice(end + 4, end + 4 + length) });
            };
            socket.on('data', onData);
            socket.once('close', onClose);
            socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
          });
        },
        close() {
          socket.destroy();
        },
      });
    });
    socket.on('error', reject);
  });
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

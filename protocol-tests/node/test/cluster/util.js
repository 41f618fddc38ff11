// Small shared utilities of the cluster tests: waiting helpers that always reject after a
// bounded time, free ports and child processes.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import { randomBytes } from 'node:crypto';
import net from 'node:net';

import { bindOn, delay, pollUntil, waitFor } from '../helpers/wait.js';

export const HOST = '127.0.0.1';
/** Child process output kept for failure messages is capped at this many characters. */
export const LOG_LIMIT = 400_000;

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------


let counter = 0;
/** A channel/user name no other test in this process uses. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}${counter}-${randomBytes(3).toString('hex')}`;
}

/** Credentials for an app table; `extra` adds per-app keys (limits, webhooks, …). */
export function defineApp(extra = {}) {
  return {
    id: String(400000 + Math.floor(Math.random() * 500000)),
    key: `cluster-key-${randomBytes(4).toString('hex')}`,
    secret: `cluster-secret-${randomBytes(8).toString('hex')}`,
    client_events: true,
    ...extra,
  };
}

export { bindOn, delay, pollUntil, waitFor };


/** Like pollUntil, but `check` throws (an assertion) until the state is right; returns its value. */
export async function eventually(check, { timeout = 5000, interval = 100, what = 'the expected state' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) {
        e.message = `still failing after ${timeout} ms (${what}): ${e.message}`;
        throw e;
      }
    }
    await delay(interval);
  }
}

/** A free TCP port on 127.0.0.1 (chosen by the kernel, closed again before returning). */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolvePromise(port));
    });
  });
}

export function exitedPromise(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

export function isRunning(child) {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal`, waits for the exit, escalates to SIGKILL after `killAfterMs`. */
export async function stopChild(child, signal = 'SIGTERM', killAfterMs = 5000) {
  if (!isRunning(child)) return exitedPromise(child);
  const exited = exitedPromise(child);
  const t = setTimeout(() => isRunning(child) && child.kill('SIGKILL'), killAfterMs);
  child.kill(signal);
  const result = await exited;
  clearTimeout(t);
  return result;
}


// Shared helpers for the herald interoperability suite.
//
// Each test file starts its own herald process with `startHerald()` (in `before()`) and stops
// it with `herald.stop()` (in `after()`), so files are independent of each other.
// Importing this module has no side effects (node --test also loads it as a "test file").

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, createHmac } from 'node:crypto';

import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';

import { APP1, APP2, ENCRYPTION_MASTER_KEY_BASE64 } from './apps.js';
import { RawClient } from './raw-client.js';
import { toToml } from './toml.js';
import { delay, pollUntil } from './wait.js';

export { RawClient };

const here = dirname(fileURLToPath(import.meta.url));
// protocol-tests/node/test/helpers -> protocol-tests/node -> ../../target/debug/herald
const NODE_DIR = resolve(here, '..', '..');
export const HERALD_BIN = process.env.HERALD_BIN
  ? resolve(process.env.HERALD_BIN)
  : resolve(NODE_DIR, '../../target/debug/herald');

export { APP1, APP2, ENCRYPTION_MASTER_KEY_BASE64 };

const SOCKET_ID_RE = /^\d+\.\d+$/;
export { SOCKET_ID_RE };

// ---------------------------------------------------------------------------------------------
// Small async utilities
// ---------------------------------------------------------------------------------------------

export { delay };

/**
 * Resolves with the first argument of the next `event` emitted by `emitter` (a pusher-js
 * channel/connection/client with bind/unbind, a Node EventEmitter or a `ws` socket), or
 * rejects after `timeoutMs`.
 *
 * options.filter(...args) — only settle for emissions it accepts.
 * options.all — resolve with the whole argument array instead of the first argument.
 */
export function waitFor(emitter, event, timeoutMs = 5000, options = {}) {
  const { filter = () => true, all = false } = options;
  return new Promise((resolvePromise, reject) => {
    const useBind = typeof emitter.bind === 'function' && typeof emitter.unbind === 'function' && !(emitter instanceof WebSocket);
    const off = () => (useBind ? emitter.unbind(event, listener) : emitter.off(event, listener));
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    function listener(...args) {
      let ok;
      try {
        ok = filter(...args);
      } catch (e) {
        ok = false;
      }
      if (!ok) return;
      clearTimeout(timer);
      off();
      resolvePromise(all ? args : args[0]);
    }
    if (useBind) emitter.bind(event, listener);
    else emitter.on(event, listener);
  });
}

/**
 * Collects every emission of `event` on `emitter` until `stop()` is called; used to assert
 * that something did NOT arrive during a bounded window.
 */
export function collect(emitter, event) {
  const seen = [];
  const useBind = typeof emitter.bind === 'function' && typeof emitter.unbind === 'function' && !(emitter instanceof WebSocket);
  const listener = (...args) => seen.push(args.length > 1 ? args : args[0]);
  if (useBind) emitter.bind(event, listener);
  else emitter.on(event, listener);
  return {
    seen,
    stop() {
      if (useBind) emitter.unbind(event, listener);
      else emitter.off(event, listener);
      return seen;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping herald
// ---------------------------------------------------------------------------------------------

/** GET /up over TLS without verifying the (self-signed) certificate. */
function httpsUp(port) {
  return new Promise((resolve) => {
    const req = httpsGet({ host: '127.0.0.1', port, path: '/up', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

export async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * Starts herald with the base config (apps 1001 and 1002) plus overrides.
 *
 * options.config — top-level keys (e.g. { activity_timeout: 1 })
 * options.app1 / options.app2 — extra keys merged into app 1001 / 1002
 * options.extraApps — more app tables
 */
export async function startHerald(options = {}) {
  if (!existsSync(HERALD_BIN)) {
    throw new Error(
      `herald binary not found at ${HERALD_BIN}. Run \`cargo build\` in the repository root ` +
        'first, or set HERALD_BIN to the binary path.',
    );
  }
  const port = await freePort();
  const config = {
    host: '127.0.0.1',
    port,
    log: 'warn',
    shutdown_grace_period: 3,
    ...(options.config || {}),
    apps: [{ ...APP1, ...(options.app1 || {}) }, { ...APP2, ...(options.app2 || {}) }, ...(options.extraApps || [])],
  };
  const dir = mkdtempSync(join(tmpdir(), 'herald-node-'));
  const configPath = join(dir, 'herald.toml');
  const { apps, ...top } = config;
  writeFileSync(configPath, toToml(top, apps));

  // Keep the environment from overriding the file (HERALD_* variables win over it).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  const proc = spawn(HERALD_BIN, ['--config', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Waiters of nextOutput(), checked whenever the process writes.
  const outputWaiters = new Set();
  const onOutput = (d) => {
    output += d;
    for (const check of outputWaiters) check();
  };
  proc.stdout.on('data', onOutput);
  proc.stderr.on('data', onOutput);
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  let hasExited = false;
  exited.then(() => (hasExited = true));

  const baseUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (hasExited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`herald exited during start-up:\n${output}`);
    }
    try {
      if (options.tls ? await httpsUp(port) : (await fetch(`${baseUrl}/up`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`herald did not answer GET /up within 15 s:\n${output}`);
    }
    await delay(50);
  }

  const clients = new Set();
  const raws = new Set();
  const herald = {
    port,
    config,
    configPath,
    proc,
    exited,
    baseUrl,
    get output() {
      return output;
    },
    get hasExited() {
      return hasExited;
    },
    /**
     * Resolves with the first whole line written from now on (stdout or stderr) that matches
     * `pattern`; rejects after `timeoutMs`, quoting what was written meanwhile.
     */
    nextOutput(pattern, timeoutMs = 5000) {
      const from = output.length;
      return new Promise((resolve, reject) => {
        const check = () => {
          const lines = output.slice(from).split('\n').slice(0, -1);
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) {
            finish();
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no output line matching ${pattern} within ${timeoutMs} ms; written meanwhile:\n${output.slice(from)}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          outputWaiters.delete(check);
        };
        outputWaiters.add(check);
      });
    },
    wsUrl(key = APP1.key, query = 'protocol=7&client=js&version=8.6.0&flash=false') {
      return `ws://127.0.0.1:${port}/app/${key}${query === null ? '' : `?${query}`}`;
    },
    /** A pusher-js client (not yet awaited); see createClient. */
    client(opts = {}) {
      const c = createClient(herald, opts);
      clients.add(c);
      return c;
    },
    /** A pusher-js client that has reached `connected`. */
    async connectedClient(opts = {}) {
      const c = herald.client(opts);
      if (c.connection.state !== 'connected') await waitFor(c.connection, 'connected', 5000);
      return c;
    },
    /** A raw `ws` client wrapped in RawClient. */
    raw(opts = {}) {
      const r = new RawClient(herald.wsUrl(opts.key ?? APP1.key, opts.query === undefined ? undefined : opts.query), opts);
      raws.add(r);
      return r;
    },
    /** A `pusher` server-library client for app 1001 (or `app`). */
    server(app = APP1, extra = {}) {
      return serverClient(herald, app, extra);
    },
    /** Disconnects every client created so far (call in afterEach). */
    async disconnectAll() {
      for (const c of clients) {
        try {
          c.disconnect();
        } catch {}
      }
      clients.clear();
      for (const r of raws) r.terminate();
      raws.clear();
    },
    /** Sends `signal` and waits for the process to end (SIGKILL after `timeoutMs`). */
    async stop(signal = 'SIGTERM', timeoutMs = 8000) {
      await herald.disconnectAll();
      if (!hasExited) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return herald;
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/**
 * A pusher-js (Node build) client against `herald`. Channel authorization is done in-process
 * with the `pusher` library's `authorizeChannel`, so no HTTP auth endpoint is needed.
 *
 * opts.app — credentials to connect/sign with (default APP1)
 * opts.user — { user_id, user_info } used as presence channel_data
 * opts.authSecret — sign with this secret instead of the app's (for bad-auth tests)
 * opts.authorize(params) — fully custom: returns the auth object or throws
 * opts.pusherOptions — merged into the pusher-js options
 */
export function createClient(herald, opts = {}) {
  const app = opts.app || APP1;
  const signer = new PusherServer({
    appId: app.id,
    key: app.key,
    secret: opts.authSecret || app.secret,
    host: '127.0.0.1',
    port: herald.port,
    useTLS: false,
    encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_BASE64,
  });
  const customHandler = ({ socketId, channelName }, callback) => {
    try {
      let auth;
      if (opts.authorize) auth = opts.authorize({ socketId, channelName, signer });
      else if (channelName.startsWith('presence-')) auth = signer.authorizeChannel(socketId, channelName, opts.user || { user_id: `u-${socketId}` });
      else auth = signer.authorizeChannel(socketId, channelName);
      callback(null, auth);
    } catch (e) {
      callback(e, null);
    }
  };
  return new Pusher(app.key, {
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: herald.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: { customHandler },
    ...(opts.pusherOptions || {}),
  });
}

/** Subscribes and waits for `pusher:subscription_succeeded`; rejects on subscription_error. */
export function subscribed(client, channelName, timeoutMs = 5000) {
  const channel = client.subscribe(channelName);
  return new Promise((res, rej) => {
    const done = () => {
      clearTimeout(timer);
      channel.unbind('pusher:subscription_succeeded', onOk);
      channel.unbind('pusher:subscription_error', onErr);
    };
    const onOk = () => {
      done();
      res(channel);
    };
    const onErr = (e) => {
      done();
      rej(new Error(`subscription to ${channelName} failed: ${JSON.stringify(e)}`));
    };
    const timer = setTimeout(() => {
      done();
      rej(new Error(`timed out after ${timeoutMs} ms waiting for subscription to ${channelName}`));
    }, timeoutMs);
    channel.bind('pusher:subscription_succeeded', onOk);
    channel.bind('pusher:subscription_error', onErr);
  });
}

/** A `pusher` (server library) client for `app` on `herald`. */
export function serverClient(herald, app = APP1, extra = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: '127.0.0.1',
    port: herald.port,
    useTLS: false,
    encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_BASE64,
    ...extra,
  });
}

/** Runs a `pusher` library request and returns { status, body } whether it succeeded or not. */
export async function apiResult(promise) {
  try {
    const res = await promise;
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
  } catch (e) {
    if (e && typeof e.status === 'number') {
      let body;
      try {
        body = JSON.parse(e.body);
      } catch {}
      return { status: e.status, text: e.body, body };
    }
    throw e;
  }
}

/**
 * Signs a request by hand per the HTTP API spec (§5.2): string to sign is
 * METHOD\nPATH\nsorted lower-cased query (without auth_signature), values unescaped.
 */
export function signedUrl(herald, { method, path, params = {}, body, app = APP1, timestamp }) {
  const q = {
    auth_key: app.key,
    auth_timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...params,
  };
  if (body !== undefined) q.body_md5 = createHash('md5').update(body).digest('hex');
  const sorted = Object.keys(q)
    .map((k) => [k.toLowerCase(), q[k]])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const toSign = [method.toUpperCase(), path, sorted.map(([k, v]) => `${k}=${v}`).join('&')].join('\n');
  const signature = createHmac('sha256', app.secret).update(toSign).digest('hex');
  const query = sorted.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `${herald.baseUrl}${path}?${query}&auth_signature=${signature}`;
}

/** Waits until `fn()` returns a truthy value (polling every 50 ms) or rejects at the deadline. */
export function eventually(fn, timeoutMs = 3000, what = 'condition') {
  return pollUntil(fn, { timeout: timeoutMs, interval: 50, what });
}

/**
 * Makes `raw` (already subscribed to `channel`) a consumer that stops reading, then floods
 * `channel` through the HTTP API until the server's task for that socket is provably stuck:
 * it no longer handles the socket's own frames (a probe subscription sent by the socket does
 * not show up in GET /channels/PROBE within a bounded 300 ms window). Returns true when stuck.
 */
export async function stallConsumer(api, raw, channel, { rounds = 20, batchesPerRound = 40 } = {}) {
  raw.ws._socket.pause();
  const data = 'x'.repeat(10000);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < batchesPerRound; i++) {
      await api.triggerBatch(Array.from({ length: 10 }, () => ({ channel, name: 'flood', data })));
    }
    const probe = `stall-probe-${round}-${Math.random().toString(36).slice(2, 8)}`;
    raw.send({ event: 'pusher:subscribe', data: { channel: probe } });
    await delay(300);
    const info = await (await api.get({ path: `/channels/${probe}` })).json();
    if (!info.occupied) return true;
  }
  return false;
}

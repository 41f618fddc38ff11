// Support for the feature interoperability tests in this directory (sign-in, server-to-user,
// watchlist, terminate, authorized connections, cache channels, subscription counts, webhooks,
// Laravel Echo).
//
// This module registers no tests and has no side effects on import: `node --test test/` also
// loads it as if it were a test file.
//
// Each test file starts its own herald process(es) with `startHerald()` and stops them in
// `after()` with `env.stop()`. Every pusher-js client made through `env.connect()` is
// disconnected by `stop()` before the server goes away (herald's shutdown closes sockets with
// 4200, which would make pusher-js reconnect).

import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';

import { toToml } from '../helpers/toml.js';
import { bindOn, delay, pollUntil, waitFor } from '../helpers/wait.js';
import { RawSocket, rawSignIn } from './raw-socket.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

export { Pusher, PusherServer, WebSocket };

const here = dirname(fileURLToPath(import.meta.url));
// test/features -> protocol-tests/node; the binary is ../../target/debug/herald from there.
const PACKAGE_DIR = resolve(here, '..', '..');
export const HERALD_BIN = process.env.HERALD_BIN
  ? resolve(process.env.HERALD_BIN)
  : resolve(PACKAGE_DIR, '../../target/debug/herald');

/** 32 bytes (base64) for private-encrypted channels; only the app side knows it. */
export const MASTER_KEY = Buffer.alloc(32, 11).toString('base64');

const HOST = '127.0.0.1';
const STARTUP_DEADLINE_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

let uniqueCounter = 0;
/** A name that no other test in this process uses. */
export function unique(prefix) {
  uniqueCounter += 1;
  return `${prefix}${uniqueCounter}-${randomBytes(3).toString('hex')}`;
}


export { bindOn, delay, pollUntil, waitFor };

/** Records every emission of `event` on `emitter` into the returned array (first arguments). */
export function record(emitter, event) {
  const seen = [];
  bindOn(emitter, event, (arg) => seen.push(arg));
  return seen;
}

/** Resolves with the next raw protocol message (pusher-js `message` event) matching `pred`. */
export function waitForMessage(client, pred, { timeout = 4000, what = 'a protocol message' } = {}) {
  return waitFor(client.connection, 'message', { timeout, filter: pred, what });
}


/** Lower-case hex HMAC-SHA256. */
export function hmacHex(secret, message) {
  return createHmac('sha256', secret).update(message).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// herald process
// ---------------------------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (the kernel picks it; closed again before returning). */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolvePromise(port));
    });
  });
}

async function waitUntilUp(port, child, output) {
  const deadline = Date.now() + STARTUP_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`herald exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${output()}`);
    }
    try {
      const res = await fetch(`http://${HOST}:${port}/up`, { signal: AbortSignal.timeout(500) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await delay(50);
  }
  throw new Error(`herald did not answer GET /up within ${STARTUP_DEADLINE_MS} ms:\n${output()}`);
}

function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolvePromise();
    });
    child.kill('SIGTERM');
  });
}

/**
 * The environment for herald without any HERALD_* variable: herald maps every HERALD_* variable
 * onto a config key and refuses unknown ones (HERALD_BIN, used by this suite, would stop it),
 * and the test config must not be overridden from outside.
 */
function childEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
}

/**
 * Starts herald with one app.
 *
 * options.app      — extra per-app keys (authorized_connections, cache_ttl, …)
 * options.config   — extra top-level keys (webhook_leave_delay_ms, …)
 * options.webhooks — `[[apps.webhooks]]` tables: { url, event_types?, channel_prefix?, headers? }
 *
 * Returns an environment: { port, app: {id,key,secret}, api (the `pusher` library),
 * connect(), raw(), stop(), output() }.
 */
export async function startHerald({ app = {}, config = {}, webhooks = [] } = {}) {
  if (!existsSync(HERALD_BIN)) {
    throw new Error(`herald binary not found at ${HERALD_BIN}: run \`cargo build\` in the repository root first (or set HERALD_BIN)`);
  }
  const creds = {
    id: String(100000 + Math.floor(Math.random() * 800000)),
    key: `features-key-${randomBytes(4).toString('hex')}`,
    secret: `features-secret-${randomBytes(8).toString('hex')}`,
  };
  const dir = mkdtempSync(join(tmpdir(), 'herald-features-'));
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const top = {
      host: HOST,
      port,
      log: 'warn',
      shutdown_grace_period: 1,
      ...config,
    };
    const appTable = { ...creds, client_events: true, ...app };
    const file = join(dir, `herald-${attempt}.toml`);
    writeFileSync(file, toToml(top, [{ ...appTable, webhooks }]));
    const child = spawn(HERALD_BIN, ['--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(),
    });
    let out = '';
    const keep = (chunk) => {
      out += chunk.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const output = () => out;
    try {
      await waitUntilUp(port, child, output);
    } catch (e) {
      lastError = e;
      await stopProcess(child);
      if (/cannot listen/.test(out)) continue; // the port was taken meanwhile: try another
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return makeEnv({ child, port, creds, dir, output });
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function makeEnv({ child, port, creds, dir, output }) {
  const clients = new Set();
  const raws = new Set();
  const fayeSockets = new Set();
  const api = new PusherServer({
    appId: creds.id,
    key: creds.key,
    secret: creds.secret,
    host: HOST,
    port: String(port),
    useTLS: false,
    timeout: 5000,
    encryptionMasterKeyBase64: MASTER_KEY,
  });

  const env = {
    port,
    host: HOST,
    app: creds,
    api,
    output,

    /** pusher-js options pointing at this herald. */
    clientOptions(extra = {}) {
      return {
        cluster: 'local',
        wsHost: HOST,
        wsPort: port,
        forceTLS: false,
        enabledTransports: ['ws'],
        disableStats: true,
        ...extra,
      };
    },

    /** A pusher-js client (not yet necessarily connected); cleaned up by stop(). */
    client({ user, presence, channelAuth, userAuth, ...extra } = {}) {
      const options = env.clientOptions(extra);
      options.userAuthentication = { customHandler: userAuth ?? (user ? userAuthHandler(api, user) : refuseHandler('no user')) };
      options.channelAuthorization = { customHandler: channelAuth ?? channelAuthHandler(api, presence) };
      const client = new Pusher(creds.key, options);
      clients.add(client);
      // pusher-js (Node) closes its faye-websocket a second time after a 40xx close, which
      // leaves faye's 30 s close timer running and keeps the test process alive; remember the
      // sockets so stop() can clear those timers.
      client.connection.bind('connected', () => {
        const socket = client.connection.connection?.transport?.socket;
        if (socket) fayeSockets.add(socket);
      });
      return client;
    },

    /**
     * A connected pusher-js client.
     * options.user     — user_data for signin() (signs in when given, awaits signin_success)
     * options.presence — presence channel_data for channel authorization
     */
    async connect(options = {}) {
      const client = env.client(options);
      await waitConnected(client);
      if (options.user) await signIn(client);
      return client;
    },

    /** A raw `ws` socket speaking the protocol directly (see RawSocket). */
    async raw(query = 'protocol=7&client=js&version=8.6.0&flash=false') {
      const socket = await RawSocket.open(`ws://${HOST}:${port}/app/${creds.key}?${query}`);
      raws.add(socket);
      return socket;
    },

    forget(client) {
      clients.delete(client);
    },

    /** Confirms (through the `pusher` library's GET) that herald's HTTP API still answers. */
    async channelInfo(channel, info) {
      const res = await api.get({ path: `/channels/${encodeURIComponent(channel)}`, params: info ? { info } : {} });
      return res.json();
    },

    async stop() {
      for (const c of clients) {
        try {
          c.disconnect();
        } catch {
          // already gone
        }
      }
      clients.clear();
      for (const socket of fayeSockets) {
        if (socket.readyState === 3 && socket._closeTimer) clearTimeout(socket._closeTimer);
      }
      for (const r of raws) r.close();
      raws.clear();
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

// ---------------------------------------------------------------------------------------------
// pusher-js helpers
// ---------------------------------------------------------------------------------------------

/** userAuthentication.customHandler that signs `userData` with the server library. */
export function userAuthHandler(api, userData) {
  return ({ socketId }, callback) => {
    try {
      callback(null, api.authenticateUser(socketId, userData));
    } catch (e) {
      callback(e, null);
    }
  };
}

/** channelAuthorization.customHandler using the server library's authorizeChannel(). */
export function channelAuthHandler(api, presenceData) {
  return ({ socketId, channelName }, callback) => {
    try {
      // Without presence data a presence channel is signed without channel_data: herald then
      // uses the signed-in user (spec §3.6).
      const data = channelName.startsWith('presence-') ? presenceData : undefined;
      callback(null, api.authorizeChannel(socketId, channelName, data));
    } catch (e) {
      callback(e, null);
    }
  };
}

export function refuseHandler(why) {
  return (_params, callback) => callback(new Error(`auth refused by the test: ${why}`), null);
}

export function waitConnected(client, timeout = 5000) {
  if (client.connection.state === 'connected') return Promise.resolve();
  return waitFor(client.connection, 'state_change', {
    timeout,
    filter: ({ current }) => {
      if (current === 'failed') throw new Error('connection failed');
      return current === 'connected';
    },
    what: 'pusher-js to reach state "connected"',
  });
}

/** Calls pusher.signin() and resolves with the signin_success data once the user facade has it. */
export async function signIn(client, timeout = 4000) {
  const success = waitForMessage(client, (m) => m.event === 'pusher:signin_success', { timeout, what: 'pusher:signin_success' });
  const failure = waitFor(client.connection, 'error', { timeout: timeout + 500, filter: (e) => e?.type === 'PusherError' });
  client.signin();
  let outcome;
  try {
    outcome = await Promise.race([success.then((m) => ({ ok: m })), failure.then((e) => ({ err: e }))]);
  } finally {
    success.cancel();
    failure.cancel();
  }
  if (outcome.err) throw new Error(`sign-in refused by herald: ${JSON.stringify(outcome.err.data)}`);
  const s2u = client.user.serverToUserChannel;
  if (s2u && !s2u.subscribed) {
    await waitFor(s2u, 'pusher:subscription_succeeded', { timeout, what: `subscription to ${s2u.name}` });
  }
  return outcome.ok.data;
}

/** Subscribes and resolves with the channel once pusher:subscription_succeeded arrives. */
export async function subscribe(client, name, timeout = 4000) {
  const channel = client.subscribe(name);
  if (channel.subscribed) return channel;
  const ok = waitFor(channel, 'pusher:subscription_succeeded', { timeout, what: `subscription to ${name}` });
  const err = waitFor(channel, 'pusher:subscription_error', { timeout: timeout + 500 });
  let outcome;
  try {
    outcome = await Promise.race([ok.then(() => null), err.then((e) => e ?? { error: 'subscription_error' })]);
  } finally {
    ok.cancel();
    err.cancel();
  }
  if (outcome) throw new Error(`subscription to ${name} failed: ${JSON.stringify(outcome)}`);
  return channel;
}

/**
 * A message barrier: everything herald queued for these clients before this call has been
 * delivered once it resolves. Each client subscribes to its own sync channel and awaits a
 * marker event triggered through the HTTP API (frames of one socket are delivered in order).
 */
export async function barrier(env, ...clients) {
  await Promise.all(
    clients.map(async (client) => {
      const name = `sync-${client.connection.socket_id.replace('.', '-')}`;
      const channel = await subscribe(client, name);
      const marker = unique('m');
      const got = waitFor(channel, 'barrier', { filter: (d) => d?.marker === marker, what: `barrier on ${name}` });
      await env.api.trigger(name, 'barrier', { marker });
      await got;
    }),
  );
}

export { RawSocket, rawSignIn, startWebhookReceiver };

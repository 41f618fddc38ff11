// Support for the multi-process cluster tests (issue 4): N herald nodes with
// `adapter = "redis"`, and pusher-js / `pusher` server-library clients pointed at chosen nodes.
// The other pieces have their own modules, re-exported here so tests import from one place:
// util.js (bounded waits, ports, child processes), redis.js (a private redis-server and a RESP
// client), webhooks.js (a webhook receiver), proxy.js (a TCP round-robin load balancer).
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).
//
// Tests never touch the machine's Redis (6379): every file starts its own redis-server on a
// spare port with persistence off, so a restart comes back empty.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Pusher from 'pusher-js';
import PusherServer from 'pusher';

export { Pusher, PusherServer };

// The pieces live in their own modules; tests import everything from here.
export * from './util.js';
export * from './redis.js';
export * from './webhooks.js';
export * from './proxy.js';
import { HOST, LOG_LIMIT, delay, exitedPromise, freePort, isRunning, stopChild, unique, waitFor } from './util.js';
import { startRedis } from './redis.js';
import { toToml } from '../helpers/toml.js';

const here = dirname(fileURLToPath(import.meta.url));
// test/cluster -> protocol-tests/node; the binary is ../../target/debug/herald from there.
const PACKAGE_DIR = resolve(here, '..', '..');
export const HERALD_BIN = process.env.HERALD_BIN
  ? resolve(process.env.HERALD_BIN)
  : resolve(PACKAGE_DIR, '../../target/debug/herald');
const NODE_READY_DEADLINE_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// herald nodes
// ---------------------------------------------------------------------------------------------

/** herald maps every HERALD_* variable onto a config key: keep them all out of the child. */
function childEnv() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  return { ...env, NO_COLOR: '1' };
}

async function fetchJson(url, timeout = 2000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** Starts one herald process and waits for `/ready` to report the Redis adapter connected. */
async function startNode({ name, top, apps, dir }) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const config = { ...top, port };
    const file = join(dir, `${name}-${attempt}.toml`);
    writeFileSync(file, toToml(config, apps));
    const child = spawn(HERALD_BIN, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let out = '';
    const keep = (c) => {
      out += c.toString();
      if (out.length > LOG_LIMIT) out = out.slice(-LOG_LIMIT / 2);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = exitedPromise(child);
    const node = {
      name,
      port,
      config,
      configFile: file,
      child,
      exited,
      url: `http://${HOST}:${port}`,
      output: () => out,
      get alive() {
        return isRunning(child);
      },
      /** GET /ready as { status, body }. */
      ready: () => fetchJson(`http://${HOST}:${port}/ready`),
      nodeId: undefined,
      /** SIGKILL: no goodbye to the cluster at all. */
      async kill() {
        return stopChild(child, 'SIGKILL', 1000);
      },
      /** SIGTERM: graceful shutdown (4200 to clients); resolves with the exit status. */
      async terminate(killAfterMs = 10_000) {
        return stopChild(child, 'SIGTERM', killAfterMs);
      },
    };
    try {
      const deadline = Date.now() + NODE_READY_DEADLINE_MS;
      let last;
      for (;;) {
        if (!isRunning(child)) throw new Error(`herald ${name} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${out}`);
        try {
          last = await fetchJson(`${node.url}/ready`, 500);
          if (last.body?.adapter?.kind === 'redis' && last.body.adapter.connected === true && last.body.ready === true) {
            node.nodeId = last.body.adapter.node;
            return node;
          }
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          throw new Error(`herald ${name} did not report its Redis adapter connected on GET /ready within ${NODE_READY_DEADLINE_MS} ms (last: ${JSON.stringify(last)}):\n${out}`);
        }
        await delay(50);
      }
    } catch (e) {
      lastError = e;
      await stopChild(child, 'SIGKILL', 1000);
      if (/cannot listen|address already in use|Address in use/i.test(out)) continue;
      throw e;
    }
  }
  throw lastError;
}

/**
 * Starts a cluster of `nodes` herald processes sharing one Redis.
 *
 * options.nodes    — how many nodes (default 2)
 * options.apps     — app tables (defineApp()), each may carry `webhooks: [{ url, … }]`
 * options.config   — top-level keys for every node (override the cluster defaults below)
 * options.perNode  — array of extra top-level keys per node index
 * options.redis    — an existing startRedis() (not stopped by cluster.stop()); else its own
 * options.prefix   — the cluster prefix (random by default)
 */
export async function startCluster({ nodes: count = 2, apps = [defineApp()], config = {}, perNode = [], redis, prefix } = {}) {
  if (!existsSync(HERALD_BIN)) {
    throw new Error(`herald binary not found at ${HERALD_BIN}: run \`cargo build\` in the repository root first (or set HERALD_BIN)`);
  }
  const ownRedis = !redis;
  redis = redis ?? (await startRedis());
  prefix = prefix ?? `herald-test-${randomBytes(5).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const top = {
    host: HOST,
    log: 'info',
    adapter: 'redis',
    redis_url: redis.url,
    prefix,
    node_timeout: 3,
    redis_timeout_ms: 500,
    shutdown_grace_period: 2,
    webhook_leave_delay_ms: 300,
    webhook_batch_ms: 20,
    webhook_timeout: 2,
    webhook_retry_horizon: 10,
    ...config,
  };
  const cluster = {
    redis,
    prefix,
    apps,
    app: apps[0],
    nodes: [],
    dir,
    clients: new Set(),
    fayeSockets: new Set(),
  };
  try {
    cluster.nodes = await Promise.all(
      Array.from({ length: count }, (_, i) => startNode({ name: `node${i}`, top: { ...top, ...(perNode[i] || {}) }, apps, dir })),
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    if (ownRedis) await redis.stop();
    throw e;
  }

  /** The `pusher` server library pointed at `node` (a node object or an index). */
  cluster.api = (node, app = cluster.app) => {
    const n = typeof node === 'number' ? cluster.nodes[node] : node;
    return new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: HOST, port: String(n.port), useTLS: false, timeout: 5000 });
  };

  /** GET through the library's signed request; resolves with the parsed JSON body. */
  cluster.get = async (node, path, params = {}, app = cluster.app) => {
    const res = await cluster.api(node, app).get({ path, params });
    return res.json();
  };

  /**
   * A pusher-js client on `node` (index, node object, or { port } such as a proxy).
   * opts.app       — app credentials (default: the first app)
   * opts.user      — user_data for signin() ({ id, user_info, watchlist })
   * opts.presence  — presence channel_data ({ user_id, user_info }); without it the signed-in
   *                  user is the member
   * opts.pusher    — extra pusher-js options
   */
  cluster.client = (node, opts = {}) => {
    const target = typeof node === 'number' ? cluster.nodes[node] : node;
    const app = opts.app ?? cluster.app;
    const signer = new PusherServer({ appId: app.id, key: app.key, secret: app.secret });
    const channelAuth = ({ socketId, channelName }, callback) => {
      try {
        const data = channelName.startsWith('presence-') ? opts.presence : undefined;
        callback(null, signer.authorizeChannel(socketId, channelName, data));
      } catch (e) {
        callback(e, null);
      }
    };
    const userAuth = ({ socketId }, callback) => {
      if (!opts.user) return callback(new Error('this test client has no user'), null);
      try {
        callback(null, signer.authenticateUser(socketId, opts.user));
      } catch (e) {
        callback(e, null);
      }
    };
    const client = new Pusher(app.key, {
      cluster: 'local',
      wsHost: HOST,
      wsPort: target.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { customHandler: channelAuth },
      userAuthentication: { customHandler: userAuth },
      ...(opts.pusher || {}),
    });
    client.inbox = new Inbox(client);
    // Connection history (state changes and errors), shown when a test fails.
    client.history = [];
    const started = Date.now();
    client.connection.bind('state_change', ({ previous, current }) => {
      client.history.push(`+${Date.now() - started}ms ${previous}->${current}`);
      // pusher-js still acts on a 4200 close it was handling when disconnect() came: it
      // reconnects, and retries for ever once its node is gone, keeping the test process
      // alive. A client the test stopped stays stopped.
      if (client.stopped && current === 'connecting') client.disconnect();
    });
    client.connection.bind('error', (e) => client.history.push(`+${Date.now() - started}ms error ${errorCode(e) ?? e?.type ?? ''}`));
    client.label = opts.label ?? `${opts.user?.id ?? opts.presence?.user_id ?? 'anon'}@${target.name ?? target.port}`;
    cluster.clients.add(client);
    // pusher-js (Node) closes its faye socket again after the server closed it, which starts
    // faye's 30 s close timer and would keep the test process alive: remember the sockets so
    // cleanup can clear those timers.
    client.connection.bind('connected', () => {
      const socket = client.connection.connection?.transport?.socket;
      if (socket) cluster.fayeSockets.add(socket);
    });
    return client;
  };

  /** A connected client (signed in when opts.user is given). */
  cluster.connect = async (node, opts = {}) => {
    const client = cluster.client(node, opts);
    await waitConnected(client);
    if (opts.user) await signIn(client);
    return client;
  };

  /** Disconnects a client and stops tracking it. */
  cluster.disconnect = (client) => {
    stopClient(client);
    cluster.clients.delete(client);
  };

  cluster.liveNodes = () => cluster.nodes.filter((n) => n.alive);

  /** The last lines of every node's log and the live clients' histories, for failure messages. */
  cluster.logs = (lines = 40) => {
    const nodes = cluster.nodes
      .map((n) => `--- ${n.name} (port ${n.port}, node id ${n.nodeId}${n.alive ? '' : ', stopped'}) ---\n${n.output().split('\n').slice(-lines).join('\n')}`)
      .join('\n');
    const clients = [...cluster.clients]
      .filter((c) => c.history.length > 2 || c.connection.state !== 'connected')
      .map((c) => `${c.label} (${c.connection.state}, socket ${c.connection.socket_id}): ${c.history.join(', ')}`);
    const extra = cluster.diagnostics?.() ?? '';
    return `${nodes}${clients.length ? `\n--- clients ---\n${clients.join('\n')}` : ''}${extra ? `\n--- test diagnostics ---\n${extra}` : ''}`;
  };

  /** Every Redis key under this cluster's prefix. */
  cluster.ownKeys = async () => (await redis.keys()).filter((k) => k.startsWith(`${prefix}:`));

  cluster.stop = async () => {
    for (const c of cluster.clients) stopClient(c);
    cluster.clients.clear();
    await Promise.all(cluster.nodes.map((n) => stopChild(n.child, 'SIGTERM', 4000)));
    for (const s of cluster.fayeSockets) {
      if (s._closeTimer) clearTimeout(s._closeTimer);
      if (s._pingTimer) clearInterval(s._pingTimer);
    }
    rmSync(dir, { recursive: true, force: true });
    if (ownRedis) await redis.stop();
  };

  return cluster;
}

// ---------------------------------------------------------------------------------------------
// pusher-js helpers
// ---------------------------------------------------------------------------------------------

/**
 * Records every protocol message a pusher-js client receives (its connection's `message`
 * events: { event, channel, data (decoded), user_id }), with the time of arrival.
 */
export class Inbox {
  constructor(client) {
    this.all = [];
    this.waiters = new Set();
    client.connection.bind('message', (m) => {
      const entry = { ...m, at: Date.now() };
      this.all.push(entry);
      for (const w of [...this.waiters]) w(entry);
    });
  }

  /** A position to count or wait from. */
  mark() {
    return this.all.length;
  }

  /** Messages accepted by `pred`, from position `from`. */
  filter(pred, from = 0) {
    return this.all.slice(from).filter(pred);
  }

  count(pred, from = 0) {
    return this.filter(pred, from).length;
  }

  /** The first message (already received after `from`, or future) accepted by `pred`. */
  next(pred, { timeout = 5000, from = 0, what = 'a protocol message' } = {}) {
    const found = this.all.slice(from).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolvePromise, reject) => {
      const waiter = (m) => {
        if (!pred(m)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolvePromise(m);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.all.slice(from).map((m) => `${m.event}${m.channel ? ` ${m.channel}` : ''} ${JSON.stringify(m.data)}`.slice(0, 160));
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; received since: ${JSON.stringify(seen.slice(-20))}`));
      }, timeout);
      this.waiters.add(waiter);
    });
  }
}

/** Predicate for an event on a channel. */
export const on = (event, channel, extra = () => true) => (m) => m.event === event && (channel === undefined || m.channel === channel) && extra(m);

export function waitConnected(client, timeout = 5000) {
  if (client.connection.state === 'connected') return Promise.resolve();
  return waitFor(client.connection, 'state_change', {
    timeout,
    filter: ({ current }) => current === 'connected',
    what: `${client.label ?? 'pusher-js'} to reach state "connected" (state now ${client.connection.state})`,
  });
}

/** signin(); resolves once signin_success arrived and the #server-to-user channel is confirmed. */
export async function signIn(client, timeout = 5000) {
  const from = client.inbox.mark();
  client.signin();
  const answer = await client.inbox.next((m) => m.event === 'pusher:signin_success' || (m.event === 'pusher:error' && m.data?.code !== 4302), {
    timeout,
    from,
    what: `the answer to pusher:signin of ${client.label}`,
  });
  if (answer.event !== 'pusher:signin_success') throw new Error(`sign-in of ${client.label} refused: ${JSON.stringify(answer.data)}`);
  const s2u = client.user.serverToUserChannel;
  if (s2u && !s2u.subscribed) await waitFor(s2u, 'pusher:subscription_succeeded', { timeout, what: `subscription to ${s2u.name}` });
  return answer;
}

/** Subscribes; resolves with the channel on success, rejects with the error data otherwise. */
export async function subscribe(client, name, timeout = 5000) {
  const channel = client.subscribe(name);
  if (channel.subscribed) return channel;
  const ok = waitFor(channel, 'pusher:subscription_succeeded', { timeout, what: `subscription of ${client.label} to ${name}` });
  const err = waitFor(channel, 'pusher:subscription_error', { timeout: timeout + 1000 });
  ok.catch(() => {});
  err.catch(() => {});
  try {
    const outcome = await Promise.race([ok.then(() => ({ ok: true })), err.then((e) => ({ error: e ?? {} }))]);
    if (outcome.error) {
      const e = new Error(`subscription of ${client.label} to ${name} failed: ${JSON.stringify(outcome.error)}`);
      e.data = outcome.error;
      throw e;
    }
    return channel;
  } finally {
    ok.cancel();
    err.cancel();
  }
}

/** Resolves with the `pusher:subscription_error` data of a subscription expected to fail. */
export async function subscriptionRefused(client, name, timeout = 5000) {
  const channel = client.subscribe(name);
  const ok = waitFor(channel, 'pusher:subscription_succeeded', { timeout: timeout + 1000 });
  const err = waitFor(channel, 'pusher:subscription_error', { timeout, what: `pusher:subscription_error for ${client.label} on ${name}` });
  ok.catch(() => {});
  try {
    const outcome = await Promise.race([ok.then(() => ({ ok: true })), err.then((e) => ({ error: e }))]);
    if (outcome.ok) throw new Error(`subscription of ${client.label} to ${name} succeeded but should have been refused`);
    return outcome.error;
  } finally {
    ok.cancel();
    err.cancel();
  }
}

/**
 * A delivery barrier over the whole cluster: for every live node, a marker event is triggered
 * THROUGH THAT NODE to each client's private sync channel, and every client must receive every
 * marker. Frames published by one node reach a socket in publish order, so everything any
 * node published to these clients before the barrier has arrived once it resolves.
 */
export async function barrier(cluster, clients, { timeout = 5000 } = {}) {
  await Promise.all(
    clients.map(async (client) => {
      if (!client.syncChannel) {
        const name = `sync-${client.connection.socket_id.replace('.', '_')}`;
        await subscribe(client, name);
        client.syncChannel = name;
      }
    }),
  );
  const names = clients.map((c) => c.syncChannel);
  await Promise.all(
    cluster.liveNodes().map(async (node) => {
      const marker = unique('barrier-');
      const froms = clients.map((c) => c.inbox.mark());
      const arrivals = clients.map((c, i) =>
        c.inbox.next(on('barrier', c.syncChannel, (m) => m.data?.marker === marker), {
          timeout,
          from: froms[i],
          what: `barrier marker from ${node.name} at ${c.label}`,
        }),
      );
      arrivals.forEach((p) => p.catch(() => {}));
      for (let i = 0; i < names.length; i += 100) await cluster.api(node).trigger(names.slice(i, i + 100), 'barrier', { marker });
      await Promise.all(arrivals);
    }),
  );
}

/** Member ids as pusher-js's presence channel currently sees them (sorted). */
export function rosterOf(channel) {
  const ids = [];
  channel.members.each((m) => ids.push(String(m.id)));
  return ids.sort();
}

/** The code of a pusher-js connection `error` event: a PusherError after the handshake, or a
 * WebSocketError wrapping one while connecting. */
export const errorCode = (e) => e?.data?.code ?? e?.error?.data?.code;

/** Resolves with the next pusher-js connection error carrying `code` (a close or pusher:error). */
export function closedWith(client, code, timeout = 5000) {
  return waitFor(client.connection, 'error', {
    timeout,
    filter: (e) => errorCode(e) === code,
    what: `${client.label} to be closed with ${code}`,
  });
}

/** Disconnects a pusher-js client for good (see the state_change guard in cluster.client). */
function stopClient(client) {
  client.stopped = true;
  try {
    client.disconnect();
  } catch {
    // already gone
  }
}

/**
 * How a new pusher-js connection attempt ends: 'connected', or 'error <code>' for the first
 * connection error with a code (e.g. 'error 4004'). Rejects after `timeout`.
 */
export async function connectOutcome(client, timeout = 5000) {
  if (client.connection.state === 'connected') return 'connected';
  const ok = waitFor(client.connection, 'state_change', { timeout, filter: ({ current }) => current === 'connected', what: `${client.label} to connect or be refused` });
  const bad = waitFor(client.connection, 'error', { timeout: timeout + 1000, filter: (e) => errorCode(e) !== undefined });
  bad.catch(() => {});
  try {
    return await Promise.race([ok.then(() => 'connected'), bad.then((e) => `error ${errorCode(e)}`)]);
  } finally {
    ok.cancel();
    bad.cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// Failure context
// ---------------------------------------------------------------------------------------------

/**
 * Wraps a test body so that a failure message ends with the tail of every node's log.
 * `getCluster` is called at failure time (clusters are usually made in before()).
 */
export function withLogs(getCluster, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const clusters = [getCluster()].flat().filter(Boolean);
      const logs = clusters.map((c) => c.logs()).join('\n');
      if (e && typeof e === 'object' && logs) {
        try {
          e.message = `${e.message}\n\n===== herald logs (tail) =====\n${logs}`;
        } catch {
          // read-only message
        }
      }
      throw e;
    }
  };
}

// Starts herald and nexora (the debug binaries) on free ports with a fresh database, and gives
// tests pusher-js clients that authorize through nexora with a session cookie, as a browser does.
//
// Database: SQLite in a temp file, or with NEXORA_TEST_DB=postgres a throwaway database
// `nexora_test_<random>` created with psql on the server at NEXORA_TEST_PG_URL (default
// postgres://postgres@127.0.0.1:5432/test) and dropped in stop().

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Pusher from 'pusher-js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const HERALD_BIN = process.env.HERALD_BIN || path.join(ROOT, 'target/debug/herald');
export const NEXORA_BIN = process.env.NEXORA_BIN || path.join(ROOT, 'target/debug/nexora');
export const PASSWORD = 'nexora-demo';
export const KEY = 'herald-dev-key';
export const CRON_SECRET = 'node-test-cron-secret-0123';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitHttp(url, what, child, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before answering ${url}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function createDatabase() {
  const kind = process.env.NEXORA_TEST_DB || 'sqlite';
  const suffix = randomBytes(8).toString('hex');
  if (kind === 'sqlite') {
    const file = path.join(os.tmpdir(), `nexora_test_${suffix}.db`);
    return {
      kind,
      url: `sqlite:${file}`,
      drop: () => { for (const s of ['', '-wal', '-shm']) fs.rmSync(file + s, { force: true }); },
    };
  }
  if (kind !== 'postgres') throw new Error(`NEXORA_TEST_DB must be sqlite or postgres, got ${kind}`);
  const admin = process.env.NEXORA_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const name = `nexora_test_${suffix}`;
  execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`]);
  return {
    kind,
    url: `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`,
    drop: () => execFileSync('psql', [admin, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  };
}

/// herald + a seeded nexora. Call stop() when done.
export async function startStack() {
  for (const [bin, crate] of [[HERALD_BIN, 'herald'], [NEXORA_BIN, 'nexora']]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p herald -p nexora\` first (or set ${crate.toUpperCase()}_BIN)`);
  }
  const children = [];
  const db = createDatabase();
  const stop = async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    db.drop();
  };
  try {
    const heraldPort = await freePort();
    const herald = spawn(HERALD_BIN, ['--port', String(heraldPort)], { env: { ...process.env, HERALD_LOG_FILTER: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(herald);
    await waitHttp(`http://127.0.0.1:${heraldPort}/up`, 'herald', herald);

    const port = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      NEXORA_PORT: String(port),
      NEXORA_HERALD_URL: `http://127.0.0.1:${heraldPort}`,
      NEXORA_SESSION_SECRET: randomBytes(32).toString('hex'),
      NEXORA_SCHEDULER: 'false',
      NEXORA_LOG: 'warn',
      CRON_SECRET,
    };
    execFileSync(NEXORA_BIN, ['seed'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const nexora = spawn(NEXORA_BIN, ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(nexora);
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/api/health`, 'nexora', nexora);
    /// Runs a nexora subcommand against this stack's database and herald; returns stdout.
    const cli = (...args) => execFileSync(NEXORA_BIN, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return { url, heraldPort, db: db.kind, cli, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/// Logs in and returns { cookie, user }.
export async function login(stack, name) {
  const response = await fetch(`${stack.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: PASSWORD }),
  });
  if (!response.ok) throw new Error(`login ${name}: ${response.status}`);
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('nexora_session='));
  return { cookie, user: (await response.json()).user };
}

/// A JSON API call with the session cookie.
export async function api(stack, session, method, path, body) {
  const headers = { cookie: session.cookie };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(stack.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

/// A pusher-js client whose auth requests post form-encoded bodies with the session cookie,
/// exactly what pusher-js's ajax transport sends from a page.
export function connect(stack, session) {
  const handler = (endpoint) => async (params, callback) => {
    const fields = { socket_id: params.socketId };
    if (params.channelName) fields.channel_name = params.channelName;
    const response = await fetch(stack.url + endpoint, {
      method: 'POST',
      headers: { cookie: session ? session.cookie : '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    if (!response.ok) {
      callback(Object.assign(new Error(`auth endpoint answered ${response.status}`), { status: response.status }), null);
      return;
    }
    callback(null, await response.json());
  };
  return new Pusher(KEY, {
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: stack.heraldPort,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { customHandler: handler('/api/realtime/auth') },
    userAuthentication: { customHandler: handler('/api/realtime/user-auth') },
  });
}

export function connected(pusher, timeoutMs = 10000) {
  if (pusher.connection.state === 'connected') return Promise.resolve(pusher.connection.socket_id);
  return withTimeout(new Promise((resolve) => pusher.connection.bind('connected', () => resolve(pusher.connection.socket_id))), timeoutMs, 'connection');
}

/// Subscribes; resolves with the channel, rejects with the subscription error.
export function subscribe(pusher, name, timeoutMs = 10000) {
  const channel = pusher.subscribe(name);
  return withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', () => resolve(channel));
    channel.bind('pusher:subscription_error', (error) => reject(Object.assign(new Error(`subscription to ${name} refused: ${JSON.stringify(error)}`), { detail: error })));
  }), timeoutMs, `subscription to ${name}`);
}

/// The next `event` on `channel` (optionally the first matching `filter`).
export function next(channel, event, { filter = () => true, timeoutMs = 10000 } = {}) {
  return withTimeout(new Promise((resolve) => {
    const handler = (data, metadata) => {
      if (!filter(data)) return;
      channel.unbind(event, handler);
      resolve({ data, metadata });
    };
    channel.bind(event, handler);
  }), timeoutMs, `${event} on ${channel.name}`);
}

/// Collects every `event` on `channel` into an array (for "did not receive" checks).
export function record(channel, event) {
  const seen = [];
  channel.bind(event, (data) => seen.push(data));
  return seen;
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A private redis-server per test file (never the machine's 6379), and a minimal RESP client
// to look at the keys the cluster writes.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import { spawn } from 'node:child_process';
import net from 'node:net';

import { HOST, LOG_LIMIT, delay, freePort, isRunning, stopChild } from './util.js';

export const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';
const REDIS_READY_DEADLINE_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// A minimal RESP client (one command per TCP connection): PING, SCAN, ZRANGE, HGETALL…
// ---------------------------------------------------------------------------------------------

function encodeCommand(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return parts.join('');
}

/** Parses one RESP value at `off`; returns [value, nextOffset] or null if incomplete. */
function parseResp(buf, off = 0) {
  if (off >= buf.length) return null;
  const lineEnd = buf.indexOf('\r\n', off);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
      return [line, after];
    case '-':
      return [new Error(`redis: ${line}`), after];
    case ':':
      return [Number(line), after];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, after];
      if (buf.length < after + len + 2) return null;
      return [buf.toString('utf8', after, after + len), after + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, after];
      const out = [];
      let at = after;
      for (let i = 0; i < n; i += 1) {
        const r = parseResp(buf, at);
        if (!r) return null;
        out.push(r[0]);
        at = r[1];
      }
      return [out, at];
    }
    default:
      throw new Error(`redis: unexpected reply type ${JSON.stringify(type)}`);
  }
}

/** Sends one command to the Redis on `port`; resolves with the reply (errors reject). */
export function redisCommand(port, args, timeout = 2000) {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]}: no reply within ${timeout} ms`));
    }, timeout);
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseResp(buf);
      if (!r) return;
      clearTimeout(timer);
      socket.end();
      if (r[0] instanceof Error) reject(r[0]);
      else resolvePromise(r[0]);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// redis-server
// ---------------------------------------------------------------------------------------------

/**
 * Starts a private redis-server on a spare port (no RDB, no AOF, 127.0.0.1 only).
 * Returns { port, url, running, stop(signal), start(), command(...args), keys(), output() }.
 * stop() + start() restarts it on the same port, empty.
 */
export async function startRedis() {
  let port = await freePort();
  let child;
  let out = '';
  const launch = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', HOST], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const spawnError = new Promise((_, reject) => child.once('error', (e) => reject(new Error(`cannot start ${REDIS_SERVER}: ${e.message} (install redis-server or set REDIS_SERVER_BIN)`))));
    spawnError.catch(() => {});
    const keep = (c) => {
      out += c.toString();
      if (out.length > LOG_LIMIT) out = out.slice(-LOG_LIMIT / 2);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const deadline = Date.now() + REDIS_READY_DEADLINE_MS;
    for (;;) {
      if (!isRunning(child)) throw new Error(`redis-server exited during start-up:\n${out}`);
      try {
        const reply = await Promise.race([redisCommand(port, ['PING'], 500), spawnError]);
        if (reply === 'PONG') return;
      } catch (e) {
        if (/cannot start/.test(e.message)) throw e;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer PING within ${REDIS_READY_DEADLINE_MS} ms:\n${out}`);
      }
      await delay(30);
    }
  };
  // The port could be taken between freePort() and the bind: try a few.
  for (let attempt = 0; ; attempt += 1) {
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 2 || !/Address already in use|exited during start-up/.test(e.message)) throw e;
      port = await freePort();
    }
  }
  const redis = {
    get port() {
      return port;
    },
    get url() {
      return `redis://${HOST}:${port}`;
    },
    get running() {
      return child && isRunning(child);
    },
    output: () => out,
    /** Stops the server (SIGKILL by default: an abrupt outage). Nothing is saved. */
    async stop(signal = 'SIGKILL') {
      await stopChild(child, signal, 3000);
    },
    /** Starts it again on the same port (empty, since nothing was persisted). */
    async start() {
      if (redis.running) return;
      await launch();
    },
    command: (...args) => redisCommand(port, args),
    /** Every key in the server (SCAN, so it is safe on a busy server). */
    async keys() {
      const all = [];
      let cursor = '0';
      do {
        const [next, batch] = await redisCommand(port, ['SCAN', cursor, 'COUNT', '1000']);
        all.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      return all;
    },
  };
  return redis;
}


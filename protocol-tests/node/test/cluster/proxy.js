// A TCP round-robin load balancer for the cluster tests.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import net from 'node:net';

import { HOST } from './util.js';

// ---------------------------------------------------------------------------------------------
// Load balancer
// ---------------------------------------------------------------------------------------------

/**
 * A TCP round-robin load balancer in front of `nodes` (node objects). Like a real one it
 * health-checks GET /ready every `checkEveryMs` and sends new connections only to ready
 * backends, falling back to the next backend when a connect is refused and — with
 * `retryEmpty` (like HAProxy's `retry-on conn-failure empty-response`) — when a backend
 * accepts the connection but closes it before sending a single byte.
 *
 * proxy.port — where clients connect; proxy.routes — the backend that answered, per connection;
 * proxy.pin(node) — send the next connections to that node (until pin(null)).
 */
export async function startProxy(nodes, { checkEveryMs = 100, retryEmpty = true } = {}) {
  const healthy = new Map(nodes.map((n) => [n, true]));
  const sockets = new Set();
  const routes = [];
  const log = [];
  const born = Date.now();
  let next = 0;
  let pinned = null;
  let closed = false;

  const check = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        try {
          const r = await fetch(`${n.url}/ready`, { signal: AbortSignal.timeout(checkEveryMs * 5) });
          healthy.set(n, r.status === 200);
        } catch {
          healthy.set(n, false);
        }
      }),
    );
  };
  await check();
  let checking = false;
  const ticker = setInterval(async () => {
    if (checking || closed) return;
    checking = true;
    try {
      await check();
    } finally {
      checking = false;
    }
  }, checkEveryMs);

  const candidates = () => {
    const start = next++;
    const ordered = nodes.map((_, i) => nodes[(start + i) % nodes.length]);
    const ready = ordered.filter((n) => healthy.get(n));
    const rest = ordered.filter((n) => !healthy.get(n));
    const list = [...ready, ...rest];
    if (pinned && healthy.get(pinned)) return [pinned, ...list.filter((n) => n !== pinned)];
    return list;
  };

  const server = net.createServer((downstream) => {
    sockets.add(downstream);
    downstream.on('error', () => {});
    const list = candidates();
    const buffered = []; // what the client sent before any backend answered, for a retry
    let upstream = null;
    let answered = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      downstream.destroy();
      upstream?.destroy();
    };
    downstream.on('data', (chunk) => {
      if (!answered) buffered.push(chunk);
      if (upstream?.connected) upstream.write(chunk);
    });
    downstream.on('close', () => {
      sockets.delete(downstream);
      finished = true;
      upstream?.destroy();
    });
    const attempt = (i) => {
      if (finished) return;
      if (i >= list.length) return finish();
      const backend = list[i];
      const up = net.connect({ host: HOST, port: backend.port });
      upstream = up;
      sockets.add(up);
      let gotBytes = false;
      up.on('connect', () => {
        up.connected = true;
        log.push(`+${Date.now() - born}ms ${backend.name}${healthy.get(backend) ? '' : ' (not ready)'}`);
        for (const c of buffered) up.write(c);
      });
      up.on('data', (chunk) => {
        if (!gotBytes) routes.push(backend.name);
        gotBytes = true;
        answered = true;
        buffered.length = 0;
        downstream.write(chunk);
      });
      up.on('error', () => {});
      up.on('close', () => {
        sockets.delete(up);
        if (finished) return;
        if (!gotBytes && (!up.connected || retryEmpty)) {
          // Refused, or (retry-on empty-response) accepted and closed without a single byte.
          log.push(`+${Date.now() - born}ms ${backend.name} ${up.connected ? 'closed without answering' : 'refused'}: next backend`);
          attempt(i + 1);
          return;
        }
        finish();
      });
    };
    attempt(0);
  });
  const port = await new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolvePromise(server.address().port));
  });
  return {
    port,
    name: `proxy:${port}`,
    routes,
    healthy,
    /** Every accepted connection's backend with its time since the proxy started. */
    log,
    pin(node) {
      pinned = node;
    },
    close() {
      closed = true;
      clearInterval(ticker);
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}


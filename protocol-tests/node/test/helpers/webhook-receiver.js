// A real HTTP server that records the webhooks herald sends, for the feature and cluster tests.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import { createServer as createHttpServer } from 'node:http';

import PusherServer from 'pusher';

const HOST = '127.0.0.1';

/**
 * A real HTTP server recording each request: { method, url, headers (lower-case keys),
 * rawHeaders (names as sent), rawBody (string), receivedAt, status, valid }.
 *
 * options.failFirst — answer the first N requests with `failStatus` (500), then 200.
 * options.app — check each request's signature with the `pusher` library for this app
 *   (`valid`, and `_valid` on its events).
 */
export async function startWebhookReceiver({ failFirst = 0, failStatus = 500, app } = {}) {
  const requests = [];
  const waiters = new Set();
  const verifier = app && new PusherServer({ appId: app.id, key: app.key, secret: app.secret });
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const failing = requests.length < failFirst;
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const entry = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        rawBody,
        receivedAt: Date.now(),
        status: failing ? failStatus : 200,
        valid: verifier ? isValid(verifier, req.headers, rawBody) : undefined,
      };
      requests.push(entry);
      res.writeHead(entry.status, { 'content-type': 'text/plain' });
      res.end(failing ? 'failing on purpose' : 'ok');
      for (const w of [...waiters]) w();
    });
  });
  const port = await new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolvePromise(server.address().port));
  });

  const receiver = {
    url: `http://${HOST}:${port}/webhooks`,
    requests,
    /** Requests answered with 2xx. */
    accepted: () => requests.filter((r) => r.status < 300),
    /**
     * Every event of accepted requests that `pred` accepts, each with `_request` (its index),
     * `_at` (arrival time) and, with `app`, `_valid`.
     */
    events(pred = () => true) {
      const out = [];
      requests.forEach((r, i) => {
        if (r.status >= 300) return;
        let body;
        try {
          body = JSON.parse(r.rawBody);
        } catch {
          return;
        }
        for (const e of body.events ?? []) out.push({ ...e, _request: i, _at: r.receivedAt, ...(verifier ? { _valid: r.valid } : {}) });
      });
      return out.filter(pred);
    },
    count(pred) {
      return receiver.events(pred).length;
    },
    /** Resolves with the first accepted event matching `pred` (past or future). */
    waitForEvent(pred, { timeout = 5000, what = 'a webhook event' } = {}) {
      const find = () => receiver.events(pred)[0];
      const found = find();
      if (found) return Promise.resolve(found);
      return new Promise((resolvePromise, reject) => {
        const waiter = () => {
          const e = find();
          if (!e) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolvePromise(e);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = receiver.events().map(({ _at, _request, _valid, ...e }) => e);
          reject(new Error(`webhook receiver: timed out after ${timeout} ms waiting for ${what}; events so far: ${JSON.stringify(seen)}`));
        }, timeout);
        waiters.add(waiter);
      });
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
  return receiver;
}

function isValid(verifier, headers, rawBody) {
  try {
    return verifier.webhook({ headers, rawBody }).isValid();
  } catch {
    return false;
  }
}

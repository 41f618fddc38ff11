// A webhook receiver for the cluster tests.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import { createServer as createHttpServer } from 'node:http';

import PusherServer from 'pusher';

import { HOST, waitFor } from './util.js';

// ---------------------------------------------------------------------------------------------
// Webhook receiver
// ---------------------------------------------------------------------------------------------

/**
 * A real HTTP server recording webhook requests. events() flattens them; each event gets
 * `_at` (arrival time) and `_valid` (signature checked with the `pusher` library for `app`).
 */
export async function startWebhookReceiver(app) {
  const requests = [];
  const waiters = new Set();
  const verifier = new PusherServer({ appId: app.id, key: app.key, secret: app.secret });
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let valid = false;
      try {
        valid = verifier.webhook({ headers: req.headers, rawBody }).isValid();
      } catch {
        valid = false;
      }
      requests.push({ headers: req.headers, rawBody, at: Date.now(), valid });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      for (const w of [...waiters]) w();
    });
  });
  const port = await new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolvePromise(server.address().port));
  });
  const receiver = {
    url: `http://${HOST}:${port}/hooks`,
    requests,
    events(pred = () => true) {
      const out = [];
      for (const r of requests) {
        let body;
        try {
          body = JSON.parse(r.rawBody);
        } catch {
          continue;
        }
        for (const e of body.events ?? []) out.push({ ...e, _at: r.at, _valid: r.valid });
      }
      return out.filter(pred);
    },
    count(pred) {
      return receiver.events(pred).length;
    },
    /** The first event (past or future) accepted by `pred`. */
    waitFor(pred, { timeout = 5000, what = 'a webhook event' } = {}) {
      const found = receiver.events(pred)[0];
      if (found) return Promise.resolve(found);
      return new Promise((resolvePromise, reject) => {
        const w = () => {
          const e = receiver.events(pred)[0];
          if (!e) return;
          clearTimeout(timer);
          waiters.delete(w);
          resolvePromise(e);
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`webhook receiver: timed out after ${timeout} ms waiting for ${what}; events so far: ${JSON.stringify(receiver.events().map(({ _at, _valid, ...e }) => e))}`));
        }, timeout);
        waiters.add(w);
      });
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
  return receiver;
}

/** Predicate for a webhook event by name, channel and (optionally) user id. */
export const hook = (name, channel, userId) => (e) => e.name === name && e.channel === channel && (userId === undefined || e.user_id === userId);


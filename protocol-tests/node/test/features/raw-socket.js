// A raw WebSocket client for the feature tests: frames exactly as herald sends them, with
// `data` strings decoded as pusher-js decodes them.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import WebSocket from 'ws';

import { delay } from '../helpers/wait.js';

/** A `ws` socket with a parsed-frame queue; data strings are decoded like pusher-js does. */
export class RawSocket {
  static open(url, timeout = 5000) {
    return new Promise((resolvePromise, reject) => {
      const raw = new RawSocket(url);
      const timer = setTimeout(() => reject(new Error('raw socket: no connection_established in time')), timeout);
      raw.next((m) => m.event === 'pusher:connection_established', timeout)
        .then((m) => {
          clearTimeout(timer);
          raw.socketId = m.data.socket_id;
          resolvePromise(raw);
        })
        .catch((e) => {
          clearTimeout(timer);
          reject(e);
        });
      raw.ws.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.closed = new Promise((resolvePromise) => {
      this.ws.on('close', (code, reason) => resolvePromise({ code, reason: reason.toString() }));
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (buf) => {
      const text = buf.toString();
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { event: '<unparsable>', text };
      }
      if (typeof frame.data === 'string') {
        try {
          frame.data = JSON.parse(frame.data);
        } catch {
          // keep the string
        }
      }
      frame.raw = text;
      this.frames.push(frame);
      for (const w of [...this.waiters]) w(frame);
    });
  }

  /** The first frame (already received or future) matching `pred`; rejects after `timeout`. */
  next(pred, timeout = 4000, what = 'a frame') {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolvePromise, reject) => {
      const waiter = (frame) => {
        if (!pred(frame)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolvePromise(frame);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`raw socket: timed out after ${timeout} ms waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => f.raw))}`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }

  send(event, data, extra = {}) {
    this.ws.send(JSON.stringify({ event, data, ...extra }));
  }

  /** Sends pusher:ping and awaits the pong: every reply to earlier frames has arrived by then. */
  async sync(timeout = 4000) {
    const before = this.frames.length;
    this.send('pusher:ping', {});
    await this.next((f) => f.event === 'pusher:pong' && this.frames.indexOf(f) >= before, timeout, 'pusher:pong');
  }

  /** Closes the socket and resolves once the close has completed (bounded). */
  close() {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    try {
      this.ws.close();
    } catch {
      // ignore
    }
    return Promise.race([this.closed, delay(1000)]);
  }
}

/** Signs in a raw socket; resolves with the frame that answered (signin_success or error). */
export async function rawSignIn(raw, api, userData) {
  const { auth, user_data: userDataString } = api.authenticateUser(raw.socketId, userData);
  const from = raw.frames.length;
  raw.send('pusher:signin', { auth, user_data: userDataString });
  return raw.next(
    (f) => raw.frames.indexOf(f) >= from && (f.event === 'pusher:signin_success' || f.event === 'pusher:error'),
    4000,
    'the answer to pusher:signin',
  );
}

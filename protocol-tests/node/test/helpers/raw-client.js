// A raw WebSocket client: the frames exactly as herald sends them, for tests that check the
// wire rather than what a client library makes of it.
//
// Importing this module has no side effects (node --test also loads it as a "test file").

import PusherServer from 'pusher';
import WebSocket from 'ws';

import { APP1, ENCRYPTION_MASTER_KEY_BASE64 } from './apps.js';

/** A raw WebSocket client that records every frame, for tests where exact frames matter. */
export class RawClient {
  /**
   * opts.protocols, opts.autoPong, opts.wsOptions: passed to `ws`.
   * opts.decodeData: parse each frame's `data` string as pusher-js does (kept as the string
   * when it is not JSON); the frame's text stays in `__raw`.
   */
  constructor(url, opts = {}) {
    this.url = url;
    this.messages = [];
    this.waiters = [];
    this.pings = 0;
    this.ws = new WebSocket(url, opts.protocols, { autoPong: opts.autoPong ?? true, ...(opts.wsOptions || {}) });
    this.opened = new Promise((res, rej) => {
      this.ws.once('open', res);
      this.ws.once('error', rej);
      this.ws.once('unexpected-response', (_req, resp) => rej(new Error(`upgrade refused: HTTP ${resp.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((res) => {
      this.ws.once('close', (code, reason) => res({ code, reason: reason.toString() }));
    });
    this.ws.on('error', () => {});
    this.ws.on('ping', () => this.pings++);
    this.ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { unparsable: text };
      }
      if (opts.decodeData && typeof msg.data === 'string') {
        try {
          msg.data = JSON.parse(msg.data);
        } catch {
          // not JSON: pusher-js keeps the string too
        }
      }
      msg.__raw = text;
      msg.__binary = isBinary;
      this.messages.push(msg);
      for (const w of [...this.waiters]) w(msg);
    });
  }

  /** Resolves with the first frame (already received or future) whose event is `event` (or that `pred` accepts). */
  next(eventOrPred, timeoutMs = 5000, { after = 0, what } = {}) {
    const pred = typeof eventOrPred === 'function' ? eventOrPred : (m) => m.event === eventOrPred;
    const found = this.messages.slice(after).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const w = (m) => {
        if (!pred(m)) return;
        clearTimeout(t);
        this.waiters = this.waiters.filter((x) => x !== w);
        res(m);
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const wanted = what ?? (typeof eventOrPred === 'string' ? eventOrPred : '(predicate)');
        rej(new Error(`timed out after ${timeoutMs} ms waiting for frame ${wanted}; got: ${this.messages.map((m) => m.__raw).join(' | ')}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Waits for the handshake; returns the decoded connection_established data. */
  async established(timeoutMs = 5000) {
    const m = await this.next('pusher:connection_established', timeoutMs);
    return JSON.parse(m.data);
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Subscribes with an auth computed by the `pusher` library; waits for the outcome frame. */
  async subscribe(channel, { app = APP1, channelData, auth, socketId } = {}) {
    const sid = socketId ?? (await this.established()).socket_id;
    const data = { channel };
    if (auth !== undefined) data.auth = auth;
    else if (channel.startsWith('private-') || channel.startsWith('presence-')) {
      const signer = new PusherServer({ appId: app.id, key: app.key, secret: app.secret, encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_BASE64 });
      const a = signer.authorizeChannel(sid, channel, channelData);
      data.auth = a.auth;
      if (a.channel_data) data.channel_data = a.channel_data;
    }
    const mark = this.messages.length;
    this.send({ event: 'pusher:subscribe', data });
    return this.next(
      (m) => (m.event === 'pusher_internal:subscription_succeeded' && m.channel === channel) || m.event === 'pusher:error',
      5000,
      { after: mark },
    );
  }

  close(code, reason) {
    try {
      this.ws.close(code, reason);
    } catch {}
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate() {
    try {
      this.ws.terminate();
    } catch {}
  }
}

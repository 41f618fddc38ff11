// The feature tests' raw socket: a RawClient whose `data` strings are decoded as pusher-js
// decodes them, opened once `connection_established` has arrived.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

import { RawClient } from '../helpers/raw-client.js';
import { delay } from '../helpers/wait.js';

export class RawSocket extends RawClient {
  /** Connects and waits for `connection_established`; `socketId` is then set. */
  static async open(url, timeout = 5000) {
    const raw = new RawSocket(url);
    await raw.opened;
    const established = await raw.next((m) => m.event === 'pusher:connection_established', timeout, 'pusher:connection_established');
    raw.socketId = established.data.socket_id;
    return raw;
  }

  constructor(url) {
    super(url, { decodeData: true });
  }

  /** Every frame received so far, in order. */
  get frames() {
    return this.messages;
  }

  /** The first frame (already received or future) matching `pred`; rejects after `timeout`. */
  next(pred, timeout = 4000, what = 'a frame') {
    return super.next(pred, timeout, { what });
  }

  send(event, data, extra = {}) {
    super.send({ event, data, ...extra });
  }

  /** Sends pusher:ping and awaits the pong: every reply to earlier frames has arrived by then. */
  async sync(timeout = 4000) {
    const before = this.frames.length;
    this.send('pusher:ping', {});
    await this.next((f) => f.event === 'pusher:pong' && this.frames.indexOf(f) >= before, timeout, 'pusher:pong');
  }

  /** Closes the socket and resolves once the close has completed (bounded). */
  close() {
    super.close();
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

// JSON logs: one parseable line per connection open/close with app, socket id and close code,
// API errors with their reason, and never a secret, a signature or a message payload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, subscribed, waitFor, eventually, APP1 } from '../helpers/herald.js';

let herald;

before(async () => {
  herald = await startHerald({ config: { log_format: 'json', log: 'info', metrics_enabled: false } });
});
after(() => herald?.stop());

function jsonLines() {
  return herald.output
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`log line is not JSON: ${l}`);
      }
    });
}

test('every log line is JSON; connections log open and close with app, socket id and code', async () => {
  const client = await herald.connectedClient();
  const socketId = client.connection.socket_id;
  const channel = await subscribed(client, 'private-log-test');
  const secretPayload = 'payload-must-not-be-logged-7781';
  const got = waitFor(channel, 'ev');
  await herald.server().trigger('private-log-test', 'ev', { secretPayload });
  await got;
  client.disconnect();
  await eventually(() => jsonLines().some((l) => l.message === 'connection closed' && l.socket_id === socketId), 3000, 'the close line');
  const lines = jsonLines();
  const opened = lines.find((l) => l.message === 'connection opened' && l.socket_id === socketId);
  assert.ok(opened, 'an "opened" line for the socket');
  assert.equal(opened.app, APP1.id);
  assert.equal(opened.level, 'INFO');
  const closed = lines.find((l) => l.message === 'connection closed' && l.socket_id === socketId);
  assert.ok('code' in closed, 'the close line carries the close code field');
  assert.ok(lines.some((l) => l.message === 'herald listening'), 'the start-up banner is a JSON event too');
  const all = herald.output;
  assert.ok(!all.includes(APP1.secret), 'the app secret is never logged');
  assert.ok(!all.includes(secretPayload), 'message payloads are never logged');
});

test('an API error is logged with its reason but without the signature', async () => {
  const wrong = herald.server({ ...APP1, secret: 'not-the-secret' });
  await wrong.trigger('x', 'e', {}).catch(() => {});
  await eventually(() => jsonLines().some((l) => l.message === 'API request refused'), 3000, 'the refusal line');
  const line = jsonLines().find((l) => l.message === 'API request refused');
  assert.match(line.reason, /signature/i);
  assert.ok(!/auth_signature=/.test(herald.output), 'query strings with signatures are not logged');
});

// max_backend_events_per_second with the real `pusher` server library: a trigger over the
// app's budget rejects with a 429 RequestError, its events are not published, and triggers
// succeed again as the budget refills.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { pollUntil, record, startHerald, subscribe, unique, waitFor } from './support.js';

describe('max_backend_events_per_second = 2', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { max_backend_events_per_second: 2 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('rejects the trigger over the budget with 429 and publishes nothing of it', async () => {
    const client = await env.connect();
    const name = unique('limited-');
    const channel = await subscribe(client, name);
    const seen = record(channel, 'e');

    await env.api.trigger(name, 'e', { n: 1 });
    await env.api.trigger(name, 'e', { n: 2 });
    const refused = await env.api.trigger(name, 'e', { n: 3 }).then(
      () => assert.fail('the third trigger within a second must be refused'),
      (error) => error,
    );
    assert.equal(refused.status, 429, `${refused}`);
    assert.match(JSON.parse(refused.body).error, /2 events per second/);

    // The budget refills at 2 a second: within a few attempts a marker is accepted, and it
    // arrives right after the two accepted events.
    const marker = waitFor(channel, 'marker');
    await pollUntil(
      () => env.api.trigger(name, 'marker', {}).then(() => true, (error) => {
        assert.equal(error.status, 429, `${error}`);
        return false;
      }),
      { timeout: 3000, interval: 100, what: 'a trigger accepted once the budget refills' },
    );
    await marker;
    assert.deepEqual(seen.map((d) => d.n), [1, 2], 'the refused event was not published');
  });
});

describe('max_read_requests_per_second = 2', () => {
  let env;
  before(async () => {
    env = await startHerald({ app: { max_read_requests_per_second: 2 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('answers the read over the budget with 429 and leaves publishing alone', async () => {
    const channels = () => env.api.get({ path: '/channels' });
    assert.equal((await channels()).status, 200);
    assert.equal((await channels()).status, 200);
    const refused = await env.api.get({ path: '/channels/news' }).then(
      () => assert.fail('the third read within a second must be refused'),
      (error) => error,
    );
    assert.equal(refused.status, 429, `${refused}`);
    assert.match(JSON.parse(refused.body).error, /2 read requests per second \(max_read_requests_per_second\)/);
    // Triggers spend a budget of their own (unlimited here).
    assert.equal((await env.api.trigger(unique('after-reads-'), 'e', {})).status, 200);
  });
});

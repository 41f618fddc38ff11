// max_backend_events_per_second is one budget for the whole cluster, kept in Redis: the
// `pusher` library publishing through two nodes spends the same budget, where per-node
// buckets would let each node publish the full rate.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { apiResult } from '../helpers/herald.js';
import { defineApp, startCluster, unique, withLogs } from './support.js';

describe('HTTP API rate limit across nodes (2 nodes)', { timeout: 60_000 }, () => {
  let cluster;
  const logged = (fn) => withLogs(() => cluster, fn);

  before(async () => {
    cluster = await startCluster({ nodes: 2, apps: [defineApp({ max_backend_events_per_second: 2 })] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('spends one budget whichever node a trigger goes through', logged(async () => {
    const channel = unique('limited');
    // Two per second, a second's worth at once; a token takes 500 ms to come back, far longer
    // than these three requests.
    const answers = [];
    for (const node of [0, 1, 0]) answers.push((await apiResult(cluster.api(node).trigger(channel, 'e', { node }))).status);
    assert.deepEqual(answers, [200, 200, 429], 'the third trigger finds the budget the other node spent');
  }));
});

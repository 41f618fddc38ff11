// extra_keys: an app with more than one key and secret, as pusher.com lets an app have. pusher-js
// connects with either key; the `pusher` library signs channel authorizations and API requests
// with either pair; a token or request that pairs a key with another key's secret is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startHerald, subscribed, waitFor, apiResult, serverClient, APP1 } from '../helpers/herald.js';

const MOBILE = { ...APP1, key: 'app-key-mobile', secret: 'app-secret-mobile' };

describe('extra_keys', () => {
  let herald;

  before(async () => {
    herald = await startHerald({
      config: { metrics_enabled: false },
      app1: { extra_keys: [{ key: MOBILE.key, secret: MOBILE.secret }] },
    });
  });
  after(() => herald?.stop());

  it('lets pusher-js connect with the extra key and authorize with its pair', async () => {
    const client = await herald.connectedClient({ app: MOBILE });
    const priv = await subscribed(client, 'private-mobile');
    await subscribed(client, 'presence-mobile');
    // Published through either pair, delivered to the socket that connected with the extra key.
    for (const [pair, n] of [[APP1, 1], [MOBILE, 2]]) {
      const got = waitFor(priv, 'update');
      assert.equal((await apiResult(herald.server(pair).trigger('private-mobile', 'update', { n }))).status, 200);
      assert.deepEqual(await got, { n });
    }
  });

  it('signs in a user with a token of the extra pair', async () => {
    const signer = serverClient(herald, MOBILE);
    const client = herald.client({
      app: MOBILE,
      pusherOptions: {
        userAuthentication: {
          customHandler: ({ socketId }, callback) => callback(null, signer.authenticateUser(socketId, { id: 'mobile-user' })),
        },
      },
    });
    await waitFor(client.connection, 'connected');
    const signedIn = waitFor(client, 'pusher:signin_success', 5000);
    client.signin();
    await signedIn;
    const direct = waitFor(client.user, 'note');
    assert.equal((await apiResult(herald.server(MOBILE).sendToUser('mobile-user', 'note', { to: 'mobile' }))).status, 200);
    assert.deepEqual(await direct, { to: 'mobile' });
  });

  it("refuses a token or a request that pairs a key with another key's secret", async () => {
    const mixed = { ...MOBILE, secret: APP1.secret };
    const client = await herald.connectedClient({ app: MOBILE, authSecret: APP1.secret });
    await assert.rejects(subscribed(client, 'private-mixed'), /subscription to private-mixed failed/);
    const refused = await apiResult(herald.server(mixed).trigger('news', 'e', {}));
    assert.equal(refused.status, 401, refused.text);
    const unknown = await apiResult(herald.server({ ...APP1, key: 'not-a-key-of-this-app' }).trigger('news', 'e', {}));
    assert.equal(unknown.status, 401, unknown.text);
  });
});

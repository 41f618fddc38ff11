// Webhooks in the cluster tests: the shared receiver (helpers/webhook-receiver.js) and a predicate
// for its events.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

export { startWebhookReceiver } from '../helpers/webhook-receiver.js';

/** Predicate for a webhook event by name, channel and (optionally) user id. */
export const hook = (name, channel, userId) => (e) => e.name === name && e.channel === channel && (userId === undefined || e.user_id === userId);


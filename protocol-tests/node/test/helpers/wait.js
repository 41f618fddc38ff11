// Waiting on pusher-js objects and EventEmitters, shared by the feature and cluster tests.
// Every wait rejects after a bounded time, so a missing event fails its test instead of
// hanging it.
//
// This module registers no tests and has no side effects on import (`node --test test/` loads
// every .js file under test/, this one included).

/** Binds `fn` to `event` on a pusher-js object (bind/unbind) or an EventEmitter; returns the unbinder. */
export function bindOn(emitter, event, fn) {
  if (typeof emitter.bind === 'function' && typeof emitter.unbind === 'function') {
    emitter.bind(event, fn);
    return () => emitter.unbind(event, fn);
  }
  emitter.on(event, fn);
  return () => emitter.off(event, fn);
}

/**
 * Resolves with the first argument of the next `event` on `emitter` that `filter` accepts;
 * rejects after `timeout` ms. The promise has `cancel()`, which unbinds and clears the timer
 * (it then never settles).
 */
export function waitFor(emitter, event, { timeout = 5000, filter = () => true, what } = {}) {
  let cancel = () => {};
  const promise = new Promise((resolvePromise, reject) => {
    let unbind = () => {};
    const timer = setTimeout(() => {
      unbind();
      reject(new Error(`timed out after ${timeout} ms waiting for ${what ?? `'${event}'`}`));
    }, timeout);
    cancel = () => {
      clearTimeout(timer);
      unbind();
    };
    unbind = bindOn(emitter, event, (...args) => {
      let ok;
      try {
        ok = filter(...args);
      } catch {
        ok = false;
      }
      if (!ok) return;
      clearTimeout(timer);
      unbind();
      resolvePromise(args[0]);
    });
  });
  promise.cancel = cancel;
  return promise;
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns a truthy value (a throw counts as not yet); rejects at the
 * deadline with the last value or error seen.
 */
export async function pollUntil(fn, { timeout = 5000, interval = 100, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${shown}`);
    }
    await delay(interval);
  }
}

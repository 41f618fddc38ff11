// The apps every test server has, and the encryption master key the tests' clients share.
//
// Importing this module has no side effects (node --test also loads it as a "test file").

/** The two apps every test server has (the ones from the issue). */
export const APP1 = Object.freeze({ id: '1001', key: 'app-key', secret: 'app-secret', client_events: true });
export const APP2 = Object.freeze({ id: '1002', key: 'app-key-2', secret: 'app-secret-2', client_events: false });

/** A 32-byte master key (base64) for encrypted channels; the server never sees it. */
export const ENCRYPTION_MASTER_KEY_BASE64 = Buffer.alloc(32, 7).toString('base64');

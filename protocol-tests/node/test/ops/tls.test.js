// Native TLS: pusher-js with forceTLS and the `pusher` library with useTLS talk to herald
// directly, trusting a self-signed certificate this test generates; SIGHUP swaps the
// certificate for new handshakes without dropping open connections.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { startHerald, APP1 } from '../helpers/herald.js';

const NODE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let herald;
let dir;

function makeCert(name) {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** The SHA-256 fingerprint of the certificate a fresh TLS handshake presents. */
function presentedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

function fingerprintOf(certPath) {
  const out = execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256']).toString();
  return out.split('=')[1].trim();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
  const first = makeCert('first');
  copyFileSync(first.cert, join(dir, 'live.crt'));
  copyFileSync(first.key, join(dir, 'live.key'));
  herald = await startHerald({ config: { tls_cert: join(dir, 'live.crt'), tls_key: join(dir, 'live.key'), metrics_enabled: false }, tls: true });
});
after(() => herald?.stop());

test('pusher-js with forceTLS and the pusher library with useTLS work against the TLS listener', async () => {
  // A child process, so NODE_EXTRA_CA_CERTS (read at start-up) can trust our certificate.
  const script = `
    import Pusher from 'pusher-js';
    import PusherServer from 'pusher';
    const port = ${herald.port};
    const client = new Pusher('${APP1.key}', { cluster: 'local', wsHost: '127.0.0.1', wssPort: port, forceTLS: true, enabledTransports: ['ws'] });
    const server = new PusherServer({ appId: '${APP1.id}', key: '${APP1.key}', secret: '${APP1.secret}', host: '127.0.0.1', port: String(port), useTLS: true });
    const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 8000);
    client.connection.bind('error', (e) => console.log('ERROR', JSON.stringify(e)));
    const channel = client.subscribe('tls-channel');
    channel.bind('pusher:subscription_succeeded', async () => {
      channel.bind('secure', (data) => { console.log('RECEIVED', JSON.stringify(data)); clearTimeout(timer); client.disconnect(); process.exit(0); });
      // Receiving the event proves the HTTPS trigger was accepted.
      await server.trigger('tls-channel', 'secure', { over: 'https' });
    });
  `;
  const file = join(NODE_DIR, `tls-client-${process.pid}.mjs`);
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { cwd: NODE_DIR, env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'first.crt') } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  execFileSync('rm', ['-f', file]);
  assert.equal(code, 0, out);
  assert.match(out, /RECEIVED \{"over":"https"\}/);
});

test('plain ws:// is refused by the TLS listener', async () => {
  await assert.rejects(fetch(`http://127.0.0.1:${herald.port}/up`));
});

test('SIGHUP reloads the certificate for new handshakes and keeps open connections', async () => {
  assert.equal(await presentedFingerprint(herald.port), fingerprintOf(join(dir, 'first.crt')));
  // An open TLS connection before the reload.
  const open = tls.connect({ host: '127.0.0.1', port: herald.port, rejectUnauthorized: false });
  await new Promise((r) => open.once('secureConnect', r));
  let openClosed = false;
  open.on('close', () => (openClosed = true));

  const second = makeCert('second');
  copyFileSync(second.cert, join(dir, 'live.crt'));
  copyFileSync(second.key, join(dir, 'live.key'));
  herald.proc.kill('SIGHUP');
  const expected = fingerprintOf(second.cert);
  const deadline = Date.now() + 5000;
  while ((await presentedFingerprint(herald.port)) !== expected) {
    assert.ok(Date.now() < deadline, 'the new certificate is served after SIGHUP');
    await new Promise((r) => setTimeout(r, 50));
  }
  // The old connection still works: an HTTP request over it is answered.
  const answer = new Promise((resolve) => open.once('data', (d) => resolve(d.toString())));
  open.write('GET /up HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.match(await answer, /^HTTP\/1.1 200/);
  assert.equal(openClosed, false);
  open.destroy();
});

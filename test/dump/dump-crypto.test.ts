// Chunked dumps sealed to an X25519 public key (src/host/dump-crypto.ts): the target holds no
// secret and can still check every chunk; only the private key opens them; a resumed save seals the
// same chunks to the same bytes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChunkedWriter, verifyChunks, type Manifest } from '../../src/dump/chunked.ts';
import { MemoryStore } from './memory-store.ts';
import { sha256Hasher } from '../../src/host/chunk-stores.ts';
import { chunkOpener, dumpKeyFor, loadRecipient, sealerFor } from '../../src/host/dump-crypto.ts';
import { ParseError, UsageError } from '../../src/errors.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const work = mkdtempSync(join(tmpdir(), 'dump-crypto-'));
const pair = () => generateKeyPairSync('x25519');
const recipient = pair();

const stream = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 31) & 0xff);

function sealedSave(store: MemoryStore, stateDir: string, finish = true) {
  const k = dumpKeyFor(recipient.publicKey, store.where, 'dump', stateDir);
  const w = new ChunkedWriter(store, 'dump', 8192, sha256Hasher, { sealer: sealerFor(k.key, 'dump'), manifest: k.key.manifest });
  w.write(stream);
  const r = w.end(new Date(0));
  if (finish) k.done();
  return r;
}

const read = (store: MemoryStore) => (f: string) => store.files.get(f);

test('sealed chunks: the target checks them without a key, the private key opens them into the exact stream, and nothing plain is stored', () => {
  const store = new MemoryStore();
  const { manifest } = sealedSave(store, join(work, 'state-a'));
  assert.equal(manifest.encryption?.scheme, 'x25519-hkdf-sha256-aes-256-gcm-1');
  for (const c of manifest.chunks) assert.equal(store.files.get(c.file)!.length, Math.min(8192, 20_000 - 8192 * Number(c.file.slice(-1))) + 28, 'nonce + ciphertext + tag');
  assert.ok(!Buffer.from(store.files.get('dump.part-00000')!).includes(Buffer.from(stream.subarray(0, 64))), 'no plaintext in a chunk');
  assert.deepEqual(verifyChunks(manifest, read(store), sha256Hasher), { problems: [], streamOk: undefined });
  const out: Uint8Array[] = [];
  const v = verifyChunks(manifest, read(store), sha256Hasher, chunkOpener(manifest, recipient.privateKey), (b) => out.push(b.slice()));
  assert.deepEqual(v, { problems: [], streamOk: true });
  assert.deepEqual(Buffer.concat(out), Buffer.from(stream));
});

test('sealed chunks: another private key is refused by fingerprint; a chunk changed along with its manifest hash does not open', () => {
  const store = new MemoryStore();
  const { manifest } = sealedSave(store, join(work, 'state-b'));
  assert.throws(() => chunkOpener(manifest, pair().privateKey), (e) => e instanceof UsageError && /sealed to key [0-9a-f]{16}; this private key is [0-9a-f]{16}/.test(e.message));
  // An attacker who rewrites a chunk and its manifest entry still cannot forge the authentication tag.
  const bad = store.files.get('dump.part-00001')!.slice();
  bad[40] ^= 1;
  store.files.set('dump.part-00001', bad);
  const h = sha256Hasher();
  h.update(bad);
  const forged: Manifest = { ...manifest, chunks: manifest.chunks.map((c, i) => (i === 1 ? { ...c, sha256: h.digest() } : c)) };
  assert.throws(() => verifyChunks(forged, read(store), sha256Hasher, chunkOpener(forged, recipient.privateKey)), (e) => e instanceof ParseError && /dump\.part-00001: does not open with this key \(wrong key, or damaged\)/.test(e.message));
});

test('sealed chunks resumed: an unfinished save keeps its dump key, so the chunks already stored match and are not sent again; a finished one forgets it', () => {
  const store = new MemoryStore();
  const state = join(work, 'state-c');
  sealedSave(store, state, false); // cut before the key is forgotten
  assert.equal(readdirSync(state).length, 1);
  const again = sealedSave(store, state);
  assert.equal(again.kept, 3);
  assert.equal(again.sent, 0);
  assert.deepEqual(readdirSync(state), [], 'the key is gone once the manifest is out');
  assert.equal(sealedSave(store, state).kept, 0, 'a new save, a new key');
});

test('save --encrypt-to: a key that is not X25519 is refused with how to make one', () => {
  const ed = generateKeyPairSync('ed25519');
  const p = join(work, 'ed.pub');
  writeFileSync(p, ed.publicKey.export({ type: 'spki', format: 'pem' }));
  assert.throws(() => loadRecipient(p), (e) => e instanceof UsageError && /a ed25519 key; the dump is sealed to an X25519 key \(openssl genpkey -algorithm X25519\)/.test(e.message));
});

test('vmcore-ts save --to --encrypt-to, then verify without and with --key: the decrypted stream equals save -F of the bundled dump', () => {
  const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
  const cli = (args: string[]) => spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'buffer', maxBuffer: 1 << 27 });
  const pub = join(work, 'r.pub');
  const priv = join(work, 'r.pem');
  writeFileSync(pub, recipient.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(priv, recipient.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const dir = join(work, 'target');
  const s = cli(['save', '--to', dir, '--encrypt-to', pub, '--state-dir', join(work, 'state-cli'), '--message-level', '0', '-c', '-d', '31', FIXTURE]);
  assert.equal(s.status, 0, s.stderr.toString());
  const plain = cli(['verify', dir]);
  assert.equal(plain.status, 0);
  assert.match(plain.stdout.toString(), /every chunk matches \(encrypted: give --key/);
  const out = join(work, 'stream.flat');
  const opened = cli(['verify', '--key', priv, '--output', out, dir]);
  assert.equal(opened.status, 0, opened.stderr.toString());
  assert.match(opened.stdout.toString(), /all match/);
  assert.ok(readFileSync(out).equals(cli(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE]).stdout), 'decrypted = save -F');
  const noKey = cli(['verify', '--output', join(work, 'x.flat'), dir]);
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr.toString(), /the dump is encrypted: --output needs --key PRIVATE/);
});

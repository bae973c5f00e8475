// Node edge: chunked dumps sealed to a public key, so the capture kernel holds no secret and the
// target (an ssh server, a bucket) may be untrusted. Scheme "x25519-hkdf-sha256-aes-256-gcm-1":
//   - a random 256-bit data key per dump, wrapped for the recipient: an ephemeral X25519 key pair,
//     ECDH with the recipient's X25519 public key, HKDF-SHA256 (salt = ephemeral || recipient
//     public key) → a key-encryption key, AES-256-GCM of the data key (random nonce);
//   - each chunk: AES-256-GCM under the data key, associated data "NAME:INDEX", stored as
//     nonce (12) || ciphertext || tag (16). The nonce is HMAC-SHA256(data key, INDEX || SHA-256 of
//     the plain chunk) cut to 12 bytes: the same chunk seals to the same bytes (a resumed save finds
//     it stored), and two different plaintexts never share a nonce.
// The data key of an unfinished save is kept in a 0600 state file beside nothing but the caller's
// choice (default: /run/vmcore-ts, a tmpfs in the capture kernel) so a second run in the same boot
// resumes; it is removed when the manifest is written.
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputError, ParseError, UsageError } from '../errors.ts';
import type { Manifest, ManifestEncryption, Sealer } from '../dump/chunked.ts';

export const SCHEME = 'x25519-hkdf-sha256-aes-256-gcm-1';
const INFO = Buffer.from('kexec-ts dump key');

function rawPublic(k: KeyObject): Buffer {
  return Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url');
}

/** An X25519 public key from a PEM file (`openssl pkey -pubout` of an `openssl genpkey -algorithm X25519` key). */
export function loadRecipient(path: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPublicKey(readFileSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).syscall) throw e;
    throw new UsageError(`${path}: not a public key (${(e as Error).message}); make one with: openssl genpkey -algorithm X25519 -out dump.key && openssl pkey -in dump.key -pubout -out dump.pub`);
  }
  if (k.asymmetricKeyType !== 'x25519') throw new UsageError(`${path}: a ${k.asymmetricKeyType} key; the dump is sealed to an X25519 key (openssl genpkey -algorithm X25519)`);
  return k;
}

export function loadPrivateKey(path: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPrivateKey(readFileSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).syscall) throw e;
    throw new UsageError(`${path}: not a private key (${(e as Error).message})`);
  }
  if (k.asymmetricKeyType !== 'x25519') throw new UsageError(`${path}: a ${k.asymmetricKeyType} key; give the X25519 private key the dump was sealed to`);
  return k;
}

const fingerprint = (pub: Buffer) => createHash('sha256').update(pub).digest('hex').slice(0, 16);

function kek(shared: Buffer, eph: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([eph, recipient]), INFO, 32));
}

function gcm(key: Buffer, nonce: Buffer, plain: Uint8Array, aad?: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) c.setAAD(aad);
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

function ungcm(key: Buffer, sealed: Uint8Array, aad: Buffer | undefined, what: string): Buffer {
  if (sealed.length < 28) throw new ParseError(`${what}: ${sealed.length} bytes, too short to be sealed`);
  const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
  if (aad) d.setAAD(aad);
  d.setAuthTag(b.subarray(b.length - 16));
  try {
    return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
  } catch {
    throw new ParseError(`${what}: does not open with this key (wrong key, or damaged)`);
  }
}

interface DumpKey {
  dataKey: Buffer;
  manifest: ManifestEncryption;
}

function newDumpKey(recipient: KeyObject): DumpKey {
  const dataKey = randomBytes(32);
  const eph = generateKeyPairSync('x25519');
  const ephPub = rawPublic(eph.publicKey);
  const recPub = rawPublic(recipient);
  const wrap = gcm(kek(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), ephPub, recPub), randomBytes(12), dataKey);
  return {
    dataKey,
    manifest: { scheme: SCHEME, recipient: fingerprint(recPub), ephemeralPublicKey: ephPub.toString('base64'), wrappedKey: wrap.toString('base64') },
  };
}

function chunkAad(name: string, index: number): Buffer {
  return Buffer.from(`${name}:${index}`);
}

export function sealerFor(key: DumpKey, name: string): Sealer {
  return (index, plain) => {
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64BE(BigInt(index));
    const nonce = createHmac('sha256', key.dataKey).update(idx).update(createHash('sha256').update(plain).digest()).digest().subarray(0, 12);
    return gcm(key.dataKey, nonce, plain, chunkAad(name, index));
  };
}

/**
 * The dump key for a save of `name` to `where`: the unfinished save's (state file), else a new one
 * written there first. `done()` removes the state file once the manifest is out.
 */
export function dumpKeyFor(recipient: KeyObject, where: string, name: string, stateDir: string): { key: DumpKey; done(): void } {
  const file = join(stateDir, `${createHash('sha256').update(`${where}\n${name}`).digest('hex').slice(0, 24)}.key.json`);
  const recPub = fingerprint(rawPublic(recipient));
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { dataKey: string; manifest: ManifestEncryption };
    if (saved.manifest?.recipient === recPub) return { key: { dataKey: Buffer.from(saved.dataKey, 'base64'), manifest: saved.manifest }, done: () => rmSync(file, { force: true }) };
  }
  const key = newDumpKey(recipient);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify({ dataKey: key.dataKey.toString('base64'), manifest: key.manifest }), { mode: 0o600 });
  } catch (e) {
    throw new OutputError(`${stateDir}: cannot keep the dump key of this save there (${(e as Error).message})`, {
      path: stateDir,
      hint: 'give --state-dir DIR on a file system that is writable (a tmpfs is best: the key must not outlive the boot)',
    });
  }
  return { key, done: () => rmSync(file, { force: true }) };
}

/** Opens the chunks of an encrypted manifest with the recipient's private key. */
export function chunkOpener(m: Manifest, privateKey: KeyObject): (index: number, sealed: Uint8Array) => Uint8Array {
  const e = m.encryption!;
  if (e.scheme !== SCHEME) throw new ParseError(`${m.name}: encrypted with ${e.scheme}, which this vmcore-ts does not know (${SCHEME})`);
  const recPub = rawPublic(createPublicKey(privateKey));
  if (fingerprint(recPub) !== e.recipient) throw new UsageError(`${m.name} is sealed to key ${e.recipient}; this private key is ${fingerprint(recPub)}`);
  const ephPub = Buffer.from(e.ephemeralPublicKey ?? '', 'base64');
  const eph = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: ephPub.toString('base64url') }, format: 'jwk' });
  const dataKey = ungcm(kek(diffieHellman({ privateKey, publicKey: eph }), ephPub, recPub), Buffer.from(e.wrappedKey ?? '', 'base64'), undefined, `${m.name}: the wrapped dump key`);
  return (index, sealed) => ungcm(dataKey, sealed, chunkAad(m.name, index), `${m.chunks[index]?.file ?? index}`);
}

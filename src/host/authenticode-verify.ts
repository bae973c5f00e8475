// The Authenticode check of a whole PE image (a UKI, an add-on) with node:crypto: the image digest
// over every byte but the checksum and the signature (src/format/pe.ts authenticodeRanges), the
// signed attributes' messageDigest, the signer's signature, and a chain from the signer to one of
// the trust anchors given. Certificate validity dates are not checked, as UEFI firmware does not.
import { X509Certificate, createHash, verify } from 'node:crypto';
import { ParseError } from '../errors.ts';
import { parseAuthenticode, type AuthenticodeSignature, type AuthenticodeVerdict } from '../format/authenticode.ts';
import { bytesEqual } from '../format/der.ts';
import { authenticodeRanges, type PeImage } from '../format/pe.ts';

/** What an image is checked against: db/MOK-like anchors, and optionally db's and dbx's SHA-256 image digests and dbx's certificates. */
export interface Trust {
  anchors: readonly X509Certificate[];
  /** Authenticode SHA-256 digests of images allowed as they are (db). */
  allowedDigests?: readonly Uint8Array[];
  /** Revoked images (dbx, MokListX): refused whatever signs them. */
  forbiddenDigests?: readonly Uint8Array[];
  /** Revoked certificates (dbx, MokListX): a chain through one is refused. */
  forbiddenCerts?: readonly X509Certificate[];
}

/** Longest chain from the signer to an anchor (signer, intermediates, anchor). */
const MAX_CHAIN = 8;

/** Trust anchors from PEM (one or more certificates) or DER bytes. */
export function readCertificates(bytes: Uint8Array, source = '<certificate>'): X509Certificate[] {
  const text = new TextDecoder('latin1').decode(bytes);
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  try {
    return pems ? pems.map((p) => new X509Certificate(p)) : [new X509Certificate(Buffer.from(bytes))];
  } catch (e) {
    throw new ParseError(`${source}: not an X.509 certificate (PEM or DER): ${(e as Error).message}`, { source, hint: 'give the db/MOK certificate that signed the image' });
  }
}

/**
 * The image digest Authenticode signs, with node:crypto's `algorithm`. `padded`: as sbsign and
 * efitools compute it for an unsigned image, zero-padded to 8 bytes (where signing puts the table).
 */
export function authenticodeDigest(bytes: Uint8Array, pe: PeImage, algorithm = 'sha256', padded = false): Uint8Array {
  const h = createHash(algorithm);
  for (const [a, b] of authenticodeRanges(pe)) h.update(bytes.subarray(a, b));
  if (padded && !pe.certificateTable && bytes.length % 8) h.update(new Uint8Array(8 - (bytes.length % 8)));
  return h.digest();
}

const subjectOf = (c: X509Certificate) => c.subject.replace(/\n/g, ', ');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Checks the image as UEFI does: refused when its digest is revoked (dbx); verified when its digest
 * is allowed (db) or one of its signatures verifies and chains to an anchor through no revoked certificate.
 */
export function verifyAuthenticode(bytes: Uint8Array, pe: PeImage, trust: Trust, source = '<PE image>'): AuthenticodeVerdict {
  if (trust.forbiddenDigests?.length || trust.allowedDigests?.length) {
    // An unsigned image's digest is taken both as the firmware computes it (the file as it is) and as
    // sbsign/efitools do (padded to 8 bytes), so a dbx entry made either way revokes it.
    const digests = [authenticodeDigest(bytes, pe), authenticodeDigest(bytes, pe, 'sha256', true)];
    const listed = (list: readonly Uint8Array[] | undefined) => digests.find((g) => list?.some((d) => bytesEqual(d, g)));
    const revoked = listed(trust.forbiddenDigests);
    if (revoked) return { status: 'mismatch', reason: `the image's sha256 digest ${hex(revoked)} is revoked (dbx)` };
    const allowed = listed(trust.allowedDigests);
    if (allowed) return { status: 'verified', signer: `image digest ${hex(allowed)}`, anchor: 'db (allowed digest)' };
  }
  let signatures: AuthenticodeSignature[];
  try {
    signatures = parseAuthenticode(bytes, pe, source);
  } catch (e) {
    if (e instanceof ParseError) return { status: 'mismatch', reason: `unreadable signature: ${e.message}` };
    throw e;
  }
  if (signatures.length === 0) return { status: 'unsigned', reason: 'no Authenticode signature (the certificate table is empty)' };
  let first: AuthenticodeVerdict | undefined;
  for (const s of signatures) {
    const v = checked(() => verifyOne(bytes, pe, s, trust));
    if (v.status === 'verified') return v;
    first ??= v;
  }
  return first!;
}

/** node:crypto's refusals of damaged keys, certificates or signatures (codes ERR_OSSL_*, ERR_CRYPTO_*, …) are verdicts, not crashes. */
function checked(f: () => AuthenticodeVerdict): AuthenticodeVerdict {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (e instanceof ParseError) return { status: 'mismatch', reason: `unreadable signature: ${e.message}` };
    if (typeof code === 'string' && code.startsWith('ERR_')) return { status: 'mismatch', reason: `the signature cannot be checked: ${(e as Error).message}` };
    throw e;
  }
}

function verifyOne(bytes: Uint8Array, pe: PeImage, s: AuthenticodeSignature, trust: Trust): AuthenticodeVerdict {
  const { anchors, forbiddenCerts = [] } = trust;
  const mismatch = (reason: string): AuthenticodeVerdict => ({ status: 'mismatch', reason });
  const image = authenticodeDigest(bytes, pe, s.digestAlgorithm);
  if (!bytesEqual(image, s.signedImageDigest)) {
    return mismatch(`the image's ${s.digestAlgorithm} digest ${hex(image).slice(0, 16)}… differs from the signed one ${hex(s.signedImageDigest).slice(0, 16)}… (the file changed after it was signed)`);
  }
  if (s.messageDigest && !bytesEqual(createHash(s.signerDigestAlgorithm).update(s.content).digest(), s.messageDigest)) {
    return mismatch('the signed attributes do not match the signed content (messageDigest differs)');
  }
  if (!s.signer) return mismatch("the signer's certificate is not in the signature");
  const signer = new X509Certificate(Buffer.from(s.signer));
  if (!verify(s.signerDigestAlgorithm, s.signedBytes, signer.publicKey, s.signature)) {
    return mismatch(`the signature does not verify with the key of ${subjectOf(signer)}`);
  }
  const bag = s.certificates.map((c) => new X509Certificate(Buffer.from(c)));
  let cur = signer;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    if (forbiddenCerts.some((f) => f.raw.equals(cur.raw))) return mismatch(`the chain goes through ${subjectOf(cur)}, a revoked certificate (dbx)`);
    const anchor = anchors.find((a) => a.raw.equals(cur.raw) || (cur.checkIssued(a) && cur.verify(a.publicKey)));
    if (anchor) return { status: 'verified', signer: subjectOf(signer), anchor: subjectOf(anchor) };
    const next = bag.find((c) => !c.raw.equals(cur.raw) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) break;
    cur = next;
  }
  const given = anchors.length ? anchors.map(subjectOf).join('; ') : 'none given';
  return mismatch(`signed by ${subjectOf(signer)}, which does not chain to a trusted certificate (${given})`);
}

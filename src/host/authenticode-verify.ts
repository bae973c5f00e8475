// The Authenticode check of a whole PE image (a UKI, an add-on) with node:crypto: the image digest
// over every byte but the checksum and the signature (src/format/pe.ts authenticodeRanges), the
// signed attributes' messageDigest, the signer's signature, and a chain from the signer to one of
// the trust anchors given. Certificate validity dates are not checked, as UEFI firmware does not.
import { X509Certificate, createHash, verify } from 'node:crypto';
import { ParseError } from '../errors.ts';
import { parseAuthenticode, type AuthenticodeSignature, type AuthenticodeVerdict } from '../format/authenticode.ts';
import { bytesEqual } from '../format/der.ts';
import { authenticodeRanges, type PeImage } from '../format/pe.ts';

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

/** The image digest Authenticode signs, with node:crypto's `algorithm`. */
export function authenticodeDigest(bytes: Uint8Array, pe: PeImage, algorithm = 'sha256'): Uint8Array {
  const h = createHash(algorithm);
  for (const [a, b] of authenticodeRanges(pe)) h.update(bytes.subarray(a, b));
  return h.digest();
}

const subjectOf = (c: X509Certificate) => c.subject.replace(/\n/g, ', ');

/** Checks every signature of the image; verified when one of them verifies and chains to an anchor. */
export function verifyAuthenticode(bytes: Uint8Array, pe: PeImage, anchors: readonly X509Certificate[], source = '<PE image>'): AuthenticodeVerdict {
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
    const v = checked(() => verifyOne(bytes, pe, s, anchors));
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

function verifyOne(bytes: Uint8Array, pe: PeImage, s: AuthenticodeSignature, anchors: readonly X509Certificate[]): AuthenticodeVerdict {
  const mismatch = (reason: string): AuthenticodeVerdict => ({ status: 'mismatch', reason });
  const image = authenticodeDigest(bytes, pe, s.digestAlgorithm);
  if (!bytesEqual(image, s.signedImageDigest)) {
    return mismatch(`the image's ${s.digestAlgorithm} digest ${Buffer.from(image).toString('hex').slice(0, 16)}… differs from the signed one ${Buffer.from(s.signedImageDigest).toString('hex').slice(0, 16)}… (the file changed after it was signed)`);
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
    const anchor = anchors.find((a) => a.raw.equals(cur.raw) || (cur.checkIssued(a) && cur.verify(a.publicKey)));
    if (anchor) return { status: 'verified', signer: subjectOf(signer), anchor: subjectOf(anchor) };
    const next = bag.find((c) => !c.raw.equals(cur.raw) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) break;
    cur = next;
  }
  const given = anchors.length ? anchors.map(subjectOf).join('; ') : 'none given';
  return mismatch(`signed by ${subjectOf(signer)}, which does not chain to a trusted certificate (${given})`);
}

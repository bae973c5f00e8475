// Authenticode signatures of PE images (Windows Authenticode PE Signature Format; PKCS#7 v1.5,
// RFC 2315): the attribute certificate table (WIN_CERTIFICATE entries), each one's SignedData with
// its SpcIndirectDataContent (the signed image digest), certificates and signer. This module finds
// what a verifier must check; the hashing and public-key arithmetic happen at the edge
// (src/host/authenticode-verify.ts, node:crypto), which returns an `AuthenticodeVerdict`.
import { ParseError } from '../errors.ts';
import { TAG, bytesEqual, contextTag, derChildren, derContent, derEncoding, derOid, derValidate, expectTag, readDer, type Der } from './der.ts';
import type { PeImage } from './pe.ts';
import { readStruct, struct } from './struct.ts';

export const winCertificate = struct('WIN_CERTIFICATE', 8, {
  dwLength: { off: 0, type: 'u32' },
  wRevision: { off: 4, type: 'u16' },
  wCertificateType: { off: 6, type: 'u16' },
});
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  messageDigest: '1.2.840.113549.1.9.4',
} as const;

/** Digest algorithm OIDs and their node:crypto names. */
const DIGESTS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** One signature of the image, and what it claims. */
export interface AuthenticodeSignature {
  /** File offset of its WIN_CERTIFICATE entry. */
  offset: number;
  /** node:crypto name of the image digest's algorithm ("sha256"). */
  digestAlgorithm: string;
  /** The image digest the signer signed (SpcIndirectDataContent.messageDigest.digest). */
  signedImageDigest: Uint8Array;
  /** The SpcIndirectDataContent contents octets: the signed attributes' messageDigest is their digest. */
  content: Uint8Array;
  /** The messageDigest authenticated attribute (undefined when there are no authenticated attributes). */
  messageDigest: Uint8Array | undefined;
  /** node:crypto name of the signer's digest algorithm. */
  signerDigestAlgorithm: string;
  /** The bytes the signature is over: the authenticated attributes re-tagged as a SET OF (RFC 2315 9.3), or the content. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
  /** The signer's certificate (DER), found by issuer and serial number among `certificates`. */
  signer: Uint8Array | undefined;
  certificates: Uint8Array[];
}

/** What a check of the whole image concluded; `reason` is one line for the user. */
export type AuthenticodeVerdict =
  | { status: 'verified'; signer: string; anchor: string }
  | { status: 'unsigned'; reason: string }
  | { status: 'mismatch'; reason: string };

/** The signatures in the image's certificate table ([] when it has none: unsigned). */
export function parseAuthenticode(bytes: Uint8Array, pe: PeImage, source = '<PE image>'): AuthenticodeSignature[] {
  const table = pe.certificateTable;
  if (!table) return [];
  const out: AuthenticodeSignature[] = [];
  const end = table.offset + table.size;
  for (let at = table.offset; at + winCertificate.size <= end; ) {
    const w = readStruct(winCertificate, bytes, at);
    if (w.dwLength < winCertificate.size || at + w.dwLength > end) {
      throw new ParseError(`${source}: WIN_CERTIFICATE at 0x${at.toString(16)} has length ${w.dwLength}, outside the certificate table`, { offset: at, source, hint: 'the signature is damaged' });
    }
    if (w.wCertificateType === WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
      out.push(parseSignedData(bytes.subarray(at + winCertificate.size, at + w.dwLength), at, source));
    }
    at += (w.dwLength + 7) & ~7; // entries are 8-byte aligned
  }
  return out;
}

function digestName(alg: Der, source: string): string {
  const oid = derOid(expectTag(derChildren(expectTag(alg, TAG.SEQUENCE, 'AlgorithmIdentifier', source), source)[0], TAG.OID, 'algorithm OID', source));
  const name = DIGESTS[oid];
  if (!name) throw new ParseError(`${source}: digest algorithm ${oid} is not one of SHA-1/256/384/512`, { offset: alg.start, source });
  return name;
}

function parseSignedData(der: Uint8Array, offset: number, source: string): AuthenticodeSignature {
  const where = `${source} (signature at 0x${offset.toString(16)})`;
  const top = expectTag(readDer(der, 0, der.length, where), TAG.SEQUENCE, 'ContentInfo', where);
  derValidate(top, where);
  const contentInfo = derChildren(top, where);
  const type = derOid(expectTag(contentInfo[0], TAG.OID, 'contentType', where));
  if (type !== OID.signedData) throw new ParseError(`${where}: content type ${type} is not PKCS#7 SignedData`, { offset, source });
  const signedData = derChildren(expectTag(derChildren(expectTag(contentInfo[1], contextTag(0), '[0] content', where), where)[0], TAG.SEQUENCE, 'SignedData', where), where);
  // version, digestAlgorithms, contentInfo, [0] certificates, [1] crls, signerInfos
  expectTag(signedData[0], TAG.INTEGER, 'SignedData version', where);
  // Like OpenSSL (sbverify), the versions' values, the outer content type of the signed content and the
  // signature algorithm's OID are not judged: none is signed, and the signer's key says how to verify.
  const digestAlgorithms = derChildren(expectTag(signedData[1], TAG.SET, 'digestAlgorithms', where), where).map((a) => digestName(a, where));
  const inner = derChildren(expectTag(signedData[2], TAG.SEQUENCE, 'SignedData.contentInfo', where), where);
  expectTag(inner[0], TAG.OID, 'contentInfo.contentType', where);
  const spc = expectTag(derChildren(expectTag(inner[1], contextTag(0), '[0] content', where), where)[0], TAG.SEQUENCE, 'SpcIndirectDataContent', where);
  const digestInfo = derChildren(expectTag(derChildren(spc, where)[1], TAG.SEQUENCE, 'DigestInfo', where), where);
  const certificates: Uint8Array[] = [];
  let signerInfos: Der | undefined;
  for (const d of signedData.slice(3)) {
    if (d.tag === contextTag(0)) for (const c of derChildren(d, where)) if (c.tag === TAG.SEQUENCE) certificates.push(derEncoding(c));
    if (d.tag === TAG.SET) signerInfos = d;
  }
  const signers = derChildren(expectTag(signerInfos, TAG.SET, 'signerInfos', where), where);
  if (signers.length !== 1) throw new ParseError(`${where}: ${signers.length} signerInfos (Authenticode has exactly one)`, { offset, source });
  // version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes, digestEncryptionAlgorithm, encryptedDigest, [1] unauthenticated
  const si = derChildren(expectTag(signers[0], TAG.SEQUENCE, 'SignerInfo', where), where);
  expectTag(si[0], TAG.INTEGER, 'SignerInfo version', where);
  const issuerAndSerial = derChildren(expectTag(si[1], TAG.SEQUENCE, 'issuerAndSerialNumber', where), where);
  const issuer = expectTag(issuerAndSerial[0], TAG.SEQUENCE, 'issuer Name', where);
  const serial = expectTag(issuerAndSerial[1], TAG.INTEGER, 'serialNumber', where);
  const signerDigestAlgorithm = digestName(si[2]!, where);
  if (!digestAlgorithms.includes(signerDigestAlgorithm)) {
    throw new ParseError(`${where}: the signer's digest ${signerDigestAlgorithm} is not among SignedData's digestAlgorithms (${digestAlgorithms.join(', ')})`, { offset: si[2]!.start, source });
  }
  let i = 3;
  let attrs: Der | undefined;
  if (si[i]?.tag === contextTag(0)) attrs = si[i++];
  expectTag(derChildren(expectTag(si[i++], TAG.SEQUENCE, 'digestEncryptionAlgorithm', where), where)[0], TAG.OID, 'digestEncryptionAlgorithm OID', where);
  const signature = derContent(expectTag(si[i], TAG.OCTET_STRING, 'encryptedDigest', where));
  let messageDigest: Uint8Array | undefined;
  let signedBytes = derContent(spc);
  if (attrs) {
    for (const a of derChildren(attrs, where)) {
      const [t, values] = derChildren(expectTag(a, TAG.SEQUENCE, 'Attribute', where), where);
      if (derOid(expectTag(t, TAG.OID, 'attribute type', where)) === OID.messageDigest) {
        messageDigest = derContent(expectTag(derChildren(expectTag(values, TAG.SET, 'attribute values', where), where)[0], TAG.OCTET_STRING, 'messageDigest', where));
      }
    }
    signedBytes = derEncoding(attrs).slice();
    signedBytes[0] = TAG.SET;
  }
  return {
    offset,
    digestAlgorithm: digestName(digestInfo[0]!, where),
    signedImageDigest: derContent(expectTag(digestInfo[1], TAG.OCTET_STRING, 'digest', where)),
    content: derContent(spc),
    messageDigest,
    signerDigestAlgorithm,
    signedBytes,
    signature,
    signer: certificates.find((c) => issuedAs(c, derEncoding(issuer), derContent(serial), where)),
    certificates,
  };
}

/** Does the X.509 certificate have this issuer Name and serial number? */
function issuedAs(cert: Uint8Array, issuer: Uint8Array, serial: Uint8Array, source: string): boolean {
  const tbs = derChildren(derChildren(readDer(cert, 0, cert.length, source), source)[0]!, source);
  const k = tbs[0]?.tag === contextTag(0) ? 1 : 0; // [0] EXPLICIT version
  return tbs[k]?.tag === TAG.INTEGER && bytesEqual(derContent(tbs[k]), serial) && bytesEqual(derEncoding(tbs[k + 2]!), issuer);
}

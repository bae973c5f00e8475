// UEFI signature databases (UEFI specification, "Signature Database"): the EFI_SIGNATURE_LIST
// sequences in the db, dbx, MokListRT and MokListXRT variables — X.509 certificates (trust anchors,
// or revoked ones in dbx) and SHA-256 image digests (revoked images, or allowed ones in db).
import { ParseError } from '../errors.ts';
import { readStruct, struct } from './struct.ts';

export const efiSignatureList = struct('EFI_SIGNATURE_LIST', 28, {
  SignatureType: { off: 0, type: 'bytes:16' },
  SignatureListSize: { off: 16, type: 'u32' },
  SignatureHeaderSize: { off: 20, type: 'u32' },
  SignatureSize: { off: 24, type: 'u32' },
});
/** Each EFI_SIGNATURE_DATA starts with the owner's GUID. */
const OWNER_SIZE = 16;

/** GUID text (as UEFI writes it: the first three fields little-endian) of 16 bytes. */
export function guidText(b: Uint8Array): string {
  const hex = (i: number, n: number, le: boolean) => {
    const part = [...b.subarray(i, i + n)];
    return (le ? part.reverse() : part).map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 2, true)}-${hex(6, 2, true)}-${hex(8, 2, false)}-${hex(10, 6, false)}`;
}

export const EFI_CERT_X509_GUID = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';
export const EFI_CERT_SHA256_GUID = 'c1c41626-504c-4092-aca9-41f936934328';

export interface EfiSignatures {
  /** DER X.509 certificates. */
  x509: Uint8Array[];
  /** SHA-256 digests (of PE images: Authenticode digests). */
  sha256: Uint8Array[];
  /** Entries of other types (SHA-1, RSA-2048 keys, X.509 TBS hashes…), counted, not used. */
  other: number;
}

/** Reads a variable's data (without efivarfs' 4 attribute bytes): a sequence of signature lists. */
export function parseEfiSignatureLists(bytes: Uint8Array, source = '<signature database>'): EfiSignatures {
  const out: EfiSignatures = { x509: [], sha256: [], other: 0 };
  for (let at = 0; at < bytes.length; ) {
    if (at + efiSignatureList.size > bytes.length) {
      throw new ParseError(`${source}: ${bytes.length - at} bytes left at offset ${at}, less than an EFI_SIGNATURE_LIST header`, { offset: at, source, hint: 'the variable is damaged or not a signature database' });
    }
    const l = readStruct(efiSignatureList, bytes, at);
    const body = at + efiSignatureList.size + l.SignatureHeaderSize;
    const end = at + l.SignatureListSize;
    if (l.SignatureListSize < efiSignatureList.size || end > bytes.length || l.SignatureSize <= OWNER_SIZE || body > end || (end - body) % l.SignatureSize !== 0) {
      throw new ParseError(`${source}: EFI_SIGNATURE_LIST at offset ${at} has inconsistent sizes (list ${l.SignatureListSize}, header ${l.SignatureHeaderSize}, entry ${l.SignatureSize})`, { offset: at, source, hint: 'the variable is damaged' });
    }
    const type = guidText(l.SignatureType);
    for (let e = body; e < end; e += l.SignatureSize) {
      const data = bytes.slice(e + OWNER_SIZE, e + l.SignatureSize);
      if (type === EFI_CERT_X509_GUID) out.x509.push(data);
      else if (type === EFI_CERT_SHA256_GUID && data.length === 32) out.sha256.push(data);
      else out.other++;
    }
    at = end;
  }
  return out;
}

// A small DER (ITU-T X.690) reader: enough of ASN.1 for PKCS#7 SignedData and X.509 certificates.
// Every element keeps its place in the input, so callers can hash or verify the exact bytes.
import { ParseError } from '../errors.ts';

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV: `tag` is the identifier octet (class, constructed bit and number < 31). */
export interface Der {
  tag: number;
  /** Offset of the identifier octet in `bytes`. */
  start: number;
  /** Offset of the contents. */
  contentStart: number;
  /** Offset just past the contents. */
  end: number;
  bytes: Uint8Array;
}

/** Context-specific tag [n], constructed (0xa0 | n) or primitive (0x80 | n). */
export const contextTag = (n: number, constructed = true) => (constructed ? 0xa0 : 0x80) | n;

/** Reads the element at `offset`; it must end by `limit`. */
export function readDer(bytes: Uint8Array, offset = 0, limit = bytes.length, source = '<DER>'): Der {
  const fail = (what: string) => new ParseError(`${source}: DER ${what} at offset ${offset}`, { offset, source, hint: 'the signature data is damaged' });
  if (offset + 2 > limit) throw fail('element truncated');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw fail('multi-byte tag');
  let len = bytes[offset + 1]!;
  let at = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw fail(n === 0 ? 'indefinite length (BER, not DER)' : `${n}-byte length`);
    if (at + n > limit) throw fail('length truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[at + i]!;
    at += n;
  }
  if (at + len > limit) throw fail(`length ${len} past the end of its container`);
  return { tag, start: offset, contentStart: at, end: at + len, bytes };
}

/** Walks the whole tree: every constructed element's contents are whole elements, NULL is empty, BOOLEAN one byte. */
export function derValidate(d: Der, source = '<DER>', depth = 0): void {
  if (depth > 32) throw new ParseError(`${source}: DER nested deeper than 32 levels at offset ${d.start}`, { offset: d.start, source });
  const len = d.end - d.contentStart;
  if ((d.tag === TAG.NULL && len !== 0) || (d.tag === 0x01 && len !== 1) || ((d.tag === TAG.INTEGER || d.tag === TAG.OID) && len === 0) ||
    (d.tag === TAG.OID && d.bytes[d.end - 1]! & 0x80)) {
    throw new ParseError(`${source}: DER element with tag 0x${d.tag.toString(16)} is malformed (length ${len}) at offset ${d.start}`, { offset: d.start, source, hint: 'the signature data is damaged' });
  }
  if (d.tag & 0x20) for (const c of derChildren(d, source)) derValidate(c, source, depth + 1);
}

/** The elements inside a constructed element. */
export function derChildren(d: Der, source = '<DER>'): Der[] {
  const out: Der[] = [];
  for (let at = d.contentStart; at < d.end; ) {
    const c = readDer(d.bytes, at, d.end, source);
    out.push(c);
    at = c.end;
  }
  return out;
}

export const derContent = (d: Der): Uint8Array => d.bytes.subarray(d.contentStart, d.end);
/** The whole encoding (identifier, length and contents). */
export const derEncoding = (d: Der): Uint8Array => d.bytes.subarray(d.start, d.end);

/** Checks the tag and returns the element (a clear error when the structure is not the expected one). */
export function expectTag(d: Der | undefined, tag: number, what: string, source = '<DER>'): Der {
  if (!d || d.tag !== tag) {
    const found = d ? `tag 0x${d.tag.toString(16)}` : 'nothing';
    throw new ParseError(`${source}: expected ${what} (tag 0x${tag.toString(16)}), found ${found}`, { offset: d?.start, source, hint: 'the signature data is damaged or not PKCS#7' });
  }
  return d;
}

/** Dotted text of an OBJECT IDENTIFIER. */
export function derOid(d: Der): string {
  const c = derContent(d);
  const parts: number[] = [];
  let v = 0;
  for (const b of c) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

export function derInteger(d: Der): bigint {
  let v = 0n;
  for (const b of derContent(d)) v = (v << 8n) | BigInt(b);
  return v;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

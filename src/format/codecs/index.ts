// Page codecs of the kdump-compressed format, decompress side (pure: runs in a browser too).
// The flag values are makedumpfile's DUMP_DH_COMPRESSED_* bits, used both in the header's
// `status` (which codecs the file uses) and in each page descriptor's `flags`.
import { unzlibSync } from 'fflate';
import { decompress as zstdDecompress } from 'fzstd';
import { uncompress as snappyUncompress } from 'snappyjs';
import { lzo1xDecompress } from './lzo1x.ts';

export const DUMP_DH_COMPRESSED_ZLIB = 0x1;
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_SNAPPY = 0x4;
export const DUMP_DH_COMPRESSED_ZSTD = 0x20;

export type CodecName = 'zlib' | 'lzo' | 'snappy' | 'zstd';

export interface PageDecoder {
  readonly name: CodecName;
  readonly flag: number;
  /** Decompresses one page; may throw any error on damaged input (callers wrap it). */
  decompress(data: Uint8Array, pageSize: number): Uint8Array;
}

/** A table of page decoders, one per codec: the dump opener is given one (openDump's `decoders`). */
export type PageDecoders = readonly PageDecoder[];

/** The pure decoders (they run in a browser); the Node edge passes a table with native zlib (src/host/node-codecs.ts). */
export const pageDecoders: PageDecoders = [
  { name: 'zlib', flag: DUMP_DH_COMPRESSED_ZLIB, decompress: inflatePage },
  { name: 'lzo', flag: DUMP_DH_COMPRESSED_LZO, decompress: (d, n) => lzo1xDecompress(d, n) },
  { name: 'snappy', flag: DUMP_DH_COMPRESSED_SNAPPY, decompress: (d, n) => snappyUncompress(d, n) },
  { name: 'zstd', flag: DUMP_DH_COMPRESSED_ZSTD, decompress: (d, n) => zstdDecompress(checkZstdFrame(d, n)) },
];

/**
 * zlib into a buffer one byte larger than a page: fflate then never grows or copies it, and a
 * stream that overflows shows up as pageSize + 1 bytes (fflate does not grow a given buffer).
 */
function inflatePage(d: Uint8Array, pageSize: number): Uint8Array {
  const out = unzlibSync(d, { out: new Uint8Array(pageSize + 1) });
  if (out.length > pageSize) throw new Error(`zlib data holds more than a ${pageSize}-byte page`);
  return out;
}

/**
 * Checks a zstd frame's declared content size (when it has one) before decoding, so a damaged page
 * cannot make the decoder allocate far more than a page.
 */
function checkZstdFrame(d: Uint8Array, pageSize: number): Uint8Array {
  if (d.length < 6 || d[0] !== 0x28 || d[1] !== 0xb5 || d[2] !== 0x2f || d[3] !== 0xfd) throw new Error('no zstd frame magic');
  const fhd = d[4]!;
  const single = (fhd >> 5) & 1;
  const fcsBytes = [single, 2, 4, 8][fhd >> 6]!;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  if (fcsBytes === 0) return d;
  if (at + fcsBytes > d.length) throw new Error('zstd frame header is cut off');
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + d[at + i]!;
  if (fcsBytes === 2) size += 256;
  if (size !== pageSize) throw new Error(`zstd frame holds ${size} bytes, not a ${pageSize}-byte page`);
  return d;
}

/**
 * `table` with `name`'s decoder replaced (the Node edge's native zlib inflates 4 KiB pages about
 * twice as fast as fflate). The replacement must throw on bad input and may return any length
 * (callers check it is one page).
 */
export function withPageDecoder(table: PageDecoders, name: CodecName, decompress: PageDecoder['decompress']): PageDecoders {
  return table.map((c) => (c.name === name ? { ...c, decompress } : c));
}

export const CODEC_FLAGS_MASK = pageDecoders.reduce((m, c) => m | c.flag, 0);

export function codecFlag(name: CodecName): number {
  return pageDecoders.find((c) => c.name === name)!.flag;
}

/** Names of the codecs whose bits are set in `flags`. */
export function codecNames(flags: number): CodecName[] {
  return pageDecoders.filter((c) => (flags & c.flag) !== 0).map((c) => c.name);
}

/** The one decoder of `table` a page descriptor's flags select; undefined for a raw page (flags 0). */
export function decoderFor(flags: number, table: PageDecoders = pageDecoders): PageDecoder | undefined {
  return table.find((c) => (flags & c.flag) !== 0);
}

// Compressed kernel files (vmlinux.gz, vmlinux.zst): kexec-tools' slurp_decompress_file reads gzip
// and xz/lzma kernels transparently; kexec-ts reads gzip and zstd, and names every other compression
// it recognises by magic so the user knows what to run (legacy .lzma has no reliable magic: it is not
// recognised). Pure (fflate, fzstd, imported only when a file needs them: the magic check is what
// every load pays); the Node edge may pass native zlib for speed.
import { ParseError } from '../errors.ts';

/**
 * The largest decompressed kernel accepted. A bootable image — a bzImage's payload, an arm64 Image,
 * a stripped vmlinux — is under 100 MiB, and the x86_64 kernel's whole mapped image must fit in
 * KERNEL_IMAGE_SIZE (512 MiB without KASLR). The cap bounds what a crafted file can make us
 * allocate (a few KiB of zstd or gzip can claim gigabytes); an unstripped vmlinux with DWARF
 * (~600 MB) is refused compressed: strip it, or decompress it first (an uncompressed file is read as is).
 */
export const MAX_DECOMPRESSED_IMAGE = 512 * 1024 * 1024;

/** A decoder told the most it may produce; it throws ImageTooLarge past that. */
type Decode = (data: Uint8Array, max: number) => Uint8Array | Promise<Uint8Array>;

interface ImageFormat {
  name: string;
  magic: number[];
  /** the tool that decompresses it, for the hint of an unsupported format */
  tool: string;
  decompress?: Decode;
}

/** Thrown by a decoder that would produce more than its limit. */
class ImageTooLarge extends Error {}

const FORMATS: ImageFormat[] = [
  { name: 'gzip', magic: [0x1f, 0x8b], tool: 'gunzip', decompress: gunzipCapped },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], tool: 'unzstd', decompress: unzstdCapped },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], tool: 'unxz' },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], tool: 'bunzip2' },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18], tool: 'unlz4' },
  { name: 'lz4 (legacy)', magic: [0x02, 0x21, 0x4c, 0x18], tool: 'unlz4' },
  { name: 'lzop', magic: [0x89, 0x4c, 0x5a, 0x4f], tool: 'lzop -d' },
];

const concat = (parts: Uint8Array[], n: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

/**
 * fflate's streaming gunzip fed 64 KiB at a time (deflate expands at most ~1032:1, so one step
 * yields under 66 MiB), stopping once the output passes `max`. gzip's size trailer is not trusted:
 * it is the size mod 2^32, and a crafted file can state anything.
 */
async function gunzipCapped(d: Uint8Array, max: number): Promise<Uint8Array> {
  const { Gunzip } = await import('fflate');
  const parts: Uint8Array[] = [];
  let n = 0;
  const g = new Gunzip((chunk) => {
    n += chunk.length;
    if (n > max) throw new ImageTooLarge();
    parts.push(chunk);
  });
  const STEP = 0x10000;
  for (let off = 0; off < d.length || off === 0; off += STEP) g.push(d.subarray(off, off + STEP), off + STEP >= d.length);
  return concat(parts, n);
}

/**
 * Walks the zstd frames' block headers (RFC 8878 §3.1.1) without decoding: a raw or RLE block
 * states its regenerated size, a compressed block yields at most 128 KiB, and each frame declares
 * its window (which the decoder allocates). Over `max` in either: refused before anything is
 * allocated — an RLE block of 4 bytes stands for 128 KiB. Truncated input is left to the decoder.
 */
function zstdBound(d: Uint8Array, max: number): void {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let off = 0;
  let total = 0;
  while (off + 8 <= d.length) {
    const magic = dv.getUint32(off, true);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      off += 8 + dv.getUint32(off + 4, true); // skippable frame
      continue;
    }
    if (magic !== 0xfd2fb528) return;
    const fhd = d[off + 4]!;
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = fcsFlag ? 1 << fcsFlag : single;
    let p = off + 5;
    let window = 0;
    if (!single) {
      const wd = d[p++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += dictBytes;
    let fcs = 0;
    for (let i = 0; i < fcsBytes; i++) fcs += d[p + i]! * 2 ** (8 * i);
    if (fcsBytes === 2) fcs += 256;
    p += fcsBytes;
    // fzstd allocates the declared content size, else the window: either over the cap is refused
    if ((fcs || window) > max) throw new ImageTooLarge();
    for (;;) {
      if (p + 3 > d.length) return;
      const h = d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16);
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      total += type === 2 ? 128 * 1024 : size;
      if (total > max) throw new ImageTooLarge();
      p += 3 + (type === 1 ? 1 : type === 2 || type === 0 ? size : 0);
      if (h & 1) break;
    }
    off = p + ((fhd >> 2) & 1 ? 4 : 0);
  }
}

async function unzstdCapped(d: Uint8Array, max: number): Promise<Uint8Array> {
  zstdBound(d, max);
  return (await import('fzstd')).decompress(d);
}

/** The compression a kernel file starts with (by magic), or undefined for an uncompressed file. */
export function imageCompression(data: Uint8Array): string | undefined {
  return FORMATS.find((f) => f.magic.every((b, i) => data[i] === b))?.name;
}

export interface DecompressedImage {
  data: Uint8Array;
  /** the compression it was read through; undefined when the file was not compressed */
  compression?: string;
  fileSize: number;
}

/**
 * The kernel image inside `data`: decompressed when it is gzip or zstd, `data` itself when it is not
 * compressed. Other known compressions, damaged streams and results over `maxSize` (default
 * MAX_DECOMPRESSED_IMAGE) are a ParseError. `native.gzip` replaces the gzip decoder (the CLI passes
 * node:zlib's gunzip with maxOutputLength, several times faster than fflate); it must throw a
 * RangeError (ERR_BUFFER_TOO_LARGE) past its limit as node:zlib does.
 */
export async function decompressImage(
  data: Uint8Array,
  source: string,
  opts: { gzip?: (d: Uint8Array, max: number) => Uint8Array; maxSize?: number } = {},
): Promise<DecompressedImage> {
  const f = FORMATS.find((x) => x.magic.every((b, i) => data[i] === b));
  if (!f) return { data, fileSize: data.length };
  const max = opts.maxSize ?? MAX_DECOMPRESSED_IMAGE;
  const decode = f.name === 'gzip' && opts.gzip ? opts.gzip : f.decompress;
  if (!decode) {
    throw new ParseError(`${f.name}-compressed kernel images are not supported (kexec-ts reads gzip and zstd)`, {
      source,
      offset: 0,
      hint: `decompress it first: ${f.tool} -k ${source}`,
    });
  }
  let out: Uint8Array;
  try {
    out = await decode(data, max);
  } catch (e) {
    if (e instanceof ImageTooLarge || (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ParseError(`the ${f.name} kernel image decompresses to more than ${max} bytes (${max / 2 ** 20} MiB), more than a kernel image can be`, {
        source,
        hint: 'a bootable kernel is far smaller: an unstripped vmlinux? strip it (objcopy --strip-debug) or decompress it first',
      });
    }
    throw new ParseError(`cannot decompress the ${f.name} kernel image: ${(e as Error).message}`, { source, hint: 'the file is damaged or cut off' });
  }
  if (out.length > max) throw new ParseError(`the ${f.name} kernel image decompresses to more than ${max} bytes`, { source });
  if (out.length === 0) throw new ParseError(`the ${f.name} kernel image decompresses to nothing`, { source });
  return { data: out, compression: f.name, fileSize: data.length };
}

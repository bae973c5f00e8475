// Compressed kernel files (vmlinux.gz, vmlinux.zst): kexec-tools' slurp_decompress_file reads gzip
// and xz/lzma kernels transparently; kexec-ts reads gzip and zstd, and names every other compression
// it recognises by magic so the user knows what to run (legacy .lzma has no reliable magic: it is not
// recognised). Pure (fflate, fzstd, imported only when a file needs them: the magic check is what
// every load pays); the Node edge may pass native zlib for speed.
import { ParseError } from '../errors.ts';

/** The largest decompressed kernel accepted (an unstripped vmlinux with DWARF is ~700 MB). */
export const MAX_DECOMPRESSED_IMAGE = 1024 * 1024 * 1024;

interface ImageFormat {
  name: string;
  magic: number[];
  /** the tool that decompresses it, for the hint of an unsupported format */
  tool: string;
  decompress?: (data: Uint8Array) => Promise<Uint8Array>;
}

const FORMATS: ImageFormat[] = [
  { name: 'gzip', magic: [0x1f, 0x8b], tool: 'gunzip', decompress: async (d) => (await import('fflate')).gunzipSync(d, { out: new Uint8Array(gzipSize(d)) }) },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], tool: 'unzstd', decompress: async (d) => (await import('fzstd')).decompress(d) },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], tool: 'unxz' },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], tool: 'bunzip2' },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18], tool: 'unlz4' },
  { name: 'lz4 (legacy)', magic: [0x02, 0x21, 0x4c, 0x18], tool: 'unlz4' },
  { name: 'lzop', magic: [0x89, 0x4c, 0x5a, 0x4f], tool: 'lzop -d' },
];

/** gzip's ISIZE trailer: the decompressed size mod 2^32 (exact below 4 GiB, which the limit keeps us under). */
function gzipSize(d: Uint8Array): number {
  if (d.length < 18) throw new Error('shorter than a gzip header and trailer');
  const n = new DataView(d.buffer, d.byteOffset + d.length - 4, 4).getUint32(0, true);
  if (n > MAX_DECOMPRESSED_IMAGE) throw new Error(`declares ${n} decompressed bytes (limit ${MAX_DECOMPRESSED_IMAGE})`);
  return n;
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
 * compressed. Other known compressions, damaged streams and oversized results are a ParseError.
 * `native` replaces a decoder (the CLI passes node:zlib's gunzip, several times faster than fflate).
 */
export async function decompressImage(data: Uint8Array, source: string, native: { gzip?: (d: Uint8Array) => Uint8Array } = {}): Promise<DecompressedImage> {
  const f = FORMATS.find((x) => x.magic.every((b, i) => data[i] === b));
  if (!f) return { data, fileSize: data.length };
  const nativeGzip = native.gzip;
  const decode = f.name === 'gzip' && nativeGzip ? async (d: Uint8Array) => nativeGzip(d) : f.decompress;
  if (!decode) {
    throw new ParseError(`${f.name}-compressed kernel images are not supported (kexec-ts reads gzip and zstd)`, {
      source,
      offset: 0,
      hint: `decompress it first: ${f.tool} -k ${source}`,
    });
  }
  let out: Uint8Array;
  try {
    out = await decode(data);
  } catch (e) {
    throw new ParseError(`cannot decompress the ${f.name} kernel image: ${(e as Error).message}`, { source, hint: 'the file is damaged or cut off' });
  }
  if (out.length > MAX_DECOMPRESSED_IMAGE) throw new ParseError(`the ${f.name} kernel image decompresses to more than ${MAX_DECOMPRESSED_IMAGE} bytes`, { source });
  if (out.length === 0) throw new ParseError(`the ${f.name} kernel image decompresses to nothing`, { source });
  return { data: out, compression: f.name, fileSize: data.length };
}

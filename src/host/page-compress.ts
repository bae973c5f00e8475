// Per-page compression for kdump-compressed output (Node side): each page is one independent
// stream, as makedumpfile writes and every reader expects — zlib (RFC 1950), LZO1X, raw snappy,
// zstd (one frame, level 1: the machine's libzstd when its frames are the WebAssembly build's, else
// that build).
// A page whose compressed form is not smaller is stored raw.
//
// Native libraries first when the machine has them (native-codecs.ts: libdeflate for zlib pages,
// liblzo2 for LZO pages), else Node's zlib and our LZO1X.
// Node's zlib level: makedumpfile uses Z_BEST_SPEED (1) of the system zlib. Node bundles Chromium's
// zlib, whose level 1 is a weaker matcher (3.4 % larger than makedumpfile on the Debian 6.1
// fixture) and level 2 is still 2 % larger on an unfiltered 1 GiB guest vmcore (-d 1); level 3 is
// 1.7 % larger there, and per page no slower than the system zlib's level 1.
import zlib from 'node:zlib';
import type { CodecName } from '../format/codecs/index.ts';
import type { PageCompressor } from '../format/codecs/compress.ts';
import { pureCompression, type CompressorOptions } from '../dump/batch.ts';
import { zlibPageStream } from './zlib-page-stream.ts';
import { libdeflateCompressor, libdeflateLevel, liblzoCompressor, libzstdCompressor } from './native-codecs.ts';

const ZLIB_LEVEL = 3;

/** The compressor for a codec: native or Node's zlib, native or our LZO1X, else the pure ones (snappy, zstd). */
export async function pageCompressor(codec: CodecName, opts: CompressorOptions & { zstdChecked?: boolean } = {}): Promise<PageCompressor> {
  switch (codec) {
    case 'zlib':
      return libdeflateCompressor(libdeflateLevel(opts.kernelPagesOnly)) ?? zlibCompressor();
    case 'lzo':
      return liblzoCompressor() ?? (await import('../format/codecs/compress.ts')).lzoPageCompressor();
    case 'zstd': {
      // libzstd is ~10x faster than the WebAssembly build; taken only when it writes the same bytes.
      // A worker whose parent already compared them (zstdChecked) skips loading the WebAssembly
      // build (~15 MB of memory per worker).
      const checkedNative = opts.zstdChecked ? libzstdCompressor(ZSTD_LEVEL) : undefined;
      if (checkedNative) return checkedNative;
      const wasm = await pureCompression.compressor(codec);
      const native = libzstdCompressor(ZSTD_LEVEL, wasm);
      zstdNative = native !== undefined;
      return native ?? wasm;
    }
    default:
      return pureCompression.compressor(codec);
  }
}

const ZSTD_LEVEL = 1;
/** Whether pageCompressor('zstd') took libzstd (undefined: not asked yet). */
let zstdNative: boolean | undefined;

/** True once pageCompressor('zstd') in this thread found libzstd writing the WebAssembly build's bytes. */
export function zstdNativeChecked(): boolean {
  return zstdNative === true;
}

/** What compresses `codec` pages on this machine, for the save's report ("libdeflate level 2", …). */
export function pageCompressorName(codec: CodecName, opts: CompressorOptions = {}): string {
  switch (codec) {
    case 'zlib': {
      const level = libdeflateLevel(opts.kernelPagesOnly);
      return libdeflateCompressor(level) ? `libdeflate level ${level}` : `Node's zlib level ${ZLIB_LEVEL}`;
    }
    case 'lzo':
      return liblzoCompressor() ? 'liblzo2' : 'built-in LZO1X';
    case 'snappy':
      return 'snappyjs';
    case 'zstd':
      return zstdNative ? `libzstd level ${ZSTD_LEVEL}` : `zstd level ${ZSTD_LEVEL} (WebAssembly)`;
  }
}

// Node's zlib.deflateSync sets up a new stream (deflateInit, 256 KiB of state) per call. makedumpfile
// keeps one stream and deflateReset()s it; we do the same (zlib-page-stream.ts) — about 1.3x faster
// per page — and fall back to deflateSync when a Node version no longer has that shape.
function zlibCompressor(): PageCompressor {
  const slow: PageCompressor = (page, out) => {
    const c = zlib.deflateSync(page, { level: ZLIB_LEVEL });
    if (c.length > out.length) return out.length;
    out.set(c);
    return c.length;
  };
  const stream = zlibPageStream(zlib.createDeflate({ level: ZLIB_LEVEL }));
  if (!stream) return slow;
  // Input left over means the output did not fit: store raw.
  const fast: PageCompressor = (page, out) => {
    const n = stream(page, out);
    return n < 0 ? out.length : n;
  };
  // Check once that the fast path produces a stream zlib reads back; else use the slow one.
  try {
    const probe = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const out = new Uint8Array(4096 + 64);
    const n = fast(probe, out);
    const back = zlib.inflateSync(out.subarray(0, n));
    if (Buffer.compare(back, probe) === 0) return fast;
  } catch {
    // fall through
  }
  return slow;
}

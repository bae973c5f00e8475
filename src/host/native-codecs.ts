// Native page compressors, used when the machine has them: the C libraries are called through koffi
// (the FFI kexec-ts already uses for its syscalls), one call per page.
//   zlib pages: libdeflate (Debian libdeflate0), plain RFC 1950 streams, any zlib reads them. Level 2
//               (about 40 % less CPU than zlib's level 1, makedumpfile's, and 0.5-1.6 % smaller), or
//               level 1 for a save that keeps only the kernel's own pages (libdeflateLevel).
//   LZO pages:  liblzo2 (Debian liblzo2-2, the library makedumpfile -l uses): lzo1x_1_compress.
// Without koffi or the library (a capture initramfs that lacks it, another OS), or with
// VMCORE_TS_NATIVE_CODECS=0, these return undefined and the caller uses Node's zlib / our LZO1X.
// Each compressor checks itself once on a probe page (round trip through a decoder we trust).
import zlib from 'node:zlib';
import type { PageCompressor } from '../format/codecs/compress.ts';
import { lzo1xDecompress } from '../format/codecs/lzo1x.ts';
import { loadKoffi, type Koffi, type KoffiFunction as Fn } from './koffi.ts';

/**
 * libdeflate's level for a save's pages. Level 1 is ~15 % less CPU than 2 but weaker on user data:
 * +3.0 % against makedumpfile's size on a 6.1 guest's `-d 1` pages (level 2: −0.5 %). On the
 * kernel's own pages (a dump level that leaves page cache and user pages out, as -d 31 does) it
 * stays within 1.1 % of makedumpfile's size (6.1 +1.07 %, 6.12 +0.91 %; level 2 −1.6 / −0.9 %), and
 * a 1 GiB guest's `-c -d 31` takes 12–14 % less time (BENCHMARKS.md).
 */
export function libdeflateLevel(kernelPagesOnly: boolean | undefined): number {
  return kernelPagesOnly ? 1 : 2;
}

/** koffi, unless VMCORE_TS_NATIVE_CODECS=0 or it is not installed. */
function koffiForCodecs(): Koffi | undefined {
  if (process.env.VMCORE_TS_NATIVE_CODECS === '0') return undefined;
  try {
    return loadKoffi();
  } catch {
    return undefined;
  }
}

function load(lib: string, protos: string[]): Fn[] | undefined {
  const k = koffiForCodecs();
  if (!k) return undefined;
  try {
    // RTLD_DEEPBIND: the library's own calls stay inside it (Node exports zlib symbols of its own).
    const l = k.load(lib, { deep: true });
    return protos.map((p) => l.func(p));
  } catch {
    return undefined;
  }
}

const PROBE_SIZE = 4096;

/** A page of mixed repeats and steps (built once, with a plain loop: a capture kernel may run this cold in an emulated CPU). */
let mixedPage: Uint8Array | undefined;
function probePage(): Uint8Array {
  if (!mixedPage) {
    mixedPage = new Uint8Array(PROBE_SIZE);
    for (let i = 0; i < PROBE_SIZE; i++) mixedPage[i] = i % 97 < 40 ? (i * 7) & 0xff : i >> 6;
  }
  return mixedPage;
}

/** Each library's probe outcome: a save makes its compressor more than once (its thread plan, then its pages). */
const probed = new Map<string, boolean>();

/** Checks `compress` on a probe page with `decode` (once per `lib`); the compressor if it round-trips, else undefined. */
function checked(lib: string, compress: PageCompressor, decode: (c: Uint8Array) => Uint8Array): PageCompressor | undefined {
  let ok = probed.get(lib);
  if (ok === undefined) {
    try {
      const page = probePage();
      const out = new Uint8Array(PROBE_SIZE + 64);
      const n = compress(page, out);
      ok = n < PROBE_SIZE && Buffer.compare(decode(out.subarray(0, n)), page) === 0;
    } catch {
      ok = false;
    }
    probed.set(lib, ok);
  }
  return ok ? compress : undefined;
}

/** zlib pages through libdeflate at `level`, or undefined. */
export function libdeflateCompressor(level: number): PageCompressor | undefined {
  const fns = load('libdeflate.so.0', ['void *libdeflate_alloc_compressor(int level)', 'size_t libdeflate_zlib_compress(void *c, const void *in, size_t n, void *out, size_t avail)']);
  if (!fns) return undefined;
  const [alloc, compress] = fns as [Fn, Fn];
  const c = alloc(level);
  if (!c) return undefined;
  // libdeflate returns 0 when the result does not fit in `avail`: give it one byte less than a page.
  const f: PageCompressor = (page, out) => {
    const n = Number(compress(c, page, page.length, out, Math.min(out.length, page.length - 1)));
    return n === 0 ? page.length : n;
  };
  return checked('libdeflate', f, (b) => zlib.inflateSync(b));
}

// liblzo2's lzo_init(): its build checks the caller's type sizes (x86_64/arm64 LP64 values).
const LZO_VERSION = 0x20a0;
const LZO_INIT_SIZES = [2, 4, 8, 4, 8, 8, 8, 8, 48];
const LZO1X_1_MEM_COMPRESS = 16384 * 8;

/** liblzo2's lzo1x_1_compress and lzo1x_decompress_safe, initialised; undefined without koffi or the library. */
function lzoFunctions(): { compress: Fn; decompress: Fn } | undefined {
  if (process.arch !== 'x64' && process.arch !== 'arm64') return undefined;
  const fns = load('liblzo2.so.2', [
    'int __lzo_init_v2(unsigned int v, int s1, int s2, int s3, int s4, int s5, int s6, int s7, int s8, int s9)',
    'int lzo1x_1_compress(const void *src, unsigned long n, void *dst, void *dstLen, void *wrk)',
    'int lzo1x_decompress_safe(const void *src, unsigned long n, void *dst, void *dstLen, void *wrk)',
  ]);
  if (!fns) return undefined;
  const [init, compress, decompress] = fns as [Fn, Fn, Fn];
  return init(LZO_VERSION, ...LZO_INIT_SIZES) === 0 ? { compress, decompress } : undefined;
}

/**
 * liblzo2 itself, whole buffers in and out: the reference our LZO1X is checked against (tests,
 * bench/formats.ts). undefined when the library (Debian liblzo2-2) or koffi is missing.
 */
export function liblzo2(): { compress(src: Uint8Array): Uint8Array; decompress(src: Uint8Array, size: number): Uint8Array } | undefined {
  const f = lzoFunctions();
  if (!f) return undefined;
  const wrk = new Uint8Array(LZO1X_1_MEM_COMPRESS);
  const len = new BigUint64Array(1);
  return {
    compress(src) {
      const dst = new Uint8Array(src.length + (src.length >> 4) + 67);
      if (f.compress(src, src.length, dst, len, wrk) !== 0) throw new Error('lzo1x_1_compress failed');
      return dst.slice(0, Number(len[0]));
    },
    decompress(src, size) {
      const dst = new Uint8Array(size);
      len[0] = BigInt(size);
      const r = f.decompress(src, src.length, dst, len, null);
      if (r !== 0) throw new Error(`lzo1x_decompress_safe failed (${String(r)})`);
      return dst.subarray(0, Number(len[0]));
    },
  };
}

/** LZO pages through liblzo2's lzo1x_1_compress, or undefined. */
export function liblzoCompressor(): PageCompressor | undefined {
  const fns = lzoFunctions();
  if (!fns) return undefined;
  const compress = fns.compress;
  const wrk = new Uint8Array(LZO1X_1_MEM_COMPRESS);
  const dstLen = new BigUint64Array(1);
  // lzo1x_1_compress writes up to n + n/16 + 67 bytes: into `out` when it has room, else a scratch buffer.
  let tmp = new Uint8Array(0);
  const f: PageCompressor = (page, out) => {
    const need = page.length + (page.length >> 4) + 67;
    if (out.length < need && tmp.length < need) tmp = new Uint8Array(need);
    const dst = out.length >= need ? out : tmp;
    if (compress(page, page.length, dst, dstLen, wrk) !== 0) return page.length;
    const n = Number(dstLen[0]);
    if (n >= page.length || n > out.length) return page.length;
    if (dst !== out) out.set(dst.subarray(0, n));
    return n;
  };
  return checked('liblzo2', f, (b) => lzo1xDecompress(b, PROBE_SIZE));
}

/**
 * zstd pages through the machine's libzstd (Debian libzstd1), level `level`, one frame per page
 * through one reused context (ZSTD_compressCCtx, as makedumpfile): about 10x less CPU than the
 * WebAssembly build. Used only when its frames are the WebAssembly compressor's, byte for byte, on
 * the probe pages `sameAs` is given (the same zstd release): the output does not depend on which
 * one a machine has. undefined without koffi or the library.
 */
export function libzstdCompressor(level: number, sameAs?: PageCompressor): PageCompressor | undefined {
  const fns = load('libzstd.so.1', [
    'void *ZSTD_createCCtx()',
    'size_t ZSTD_compressCCtx(void *cctx, void *dst, size_t cap, const void *src, size_t n, int level)',
    'unsigned int ZSTD_isError(size_t code)',
  ]);
  if (!fns) return undefined;
  const [create, compress, isError] = fns as [Fn, Fn, Fn];
  const cctx = create();
  if (!cctx) return undefined;
  // A frame no smaller than the page is stored raw: give it one byte less than a page.
  const f: PageCompressor = (page, out) => {
    const r = compress(cctx, out, Math.min(out.length, page.length - 1), page, page.length, level);
    return isError(r) ? page.length : Number(r);
  };
  if (sameAs) {
    const a = new Uint8Array(PROBE_SIZE + 64);
    const b = new Uint8Array(PROBE_SIZE + 64);
    for (const page of zstdProbePages()) {
      const n = f(page, a);
      const m = sameAs(page, b);
      if (n !== m || Buffer.compare(a.subarray(0, n), b.subarray(0, m)) !== 0) return undefined;
    }
  }
  return f;
}

/** Pages of several shapes (text-like, repetitive, random-ish, mostly zero) to compare two zstd builds on. */
function zstdProbePages(): Uint8Array[] {
  const text = new Uint8Array(PROBE_SIZE).map((_, i) => 'struct page *alloc_pages(gfp_t gfp, unsigned int order)\n'.charCodeAt(i % 57) ^ ((i >> 8) & 3));
  const mixed = probePage();
  let seed = 7;
  const noise = new Uint8Array(PROBE_SIZE).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  const sparse = new Uint8Array(PROBE_SIZE);
  for (let i = 0; i < PROBE_SIZE; i += 64) sparse[i] = i >> 6;
  const halves = new Uint8Array(PROBE_SIZE);
  halves.set(noise.subarray(0, 2048));
  halves.set(text.subarray(0, 2048), 2048);
  return [text, mixed, noise, sparse, halves];
}

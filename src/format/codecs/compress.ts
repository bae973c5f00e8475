// Pure page compressors (no Node APIs): zlib through fflate, LZO1X, raw snappy. The Node saver has
// faster native ones (src/host/page-compress.ts); these serve tests, browsers and conversions.
// zstd has no pure compressor here (fzstd only decompresses).
import { zlibSync } from 'fflate';
import { compress as snappyCompress } from 'snappyjs';
import type { CodecName } from './index.ts';
import { lzo1xCompressInto, lzo1xMaxCompressedLength } from './lzo1x.ts';

/**
 * Compresses `page` into `out`; returns the stored length. A return value >= page.length means
 * "did not shrink": the writer stores the page raw.
 */
export type PageCompressor = (page: Uint8Array, out: Uint8Array) => number;

/** A compressor of whole buffers as a PageCompressor ("did not shrink" when it does not fit). */
export function fromWhole(f: (page: Uint8Array) => Uint8Array): PageCompressor {
  return (page, out) => {
    const c = f(page);
    if (c.length >= page.length || c.length > out.length) return page.length;
    out.set(c);
    return c.length;
  };
}

export function purePageCompressor(codec: CodecName): PageCompressor {
  switch (codec) {
    case 'zlib':
      return fromWhole((p) => zlibSync(p, { level: 1 }));
    case 'lzo':
      return lzoPageCompressor();
    case 'snappy':
      return fromWhole(snappyCompress);
    case 'zstd':
      throw new Error('no pure zstd compressor: pass a compressor from src/host (Node) for zstd output');
  }
}

/** LZO1X into `out` when it has room for the worst case, else through a scratch buffer. */
export function lzoPageCompressor(): PageCompressor {
  let tmp = new Uint8Array(0);
  return (page, out) => {
    const need = lzo1xMaxCompressedLength(page.length);
    if (out.length >= need) return lzo1xCompressInto(page, out);
    if (tmp.length < need) tmp = new Uint8Array(need);
    const n = lzo1xCompressInto(page, tmp);
    if (n >= page.length || n > out.length) return page.length;
    out.set(tmp.subarray(0, n));
    return n;
  };
}

// One batch of pages through compression: the unit of work the save pipeline hands to a worker
// thread (or does itself without workers). Zero pages never get here (the pipeline finds them). Both buffers travel
// with the batch (transferred, not copied) and come back for the next one: no garbage per batch.
// How pages are compressed is given to the save (PageCompression): the host's native libraries and
// worker threads (src/host/worker-pool.ts hostCompression), or the pure compressors in this thread.
import type { PageCompressor } from '../format/codecs/compress.ts';
import type { CodecName } from '../format/codecs/index.ts';
import type { ByteSource } from '../io/source.ts';

/** Pages per batch: 512 KiB of 4 KiB pages (also the save's read size). */
export const BATCH_PAGES = 128;

export interface BatchRequest {
  seq: number;
  /** `count` pages of `pageSize` bytes. */
  input: ArrayBuffer;
  /** Where the stored pages go (at least count * pageSize bytes); comes back with the result. */
  out: ArrayBuffer;
  count: number;
  pageSize: number;
  /** Codec flag for compressed pages (DUMP_DH_COMPRESSED_*), 0 to store raw. */
  codecFlag: number;
  /**
   * Pages the worker reads itself (BatchWorkers.readsInput) before compressing: triples of first
   * page slot, source offset, page count. Only pages read here are checked for zeros (`zeroCheck`);
   * the sender checked the others.
   */
  reads?: number[];
  zeroCheck?: boolean;
}

export interface BatchResult {
  seq: number;
  input: ArrayBuffer;
  /** Stored bytes of the pages, one after another: the first outLength bytes of `out`. */
  out: ArrayBuffer;
  outLength: number;
  /** Stored length per page; of the pages read here, 0 for a zero page, -1 for one that did not read. */
  sizes: Int32Array;
  /** Per page: the codec flag when compressed, 0 when raw. */
  flags: Uint8Array;
}

const zeroPages = new Map<number, Buffer>();

/** True if the page at `off` of `buf` is all zero bytes (memcmp against a zero page). */
export function isZeroPage(buf: Buffer, off: number, pageSize: number): boolean {
  let zero = zeroPages.get(pageSize);
  if (!zero) zeroPages.set(pageSize, (zero = Buffer.alloc(pageSize)));
  return buf.compare(zero, 0, pageSize, off, off + pageSize) === 0;
}

/** Reads `length` bytes of the input at `offset` into `dst` at `dstOffset`; returns how many (fewer: not all read). */
export type InputReader = (offset: number, dst: Uint8Array, dstOffset: number, length: number) => number;

const ZERO_PAGE = 0;
const UNREAD = -1;

/** Compresses a batch's pages, after reading those `req.reads` names (with `read`) and finding their zero pages. */
export function compressBatch(req: BatchRequest, compress: PageCompressor | undefined, read?: InputReader): BatchResult {
  const { count, pageSize } = req;
  const input = Buffer.from(req.input, 0, count * pageSize);
  const out = new Uint8Array(req.out);
  const sizes = new Int32Array(count);
  const flags = new Uint8Array(count);
  const scratch = new Uint8Array(pageSize + 64);
  const reads = req.reads ?? [];
  // Pages read here that are zero or did not read: nothing to compress.
  const skip = reads.length ? new Uint8Array(count) : undefined;
  for (let r = 0; r < reads.length; r += 3) {
    const [slot, offset, n] = [reads[r]!, reads[r + 1]!, reads[r + 2]!];
    let ok = false;
    try {
      ok = read !== undefined && read(offset, input, slot * pageSize, n * pageSize) === n * pageSize;
    } catch {
      // The sender reads these pages again one by one and says why they are lost.
    }
    for (let i = slot; i < slot + n; i++) {
      if (!ok) sizes[i] = UNREAD;
      else if (req.zeroCheck && isZeroPage(input, i * pageSize, pageSize)) sizes[i] = ZERO_PAGE;
      else continue;
      skip![i] = 1;
    }
  }
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (skip?.[i]) continue;
    const off = i * pageSize;
    const page = input.subarray(off, off + pageSize);
    const n = compress ? compress(page, scratch) : pageSize;
    if (n < pageSize) {
      out.set(scratch.subarray(0, n), pos);
      flags[i] = req.codecFlag;
      sizes[i] = n;
      pos += n;
    } else {
      out.set(page, pos);
      sizes[i] = pageSize;
      pos += pageSize;
    }
  }
  return { seq: req.seq, input: req.input, out: req.out, outLength: pos, sizes, flags };
}

/** Workers compressing batches: results come back as promises, in any order (matched by seq). */
export interface BatchWorkers {
  readonly size: number;
  /** True when the workers read the input themselves: requests may carry `reads`. */
  readonly readsInput?: boolean;
  run(req: BatchRequest): Promise<BatchResult>;
  close(): Promise<void>;
}

/** What a save tells its compressors about the pages they get. */
export interface CompressorOptions {
  /**
   * The dump level leaves page cache and user pages out (bits 2, 4 and 8, as -d 31): only the
   * kernel's own memory is compressed, which a faster setting keeps as small (libdeflate level 1).
   */
  kernelPagesOnly?: boolean;
}

/** How a save compresses its pages. */
export interface PageCompression {
  /** The compressor for `codec` in this thread (zstd's loads WebAssembly, hence async). */
  compressor(codec: CodecName, opts?: CompressorOptions): Promise<PageCompressor>;
  /** `size` workers for `codec`, or undefined: compress in this thread. Given the input, they may read its pages themselves. */
  workers?(size: number, codec: CodecName, input?: ByteSource, opts?: CompressorOptions): BatchWorkers | undefined;
}

/** The pure compressors (src/format/codecs/compress.ts; zstd level 1 through WebAssembly) in this thread. */
export const pureCompression: PageCompression = {
  // zstd's module carries its WebAssembly (240 KB): loaded only when asked for; the others' (fflate,
  // snappyjs) too, so a compression worker with a native codec never evaluates them.
  compressor: async (codec) =>
    codec === 'zstd' ? (await import('../format/codecs/zstd-compress.ts')).loadZstdPageCompressor(1) : (await import('../format/codecs/compress.ts')).purePageCompressor(codec),
};

// kdump-compressed output in two passes over the page frames, a window at a time. Pass 1 (the scan,
// makedumpfile's create_2nd_bitmap) writes each window's two bitmaps at their place in the file and
// counts the kept pages, which places the descriptor table. Pass 2 (KdumpPagePipeline, its
// write_kdump_pages) takes each window's bits again (scan.windows()) and writes its kept pages: read into batches
// (fill), zero and unreadable pages sorted out in this thread, batches with data compressed in
// workers (submit), results handed to the writer in pfn order (drain, write). Workers that can read
// the input themselves (a file) read the batches' pages and find their zero pages too: this thread
// then only walks, sends and writes.
import type { CodecName } from '../format/codecs/index.ts';
import { codecFlag } from '../format/codecs/index.ts';
import type { PageCompressor } from '../format/codecs/compress.ts';
import type { Dump } from '../format/dump.ts';
import { DiskDumpHeader, DUMP_DH_COMPRESSED_INCOMPLETE } from '../format/kdump-compressed.ts';
import { KdumpCompressedWriter } from '../format/kdump-compressed-writer.ts';
import type { ByteSink } from '../format/sink.ts';
import type { DumpIdentity } from '../analyze/dump-identity.ts';
import { DL_EXCLUDE_ZERO, kernelPagesOnly } from '../analyze/page-class.ts';
import {
  BATCH_PAGES,
  compressBatch,
  isZeroPage,
  pureCompression,
  type BatchRequest,
  type BatchResult,
  type BatchWorkers,
  type PageCompression,
} from './batch.ts';
import { finishOutput, IncompleteUntilDone, newReport, recordedLevel, writeStop, type SaveReport, type WriteStop } from './output.ts';
import { PageReader } from './page-reader.ts';
import { scanDump, setRuns, type FilterSetup, type PfnWindow, type SaveProgress } from './scan.ts';

export interface KdumpSaveOptions {
  dumpLevel: number;
  codec: CodecName | undefined;
  /** Compression workers; 0 compresses on the main thread. */
  threads: number;
  /** The compressors and workers (default: the pure compressors, in this thread). */
  compression?: PageCompression;
  identity: DumpIdentity;
  /** Page frames per bitmap window (default DEFAULT_WINDOW). */
  windowPfns?: number;
  progress?: (p: SaveProgress) => void;
}

const DATA = 0;
const ZERO = 1;
const LOST = 2;
/** Pfns per batch at most, zero pages included (an all-zero stretch never reaches a worker). */
const MAX_BATCH_ENTRIES = 16 * BATCH_PAGES;

interface Batch {
  buf: ArrayBuffer;
  /** Data pages packed at the start of buf. */
  data: number;
  /** Entries used of pfns and kinds (typed arrays reused from batch to batch: no garbage per page). */
  count: number;
  pfns: Float64Array;
  kinds: Uint8Array;
  /** Pages the worker reads (BatchRequest.reads). */
  reads: number[];
}

/**
 * Saves kdump-compressed output: pass 1 (the scan) writes the bitmaps window by window, pass 2 the
 * pages. The whole bitmaps are in the file before the first page, so pages never written read as lost.
 */
export async function writeKdumpCompressed(dump: Dump, filter: FilterSetup | undefined, out: ByteSink, opts: KdumpSaveOptions): Promise<SaveReport> {
  const ps = dump.pageSize;
  const sink = new IncompleteUntilDone(out, DiskDumpHeader.fields.status.off, DUMP_DH_COMPRESSED_INCOMPLETE);
  const compression = opts.compression ?? pureCompression;
  const compressorOpts = { kernelPagesOnly: kernelPagesOnly(opts.dumpLevel) };
  const compress = opts.codec ? await compression.compressor(opts.codec, compressorOpts) : undefined;
  const id = opts.identity;
  let setupStop: WriteStop | undefined;
  const stop = (e: unknown): void => {
    const why = writeStop(e);
    if (!why) throw e;
    setupStop ??= why;
  };
  let writer: KdumpCompressedWriter | undefined;
  try {
    writer = new KdumpCompressedWriter(sink, {
      pageSize: ps,
      maxPfn: dump.maxPfn,
      utsname: id.utsname,
      timestamp: id.timestamp,
      codec: opts.codec,
      compress,
      notes: id.notes,
      physBase: id.physBase,
      // Pages the input's own level left out stay out: the level recorded is both (makedumpfile's).
      dumpLevel: recordedLevel(dump, opts.dumpLevel),
      nrCpus: id.nrCpus,
      shareZeroPages: (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0,
    });
  } catch (e) {
    stop(e);
  }
  const scan = scanDump(dump, filter, {
    dumpLevel: opts.dumpLevel,
    windowPfns: opts.windowPfns,
    progress: opts.progress,
    onWindow: (w) => {
      if (setupStop) return;
      try {
        writer!.writeBitmaps(w.start, w.end, w.ram, w.kept);
      } catch (e) {
        stop(e);
      }
    },
  });
  const report = newReport(dump, scan);
  try {
    if (!setupStop) writer!.startPages();
  } catch (e) {
    stop(e);
  }
  if (setupStop) {
    report.stop = setupStop;
    report.incomplete = true;
    report.unwrittenPages = scan.pagesKept;
    return finishOutput(writer, sink, report);
  }

  const workers = opts.codec && opts.threads > 0 ? compression.workers?.(opts.threads, opts.codec, dump.source, compressorOpts) : undefined;
  const pages = new KdumpPagePipeline(dump, writer!, {
    compress,
    workers,
    codecFlag: opts.codec ? codecFlag(opts.codec) : 0,
    zeroCheck: (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0,
    progress: (walked, written) =>
      opts.progress?.({ phase: 'write', pfn: walked, maxPfn: scan.maxPfn, pagesWritten: written, pagesTotal: scan.pagesKept, bytesWritten: sink.bytesWritten }),
  });
  try {
    for (const win of scan.windows()) {
      if (pages.stop) break;
      await pages.window(win);
    }
  } finally {
    await workers?.close();
  }
  report.stop = pages.stop;
  report.zeroPages += pages.zeroPages;
  report.lostPages = pages.reader.lost;
  report.lostExamples = pages.reader.lostExamples;
  report.unwrittenPages = scan.pagesKept - pages.written;
  report.incomplete = pages.stop !== undefined || pages.reader.lost > 0 || dump.incomplete;
  return finishOutput(writer, sink, report);
}

interface PipelineOptions {
  compress: PageCompressor | undefined;
  workers: BatchWorkers | undefined;
  codecFlag: number;
  zeroCheck: boolean;
  /** After each batch written: page frames walked, pages handed to the writer. */
  progress: (walked: number, written: number) => void;
}

/**
 * Pass 2, one window at a time: the window's kept pages read into batches, zero and unreadable
 * pages sorted out here (memcmp is cheap), only pages with data sent to a worker, every page handed
 * to the writer in pfn order. A write error stops it (`stop`); an unreadable page is only lost.
 */
class KdumpPagePipeline {
  readonly reader: PageReader;
  /** Pages handed to the writer. */
  written = 0;
  zeroPages = 0;
  /** Why writing stopped, once it has. */
  stop: WriteStop | undefined;
  private readonly ps: number;
  private readonly writer: KdumpCompressedWriter;
  private readonly opts: PipelineOptions;
  private readonly maxInFlight: number;
  private readonly inFlight: { promise: Promise<BatchResult | undefined>; batch: Batch }[] = [];
  // Buffers and entry arrays come back with each written batch and serve the next ones.
  private readonly spare: ArrayBuffer[] = [];
  private readonly spareEntries: { pfns: Float64Array; kinds: Uint8Array }[] = [];
  private readonly spareOut: ArrayBuffer[] = [];
  private batch: Batch | undefined;
  private seq = 0;
  private walked = 0;
  /** Where a run of pages is in the input, when the workers read them. */
  private readonly fileRange: ((paddr: bigint, length: number) => number | undefined) | undefined;

  constructor(dump: Dump, writer: KdumpCompressedWriter, opts: PipelineOptions) {
    this.reader = new PageReader(dump);
    this.ps = dump.pageSize;
    this.writer = writer;
    this.opts = opts;
    // Four batches a worker (2 MiB of pages, and as much room for their output) keep every worker
    // busy while the oldest is waited for (64 GiB, -F -l -d 31 on 2 CPUs: 8.0 s with two a worker,
    // 7.5 s with four, 7.4 s with eight; BENCHMARKS.md).
    this.maxInFlight = opts.workers ? opts.workers.size * 4 + 1 : 1;
    this.fileRange = opts.workers?.readsInput ? dump.fileRange?.bind(dump) : undefined;
  }

  /** Writes a window's kept pages: all reach the writer before the next window's bits replace these. */
  async window(win: PfnWindow): Promise<void> {
    this.writer.pageWindow(win.start, win.end, win.kept);
    for (const [i, j] of setRuns(win.kept, 0, win.end - win.start)) {
      const end = win.start + j;
      for (let pfn = win.start + i; pfn < end && !this.stop; ) {
        pfn += this.fill(pfn, end);
        this.walked = pfn;
        const b = this.batch!;
        if (b.data === BATCH_PAGES || b.count === MAX_BATCH_ENTRIES) await this.submit();
      }
      if (this.stop) break;
    }
    await this.submit();
    while (this.inFlight.length) await this.drain();
  }

  /** Reads pages from `pfn` (up to `end` and the batch's room) into the open batch; returns how many. */
  private fill(pfn: number, end: number): number {
    const ps = this.ps;
    this.batch ??= {
      buf: this.spare.pop() ?? new ArrayBuffer(BATCH_PAGES * ps),
      data: 0,
      count: 0,
      reads: [],
      ...(this.spareEntries.pop() ?? { pfns: new Float64Array(MAX_BATCH_ENTRIES), kinds: new Uint8Array(MAX_BATCH_ENTRIES) }),
    };
    const b = this.batch;
    const n = Math.min(end - pfn, BATCH_PAGES - b.data, MAX_BATCH_ENTRIES - b.count);
    const at = this.fileRange?.(BigInt(pfn * ps), n * ps);
    if (at !== undefined) {
      // The worker reads them into their slots, and tells which are zero.
      b.reads.push(b.data, at, n);
      for (let k = 0; k < n; k++) {
        b.pfns[b.count] = pfn + k;
        b.kinds[b.count++] = DATA;
      }
      b.data += n;
      return n;
    }
    const view = Buffer.from(b.buf);
    const lost = this.reader.readRun(pfn, n, view, b.data * ps);
    // Pack: data pages stay in their slots, zero and lost pages leave theirs to the next.
    let w = b.data;
    for (let k = 0; k < n; k++) {
      const src = (b.data + k) * ps;
      b.pfns[b.count] = pfn + k;
      if (lost?.[k]) b.kinds[b.count++] = LOST;
      else if (this.opts.zeroCheck && isZeroPage(view, src, ps)) b.kinds[b.count++] = ZERO;
      else {
        if (w !== b.data + k) view.copyWithin(w * ps, src, src + ps);
        b.kinds[b.count++] = DATA;
        w++;
      }
    }
    b.data = w;
    return n;
  }

  /** Sends the open batch to a worker (or compresses it here); waits for the oldest while too many are out. */
  private async submit(): Promise<void> {
    const b = this.batch;
    if (!b || b.count === 0) return;
    this.batch = undefined;
    let promise: Promise<BatchResult | undefined>;
    if (b.data === 0) promise = Promise.resolve(undefined);
    else {
      const out = this.spareOut.pop() ?? new ArrayBuffer(BATCH_PAGES * this.ps);
      const req: BatchRequest = { seq: this.seq++, input: b.buf, out, count: b.data, pageSize: this.ps, codecFlag: this.opts.codecFlag, reads: b.reads, zeroCheck: this.opts.zeroCheck };
      promise = this.opts.workers ? this.opts.workers.run(req) : Promise.resolve(compressBatch(req, this.opts.compress));
    }
    this.inFlight.push({ promise, batch: b });
    while (this.inFlight.length >= this.maxInFlight) await this.drain();
  }

  /** Waits for the oldest batch out and writes it. */
  private async drain(): Promise<void> {
    const head = this.inFlight.shift()!;
    this.write(await head.promise, head.batch);
    this.opts.progress(this.walked, this.written);
  }

  /** A batch's pages to the writer in pfn order: lost, zero (stored once), stored (compressed or raw). */
  private write(r: BatchResult | undefined, b: Batch): void {
    if (r) {
      this.spare.push(r.input);
      this.spareOut.push(r.out);
    } else this.spare.push(b.buf);
    this.spareEntries.push({ pfns: b.pfns, kinds: b.kinds });
    const data = r ? new Uint8Array(r.out, 0, r.outLength) : undefined;
    let pos = 0;
    let j = 0;
    for (let i = 0; i < b.count && !this.stop; i++) {
      const pfn = b.pfns[i]!;
      try {
        const kind = b.kinds[i];
        if (kind === LOST) this.writer.writeLostPage(pfn);
        else if (kind === ZERO) this.writeZero(pfn);
        else {
          const n = r!.sizes[j]!;
          if (n > 0) this.writer.writeStoredPage(pfn, r!.flags[j]!, data!.subarray(pos, pos + n));
          else if (n === 0) this.writeZero(pfn);
          else this.writeUnread(pfn);
          pos += Math.max(n, 0);
          j++;
        }
        this.written++;
      } catch (e) {
        const why = writeStop(e);
        if (!why) throw e;
        this.stop = why;
      }
    }
  }

  /** A zero page: stored once, shared (counted). */
  private writeZero(pfn: number): void {
    this.writer.writeZeroPage(pfn);
    this.zeroPages++;
  }

  /** A page a worker could not read: read here (lost if it does not read either), then stored as in fill. */
  private writeUnread(pfn: number): void {
    const page = new Uint8Array(this.ps);
    if (this.reader.readRun(pfn, 1, page, 0)) this.writer.writeLostPage(pfn);
    else if (this.opts.zeroCheck && isZeroPage(Buffer.from(page.buffer), 0, this.ps)) this.writeZero(pfn);
    else {
      const r = compressBatch({ seq: 0, input: page.buffer, out: new ArrayBuffer(this.ps), count: 1, pageSize: this.ps, codecFlag: this.opts.codecFlag }, this.opts.compress);
      this.writer.writeStoredPage(pfn, r.flags[0]!, new Uint8Array(r.out, 0, r.outLength));
    }
  }
}

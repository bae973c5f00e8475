// The save pipeline (makedumpfile's job): walk the page frames of a dump in order, a fixed window at a
// time (cyclic mode), decide which pages the dump level keeps, then read, zero-check and compress the
// kept pages in worker threads and write them in pfn order.
//
//   pass 1 (scan)  window by window: pages present (1st bitmap) and kept after the dump-level filter
//          (2nd bitmap), counted; kdump-compressed output writes each window's bitmaps at their
//          place in the file; ELF output lays out its PT_LOADs (at dump level bit 1 after the
//          zero test, which needs the data).
//   pass 2 kdump-compressed: each window's bits again (recomputed; kept from pass 1 when there is
//          one window), its kept pages read in batches; zero and unreadable pages sorted out on the
//          main thread (zero pages share one stored page; an unreadable one is "lost"); the others
//          compressed in workers; everything handed to the writer in pfn order.
//          ELF: the segments' bytes in order.
// Memory: two window bitmaps (DEFAULT_WINDOW: 4 MiB each, 128 GiB of pages; --cyclic-buffer sets
// it), 512 struct pages at a time, a few 512 KiB batches per worker: the same for 1 GiB or 4 TiB.
//
// The target is written directly. Its header says INCOMPLETE from the first byte written and is
// rewritten without it only when everything is out, so a save killed half-way leaves a dump that
// says so. A write error (ENOSPC) stops the save: the header is rewritten (incomplete) and the report
// says what is lost. A page that cannot be read is recorded as lost and the save goes on.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Dump, PfnRun } from '../format/dump.ts';
import { codecFlag, type CodecName } from '../format/codecs/index.ts';
import { encodeNotes, Elf64Ehdr } from '../format/elf.ts';
import { DUMP_ELF_INCOMPLETE } from '../format/elf-core.ts';
import { ElfCoreWriter, type ElfCoreSegment } from '../format/elf-core-writer.ts';
import { DiskDumpHeader, DUMP_DH_COMPRESSED_INCOMPLETE } from '../format/kdump-compressed.ts';
import { KdumpCompressedWriter, type Utsname } from '../format/kdump-compressed-writer.ts';
import type { ByteSink } from '../format/sink.ts';
import type { VmcoreInfo } from '../analyze/vmcoreinfo.ts';
import { popcountBitmap } from '../format/bitmap.ts';
import { isIoError, isReadError, type DumpIdentity } from '../analyze/dump-identity.ts';
import { compressBatch, isZeroPage, type BatchRequest, type BatchResult } from './batch.ts';
import { pageCompressor } from './page-compress.ts';
import {
  classifyWindows,
  DL_EXCLUDE_ZERO,
  emptyCounts,
  needsClassification,
  PageClassifier,
  type ExclusionCounts,
  type MemMapRange,
  type PageLayout,
  type ReadVirt,
} from '../analyze/page-class.ts';
import { WorkerPool, workersAvailable } from './worker-pool.ts';

/** Reads `length` bytes of physical memory at `paddr` into `dst` at `off`; false if it cannot. */
export type PhysReadInto = (paddr: number, dst: Uint8Array, off: number, length: number) => boolean;

export interface SaveProgress {
  phase: 'scan' | 'write';
  /** Page frames walked so far, of maxPfn. */
  pfn: number;
  maxPfn: number;
  pagesWritten: number;
  /** Pages the output holds (known after the scan). */
  pagesTotal: number;
  bytesWritten: number;
}

/** What the filter needs: the layout from VMCOREINFO, where the struct pages are, how to read them. */
export interface FilterSetup {
  layout: PageLayout;
  memMap: MemMapRange[];
  readVirt: ReadVirt;
}

export interface ScanResult {
  maxPfn: number;
  pagesPresent: number;
  pagesKept: number;
  excluded: ExclusionCounts;
  /** Zero pages found by the scan (ELF output only; kdump finds them while writing). */
  zeroPages: number;
  /** Pages the input should hold that it cannot give, found by the scan (ELF output only). */
  lostPages: number;
  lostExamples: string[];
  warnings: string[];
  /** Page frames per window: the scan holds two bitmap buffers of windowPfns/8 bytes at most. */
  windowPfns: number;
  /** Bytes of each bitmap buffer the scan allocated (whatever maxPfn is, at most windowPfns/8). */
  bitmapBytes: number;
  /** The windows again, in order, the same bits: the scan's own when there was one, else recomputed. */
  windows(): Iterable<PfnWindow>;
}

/** The bitmaps of page frames [start, end): bit i = pfn start+i, LSB first. */
export interface PfnWindow {
  start: number;
  end: number;
  /** Pages the input holds. */
  present: Uint8Array;
  /**
   * 1st bitmap: page frames that are RAM — the input's own RAM map where it has one (a filtered
   * kdump-compressed input: its 1st bitmap), else the pages it holds (`present` itself).
   */
  ram: Uint8Array;
  /** 2nd bitmap: pages the output keeps. */
  kept: Uint8Array;
  /** Pages the input lacks though it says it holds them (ELF output: kept out of every PT_LOAD). */
  lost?: Uint8Array;
}

export interface ScanOptions {
  dumpLevel: number;
  /** Test kept pages for zeros now and drop them from the kept bitmap (ELF output). */
  zeroTest?: boolean;
  /**
   * Move pages the input cannot give (truncated, unreadable) from the kept bits to `lost` now
   * (ELF output, which has no way to mark one page lost: such pages go out of every PT_LOAD).
   */
  dropMissing?: boolean;
  /** Page frames per bitmap window (rounded up to a multiple of 4096). */
  windowPfns?: number;
  direct?: PhysReadInto;
  progress?: (p: SaveProgress) => void;
  /** Each window as the scan finishes it (its buffers are reused for the next window). */
  onWindow?: (w: PfnWindow) => void;
}

/** 2^25 page frames: 4 MiB per bitmap, 128 GiB of 4 KiB pages per window (makedumpfile --cyclic-buffer 4096). */
export const DEFAULT_WINDOW = 1 << 25;
/** Page frames classified between progress reports. */
const STEP = 1 << 18;
const BATCH_PAGES = 128; // 512 KiB batches

/**
 * Pass 1: which pages the input holds and which the dump level keeps, a window of page frames at a
 * time (makedumpfile's cyclic mode): memory is two window bitmaps, whatever the physical address
 * range. Counts the pages; `onWindow` sees each window's bitmaps (the kdump writer writes them).
 */
export function scanDump(dump: Dump, filter: FilterSetup | undefined, opts: ScanOptions): ScanResult {
  const maxPfn = Number(dump.maxPfn);
  const W = Math.max(1, Math.ceil((opts.windowPfns ?? DEFAULT_WINDOW) / 4096)) * 4096;
  const res: ScanResult = {
    maxPfn,
    pagesPresent: 0,
    pagesKept: 0,
    excluded: emptyCounts(),
    zeroPages: 0,
    lostPages: 0,
    lostExamples: [],
    warnings: [],
    windowPfns: W,
    bitmapBytes: Math.ceil(Math.min(W, maxPfn) / 8),
    windows: () => (only ? [only] : walkWindows(dump, filter, { ...opts, windowPfns: W, progress: undefined }, { ...res, excluded: emptyCounts(), warnings: [], lostExamples: [] }, bufs)),
  };
  // The window buffers, kept for the second walk (a third for an input with its own RAM map).
  const bufs = {
    present: new Uint8Array(res.bitmapBytes),
    kept: new Uint8Array(res.bitmapBytes),
    ram: dump.ramRuns ? new Uint8Array(res.bitmapBytes) : undefined,
    lost: opts.dropMissing ? new Uint8Array(res.bitmapBytes) : undefined,
  };
  let only: PfnWindow | undefined;
  let count = 0;
  for (const w of walkWindows(dump, filter, { ...opts, windowPfns: W }, res, bufs)) {
    res.pagesPresent += popcountBitmap(w.present, w.end - w.start);
    res.pagesKept += popcountBitmap(w.kept, w.end - w.start);
    opts.onWindow?.(w);
    only = count++ === 0 ? w : undefined;
  }
  return res;
}

/**
 * The windows in pfn order, computed into two buffers of windowPfns/8 bytes, reused from window to
 * window: present bits from the dump's runs, then the dump-level filter and the zero test clear what
 * is not kept. Every walk starts over (a fresh classifier), so the same input gives the same windows.
 */
function* walkWindows(
  dump: Dump,
  filter: FilterSetup | undefined,
  opts: ScanOptions,
  res: Pick<ScanResult, 'excluded' | 'zeroPages' | 'warnings' | 'lostPages' | 'lostExamples'>,
  { present, kept, ram, lost }: { present: Uint8Array; kept: Uint8Array; ram: Uint8Array | undefined; lost: Uint8Array | undefined },
): Generator<PfnWindow> {
  const maxPfn = Number(dump.maxPfn);
  const W = opts.windowPfns!;
  const classifier =
    filter && needsClassification(filter.layout, opts.dumpLevel) ? new PageClassifier(filter.layout, filter.memMap, filter.readVirt) : undefined;
  const zeroReader = opts.zeroTest ? new PageReader(dump, opts.direct) : undefined;
  const buf = opts.zeroTest ? new Uint8Array(BATCH_PAGES * dump.pageSize) : undefined;
  const presentBits = new RunBits(dump.presentRuns(), maxPfn);
  const ramBits = dump.ramRuns && ram ? new RunBits(dump.ramRuns(), maxPfn) : undefined;
  // This window's present, RAM and lost bits (same length as its kept bits).
  let p = present;
  let r = present;
  let l: Uint8Array | undefined;
  const windows = classifyWindows({
    maxPfn,
    windowPfns: W,
    stepPfns: STEP,
    level: opts.dumpLevel,
    classifier,
    counts: res.excluded,
    keep: kept,
    fill: (k, s, e) => {
      p = present.subarray(0, k.length);
      presentBits.fill(p, s, e);
      r = ramBits ? ram!.subarray(0, p.length) : p;
      ramBits?.fill(r, s, e);
      k.set(p);
      l = lost?.subarray(0, p.length);
      l?.fill(0);
    },
    afterStep: (bits, a, b, s) => {
      if (l) dropMissing(dump, a, b, bits, l.subarray((a - s) >> 3), res);
      if (zeroReader) res.zeroPages += clearZeroPages(zeroReader, a, b, bits, buf!, dump.pageSize, l?.subarray((a - s) >> 3));
      opts.progress?.({ phase: 'scan', pfn: b, maxPfn, pagesWritten: 0, pagesTotal: 0, bytesWritten: 0 });
    },
  });
  for (const w of windows) yield { start: w.start, end: w.end, present: p, ram: r, kept: w.keep, lost: l };
  if (classifier) res.warnings.push(...classifier.warnings);
  if (zeroReader && lost) {
    res.lostPages += zeroReader.lost;
    res.lostExamples.push(...zeroReader.lostExamples.slice(0, 5 - res.lostExamples.length));
  }
}

/** Runs of page frames (in order) turned into bits, a window at a time. */
class RunBits {
  private readonly runs: Iterator<PfnRun>;
  private readonly maxPfn: number;
  private run: [number, number] | undefined;
  constructor(runs: Iterable<PfnRun>, maxPfn: number) {
    this.runs = runs[Symbol.iterator]();
    this.maxPfn = maxPfn;
  }
  /** Sets `bits` (bit 0 = pfn s) for page frames [s, e) in the runs; windows come in order. */
  fill(bits: Uint8Array, s: number, e: number): void {
    bits.fill(0);
    // A run that goes on past this window is kept for the next.
    for (;;) {
      if (!this.run) {
        const r = this.runs.next();
        if (r.done) break;
        this.run = [Number(r.value.startPfn), Math.min(this.maxPfn, Number(r.value.endPfn))];
      }
      const run = this.run;
      if (run[0] >= e) break;
      if (run[1] > s) setBits(bits, Math.max(run[0], s) - s, Math.min(run[1], e) - s);
      if (run[1] > e) break;
      this.run = undefined;
    }
  }
}

function setBits(bits: Uint8Array, from: number, to: number): void {
  let i = from;
  for (; i < to && i & 7; i++) bits[i >> 3]! |= 1 << (i & 7);
  if (i + 8 <= to) {
    bits.fill(0xff, i >> 3, to >> 3);
    i = to & ~7;
  }
  for (; i < to; i++) bits[i >> 3]! |= 1 << (i & 7);
}

/** The runs [start, end) of set bits of `bits` in [from, to), in order. */
function* setRuns(bits: Uint8Array, from: number, to: number): Generator<[number, number]> {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && bits[i >> 3] === 0) {
      const b = i >> 3;
      i += i + 32 <= to && (bits[b + 1]! | bits[b + 2]! | bits[b + 3]!) === 0 ? 32 : 8;
      continue;
    }
    if (!(bits[i >> 3]! & (1 << (i & 7)))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < to) {
      if ((j & 7) === 0 && bits[j >> 3] === 0xff && j + 8 <= to) {
        j += 8;
        continue;
      }
      if (!(bits[j >> 3]! & (1 << (j & 7)))) break;
      j++;
    }
    yield [i, j];
    i = j;
  }
}

/** Moves kept pages (bits from pfn s) the dump cannot give to `lost` (same bit positions). */
function dropMissing(dump: Dump, s: number, e: number, kept: Uint8Array, lost: Uint8Array, res: Pick<ScanResult, 'lostPages' | 'lostExamples'>): void {
  for (const [i0, j0] of setRuns(kept, 0, e - s)) {
    for (let i = i0; i < j0; i++) {
      if (dump.hasPage(BigInt(s + i))) continue;
      kept[i >> 3]! &= ~(1 << (i & 7));
      lost[i >> 3]! |= 1 << (i & 7);
      res.lostPages++;
      if (res.lostExamples.length < 5) res.lostExamples.push(`pfn 0x${(s + i).toString(16)}: ${dump.whyMissing?.(BigInt(s + i)) ?? 'not readable'}`);
    }
  }
}

/**
 * Clears zero pages in `kept` (window bits, pfn s = bit 0) by reading them; returns how many. With
 * `lost`, a page that cannot be read moves there (it would otherwise be stored as zeros).
 */
function clearZeroPages(reader: PageReader, s: number, e: number, kept: Uint8Array, buf: Uint8Array, ps: number, lost?: Uint8Array): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const perRead = buf.length / ps;
  let zeros = 0;
  for (const [i0, j0] of setRuns(kept, 0, e - s)) {
    for (let i = i0; i < j0; i += perRead) {
      const n = Math.min(perRead, j0 - i);
      const unread = reader.readRun(s + i, n, buf, 0);
      for (let k = 0; k < n; k++) {
        const bit = i + k;
        if (unread?.[k] && lost) {
          kept[bit >> 3]! &= ~(1 << (bit & 7));
          lost[bit >> 3]! |= 1 << (bit & 7);
          continue;
        }
        if (unread?.[k] || !isZeroPage(b, k * ps, ps)) continue;
        kept[(i + k) >> 3]! &= ~(1 << ((i + k) & 7));
        zeros++;
      }
    }
  }
  return zeros;
}

/** Reads pages for the pipeline; a page that cannot be read is counted as lost, never fatal. */
class PageReader {
  lost = 0;
  readonly lostExamples: string[] = [];
  private readonly dump: Dump;
  private readonly direct: PhysReadInto | undefined;
  constructor(dump: Dump, direct?: PhysReadInto) {
    this.dump = dump;
    this.direct = direct;
  }

  /** Reads `count` pages from `pfn` into `dst` at `off`; returns which were lost, or undefined if none. */
  readRun(pfn: number, count: number, dst: Uint8Array, off: number): boolean[] | undefined {
    const ps = this.dump.pageSize;
    try {
      if (this.direct?.(pfn * ps, dst, off, count * ps)) return undefined;
      dst.set(this.dump.readPhys(BigInt(pfn) * BigInt(ps), count * ps), off);
      return undefined;
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
    const lost: boolean[] = [];
    for (let i = 0; i < count; i++) lost.push(!this.readOne(pfn + i, dst, off + i * ps));
    return lost;
  }

  /**
   * Reads bytes [paddr, paddr+length) into `dst` (length <= dst.length); a page that cannot be read
   * is zero-filled there and counted lost. Returns the pfns of those pages, or undefined if none.
   */
  readSpan(paddr: number, length: number, dst: Uint8Array): number[] | undefined {
    const ps = this.dump.pageSize;
    try {
      if (this.direct?.(paddr, dst, 0, length)) return undefined;
      dst.set(this.dump.readPhys(BigInt(paddr), length));
      return undefined;
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
    const lost: number[] = [];
    for (let a = paddr; a < paddr + length; ) {
      const n = Math.min(ps - (a % ps), paddr + length - a);
      try {
        dst.set(this.dump.readPhys(BigInt(a), n), a - paddr);
      } catch (e) {
        if (!isReadError(e)) throw e;
        dst.fill(0, a - paddr, a - paddr + n);
        this.noteLost(Math.floor(a / ps), e);
        lost.push(Math.floor(a / ps));
      }
      a += n;
    }
    return lost;
  }

  /** One page; parts outside every input segment (a RAM range ending inside the page) read as zeros. */
  private readOne(pfn: number, dst: Uint8Array, off: number): boolean {
    const ps = this.dump.pageSize;
    const base = BigInt(pfn) * BigInt(ps);
    try {
      dst.set(this.dump.readPhys(base, ps), off);
      return true;
    } catch (e) {
      if (!isReadError(e)) throw e;
      const piece = 256;
      let holes = 0;
      for (let p = 0; p < ps; p += piece) {
        try {
          dst.set(this.dump.readPhys(base + BigInt(p), piece), off + p);
        } catch (e2) {
          if (!isReadError(e2)) throw e2;
          if (!(e2 instanceof NotInDumpError && e2.reason === 'hole')) {
            this.noteLost(pfn, e2);
            return false;
          }
          dst.fill(0, off + p, off + p + piece);
          holes++;
        }
      }
      if (holes === ps / piece) {
        this.noteLost(pfn, e);
        return false;
      }
      return true;
    }
  }

  private noteLost(pfn: number, e: unknown): void {
    this.lost++;
    if (this.lostExamples.length < 5) this.lostExamples.push(`pfn 0x${pfn.toString(16)}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Why writing stopped: the errno code (ENOSPC, EIO ...) and the system's message. */
export interface WriteStop {
  code: string;
  message: string;
}

/** The write error that stops the save, or undefined for errors that are bugs (rethrown). */
function writeStop(e: unknown): WriteStop | undefined {
  if (!isIoError(e)) return undefined;
  return { code: e.code!, message: e.message };
}

/**
 * Writes the header last: it says incomplete unless every page is out, and only then is the
 * sink's INCOMPLETE flag cleared. A write error here is one more reason the dump is incomplete.
 */
function finishOutput(writer: { finish(o: { incomplete?: boolean }): unknown } | undefined, sink: IncompleteUntilDone, report: SaveReport): SaveReport {
  try {
    writer?.finish({ incomplete: report.incomplete });
    if (!report.incomplete) sink.markComplete();
  } catch (e) {
    const why = writeStop(e);
    if (!why) throw e;
    report.stop ??= why;
    report.incomplete = true;
  }
  report.bytesWritten = sink.bytesWritten;
  return report;
}

/**
 * A sink that keeps a 32-bit header field flagged "incomplete" in every write that covers it, until
 * `markComplete()` writes the field as the writer meant it. The dump says INCOMPLETE from the first
 * byte until the last one is out.
 */
export class IncompleteUntilDone implements ByteSink {
  private readonly inner: ByteSink;
  private readonly fieldOff: number;
  private readonly bit: number;
  private readonly littleEndian: boolean;
  private real: Uint8Array | undefined;
  bytesWritten = 0;
  constructor(inner: ByteSink, fieldOff: number, bit: number, littleEndian = true) {
    this.inner = inner;
    this.fieldOff = fieldOff;
    this.bit = bit;
    this.littleEndian = littleEndian;
  }
  write(offset: number, bytes: Uint8Array): void {
    const rel = this.fieldOff - offset;
    if (rel >= 0 && rel + 4 <= bytes.length) {
      this.real = bytes.slice(rel, rel + 4);
      bytes = bytes.slice();
      const dv = new DataView(bytes.buffer, bytes.byteOffset + rel, 4);
      dv.setUint32(0, dv.getUint32(0, this.littleEndian) | this.bit, this.littleEndian);
    }
    this.inner.write(offset, bytes);
    this.bytesWritten = Math.max(this.bytesWritten, offset + bytes.length);
  }
  markComplete(): void {
    if (this.real) this.inner.write(this.fieldOff, this.real);
  }
}

export interface SaveReport {
  scan: ScanResult;
  /** Zero pages (kdump: stored once, one descriptor each; ELF: left out). */
  zeroPages: number;
  /** Pages that could not be read from the input: recorded as lost. */
  lostPages: number;
  lostExamples: string[];
  /** Pages never written because writing stopped (ENOSPC ...). */
  unwrittenPages: number;
  bytesWritten: number;
  incomplete: boolean;
  /** Why writing stopped early, if it did. */
  stop: WriteStop | undefined;
  /** The input itself is incomplete (truncated, or marked so): the output cannot be more complete. */
  inputIncomplete: boolean;
}

function newReport(dump: Dump, scan: ScanResult): SaveReport {
  return {
    scan,
    zeroPages: scan.zeroPages,
    lostPages: 0,
    lostExamples: [],
    unwrittenPages: 0,
    bytesWritten: 0,
    incomplete: false,
    stop: undefined,
    inputIncomplete: dump.incomplete,
  };
}

export interface KdumpSaveOptions {
  dumpLevel: number;
  codec: CodecName | undefined;
  /** Compression workers; 0 compresses on the main thread. */
  threads: number;
  identity: DumpIdentity;
  /** A faster way to read the input's pages (an ELF file read with pread). */
  direct?: PhysReadInto;
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
}

/**
 * Saves kdump-compressed output in two passes over the page frames, a window at a time. Pass 1
 * (the scan) writes each window's two bitmaps at their place in the file as it computes them and
 * counts the kept pages, which places the descriptor table. Pass 2 computes each window's bits
 * again and writes its kept pages: zero and unreadable ones sorted out here, the rest compressed in
 * workers, all handed to the writer in pfn order. The whole bitmaps are in the file before the
 * first page, so pages never written read as lost.
 */
export async function writeKdumpCompressed(dump: Dump, filter: FilterSetup | undefined, out: ByteSink, opts: KdumpSaveOptions): Promise<SaveReport> {
  const ps = dump.pageSize;
  const sink = new IncompleteUntilDone(out, DiskDumpHeader.fields.status.off, DUMP_DH_COMPRESSED_INCOMPLETE);
  const compress = opts.codec ? await pageCompressor(opts.codec) : undefined;
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
  const kw = writer!;

  const zeroCheck = (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0;
  const flag = opts.codec ? codecFlag(opts.codec) : 0;
  const pool = opts.codec && opts.threads > 0 && workersAvailable() ? new WorkerPool(opts.threads, opts.codec) : undefined;
  const reader = new PageReader(dump, opts.direct);
  const maxInFlight = pool ? pool.size * 2 + 1 : 1;
  const inFlight: { promise: Promise<BatchResult | undefined>; batch: Batch }[] = [];
  const spare: ArrayBuffer[] = [];
  const spareEntries: { pfns: Float64Array; kinds: Uint8Array }[] = [];
  const spareOut: ArrayBuffer[] = [];
  let seq = 0;
  let written = 0;
  let walked = 0;
  let stopped = false;

  // Zero and unreadable pages are sorted out here (memcmp is cheap); only pages with data travel
  // to a worker. A batch: the pfns in order, what each is, and the data pages packed in `buf`.
  const writeResult = (r: BatchResult | undefined, b: Batch): void => {
    if (r) {
      spare.push(r.input);
      spareOut.push(r.out);
    } else spare.push(b.buf);
    spareEntries.push({ pfns: b.pfns, kinds: b.kinds });
    const data = r ? new Uint8Array(r.out, 0, r.outLength) : undefined;
    let pos = 0;
    let j = 0;
    for (let i = 0; i < b.count && !stopped; i++) {
      const pfn = b.pfns[i]!;
      try {
        const kind = b.kinds[i];
        if (kind === LOST) kw.writeLostPage(pfn);
        else if (kind === ZERO) {
          kw.writeZeroPage(pfn);
          report.zeroPages++;
        } else {
          const n = r!.sizes[j]!;
          kw.writeStoredPage(pfn, r!.flags[j]!, data!.subarray(pos, pos + n));
          pos += n;
          j++;
        }
        written++;
      } catch (e) {
        const why = writeStop(e);
        if (!why) throw e;
        stopped = true;
        report.stop = why;
      }
    }
  };
  const drainOne = async (): Promise<void> => {
    const head = inFlight.shift()!;
    writeResult(await head.promise, head.batch);
    opts.progress?.({ phase: 'write', pfn: walked, maxPfn: scan.maxPfn, pagesWritten: written, pagesTotal: scan.pagesKept, bytesWritten: sink.bytesWritten });
  };

  let batch: Batch | undefined;
  const submit = async (): Promise<void> => {
    if (!batch || batch.count === 0) return;
    const b = batch;
    batch = undefined;
    let promise: Promise<BatchResult | undefined>;
    if (b.data === 0) promise = Promise.resolve(undefined);
    else {
      const out = spareOut.pop() ?? new ArrayBuffer(BATCH_PAGES * ps);
      const req: BatchRequest = { seq: seq++, input: b.buf, out, count: b.data, pageSize: ps, codecFlag: flag };
      promise = pool ? pool.run(req) : Promise.resolve(compressBatch(req, compress));
    }
    inFlight.push({ promise, batch: b });
    while (inFlight.length >= maxInFlight) await drainOne();
  };

  try {
    for (const win of scan.windows()) {
      if (stopped) break;
      kw.pageWindow(win.start, win.end, win.kept);
      for (const [i, j] of setRuns(win.kept, 0, win.end - win.start)) {
        const end = win.start + j;
        for (let pfn = win.start + i; pfn < end && !stopped; ) {
          batch ??= {
            buf: spare.pop() ?? new ArrayBuffer(BATCH_PAGES * ps),
            data: 0,
            count: 0,
            ...(spareEntries.pop() ?? { pfns: new Float64Array(MAX_BATCH_ENTRIES), kinds: new Uint8Array(MAX_BATCH_ENTRIES) }),
          };
          const b = batch;
          const n = Math.min(end - pfn, BATCH_PAGES - b.data, MAX_BATCH_ENTRIES - b.count);
          const view = Buffer.from(b.buf);
          const lost = reader.readRun(pfn, n, view, b.data * ps);
          // Pack: data pages stay in their slots, zero and lost pages leave theirs to the next.
          let w = b.data;
          for (let k = 0; k < n; k++) {
            const src = (b.data + k) * ps;
            b.pfns[b.count] = pfn + k;
            if (lost?.[k]) b.kinds[b.count++] = LOST;
            else if (zeroCheck && isZeroPage(view, src, ps)) b.kinds[b.count++] = ZERO;
            else {
              if (w !== b.data + k) view.copyWithin(w * ps, src, src + ps);
              b.kinds[b.count++] = DATA;
              w++;
            }
          }
          b.data = w;
          pfn += n;
          walked = pfn;
          if (b.data === BATCH_PAGES || b.count === MAX_BATCH_ENTRIES) await submit();
        }
        if (stopped) break;
      }
      // This window's pages reach the writer before the next window's bits replace these.
      await submit();
      while (inFlight.length) await drainOne();
    }
  } finally {
    await pool?.close();
  }
  report.lostPages = reader.lost;
  report.lostExamples = reader.lostExamples;
  report.unwrittenPages = scan.pagesKept - written;
  report.incomplete = stopped || reader.lost > 0 || dump.incomplete;
  return finishOutput(kw, sink, report);
}

/** The dump level a saved dump records: the input's (when it has one) | the level asked for. */
export function recordedLevel(dump: Dump, level: number): number {
  return (dump.dumpLevel ?? 0) | level;
}

/** makedumpfile -E keeps excluded runs shorter than this inside a PT_LOAD instead of splitting it. */
const ELF_SPLIT_RUN = 256;

/** One input PT_LOAD being laid out: its pfns [next, last) are still to come. */
interface LoadLayout {
  paddr: number;
  end: number;
  vaddr: bigint;
  next: number;
  last: number;
  seg: { paddr: number; mem: number; file: number };
  excludedRun: number;
  /** A lost page lies after the segment's stored data: it must end there (memory size too). */
  cut: boolean;
  out: ElfCoreSegment[];
}

/**
 * The PT_LOADs makedumpfile -E writes, byte-exact, built window by window from the kept bits: for
 * every PT_LOAD of the input (the x86_64 kernel-text view too), in order, the pages it covers; a
 * run of ELF_SPLIT_RUN or more excluded pages stays in the memory size but not the file size and
 * the next kept page starts a new segment; shorter excluded runs are stored as they are. Inputs
 * without PT_LOADs (kdump-compressed) give one PT_LOAD per run of present pages.
 */
export class ElfLayout {
  private readonly ps: number;
  private readonly loads: LoadLayout[];
  constructor(dump: Dump) {
    const ps = dump.pageSize;
    this.ps = ps;
    const maxPfn = Number(dump.maxPfn);
    const src =
      dump.loadSegments?.map((l) => ({ paddr: Number(l.paddr), vaddr: l.vaddr, size: l.memSize })) ??
      [...dump.presentRuns()].map((r) => {
        const s = Math.min(Number(r.startPfn), maxPfn);
        return { paddr: s * ps, vaddr: 0n, size: (Math.min(Number(r.endPfn), maxPfn) - s) * ps };
      });
    this.loads = src.map((l) => ({
      paddr: l.paddr,
      end: l.paddr + l.size,
      vaddr: l.vaddr,
      next: Math.floor(l.paddr / ps),
      last: Math.ceil((l.paddr + l.size) / ps),
      seg: { paddr: l.paddr, mem: 0, file: 0 },
      excludedRun: 0,
      cut: false,
      out: [],
    }));
  }

  /** The next window of kept bits. */
  add(w: PfnWindow): void {
    for (const l of this.loads) {
      const to = Math.min(l.last, w.end);
      if (Math.max(l.next, w.start) >= to) continue;
      // Lost pages first split the load: no PT_LOAD may cover them (they would read as data).
      const from = Math.max(l.next, w.start) - w.start;
      const lost = w.lost ? [...setRuns(w.lost, from, to - w.start)] : [];
      let li = 0;
      const gap = (upTo: number): void => {
        while (li < lost.length && w.start + lost[li]![0] < upTo) {
          l.cut = true;
          li++;
        }
        this.feed(l, upTo, false);
      };
      for (const [i, j] of setRuns(w.kept, from, to - w.start)) {
        gap(w.start + i);
        this.feed(l, w.start + j, true);
      }
      gap(to);
    }
  }

  /** The segments, once every window is added (pfns past the last window count as excluded). */
  segments(): ElfCoreSegment[] {
    return this.loads.flatMap((l) => {
      this.feed(l, l.last, false);
      this.push(l);
      return l.out;
    });
  }

  /** Pages [l.next, to) are kept or excluded. */
  private feed(l: LoadLayout, to: number, kept: boolean): void {
    const from = l.next;
    if (from >= to) return;
    const bytes = Math.min(l.end, to * this.ps) - Math.max(l.paddr, from * this.ps);
    if (kept) {
      if (l.excludedRun >= ELF_SPLIT_RUN || l.cut) {
        this.push(l);
        l.seg = { paddr: from * this.ps, mem: 0, file: 0 };
      }
      l.seg.mem += bytes;
      l.seg.file = l.seg.mem;
      l.excludedRun = 0;
    } else {
      l.seg.mem += bytes;
      l.excludedRun += to - from;
    }
    l.next = to;
  }

  private push(l: LoadLayout): void {
    const s = l.seg;
    if (l.cut) {
      s.mem = s.file;
      l.cut = false;
    }
    l.out.push({ paddr: BigInt(s.paddr), vaddr: l.vaddr === 0n ? 0n : l.vaddr + BigInt(s.paddr - l.paddr), memSize: s.mem, fileSize: s.file });
  }
}

export interface ElfSaveOptions {
  dumpLevel: number;
  identity: DumpIdentity;
  /** Page frames per bitmap window (default DEFAULT_WINDOW). */
  windowPfns?: number;
  direct?: PhysReadInto;
  progress?: (p: SaveProgress) => void;
}

/**
 * Saves ELF output: pass 1 (the scan, with the zero test at dump level bit 1) lays out the PT_LOADs
 * window by window; pass 2 writes the segments' stored pages in order.
 */
export function writeElfCore(dump: Dump, filter: FilterSetup | undefined, out: ByteSink, opts: ElfSaveOptions): SaveReport {
  const ps = dump.pageSize;
  const sink = new IncompleteUntilDone(out, Elf64Ehdr.fields.flags.off, DUMP_ELF_INCOMPLETE);
  const layout = new ElfLayout(dump);
  const scan = scanDump(dump, filter, {
    dumpLevel: opts.dumpLevel,
    zeroTest: (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0,
    dropMissing: true,
    windowPfns: opts.windowPfns,
    direct: opts.direct,
    progress: opts.progress,
    onWindow: (w) => layout.add(w),
  });
  const report = newReport(dump, scan);
  const segments = layout.segments();
  const stored = segments.reduce((n, s) => n + (s.fileSize ?? s.memSize), 0);
  const reader = new PageReader(dump, opts.direct);
  const buf = new Uint8Array(BATCH_PAGES * ps);
  let written = 0;
  let writer: ElfCoreWriter | undefined;
  // Where writing stopped: the segment and the offset in it (everything before is in the file).
  let stopAt: { seg: number; rel: number } | undefined = { seg: 0, rel: 0 };
  // Pages that failed to read here (the zero test did not read them): stored as zeros for now, then
  // taken out of every PT_LOAD. A page of the kernel-text view is also one of RAM's: counted once.
  const failed = new Set<number>();
  try {
    // The segments in file order, each written in order (the kernel-text view too, from the same
    // memory): bytes never written lie past the end of the file and read back as lost.
    writer = new ElfCoreWriter(sink, { pageSize: ps, notes: opts.identity.notes, segments, sequential: true });
    for (let i = 0; i < segments.length; i++) {
      const sg = segments[i]!;
      const start = Number(sg.paddr);
      const end = start + (sg.fileSize ?? sg.memSize);
      for (let a = start; a < end; ) {
        stopAt = { seg: i, rel: a - start };
        const n = Math.min(buf.length - (a % ps), end - a);
        for (const pfn of reader.readSpan(a, n, buf) ?? []) failed.add(pfn);
        writer.writeSegment(i, a - start, buf.subarray(0, n));
        a += n;
        written += n;
        opts.progress?.({ phase: 'write', pfn: Math.floor(a / ps), maxPfn: scan.maxPfn, pagesWritten: Math.floor(written / ps), pagesTotal: Math.floor(stored / ps), bytesWritten: sink.bytesWritten });
      }
    }
    stopAt = undefined;
  } catch (e) {
    const why = writeStop(e);
    if (!why) throw e;
    report.stop = why;
  }
  // A new program-header table keeps the failed pages out of every PT_LOAD: they read as lost,
  // never as the zeros stored for them. Appended only when every stored byte is out (a table
  // inside a segment's unwritten range would read as its data).
  let unsplit = false;
  if (writer && failed.size) {
    const pages = [...failed].sort((x, y) => x - y).map((pfn) => pfn * ps);
    try {
      unsplit = !writer.dropPages(pages, stopAt ? undefined : sink.bytesWritten);
    } catch (e) {
      const why = writeStop(e);
      if (!why) throw e;
      report.stop ??= why;
    }
  }
  report.lostPages = scan.lostPages + failed.size;
  report.lostExamples = [...new Set([...scan.lostExamples, ...reader.lostExamples])].slice(0, 5);
  if (unsplit) report.lostExamples.push(`they hold zeros in the file: no room for the program headers that would leave them out of every PT_LOAD`);
  report.unwrittenPages = stopAt ? unwrittenElfPages(segments, stopAt, ps) : 0;
  report.incomplete = report.stop !== undefined || report.lostPages > 0 || dump.incomplete;
  return finishOutput(writer, sink, report);
}

/**
 * Distinct page frames of the segments' stored data from `stopAt` on (the kernel-text view is a
 * second view of RAM another segment holds: its pages count once).
 */
function unwrittenElfPages(segments: ElfCoreSegment[], stopAt: { seg: number; rel: number }, ps: number): number {
  const runs: [number, number][] = [];
  segments.forEach((sg, i) => {
    if (i < stopAt.seg) return;
    const start = Number(sg.paddr) + (i === stopAt.seg ? stopAt.rel : 0);
    const end = Number(sg.paddr) + (sg.fileSize ?? sg.memSize);
    if (end > start) runs.push([Math.floor(start / ps), Math.ceil(end / ps)]);
  });
  runs.sort((a, b) => a[0] - b[0]);
  let n = 0;
  let upTo = 0;
  for (const [a, b] of runs) {
    const from = Math.max(a, upTo);
    if (b > from) n += b - from;
    upTo = Math.max(upTo, b);
  }
  return n;
}

/** Pages a saved dump should hold but does not (never written, lost): how many, the first and last pfn. */
export interface MissingPages {
  /** Pages the dump should hold, and how many of them do not read. */
  total: number;
  count: number;
  first: number;
  last: number;
}

/**
 * Reads a saved dump back and counts the pages it should hold that do not read: kdump-compressed,
 * the pages its dump bitmap selects; ELF, the pages of its PT_LOADs' file data. Exact by
 * construction (this is what every reader will see).
 */
export function missingPages(out: Dump): MissingPages {
  const m: MissingPages = { total: 0, count: 0, first: -1, last: -1 };
  const note = (pfn: number): void => {
    m.total++;
    if (out.hasPage(BigInt(pfn))) return;
    m.count++;
    if (m.first < 0) m.first = pfn;
    m.last = pfn;
  };
  const ps = out.pageSize;
  const segs = (out as { physSegments?: readonly { paddr: bigint; fileSize: number }[] }).physSegments;
  if (segs) {
    let upTo = 0;
    for (const s of segs) {
      const a = Math.max(upTo, Math.floor(Number(s.paddr) / ps));
      const b = Math.ceil((Number(s.paddr) + s.fileSize) / ps);
      for (let p = a; p < b; p++) note(p);
      upTo = Math.max(upTo, b);
    }
  } else {
    for (const r of out.presentRuns()) for (let p = Number(r.startPfn); p < Number(r.endPfn); p++) note(p);
  }
  return m;
}

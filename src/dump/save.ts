// The save pipeline (makedumpfile's job): walk the page frames of a dump in order, a fixed window at a
// time (cyclic mode), decide which pages the dump level keeps, then read, zero-check and compress the
// kept pages in worker threads and write them in pfn order.
//
//   scan   window by window: pages present (1st bitmap) and kept after the dump-level filter (2nd
//          bitmap); for ELF output at dump level bit 1 also the zero test, which needs the data
//   write  kdump-compressed: kept pages read in batches; zero and unreadable pages sorted out on
//          the main thread (zero pages share one stored page; an unreadable one is "lost"); the
//          others compressed in workers; everything handed to the writer in pfn order.
//          ELF: the PT_LOAD layout makedumpfile -E makes, then the segments' bytes in order.
// Memory: 512 struct pages at a time, a few 512 KiB batches per worker, and the two bitmaps (1 bit
// per page frame each: 64 MiB for 1 TiB of physical address space).
//
// The target is written directly. Its header says INCOMPLETE from the first byte written and is
// rewritten without it only when everything is out, so a save killed half-way leaves a dump that
// says so. A write error (ENOSPC) stops the save: the header is rewritten (incomplete) and the report
// says what is lost. A page that cannot be read is recorded as lost and the save goes on.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { codecFlag, type CodecName } from '../format/codecs/index.ts';
import { encodeNotes, Elf64Ehdr } from '../format/elf.ts';
import { DUMP_ELF_INCOMPLETE } from '../format/elf-core.ts';
import { ElfCoreWriter, type ElfCoreSegment } from '../format/elf-core-writer.ts';
import { DiskDumpHeader, DUMP_DH_COMPRESSED_INCOMPLETE } from '../format/kdump-compressed.ts';
import { KdumpCompressedWriter, type Utsname } from '../format/kdump-compressed-writer.ts';
import type { ByteSink } from '../format/sink.ts';
import type { VmcoreInfo } from '../analyze/vmcoreinfo.ts';
import { compressBatch, isZeroPage, type BatchRequest, type BatchResult } from './batch.ts';
import { pageCompressor } from './page-compress.ts';
import {
  DL_EXCLUDE_ZERO,
  emptyCounts,
  needsClassification,
  PageClassifier,
  type ExclusionCounts,
  type MemMapRange,
  type PageLayout,
  type ReadVirt,
} from './page-class.ts';
import { WorkerPool, workersAvailable } from './worker-pool.ts';
import type { PhysReadInto } from './file-sink.ts';

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
  /** 1st bitmap: pages the input holds. */
  present: Uint8Array;
  /** 2nd bitmap: pages the output keeps. */
  kept: Uint8Array;
  pagesPresent: number;
  pagesKept: number;
  excluded: ExclusionCounts;
  /** Zero pages found by the scan (ELF output only; kdump finds them while writing). */
  zeroPages: number;
  warnings: string[];
}

export interface ScanOptions {
  dumpLevel: number;
  /** Test kept pages for zeros now and drop them from the kept bitmap (ELF output). */
  zeroTest?: boolean;
  /** Page frames per window (multiple of 8). */
  windowPfns?: number;
  direct?: PhysReadInto;
  progress?: (p: SaveProgress) => void;
}

const DEFAULT_WINDOW = 1 << 18; // 1 GiB of 4 KiB pages
const BATCH_PAGES = 128; // 512 KiB batches

/** Pass 1: which pages the input holds and which the dump level keeps, window by window. */
export function scanDump(dump: Dump, filter: FilterSetup | undefined, opts: ScanOptions): ScanResult {
  const maxPfn = Number(dump.maxPfn);
  const W = opts.windowPfns ?? DEFAULT_WINDOW;
  const present = new Uint8Array(Math.ceil(maxPfn / 8));
  const kept = new Uint8Array(present.length);
  const classifier =
    filter && needsClassification(filter.layout, opts.dumpLevel) ? new PageClassifier(filter.layout, filter.memMap, filter.readVirt) : undefined;
  const res: ScanResult = { maxPfn, present, kept, pagesPresent: 0, pagesKept: 0, excluded: emptyCounts(), zeroPages: 0, warnings: [] };
  for (const r of dump.presentRuns()) {
    const from = Number(r.startPfn);
    const to = Math.min(maxPfn, Number(r.endPfn));
    setBits(present, from, to);
    res.pagesPresent += Math.max(0, to - from);
  }
  kept.set(present);
  const zeroReader = opts.zeroTest ? new PageReader(dump, opts.direct) : undefined;
  const buf = opts.zeroTest ? new Uint8Array(BATCH_PAGES * dump.pageSize) : undefined;
  for (let s = 0; s < maxPfn; s += W) {
    const e = Math.min(maxPfn, s + W);
    // Windows start on multiples of 8, so a window's bits are whole bytes of the bitmap.
    const win = kept.subarray(s >> 3, Math.ceil(e / 8));
    classifier?.exclude(s, e, opts.dumpLevel, win, res.excluded);
    if (zeroReader) res.zeroPages += clearZeroPages(zeroReader, s, e, win, buf!, dump.pageSize);
    opts.progress?.({ phase: 'scan', pfn: e, maxPfn, pagesWritten: 0, pagesTotal: 0, bytesWritten: 0 });
  }
  res.pagesKept = popcount(kept);
  if (classifier) res.warnings.push(...classifier.warnings);
  return res;
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

const POP8 = new Uint8Array(256).map((_, b) => {
  let n = 0;
  for (let x = b; x; x &= x - 1) n++;
  return n;
});

function popcount(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) n += POP8[bits[i]!]!;
  return n;
}

/** The runs [start, end) of set bits of `bits` in [from, to), in order. */
function* setRuns(bits: Uint8Array, from: number, to: number): Generator<[number, number]> {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && bits[i >> 3] === 0) {
      i += 8;
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

/** Clears zero pages in `kept` (window bits, pfn s = bit 0) by reading them; returns how many. */
function clearZeroPages(reader: PageReader, s: number, e: number, kept: Uint8Array, buf: Uint8Array, ps: number): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const perRead = buf.length / ps;
  let zeros = 0;
  for (const [i0, j0] of setRuns(kept, 0, e - s)) {
    for (let i = i0; i < j0; i += perRead) {
      const n = Math.min(perRead, j0 - i);
      const lost = reader.readRun(s + i, n, buf, 0);
      for (let k = 0; k < n; k++) {
        if (lost?.[k] || !isZeroPage(b, k * ps, ps)) continue;
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
   * is zero-filled there and counted lost.
   */
  readSpan(paddr: number, length: number, dst: Uint8Array): void {
    const ps = this.dump.pageSize;
    try {
      if (this.direct?.(paddr, dst, 0, length)) return;
      dst.set(this.dump.readPhys(BigInt(paddr), length));
      return;
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
    for (let a = paddr; a < paddr + length; ) {
      const n = Math.min(ps - (a % ps), paddr + length - a);
      try {
        dst.set(this.dump.readPhys(BigInt(a), n), a - paddr);
      } catch (e) {
        if (!isReadError(e)) throw e;
        dst.fill(0, a - paddr, a - paddr + n);
        this.noteLost(Math.floor(a / ps), e);
      }
      a += n;
    }
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
          if (!(e2 instanceof NotInDumpError && /not in any PT_LOAD/.test(e2.message))) {
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

function isIoError(e: unknown): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && typeof (e as NodeJS.ErrnoException).code === 'string';
}

function isReadError(e: unknown): boolean {
  return e instanceof NotInDumpError || e instanceof ParseError || isIoError(e);
}

/** The one-line reason a write error stops the save, or undefined for errors that are bugs. */
function writeStopReason(e: unknown): string | undefined {
  if (!isIoError(e)) return undefined;
  return `${e.code}: ${e.message.replace(/^[A-Z]+: /, '')}`;
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
    const why = writeStopReason(e);
    if (!why) throw e;
    report.stopReason ??= why;
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

/** The machine facts a kdump-compressed header records, from the dump itself. */
export interface DumpIdentity {
  utsname: Utsname;
  timestamp: { sec: bigint; usec: bigint };
  physBase: bigint;
  nrCpus: number;
  /** The notes to copy (PRSTATUS per CPU, VMCOREINFO, ...), as one PT_NOTE's bytes. */
  notes: Uint8Array;
}

/** utsname from the crashed kernel's init_uts_ns (6 strings of 65 bytes), else from VMCOREINFO. */
export function dumpIdentity(dump: Dump, vi: VmcoreInfo | undefined, readVirt: ReadVirt | undefined): DumpIdentity {
  const h = dump.header;
  const str = (k: string): string | undefined => (typeof h[k] === 'string' && h[k] !== '' ? (h[k] as string) : undefined);
  let uts: Utsname | undefined;
  const addr = vi?.symbol('init_uts_ns');
  if (addr !== undefined && readVirt) {
    try {
      const b = readVirt(addr + BigInt(vi!.offset('uts_namespace.name') ?? 0), 6 * 65);
      const f = [0, 1, 2, 3, 4, 5].map((i) => {
        const s = b.subarray(i * 65, i * 65 + 65);
        const nul = s.indexOf(0);
        return new TextDecoder('latin1').decode(nul < 0 ? s : s.subarray(0, nul));
      });
      uts = { sysname: f[0]!, nodename: f[1]!, release: f[2]!, version: f[3]!, machine: f[4]!, domainname: f[5]! };
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
  }
  uts ??= {
    sysname: str('sysname') ?? 'Linux',
    nodename: str('nodename') ?? '',
    release: str('release') ?? vi?.osrelease ?? '',
    version: str('version') ?? '',
    machine: str('machine') ?? 'x86_64',
    domainname: str('domainname') ?? '',
  };
  const crash = vi?.crashTime;
  const now = BigInt(Date.now());
  const sec = typeof h.timestampSec === 'bigint' && h.timestampSec > 0n ? h.timestampSec : (crash ?? now / 1000n);
  const usec = typeof h.timestampUsec === 'bigint' && h.timestampSec === sec ? h.timestampUsec : 0n;
  const physBase = vi?.number('phys_base') ?? (typeof h.physBase === 'bigint' ? h.physBase : 0n);
  const nrCpus = dump.notes.filter((n) => n.name === 'CORE' && n.type === 1).length || 1;
  return { utsname: uts, timestamp: { sec, usec }, physBase, nrCpus, notes: encodeNotes(dump.notes) };
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
  stopReason: string | undefined;
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
    stopReason: undefined,
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
  pfns: number[];
  kinds: number[];
}

/** Pass 2 for kdump-compressed output: the kept pages, compressed in workers, written in order. */
export async function writeKdumpCompressed(dump: Dump, scan: ScanResult, out: ByteSink, opts: KdumpSaveOptions): Promise<SaveReport> {
  const ps = dump.pageSize;
  const sink = new IncompleteUntilDone(out, DiskDumpHeader.fields.status.off, DUMP_DH_COMPRESSED_INCOMPLETE);
  const report = newReport(dump, scan);
  const compress = opts.codec ? await pageCompressor(opts.codec) : undefined;
  const id = opts.identity;
  let writer: KdumpCompressedWriter;
  try {
    writer = new KdumpCompressedWriter(sink, {
      pageSize: ps,
      maxPfn: BigInt(scan.maxPfn),
      dumpBitmap: scan.kept,
      ramBitmap: scan.present,
      utsname: id.utsname,
      timestamp: id.timestamp,
      codec: opts.codec,
      compress,
      notes: id.notes,
      physBase: id.physBase,
      dumpLevel: opts.dumpLevel,
      nrCpus: id.nrCpus,
      shareZeroPages: (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0,
    });
  } catch (e) {
    const why = writeStopReason(e);
    if (!why) throw e;
    return { ...report, stopReason: why, incomplete: true, unwrittenPages: scan.pagesKept, bytesWritten: sink.bytesWritten };
  }

  const zeroCheck = (opts.dumpLevel & DL_EXCLUDE_ZERO) !== 0;
  const flag = opts.codec ? codecFlag(opts.codec) : 0;
  const pool = opts.codec && opts.threads > 0 && workersAvailable() ? new WorkerPool(opts.threads, opts.codec) : undefined;
  const reader = new PageReader(dump, opts.direct);
  const maxInFlight = pool ? pool.size * 2 + 1 : 1;
  const inFlight: { promise: Promise<BatchResult | undefined>; batch: Batch }[] = [];
  const spare: ArrayBuffer[] = [];
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
    const data = r ? new Uint8Array(r.out, 0, r.outLength) : undefined;
    let pos = 0;
    let j = 0;
    for (let i = 0; i < b.pfns.length && !stopped; i++) {
      const pfn = BigInt(b.pfns[i]!);
      try {
        const kind = b.kinds[i];
        if (kind === LOST) writer.writeLostPage(pfn);
        else if (kind === ZERO) {
          writer.writeZeroPage(pfn);
          report.zeroPages++;
        } else {
          const n = r!.sizes[j]!;
          writer.writeStoredPage(pfn, r!.flags[j]!, data!.subarray(pos, pos + n));
          pos += n;
          j++;
        }
        written++;
      } catch (e) {
        const why = writeStopReason(e);
        if (!why) throw e;
        stopped = true;
        report.stopReason = why;
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
    if (!batch || batch.pfns.length === 0) return;
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
    for (const [start, end] of setRuns(scan.kept, 0, scan.maxPfn)) {
      for (let pfn = start; pfn < end && !stopped; ) {
        batch ??= { buf: spare.pop() ?? new ArrayBuffer(BATCH_PAGES * ps), data: 0, pfns: [], kinds: [] };
        const b = batch;
        const n = Math.min(end - pfn, BATCH_PAGES - b.data);
        const view = Buffer.from(b.buf);
        const lost = reader.readRun(pfn, n, view, b.data * ps);
        // Pack: data pages stay in their slots, zero and lost pages leave theirs to the next.
        let w = b.data;
        for (let k = 0; k < n; k++) {
          const src = (b.data + k) * ps;
          b.pfns.push(pfn + k);
          if (lost?.[k]) b.kinds.push(LOST);
          else if (zeroCheck && isZeroPage(view, src, ps)) b.kinds.push(ZERO);
          else {
            if (w !== b.data + k) view.copyWithin(w * ps, src, src + ps);
            b.kinds.push(DATA);
            w++;
          }
        }
        b.data = w;
        pfn += n;
        walked = pfn;
        if (b.data === BATCH_PAGES || b.pfns.length >= MAX_BATCH_ENTRIES) await submit();
      }
      if (stopped) break;
    }
    await submit();
    while (inFlight.length) await drainOne();
  } finally {
    await pool?.close();
  }
  report.lostPages = reader.lost;
  report.lostExamples = reader.lostExamples;
  report.unwrittenPages = scan.pagesKept - written;
  report.incomplete = stopped || reader.lost > 0 || dump.incomplete;
  return finishOutput(writer, sink, report);
}

/** makedumpfile -E keeps excluded runs shorter than this inside a PT_LOAD instead of splitting it. */
const ELF_SPLIT_RUN = 256;

/**
 * The PT_LOADs makedumpfile -E writes for a kept bitmap, byte-exact: for every PT_LOAD of the input
 * (the x86_64 kernel-text view too), in order, the pages it covers; a run of ELF_SPLIT_RUN or more
 * excluded pages stays in the memory size but not the file size and the next kept page starts a
 * new segment; shorter excluded runs are stored as they are. Inputs without PT_LOADs
 * (kdump-compressed) give one PT_LOAD per run of present pages.
 */
export function elfSegments(dump: Dump, scan: ScanResult): ElfCoreSegment[] {
  const ps = dump.pageSize;
  const loads =
    dump.loadSegments?.map((l) => ({ paddr: Number(l.paddr), vaddr: l.vaddr, size: l.memSize })) ??
    [...setRuns(scan.present, 0, scan.maxPfn)].map(([s, e]) => ({ paddr: s * ps, vaddr: 0n, size: (e - s) * ps }));
  const out: ElfCoreSegment[] = [];
  for (const l of loads) {
    const end = l.paddr + l.size;
    let seg = { paddr: l.paddr, mem: 0, file: 0 };
    const push = () => out.push({ paddr: BigInt(seg.paddr), vaddr: l.vaddr === 0n ? 0n : l.vaddr + BigInt(seg.paddr - l.paddr), memSize: seg.mem, fileSize: seg.file });
    let excludedRun = 0;
    for (let pfn = Math.floor(l.paddr / ps); pfn * ps < end; pfn++) {
      const bytes = Math.min(end, (pfn + 1) * ps) - Math.max(l.paddr, pfn * ps);
      if (pfn >= scan.maxPfn || !(scan.kept[pfn >> 3]! & (1 << (pfn & 7)))) {
        seg.mem += bytes;
        excludedRun++;
        continue;
      }
      if (excludedRun >= ELF_SPLIT_RUN) {
        push();
        seg = { paddr: pfn * ps, mem: 0, file: 0 };
      }
      seg.mem += bytes;
      seg.file = seg.mem;
      excludedRun = 0;
    }
    push();
  }
  return out;
}

export interface ElfSaveOptions {
  identity: DumpIdentity;
  direct?: PhysReadInto;
  progress?: (p: SaveProgress) => void;
}

/** Pass 2 for ELF output: the segments' stored pages, in order. */
export function writeElfCore(dump: Dump, scan: ScanResult, out: ByteSink, opts: ElfSaveOptions): SaveReport {
  const ps = dump.pageSize;
  const sink = new IncompleteUntilDone(out, Elf64Ehdr.fields.flags.off, DUMP_ELF_INCOMPLETE);
  const report = newReport(dump, scan);
  const segments = elfSegments(dump, scan);
  const stored = segments.reduce((n, s) => n + (s.fileSize ?? s.memSize), 0);
  const reader = new PageReader(dump, opts.direct);
  const buf = new Uint8Array(BATCH_PAGES * ps);
  let written = 0;
  let writer: ElfCoreWriter | undefined;
  try {
    writer = new ElfCoreWriter(sink, { pageSize: ps, notes: opts.identity.notes, segments });
    // Each segment's stored bytes, in chunks that stay inside it (writePhys also fills the other
    // segments holding the same memory: the kernel-text view).
    for (const sg of segments) {
      const start = Number(sg.paddr);
      const end = start + (sg.fileSize ?? sg.memSize);
      for (let a = start; a < end; ) {
        const n = Math.min(buf.length - (a % ps), end - a);
        reader.readSpan(a, n, buf);
        writer.writePhys(BigInt(a), buf.subarray(0, n));
        a += n;
        written += n;
        opts.progress?.({ phase: 'write', pfn: Math.floor(a / ps), maxPfn: scan.maxPfn, pagesWritten: Math.floor(written / ps), pagesTotal: Math.floor(stored / ps), bytesWritten: sink.bytesWritten });
      }
    }
  } catch (e) {
    const why = writeStopReason(e);
    if (!why) throw e;
    report.stopReason = why;
  }
  report.lostPages = reader.lost;
  report.lostExamples = reader.lostExamples;
  report.unwrittenPages = Math.ceil((stored - written) / ps);
  report.incomplete = report.stopReason !== undefined || reader.lost > 0 || dump.incomplete;
  return finishOutput(writer, sink, report);
}

// Pass 1 of a save (makedumpfile's create_2nd_bitmap, cyclic): which page frames the input holds
// and which the dump level keeps, a fixed window of page frames at a time, so memory is two window
// bitmaps whatever the physical address range. The dump-level filter is the crashed kernel's
// struct pages (src/analyze/page-class.ts classifyWindows); ELF output also tests kept pages for
// zeros here and moves the ones the input cannot give to `lost`.
import type { Dump, PfnRun } from '../format/dump.ts';
import { popcountBitmap } from '../format/bitmap.ts';
import { KernelMemory } from '../analyze/kernel-memory.ts';
import { VmcoreInfo } from '../analyze/vmcoreinfo.ts';
import {
  classifyWindows,
  emptyCounts,
  findMemMap,
  needsClassification,
  pageLayout,
  PageClassifier,
  structPageReader,
  structPageScratchReader,
  type ExclusionCounts,
  type MemMapRange,
  type PageLayout,
  type ReadVirt,
} from '../analyze/page-class.ts';
import { BATCH_PAGES, isZeroPage } from './batch.ts';
import { PageReader } from './page-reader.ts';

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
  /** Kept runs recorded for the second pass at most (default KEPT_RUNS_MAX; 0: it walks again). */
  keptRunsMax?: number;
  progress?: (p: SaveProgress) => void;
  /** Each window as the scan finishes it (its buffers are reused for the next window). */
  onWindow?: (w: PfnWindow) => void;
}

/** 2^25 page frames: 4 MiB per bitmap, 128 GiB of 4 KiB pages per window (makedumpfile --cyclic-buffer 4096). */
export const DEFAULT_WINDOW = 1 << 25;
/** Page frames classified between progress reports. */
const STEP = 1 << 18;

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
    windows: () =>
      only
        ? [only]
        : keptRuns
          ? replayWindows(dump, W, keptRuns, bufs)
          : walkWindows(dump, filter, { ...opts, windowPfns: W, progress: undefined }, { ...res, excluded: emptyCounts(), warnings: [], lostExamples: [] }, bufs),
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
  // The kept bits as runs, for the second pass, while they fit: not when one window covers the dump
  // (the second pass gets that window itself), nor with lost bits (ELF's dropMissing).
  const runsMax = opts.keptRunsMax ?? KEPT_RUNS_MAX;
  let keptRuns = maxPfn <= W || opts.dropMissing || runsMax === 0 || W > 2 ** 32 ? undefined : new KeptRuns(runsMax);
  for (const w of walkWindows(dump, filter, { ...opts, windowPfns: W }, res, bufs)) {
    res.pagesPresent += popcountBitmap(w.present, w.end - w.start);
    res.pagesKept += popcountBitmap(w.kept, w.end - w.start);
    if (keptRuns && !keptRuns.add(w)) keptRuns = undefined;
    opts.onWindow?.(w);
    only = count++ === 0 ? w : undefined;
  }
  return res;
}

/** Runs kept for the second pass at most: 4 MiB of them (a 4 TiB machine's whole 2nd bitmap is 128 MiB). */
const KEPT_RUNS_MAX = 1 << 19;

/**
 * The kept bits of every window as runs of page frames (window-relative, two 32-bit numbers each),
 * recorded by the scan so that the second pass replays them instead of walking the struct pages
 * again: at 256 GiB that walk is 4 GiB of mem_map read and classified once more (makedumpfile
 * likewise keeps its bitmaps when they fit, and walks twice only in cyclic mode). Gives up past
 * KEPT_RUNS_MAX runs (a bitmap that fragmented is cheaper to walk again than to hold).
 */
class KeptRuns {
  private readonly max: number;
  private runs = new Uint32Array(1024);
  private n = 0;
  /** Where each window's runs end in `runs` (its start: the window before's end), in window order. */
  private readonly ends: number[] = [];

  constructor(max: number) {
    this.max = max;
  }

  /** Records a window's kept bits; false once they no longer fit. */
  add(w: PfnWindow): boolean {
    for (const [i, j] of setRuns(w.kept, 0, w.end - w.start)) {
      if (this.n + 2 > 2 * this.max) return false;
      if (this.n + 2 > this.runs.length) {
        const bigger = new Uint32Array(Math.min(this.runs.length * 2, 2 * this.max));
        bigger.set(this.runs);
        this.runs = bigger;
      }
      this.runs[this.n++] = i;
      this.runs[this.n++] = j;
    }
    this.ends.push(this.n);
    return true;
  }

  /** Sets window `index`'s kept bits in `bits` (cleared first). */
  fill(index: number, bits: Uint8Array): void {
    bits.fill(0);
    for (let r = index ? this.ends[index - 1]! : 0; r < this.ends[index]!; r += 2) setBits(bits, this.runs[r]!, this.runs[r + 1]!);
  }
}

/** The scan's windows again from its recorded kept runs: present and RAM bits from the dump's runs, no struct page read. */
function* replayWindows(dump: Dump, W: number, kept: KeptRuns, bufs: { present: Uint8Array; kept: Uint8Array; ram: Uint8Array | undefined }): Generator<PfnWindow> {
  const maxPfn = Number(dump.maxPfn);
  const inputBits = windowInputBits(dump, bufs.present, bufs.ram);
  for (let s = 0, index = 0; s < maxPfn; s += W, index++) {
    const e = Math.min(maxPfn, s + W);
    const { present, ram } = inputBits(s, e);
    const k = bufs.kept.subarray(0, present.length);
    kept.fill(index, k);
    yield { start: s, end: e, present, ram, kept: k };
  }
}

/**
 * The input's present bits and RAM bits (its own RAM map where it has one and `ram` is given, else
 * the present bits themselves) of each window [s, e), windows in order, into the two buffers.
 */
function windowInputBits(dump: Dump, present: Uint8Array, ram: Uint8Array | undefined): (s: number, e: number) => { present: Uint8Array; ram: Uint8Array } {
  const maxPfn = Number(dump.maxPfn);
  const presentBits = new RunBits(dump.presentRuns(), maxPfn);
  const ramBits = dump.ramRuns && ram ? new RunBits(dump.ramRuns(), maxPfn) : undefined;
  return (s, e) => {
    const p = present.subarray(0, Math.ceil((e - s) / 8));
    presentBits.fill(p, s, e);
    const r = ramBits ? ram!.subarray(0, p.length) : p;
    ramBits?.fill(r, s, e);
    return { present: p, ram: r };
  };
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
  const zeroReader = opts.zeroTest ? new PageReader(dump) : undefined;
  const buf = opts.zeroTest ? new Uint8Array(BATCH_PAGES * dump.pageSize) : undefined;
  const inputBits = windowInputBits(dump, present, ram);
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
      ({ present: p, ram: r } = inputBits(s, e));
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
export function* setRuns(bits: Uint8Array, from: number, to: number): Generator<[number, number]> {
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

/** The struct page filter for the dump, or undefined with a warning when it cannot be set up. */
export function filterFor(dump: Dump, level: number, warn: (s: string) => void): { filter?: FilterSetup; vi?: VmcoreInfo; readVirt?: ReadVirt } {
  if (dump.vmcoreinfo === undefined) {
    if (needsClassification(undefined, level)) warn(`the dump has no VMCOREINFO: dump level ${level} can only exclude zero pages`);
    return {};
  }
  const vi = new VmcoreInfo(dump.vmcoreinfo);
  let readVirt: ReadVirt | undefined;
  try {
    const km = new KernelMemory(dump, vi);
    readVirt = structPageReader(km);
    const layout = pageLayout(vi);
    if (!needsClassification(layout, level)) return { vi, readVirt };
    const memMap = findMemMap(vi, readVirt, Number(dump.maxPfn));
    // The classifier uses each chunk of struct pages before it reads the next: one buffer for all.
    return { filter: { layout, memMap, readVirt: structPageScratchReader(km) }, vi, readVirt };
  } catch (e) {
    if (!needsClassification(undefined, level)) return { vi, readVirt };
    warn(`cannot find the page structures (${(e as Error).message}): dump level ${level} can only exclude zero pages`);
    return { vi, readVirt };
  }
}

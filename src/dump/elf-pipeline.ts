// ELF output (makedumpfile -E): pass 1 (the scan, with the zero test at dump level bit 1) lays out
// the PT_LOADs window by window (ElfLayout); pass 2 writes the segments' stored pages in order.
// Pages that fail to read only in pass 2 are taken out of every PT_LOAD afterwards.
import type { Dump } from '../format/dump.ts';
import { Elf64Ehdr } from '../format/elf.ts';
import { DUMP_ELF_INCOMPLETE } from '../format/elf-core.ts';
import { ElfCoreWriter, type ElfCoreSegment } from '../format/elf-core-writer.ts';
import type { ByteSink } from '../format/sink.ts';
import type { DumpIdentity } from '../analyze/dump-identity.ts';
import { DL_EXCLUDE_ZERO } from '../analyze/page-class.ts';
import { BATCH_PAGES } from './batch.ts';
import { finishOutput, IncompleteUntilDone, newReport, writeStop, type SaveReport } from './output.ts';
import { PageReader } from './page-reader.ts';
import { scanDump, setRuns, type FilterSetup, type PfnWindow, type SaveProgress } from './scan.ts';

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
    progress: opts.progress,
    onWindow: (w) => layout.add(w),
  });
  const report = newReport(dump, scan);
  const segments = layout.segments();
  const stored = segments.reduce((n, s) => n + (s.fileSize ?? s.memSize), 0);
  const reader = new PageReader(dump);
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
    writer = new ElfCoreWriter(sink, { machine: opts.identity.elfMachine, pageSize: ps, notes: opts.identity.notes, segments, sequential: true });
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

// The save pipeline (makedumpfile's job): walk the page frames of a dump in order, a fixed window at a
// time (cyclic mode), decide which pages the dump level keeps, then read, zero-check and compress the
// kept pages in worker threads and write them in pfn order.
//
//   pass 1 (scan.ts)  window by window: pages present (1st bitmap) and kept after the dump-level filter
//          (2nd bitmap), counted; kdump-compressed output writes each window's bitmaps at their
//          place in the file; ELF output lays out its PT_LOADs (at dump level bit 1 after the
//          zero test, which needs the data).
//   pass 2 kdump-compressed (kdump-pipeline.ts): each window's bits again (recomputed; kept from pass 1 when there is
//          one window), its kept pages read in batches; zero and unreadable pages sorted out on the
//          main thread (zero pages share one stored page; an unreadable one is "lost"); the others
//          compressed in workers; everything handed to the writer in pfn order.
//          ELF (elf-pipeline.ts): the segments' bytes in order.
// Memory: two window bitmaps (DEFAULT_WINDOW: 4 MiB each, 128 GiB of pages; --cyclic-buffer sets
// it), 512 struct pages at a time, a few 512 KiB batches per worker: the same for 1 GiB or 4 TiB.
//
// The target is written directly. Its header says INCOMPLETE from the first byte written and is
// rewritten without it only when everything is out, so a save killed half-way leaves a dump that
// says so. A write error (ENOSPC) stops the save: the header is rewritten (incomplete) and the report
// says what is lost. A page that cannot be read is recorded as lost and the save goes on
// (page-reader.ts). The compressors and worker threads are given (PageCompression: the host's).
import { ParseError } from '../errors.ts';
import type { CodecName } from '../format/codecs/index.ts';
import type { Dump } from '../format/dump.ts';
import type { ByteSink } from '../format/sink.ts';
import { dumpIdentity } from '../analyze/dump-identity.ts';
import type { PageCompression } from './batch.ts';
import { writeElfCore } from './elf-pipeline.ts';
import { writeKdumpCompressed } from './kdump-pipeline.ts';
import { writeStop, type SaveReport, type WriteStop } from './output.ts';
import { filterFor, type SaveProgress } from './scan.ts';

export interface SaveOptions {
  /** Dump levels in order: the next is tried when the output runs out of space (makedumpfile -d 1,31). */
  levels: number[];
  /** An ELF core (-E) instead of kdump-compressed. */
  elf: boolean;
  codec: CodecName | undefined;
  /** Compression workers; 0 compresses in this thread. */
  threads: number;
  /** The compressors and workers (default: the pure compressors, in this thread). */
  compression?: PageCompression;
  /** Page frames per bitmap window (default DEFAULT_WINDOW). */
  windowPfns?: number;
}

/**
 * Where a save writes. `truncate` empties it for a retry at the next dump level (a file; a stream
 * has none, so it never retries); `end` finishes a stream (the flattened format's end marker).
 */
export interface SaveSink extends ByteSink {
  truncate?(): void;
  end?(): void;
}

/** What a save tells its caller while it runs. */
export interface SaveReporter {
  warn(message: string): void;
  /** The progress display of one level's save (a retry at the next level gets a fresh one). */
  progress(level: number): { update(p: SaveProgress): void; done(): void };
  /** Writing stopped for lack of space at `level`; the save starts over at `next`. */
  retry(stop: WriteStop, level: number, next: number): void;
}

/** Refuses an input cut off before its first page: an output would hold no page at all. */
export function checkSavable(dump: Dump): void {
  if (dump.incomplete && dump.pagesPresent() === 0n) {
    throw new ParseError(`no page of the dump is readable (${dump.warnings.join('; ') || 'it is marked incomplete and holds no page'}): nothing to save`, {
      source: dump.source.name,
      hint: 'the header, notes and VMCOREINFO still read: vmcore-ts info',
    });
  }
}

/**
 * Saves `dump` to `sink` at the first of `options.levels` that fits: the filter from the dump's
 * struct pages, the identity its header carries, then the kdump-compressed or ELF pipeline.
 * Returns the report of the last attempt and its level.
 */
export async function saveDump(dump: Dump, options: SaveOptions, sink: SaveSink, reporter: SaveReporter): Promise<{ report: SaveReport; level: number }> {
  checkSavable(dump);
  for (const w of dump.warnings) reporter.warn(w);
  const warn = (s: string) => reporter.warn(s);
  for (let li = 0; ; li++) {
    const level = options.levels[li]!;
    const { filter, vi, readVirt } = filterFor(dump, level, warn);
    const progress = reporter.progress(level);
    const common = { dumpLevel: level, identity: dumpIdentity(dump, vi, readVirt), windowPfns: options.windowPfns, progress: (p: SaveProgress) => progress.update(p) };
    const report = options.elf
      ? writeElfCore(dump, filter, sink, common)
      : await writeKdumpCompressed(dump, filter, sink, { ...common, codec: options.codec, threads: options.threads, compression: options.compression });
    progress.done();
    for (const w of report.scan.warnings) warn(w);
    // Out of space with another level to try: start over with it (as makedumpfile -d 1,31 does).
    const next = options.levels[li + 1];
    if (report.stop?.code === 'ENOSPC' && next !== undefined && sink.truncate) {
      reporter.retry(report.stop, level, next);
      sink.truncate();
      continue;
    }
    if (sink.end) endStream(sink.end.bind(sink), report);
    return { report, level };
  }
}

/** Writes a stream's end; a write error there makes the output incomplete. */
function endStream(end: () => void, r: SaveReport): void {
  try {
    end();
  } catch (e) {
    const why = writeStop(e);
    if (!why) throw e;
    r.stop ??= why;
    r.incomplete = true;
  }
}

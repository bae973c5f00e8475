// What a save's output and report share: the header flagged INCOMPLETE until the last byte is out
// (IncompleteUntilDone, finishOutput), why writing stopped (a write error's errno code, never its
// message text), the report, the level recorded, and what a saved dump lacks when read back.
import { ParseError } from '../errors.ts';
import type { PageDecoders } from '../format/codecs/index.ts';
import type { Dump } from '../format/dump.ts';
import { openDump } from '../format/open-dump.ts';
import type { ByteSink } from '../format/sink.ts';
import type { ByteSource } from '../io/source.ts';
import { isIoError } from '../analyze/dump-identity.ts';
import type { ScanResult } from './scan.ts';

/** Why writing stopped: the errno code (ENOSPC, EIO ...) and the system's message. */
export interface WriteStop {
  code: string;
  message: string;
}

/** The write error that stops the save, or undefined for errors that are bugs (rethrown). */
export function writeStop(e: unknown): WriteStop | undefined {
  if (!isIoError(e)) return undefined;
  return { code: e.code!, message: e.message };
}

/**
 * Writes the header last: it says incomplete unless every page is out, and only then is the
 * sink's INCOMPLETE flag cleared. A write error here is one more reason the dump is incomplete.
 */
export function finishOutput(writer: { finish(o: { incomplete?: boolean }): unknown } | undefined, sink: IncompleteUntilDone, report: SaveReport): SaveReport {
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

export function newReport(dump: Dump, scan: ScanResult): SaveReport {
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

/** The dump level a saved dump records: the input's (when it has one) | the level asked for. */
export function recordedLevel(dump: Dump, level: number): number {
  return (dump.dumpLevel ?? 0) | level;
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


/**
 * Reads a written dump back: the pages it should hold that do not read, or why it is unusable (it
 * does not open, or none of its pages reads while `expected` > 0).
 */
export function readBack(src: ByteSource, expected: number, decoders?: PageDecoders): { missing?: MissingPages; unusable?: string; incomplete?: boolean } {
  try {
    const out = openDump(src, { decoders });
    const missing = missingPages(out);
    if (missing.total === missing.count && expected > 0) return { missing, unusable: `no page of it reads${out.warnings.length ? ` (${out.warnings.join('; ')})` : ''}` };
    return { missing, incomplete: out.incomplete };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { unusable: `it does not open (${e.message})` };
  }
}

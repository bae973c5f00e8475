// The save's page reads: runs of pages into the caller's buffer (an ELF core straight from its file:
// Dump.readPhysInto), and when a run fails, page by page, so one unreadable page is counted lost
// (with an example of why) and never stops the save.
import { NotInDumpError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { isReadError } from '../analyze/dump-identity.ts';

/** Reads pages for the pipeline; a page that cannot be read is counted as lost, never fatal. */
export class PageReader {
  lost = 0;
  readonly lostExamples: string[] = [];
  private readonly dump: Dump;
  constructor(dump: Dump) {
    this.dump = dump;
  }

  /** Bytes [paddr, paddr+length) into `dst` at `off`, straight from the source where the format allows. */
  private read(paddr: number, dst: Uint8Array, off: number, length: number): void {
    if (this.dump.readPhysInto) this.dump.readPhysInto(BigInt(paddr), dst, off, length);
    else dst.set(this.dump.readPhys(BigInt(paddr), length), off);
  }

  /** Reads `count` pages from `pfn` into `dst` at `off`; returns which were lost, or undefined if none. */
  readRun(pfn: number, count: number, dst: Uint8Array, off: number): boolean[] | undefined {
    const ps = this.dump.pageSize;
    try {
      this.read(pfn * ps, dst, off, count * ps);
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
      this.read(paddr, dst, 0, length);
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

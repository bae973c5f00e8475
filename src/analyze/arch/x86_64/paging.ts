// x86_64 kernel page tables: 4-level (PGD/PUD/PMD/PTE) and 5-level (+P4D) walks with 1 GiB and 2 MiB
// pages, over physical memory read from a dump. Whole 4 KiB tables are read once and cached.
import { NotInDumpError } from '../../../errors.ts';
import { hex } from '../../../text.ts';
import type { PageTables, PhysReader, Translation } from '../arch.ts';
import { TableCache } from '../table-cache.ts';

const PRESENT = 1n;
const PSE = 0x80n; // page size bit: a 1 GiB (PUD) or 2 MiB (PMD) leaf
const ADDR_BITS = 0x000ffffffffff000n; // bits 12..51 of an entry
const MASK64 = (1n << 64n) - 1n;
const LEVEL_NAMES = ['PTE', 'PMD', 'PUD', 'P4D', 'PGD'];

type Walk = Translation | { missingShift: bigint; level: string; entry: bigint };

export class X86_64PageTables implements PageTables {
  readonly root: bigint;
  readonly levels: 4 | 5;
  private readonly entryMask: bigint;
  private readonly tables: TableCache;

  /** `root`: physical address of the top-level table (cr3 / init_top_pgt); `smeMask`: AMD SME C-bit. */
  constructor(phys: PhysReader, root: bigint, levels: 4 | 5, smeMask = 0n) {
    this.tables = new TableCache(phys);
    this.root = root & ADDR_BITS;
    this.levels = levels;
    this.entryMask = ADDR_BITS & ~smeMask;
  }

  /** Highest bit of the lower canonical half: 47 (4-level) or 56 (5-level). */
  get vaBits(): bigint {
    return this.levels === 5 ? 57n : 48n;
  }

  isCanonical(vaddr: bigint): boolean {
    const top = vaddr >> (this.vaBits - 1n);
    return top === 0n || top === MASK64 >> (this.vaBits - 1n);
  }

  /** Physical address for `vaddr`; NotInDumpError when it is not mapped or a table is not in the dump. */
  translate(vaddr: bigint): Translation {
    const w = this.walk(vaddr);
    if ('paddr' in w) return w;
    throw new NotInDumpError(vaddr, false, 'unmapped', `not mapped (${w.level} entry ${hex(w.entry)} not present)`);
  }

  /**
   * The lowest mapped address in [start, end), and where it maps to; undefined if none.
   * Skips whole unmapped subtrees, so it costs a walk per present entry on the way, not per page.
   */
  lowestMapped(start: bigint, end: bigint, maxSteps = 100_000): { vaddr: bigint; paddr: bigint } | undefined {
    let va = start;
    for (let step = 0; step < maxSteps && va < end; step++) {
      if (!this.isCanonical(va)) {
        // Jump over the non-canonical hole to the start of the upper half.
        const upper = (MASK64 << (this.vaBits - 1n)) & MASK64;
        if (va > upper) return undefined;
        va = upper;
        continue;
      }
      const w = this.walk(va);
      if ('paddr' in w) return { vaddr: va, paddr: w.paddr };
      const next = ((va >> w.missingShift) + 1n) << w.missingShift;
      if (next > MASK64) return undefined;
      va = next;
    }
    return undefined;
  }

  private walk(vaddr: bigint): Walk {
    if (!this.isCanonical(vaddr)) return { missingShift: 12n, level: 'non-canonical address', entry: 0n };
    let table = this.root;
    for (let level = this.levels - 1; level >= 0; level--) {
      const shift = 12n + 9n * BigInt(level);
      const index = Number((vaddr >> shift) & 511n);
      const entry = this.tables.table(table, vaddr, LEVEL_NAMES[level]!)[index]!;
      if ((entry & PRESENT) === 0n) return { missingShift: shift, level: LEVEL_NAMES[level]!, entry };
      const pageSize = 1n << shift;
      if (level === 0 || ((level === 1 || level === 2) && (entry & PSE) !== 0n)) {
        return { paddr: (entry & this.entryMask & ~(pageSize - 1n)) + (vaddr & (pageSize - 1n)), pageSize };
      }
      table = entry & this.entryMask;
    }
    throw new Error('unreachable');
  }
}

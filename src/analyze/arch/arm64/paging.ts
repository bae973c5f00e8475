// arm64 kernel page tables (TTBR1, the kernel half) with the 4 KiB granule, as Debian's kernels use
// them: 48-bit virtual addresses (4 levels, TCR_EL1.T1SZ = 16) and 52-bit with FEAT_LPA2 (5 levels,
// T1SZ = 12; the top table has 16 entries), 1 GiB and 2 MiB blocks. Descriptors (Arm ARM D8.3): bit 0
// valid, bit 1 table (levels above the last) or page (last level), else a block; the output address
// is bits 47:12, and with LPA2 (TCR_EL1.DS = 1) bits 49:12 plus bits 9:8 as address bits 51:50.
// Whole 4 KiB tables are read once and cached.
import { NotInDumpError, ParseError } from '../../../errors.ts';
import { hex } from '../../../text.ts';
import type { PageTables, PhysReader, Translation } from '../arch.ts';
import { TableCache } from '../table-cache.ts';

const MASK64 = (1n << 64n) - 1n;
const OA_48 = 0x0000fffffffff000n;
const OA_LPA2 = 0x0003fffffffff000n;
const LEVEL_NAMES = ['PTE', 'PMD', 'PUD', 'P4D', 'PGD'];

type Walk = Translation | { missingShift: bigint; level: string; entry: bigint };

/** Page-table levels for a virtual address size with the 4 KiB granule (9 bits a level above the 12-bit offset). */
export function arm64Levels(vaBits: number): number {
  return Math.ceil((vaBits - 12) / 9);
}

export class Arm64PageTables implements PageTables {
  readonly root: bigint;
  readonly levels: number;
  /** Virtual address bits in use (64 - TCR_EL1.T1SZ). */
  readonly vaBits: number;
  /** FEAT_LPA2 descriptors (52-bit output addresses, TCR_EL1.DS = 1). */
  readonly lpa2: boolean;
  private readonly tables: TableCache;

  /** `root`: physical address of swapper_pg_dir; `vaBits`: 64 - TCR_EL1.T1SZ. */
  constructor(phys: PhysReader, root: bigint, vaBits: number, lpa2: boolean) {
    if (vaBits < 36 || vaBits > 52) throw new ParseError(`arm64: ${vaBits}-bit kernel virtual addresses are not a 4 KiB-granule layout`);
    this.tables = new TableCache(phys);
    this.root = root & ~0xfffn;
    this.vaBits = vaBits;
    this.levels = arm64Levels(vaBits);
    this.lpa2 = lpa2;
  }

  /** A TTBR1 (kernel) address: every bit above vaBits is one. */
  isKernelAddress(vaddr: bigint): boolean {
    return vaddr >> BigInt(this.vaBits) === MASK64 >> BigInt(this.vaBits);
  }

  /** The output address of a descriptor (table, block or page). */
  outputAddress(entry: bigint): bigint {
    return this.lpa2 ? (entry & OA_LPA2) | (((entry >> 8n) & 3n) << 50n) : entry & OA_48;
  }

  translate(vaddr: bigint): Translation {
    const w = this.walk(vaddr & MASK64);
    if ('paddr' in w) return w;
    throw new NotInDumpError(vaddr, false, 'unmapped', `not mapped (${w.level} entry ${hex(w.entry)} not valid)`);
  }

  lowestMapped(start: bigint, end: bigint, maxSteps = 100_000): { vaddr: bigint; paddr: bigint } | undefined {
    let va = start;
    const lowest = (MASK64 << BigInt(this.vaBits)) & MASK64;
    if (va < lowest) va = lowest;
    for (let step = 0; step < maxSteps && va < end; step++) {
      const w = this.walk(va);
      if ('paddr' in w) return { vaddr: va, paddr: w.paddr };
      const next = ((va >> w.missingShift) + 1n) << w.missingShift;
      if (next > MASK64) return undefined;
      va = next;
    }
    return undefined;
  }

  private walk(vaddr: bigint): Walk {
    if (!this.isKernelAddress(vaddr)) return { missingShift: BigInt(this.vaBits), level: `user-half address for a ${this.vaBits}-bit kernel`, entry: 0n };
    let table = this.root;
    for (let level = this.levels - 1; level >= 0; level--) {
      const shift = 12 + 9 * level;
      const bits = Math.min(9, this.vaBits - shift);
      const index = Number((vaddr >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
      const name = LEVEL_NAMES[level]!;
      const entry = this.tables.table(table, vaddr, name)[index]!;
      const bshift = BigInt(shift);
      if ((entry & 1n) === 0n) return { missingShift: bshift, level: name, entry };
      const isTable = (entry & 2n) !== 0n;
      if (level === 0) {
        if (!isTable) return { missingShift: bshift, level: name, entry }; // reserved at the last level
        return { paddr: this.outputAddress(entry) + (vaddr & 0xfffn), pageSize: 4096n };
      }
      if (!isTable) {
        if (level > 2) return { missingShift: bshift, level: name, entry }; // no 512 GiB blocks with 4 KiB pages
        const pageSize = 1n << bshift;
        return { paddr: (this.outputAddress(entry) & ~(pageSize - 1n)) + (vaddr & (pageSize - 1n)), pageSize };
      }
      table = this.outputAddress(entry);
    }
    throw new Error('unreachable');
  }
}

// Small in-memory kernels for tests: physical pages, x86_64 page tables (4- or 5-level, 4K/2M/1G
// pages) built like the kernel builds them, VMCOREINFO text, and a Dump over it all. Pages never
// written are "not in the dump".
import { NotInDumpError } from '../../src/errors.ts';
import type { Dump, ElfNote, PfnRun } from '../../src/format/dump.ts';
import { BufferSource } from '../../src/io/source.ts';
import { X86_64_START_KERNEL_MAP as START_KERNEL_MAP } from '../../src/format/x86_64-layout.ts';

const PAGE = 4096n;
const P = 1n; // present
const RW = 2n;
const PSE = 0x80n;

export class SyntheticKernel {
  readonly pages = new Map<bigint, Uint8Array>(); // pfn -> page
  readonly levels: 4 | 5;
  readonly physBase: bigint;
  readonly root: bigint;
  vmcoreinfo: string[] = [];
  notes: ElfNote[] = [];
  private nextTable: bigint;

  /** Tables are allocated from `tableArea` upward (physical). */
  constructor(levels: 4 | 5, physBase = 0n, tableArea = 0x100000n) {
    this.levels = levels;
    this.physBase = physBase;
    this.nextTable = tableArea;
    this.root = this.allocTable();
    this.vmcoreinfo.push(
      'OSRELEASE=6.99.0-synthetic',
      'PAGESIZE=4096',
      `NUMBER(phys_base)=${physBase}`,
      `SYMBOL(init_top_pgt)=${this.ktextAddress(this.root).toString(16)}`,
      `NUMBER(pgtable_l5_enabled)=${levels === 5 ? 1 : 0}`,
      'KERNELOFFSET=0',
      'NUMBER(KERNEL_IMAGE_SIZE)=1073741824',
    );
  }

  /** Kernel-text virtual address of a physical address (the __START_KERNEL_map mapping). */
  ktextAddress(paddr: bigint): bigint {
    return START_KERNEL_MAP + paddr - this.physBase;
  }

  private allocTable(): bigint {
    const pa = this.nextTable;
    this.nextTable += PAGE;
    this.page(pa);
    return pa;
  }

  /** The page holding `paddr`, created (zeroed, present in the dump) on first use. */
  page(paddr: bigint): Uint8Array {
    const pfn = paddr / PAGE;
    let p = this.pages.get(pfn);
    if (!p) {
      p = new Uint8Array(Number(PAGE));
      this.pages.set(pfn, p);
    }
    return p;
  }

  writePhys(paddr: bigint, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; ) {
      const pa = paddr + BigInt(i);
      const off = Number(pa % PAGE);
      const n = Math.min(bytes.length - i, Number(PAGE) - off);
      this.page(pa).set(bytes.subarray(i, i + n), off);
      i += n;
    }
  }

  /** Removes a page from the "dump" (as if filtered out). */
  exclude(paddr: bigint): void {
    this.pages.delete(paddr / PAGE);
  }

  private entry(table: bigint, index: bigint): bigint {
    return new DataView(this.page(table).buffer).getBigUint64(Number(index) * 8, true);
  }
  private setEntry(table: bigint, index: bigint, v: bigint): void {
    new DataView(this.page(table).buffer).setBigUint64(Number(index) * 8, v, true);
  }

  /** Maps one page of `size` (4 KiB, 2 MiB or 1 GiB) at `vaddr` to `paddr`. */
  map(vaddr: bigint, paddr: bigint, size: bigint = PAGE): void {
    const leafShift = size === PAGE ? 12n : size === 1n << 21n ? 21n : size === 1n << 30n ? 30n : -1n;
    if (leafShift < 0n) throw new Error(`bad page size ${size}`);
    let table = this.root;
    for (let level = this.levels - 1; level >= 0; level--) {
      const shift = 12n + 9n * BigInt(level);
      const idx = (vaddr >> shift) & 511n;
      if (shift === leafShift) {
        this.setEntry(table, idx, paddr | P | RW | (leafShift === 12n ? 0n : PSE));
        return;
      }
      let e = this.entry(table, idx);
      if ((e & P) === 0n) {
        e = this.allocTable() | P | RW;
        this.setEntry(table, idx, e);
      }
      table = e & 0x000ffffffffff000n;
    }
  }

  /** Maps [vaddr, vaddr+len) with 4 KiB pages to consecutive physical pages from `paddr`. */
  mapRange(vaddr: bigint, paddr: bigint, len: number): void {
    for (let off = 0n; off < BigInt(len); off += PAGE) this.map(vaddr + off, paddr + off);
  }

  dump(): Dump {
    return new MemoryDump(this.pages, this.vmcoreinfo.join('\n') + '\n', this.notes);
  }
}

/** A Dump over a page map; reading a page that is absent throws NotInDumpError. */
export class MemoryDump implements Dump {
  readonly source = new BufferSource(new Uint8Array(0), '<synthetic>');
  readonly format = 'synthetic';
  readonly compression: string[] = [];
  readonly pageSize = 4096;
  readonly dumpLevel = undefined;
  readonly incomplete = false;
  readonly warnings: string[] = [];
  readonly header = {};
  readonly notes: ElfNote[];
  readonly vmcoreinfo: string | undefined;
  private readonly pages: Map<bigint, Uint8Array>;
  reads = 0;

  constructor(pages: Map<bigint, Uint8Array>, vmcoreinfo: string | undefined, notes: ElfNote[] = []) {
    this.pages = pages;
    this.vmcoreinfo = vmcoreinfo;
    this.notes = notes;
  }
  get maxPfn(): bigint {
    let m = 0n;
    for (const pfn of this.pages.keys()) if (pfn + 1n > m) m = pfn + 1n;
    return m;
  }
  pagesPresent(): bigint {
    return BigInt(this.pages.size);
  }
  *presentRuns(): Iterable<PfnRun> {
    for (const pfn of [...this.pages.keys()].sort((a, b) => (a < b ? -1 : 1))) yield { startPfn: pfn, endPfn: pfn + 1n };
  }
  hasPage(pfn: bigint): boolean {
    return this.pages.has(pfn);
  }
  readPhys(paddr: bigint, length: number): Uint8Array {
    this.reads++;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; ) {
      const pa = paddr + BigInt(i);
      const page = this.pages.get(pa / PAGE);
      if (!page) throw new NotInDumpError(pa, true, 'hole');
      const off = Number(pa % PAGE);
      const n = Math.min(length - i, 4096 - off);
      out.set(page.subarray(off, off + n), i);
      i += n;
    }
    return out;
  }
}

/** A sparse kernel virtual memory of regions (a later one hides an earlier), for code that only needs readVirt. */
export class SparseMemory {
  private regions: { va: bigint; bytes: Uint8Array }[] = [];
  add(va: bigint, bytes: Uint8Array): void {
    this.regions.push({ va, bytes });
  }
  u64(va: bigint, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.add(va, b);
  }
  u32(va: bigint, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.add(va, b);
  }
  readVirt(va: bigint, length: number): Uint8Array {
    for (const r of [...this.regions].reverse()) {
      if (va >= r.va && va + BigInt(length) <= r.va + BigInt(r.bytes.length)) {
        const off = Number(va - r.va);
        return r.bytes.subarray(off, off + length);
      }
    }
    throw new NotInDumpError(va, false, 'unmapped');
  }
}

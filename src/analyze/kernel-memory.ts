// Kernel memory of a dump, by physical or kernel virtual address, from the dump and its VMCOREINFO
// alone (the architecture's layout and page walk: src/analyze/arch/): x86_64 kernel text via
// phys_base (KASLR already in the SYMBOL() values), the direct map by its base when known (arm64:
// from VMCOREINFO), everything else through the kernel's own page tables (x86_64 init_top_pgt, 4- or
// 5-level; arm64 swapper_pg_dir, 4 or 5 levels). A byte the dump does not hold throws
// NotInDumpError, never reads as zero.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { VmcoreInfo } from './vmcoreinfo.ts';
import { archOf, type KernelArch, type PageTables } from './arch/arch.ts';
import { hex } from '../text.ts';
import { readU32, readU64, view, type VirtualMemory } from './virtual-memory.ts';
import type { ImageLayout } from './arch/arch.ts';

const MASK64 = (1n << 64n) - 1n;
const PAGE = 4096n;

/** Where the kernel's direct map of all physical memory starts (page_offset_base), and how we know. */
export interface DirectMap {
  base: bigint;
  /** "page tables", or the symbol source it was read with. */
  source: string;
}

export class KernelMemory implements VirtualMemory {
  readonly dump: Dump;
  readonly info: VmcoreInfo;
  readonly physBase: bigint;
  /** KASLR slide of the kernel image (KERNELOFFSET), 0 if not given. */
  readonly kernelOffset: bigint;
  readonly pageTables: PageTables;
  /** Where the kernel image and the direct map are (the architecture's reading of VMCOREINFO). */
  readonly layout: ImageLayout;
  /** The crashed kernel's architecture (layout, page walk): chosen from the dump. */
  readonly arch: KernelArch;
  private directMapCache: DirectMap | null | undefined;

  constructor(dump: Dump, info?: VmcoreInfo) {
    this.dump = dump;
    if (!info) {
      if (dump.vmcoreinfo === undefined) {
        throw new ParseError('the dump has no VMCOREINFO note', {
          source: dump.source.name,
          hint: 'kernel memory cannot be located without it',
        });
      }
      info = new VmcoreInfo(dump.vmcoreinfo);
    }
    this.info = info;
    this.arch = archOf(dump);
    this.layout = this.arch.imageLayout(info, dump.header);
    this.physBase = this.layout.physBase;
    this.kernelOffset = info.kernelOffset ?? 0n;
    if (this.layout.directMapBase !== undefined) this.directMapCache = { base: this.layout.directMapBase, source: 'VMCOREINFO' };
    this.pageTables = this.arch.pageTables(this, info, (vaddr) => this.layout.imageToPhys(vaddr));
  }

  get pagingLevels(): number {
    return this.pageTables.levels;
  }

  /** In the kernel image range translated without a page walk (x86_64's __START_KERNEL_map). */
  isKernelText(vaddr: bigint): boolean {
    const r = this.layout.imageFastPath;
    return r !== undefined && vaddr >= r[0] && vaddr < r[1];
  }

  private ktextToPhys(vaddr: bigint): bigint {
    return this.layout.imageToPhys(vaddr);
  }

  /** Kernel virtual → physical. Throws NotInDumpError when unmapped or its page tables are missing. */
  virtToPhys(vaddr: bigint): bigint {
    vaddr &= MASK64;
    if (this.isKernelText(vaddr)) return this.ktextToPhys(vaddr);
    const dm = this.directMapCache;
    if (dm && vaddr >= dm.base && vaddr < dm.base + this.dump.maxPfn * PAGE) return vaddr - dm.base;
    return this.pageTables.translate(vaddr).paddr;
  }

  /** The direct map base: set from a symbol (setDirectMapBase) or found as the lowest mapped page. */
  directMap(): DirectMap | undefined {
    if (this.directMapCache === undefined) {
      const [lo, hi] = this.arch.directMapRange(this.pagingLevels);
      let found: { vaddr: bigint; paddr: bigint } | undefined;
      try {
        found = this.pageTables.lowestMapped(lo, hi);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
      this.directMapCache = found ? { base: found.vaddr - found.paddr, source: 'page tables' } : null;
    }
    return this.directMapCache ?? undefined;
  }

  setDirectMapBase(base: bigint, source: string): void {
    this.directMapCache = { base, source };
  }

  /** Physical → direct-map virtual address. */
  physToVirt(paddr: bigint): bigint {
    const dm = this.directMap();
    if (!dm) throw new NotInDumpError(paddr, true, 'unmapped', 'no direct map found in the page tables');
    return dm.base + paddr;
  }

  readPhys(paddr: bigint, length: number): Uint8Array {
    return this.dump.readPhys(paddr, length);
  }

  /**
   * Reads kernel virtual memory; NotInDumpError names the virtual address missing. Pages that follow
   * each other in physical memory too are read in one piece (an ELF dump: one read for the kernel's
   * 5 MiB of BTF instead of 1,300); a range inside the kernel image (mapped linearly) without a
   * translation per page.
   */
  readVirt(vaddr: bigint, length: number): Uint8Array {
    vaddr &= MASK64;
    const head = Math.min(length, Number(PAGE - (vaddr & (PAGE - 1n))));
    if (head === length) return this.readPage(vaddr, length);
    if (this.isKernelText(vaddr) && this.isKernelText(vaddr + BigInt(length - 1))) {
      try {
        return this.dump.readPhys(this.ktextToPhys(vaddr), length);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e; // a page is missing: the loop below names it
      }
    }
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const v = (vaddr + BigInt(done)) & MASK64;
      const paddr = this.virtToPhys(v);
      let n = done === 0 ? head : Math.min(length - done, Number(PAGE));
      while (done + n < length && this.physOf((vaddr + BigInt(done + n)) & MASK64) === paddr + BigInt(n)) n += Math.min(length - done - n, Number(PAGE));
      let bytes: Uint8Array | undefined;
      try {
        bytes = this.dump.readPhys(paddr, n);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
      if (bytes) out.set(bytes, done);
      else {
        // A page of the run is missing: page by page, so the error names its virtual address.
        for (let d = 0; d < n; ) {
          const m = Math.min(n - d, Number(PAGE - ((v + BigInt(d)) & (PAGE - 1n))));
          out.set(this.readPage((v + BigInt(d)) & MASK64, m), done + d);
          d += m;
        }
      }
      done += n;
    }
    return out;
  }

  /** virtToPhys, or undefined where the page is not mapped (its error is met when it is read). */
  private physOf(vaddr: bigint): bigint | undefined {
    try {
      return this.virtToPhys(vaddr);
    } catch (e) {
      if (e instanceof NotInDumpError) return undefined;
      throw e;
    }
  }

  private readPage(vaddr: bigint, length: number): Uint8Array {
    const paddr = this.virtToPhys(vaddr);
    try {
      return this.dump.readPhys(paddr, length);
    } catch (e) {
      if (e instanceof NotInDumpError) {
        throw new NotInDumpError(vaddr, false, e.reason, `not in dump (physical ${hex(paddr)}: ${e.why})`);
      }
      throw e;
    }
  }

  u8(vaddr: bigint): number {
    return this.readVirt(vaddr, 1)[0]!;
  }
  u16(vaddr: bigint): number {
    return view(this.readVirt(vaddr, 2)).getUint16(0, true);
  }
  u32(vaddr: bigint): number {
    return readU32(this, vaddr);
  }
  i32(vaddr: bigint): number {
    return view(this.readVirt(vaddr, 4)).getInt32(0, true);
  }
  u64(vaddr: bigint): bigint {
    return readU64(this, vaddr);
  }
  /** A NUL-terminated string of at most `max` bytes, decoded as Latin-1. */
  cstring(vaddr: bigint, max = 4096): string {
    let s = '';
    for (let off = 0; off < max; ) {
      const n = Math.min(max - off, Number(PAGE - ((vaddr + BigInt(off)) & (PAGE - 1n))));
      const b = this.readVirt(vaddr + BigInt(off), n);
      const nul = b.indexOf(0);
      s += latin1(nul < 0 ? b : b.subarray(0, nul));
      if (nul >= 0) break;
      off += n;
    }
    return s;
  }
}

export function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

// Page classification for dump levels: which page frames a makedumpfile-style dump level excludes,
// decided from the crashed kernel's `struct page` array (SPARSEMEM / SPARSEMEM_VMEMMAP, or FLATMEM)
// with every offset and number taken from VMCOREINFO.
//
// Dump level bits (makedumpfile -d): 1 zero pages, 2 page cache without private data, 4 all page
// cache, 8 user data (anonymous + hugetlbfs), 16 free (buddy) pages. Zero pages are found from the
// page contents by the saver, not here. hwpoison and logically offline pages are always excluded.
//
// The decision per page frame follows makedumpfile's order (first match wins):
//   tail of a compound page      -> decided with its head
//   free (buddy page type)       -> excludes 1 << page.private frames            [level 16]
//   unaccepted page type         -> excludes 1 << (LENGTH(zone.free_area)-1)      [level 16]
//   page cache, no PG_private    -> excludes the compound page                    [level 2 or 4]
//   page cache with PG_private   ->                                               [level 4]
//   anonymous or hugetlb         ->                                               [level 8]
//   PG_hwpoison, offline type    ->                                               [always]
// Page types (buddy, slab, offline, hugetlb, unaccepted) live in _mapcount; their encoding changed
// (-128 until 4.17, ~PG_x 4.18-6.11, PGTY_x << 24 since 6.12), so the values come from NUMBER(...)
// and are never hard-coded.
import { NotInDumpError, ParseError, type NotInDumpReason } from '../errors.ts';
import type { KernelMemory } from './kernel-memory.ts';
import type { VmcoreInfo } from './vmcoreinfo.ts';
import { clearBits } from '../format/bitmap.ts';

export const DL_EXCLUDE_ZERO = 0x01;
export const DL_EXCLUDE_CACHE = 0x02;
export const DL_EXCLUDE_CACHE_PRI = 0x04;
export const DL_EXCLUDE_USER_DATA = 0x08;
export const DL_EXCLUDE_FREE = 0x10;
export const MAX_DUMP_LEVEL = 31;
/** A dump level whose kept pages are the kernel's own: page cache, its private pages and user pages left out. */
export function kernelPagesOnly(dumpLevel: number): boolean {
  const userData = DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI | DL_EXCLUDE_USER_DATA;
  return (dumpLevel & userData) === userData;
}
/** What each dump level bit (1, 2, 4, 8, 16) excludes, in words. */
export const DUMP_LEVEL_WORDS = ['zero pages', 'cache pages', 'private cache pages', 'user pages', 'free pages'];

/** Reads kernel virtual memory of the crashed kernel (vmemmap, mem_section). Throws NotInDumpError. */
export type ReadVirt = (vaddr: bigint, length: number) => Uint8Array;

/** Pages excluded, by reason (counted only for pages that were still kept when excluded). */
export interface ExclusionCounts {
  free: number;
  cache: number;
  cachePrivate: number;
  user: number;
  hwpoison: number;
  offline: number;
  /** Page frames whose struct page could not be read: kept, since nothing is known about them. */
  unknown: number;
}

export function emptyCounts(): ExclusionCounts {
  return { free: 0, cache: 0, cachePrivate: 0, user: 0, hwpoison: 0, offline: 0, unknown: 0 };
}

/** What the filter needs from VMCOREINFO, resolved once. Absent optional numbers are undefined. */
export interface PageLayout {
  pageSize: number;
  /** SIZE(page) */
  structSize: number;
  offFlags: number;
  offMapping: number;
  offMapcount: number;
  offPrivate: number;
  offCompoundHead: number | undefined;
  pgLru: number;
  pgPrivate: number;
  pgSwapcache: number;
  pgSwapbacked: number | undefined;
  pgSlab: number | undefined;
  pgHwpoison: number | undefined;
  pgHugetlb: number | undefined;
  pgHeadMask: bigint;
  buddyType: number | undefined;
  slabType: number | undefined;
  offlineType: number | undefined;
  hugetlbType: number | undefined;
  unacceptedType: number | undefined;
  hugetlbDtor: number | undefined;
  /** Where a compound page's order / destructor id sit, relative to the struct page after the head. */
  orderOffset: number | undefined;
  dtorOffset: number | undefined;
  /** 1 byte since 4.16, 2 bytes 4.4-4.15. */
  orderWidth: 1 | 2;
  /** LENGTH(zone.free_area): orders 0 .. maxOrder-1. */
  freeAreaLength: number | undefined;
}

const FOR = 'page filtering (dump levels 2-31)';

/** Resolves the filter's layout from VMCOREINFO; throws a ParseError naming the first missing key. */
export function pageLayout(vi: VmcoreInfo): PageLayout {
  const structSize = vi.requireSize('page', FOR);
  const int32 = (name: string): number | undefined => {
    const v = vi.number(name);
    return v === undefined ? undefined : Number(BigInt.asIntN(32, v));
  };
  const small = (name: string): number | undefined => {
    const v = vi.number(name);
    return v === undefined ? undefined : Number(v);
  };
  const need = (name: string): number => Number(vi.requireNumber(name, FOR));
  const [major, minor] = (vi.osrelease ?? '').split(/[.-]/).map((s) => Number(s));
  const version = (major || 0) * 1000 + (minor || 0);
  // Since 6.3 the order and destructor moved into struct folio (its second page).
  const folioOrder = vi.offset('folio._folio_order');
  const folioDtor = vi.offset('folio._folio_dtor');
  return {
    pageSize: vi.pageSize ?? 4096,
    structSize,
    offFlags: vi.requireOffset('page.flags', FOR),
    offMapping: vi.requireOffset('page.mapping', FOR),
    offMapcount: vi.requireOffset('page._mapcount', FOR),
    offPrivate: vi.requireOffset('page.private', FOR),
    offCompoundHead: vi.offset('page.compound_head') ?? vi.offset('page.compound_info'),
    pgLru: need('PG_lru'),
    pgPrivate: need('PG_private'),
    pgSwapcache: need('PG_swapcache'),
    pgSwapbacked: small('PG_swapbacked'),
    pgSlab: small('PG_slab'),
    pgHwpoison: small('PG_hwpoison'),
    pgHugetlb: small('PG_hugetlb'),
    pgHeadMask: vi.number('PG_head_mask') ?? 0n,
    buddyType: int32('PAGE_BUDDY_MAPCOUNT_VALUE'),
    slabType: int32('PAGE_SLAB_MAPCOUNT_VALUE'),
    offlineType: int32('PAGE_OFFLINE_MAPCOUNT_VALUE'),
    hugetlbType: int32('PAGE_HUGETLB_MAPCOUNT_VALUE'),
    unacceptedType: int32('PAGE_UNACCEPTED_MAPCOUNT_VALUE'),
    hugetlbDtor: small('HUGETLB_PAGE_DTOR'),
    orderOffset: folioOrder !== undefined ? folioOrder - structSize : vi.offset('page.compound_order'),
    dtorOffset: folioDtor !== undefined ? folioDtor - structSize : vi.offset('page.compound_dtor'),
    orderWidth: version !== 0 && version < 4016 ? 2 : 1,
    freeAreaLength: vi.length('zone.free_area'),
  };
}

/**
 * readVirt for struct pages: vmemmap is mapped with 2 MiB pages, so a chunk of struct pages is one
 * physical read after one page-table walk (3.5x faster than reading 4 KiB at a time).
 */
export function structPageReader(km: KernelMemory): ReadVirt {
  return (vaddr, length) => {
    const t = km.isKernelText(vaddr) ? undefined : km.pageTables.translate(vaddr);
    return t && Number(vaddr & (t.pageSize - 1n)) + length <= Number(t.pageSize) ? km.readPhys(t.paddr, length) : km.readVirt(vaddr, length);
  };
}

/**
 * structPageReader for a walk that uses each chunk before it reads the next (PageClassifier): the
 * bytes are a view of one buffer reused from call to call, filled in place where the dump can
 * (`readPhysInto`). A large dump's walk reads 64 bytes per page frame (1 GiB at 64 GiB of RAM):
 * allocated per chunk, that garbage held tens of MB of RSS until V8 collected it.
 */
export function structPageScratchReader(km: KernelMemory): ReadVirt {
  const slow = structPageReader(km);
  const into = km.dump.readPhysInto?.bind(km.dump);
  let scratch = new Uint8Array(0);
  return (vaddr, length) => {
    if (!into || km.isKernelText(vaddr)) return slow(vaddr, length);
    const t = km.pageTables.translate(vaddr);
    if (!t || Number(vaddr & (t.pageSize - 1n)) + length > Number(t.pageSize)) return slow(vaddr, length);
    if (scratch.length < length) scratch = new Uint8Array(Math.max(length, 64 * 1024));
    const view = scratch.subarray(0, length);
    into(t.paddr, view, 0, length);
    return view;
  };
}

/** A run of page frames whose struct pages are contiguous in kernel virtual memory. */
export interface MemMapRange {
  startPfn: number;
  endPfn: number;
  /** Kernel virtual address of the struct page of startPfn. */
  vaddr: bigint;
}

const SECTION_MARKED_PRESENT = 1n;
// The low bits of section_mem_map are flags; makedumpfile masks 5 bits, the kernel has used up to 6
// and encodes a pointer aligned far more than that, so masking 6 is safe everywhere.
const SECTION_MAP_MASK = ~0x3fn & 0xffffffffffffffffn;

/**
 * Where the struct page of every page frame below `maxPfn` lives: decodes SPARSEMEM's mem_section
 * (extreme: a root array of pointers) or FLATMEM's mem_map. Sections without a mem map are absent.
 */
export function findMemMap(vi: VmcoreInfo, readVirt: ReadVirt, maxPfn: number): MemMapRange[] {
  const pageSize = vi.pageSize ?? 4096;
  const structSize = vi.requireSize('page', FOR);
  const memSection = vi.symbol('mem_section');
  if (memSection === undefined) {
    const memMapSym = vi.symbol('mem_map');
    if (memMapSym === undefined) throw new ParseError(`VMCOREINFO has neither SYMBOL(mem_section) nor SYMBOL(mem_map), needed for ${FOR}`);
    const base = u64(readVirt(memMapSym, 8), 0);
    return base === 0n ? [] : [{ startPfn: 0, endPfn: maxPfn, vaddr: base }];
  }
  const sectionSize = vi.requireSize('mem_section', FOR);
  const offMap = vi.requireOffset('mem_section.section_mem_map', FOR);
  const sectionBits = Number(vi.requireNumber('SECTION_SIZE_BITS', FOR));
  const physBits = Number(vi.requireNumber('MAX_PHYSMEM_BITS', FOR));
  const pageShift = Math.log2(pageSize);
  const pfnsPerSection = 2 ** (sectionBits - pageShift);
  const numSections = Math.ceil(maxPfn / pfnsPerSection);
  const perRoot = pageSize / sectionSize;
  const nrMemSections = 2 ** (physBits - sectionBits);
  const lengthMemSection = vi.length('mem_section');
  const extreme = lengthMemSection === undefined || lengthMemSection === Math.ceil(nrMemSections / perRoot);

  // Section structs, read root by root (extreme) or as one array.
  const sectionAddr = (nr: number, roots: bigint[] | undefined): bigint | undefined => {
    if (!roots) return memSection + BigInt(nr * sectionSize);
    const root = roots[Math.floor(nr / perRoot)];
    return root ? root + BigInt((nr % perRoot) * sectionSize) : undefined;
  };
  const decode = (roots: bigint[] | undefined): MemMapRange[] | undefined => {
    const out: MemMapRange[] = [];
    let cache: { addr: bigint; bytes: Uint8Array } | undefined;
    for (let nr = 0; nr < numSections; nr++) {
      const addr = sectionAddr(nr, roots);
      if (addr === undefined) continue;
      // Read a whole root's worth of sections at once.
      const rootStart = roots ? roots[Math.floor(nr / perRoot)]! : memSection + BigInt(nr * sectionSize);
      if (!cache || addr < cache.addr || addr + BigInt(sectionSize) > cache.addr + BigInt(cache.bytes.length)) {
        const count = roots ? perRoot : Math.min(perRoot, numSections - nr);
        cache = { addr: rootStart, bytes: readVirt(rootStart, count * sectionSize) };
      }
      const map = u64(cache.bytes, Number(addr - cache.addr) + offMap);
      if ((map & SECTION_MARKED_PRESENT) === 0n) continue;
      const coded = map & SECTION_MAP_MASK;
      const startPfn = nr * pfnsPerSection;
      const vaddr = (coded + BigInt(startPfn) * BigInt(structSize)) & 0xffffffffffffffffn;
      if (vaddr < 0x8000000000000000n) return undefined; // not a kernel address: wrong interpretation
      const endPfn = Math.min(startPfn + pfnsPerSection, maxPfn);
      const last = out[out.length - 1];
      if (last && last.endPfn === startPfn && last.vaddr + BigInt((startPfn - last.startPfn) * structSize) === vaddr) {
        last.endPfn = endPfn;
      } else out.push({ startPfn, endPfn, vaddr });
    }
    return out.length ? out : undefined;
  };

  if (!extreme) {
    const r = decode(undefined);
    if (r) return r;
    throw new ParseError('mem_section holds no present section with a mem map', { hint: 'VMCOREINFO and the dump may not match' });
  }
  // SYMBOL(mem_section) is the root array's address (VMCOREINFO_SYMBOL_ARRAY); read the roots needed.
  const nrRoots = Math.ceil(numSections / perRoot);
  const rootBytes = readVirt(memSection, nrRoots * 8);
  const roots: bigint[] = [];
  for (let i = 0; i < nrRoots; i++) roots.push(u64(rootBytes, i * 8));
  const r = decode(roots);
  if (r) return r;
  throw new ParseError('mem_section roots hold no present section with a mem map', { hint: 'VMCOREINFO and the dump may not match' });
}

function u64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

const CHUNK = 512; // struct pages read at once, aligned (makedumpfile's PGMM_CACHED)

/**
 * Whether a dump level needs the struct page array at all (makedumpfile's rule): cache or user
 * levels, free pages with a buddy page type, or a kernel that can mark pages hwpoisoned.
 */
export function needsClassification(layout: PageLayout | undefined, level: number): boolean {
  if (level & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI | DL_EXCLUDE_USER_DATA)) return true;
  if (!layout) return (level & DL_EXCLUDE_FREE) !== 0;
  return layout.pgHwpoison !== undefined || ((level & DL_EXCLUDE_FREE) !== 0 && layout.buddyType !== undefined);
}

/** A run of page frames being excluded that continues past the current window. */
interface Pending {
  end: number;
  reason: keyof ExclusionCounts;
}

/**
 * Excludes pages by dump level from a keep-bitmap, window by window in increasing pfn order (a range
 * exclusion that runs past a window is finished in the next one). Reusable for counting (`vmcore-ts
 * mem`): pass level 31 and a bitmap of the pages present, then read the counts.
 */
export class PageClassifier {
  readonly layout: PageLayout;
  private readonly ranges: MemMapRange[];
  private readonly readVirt: ReadVirt;
  private pending: Pending | undefined;
  /** The last chunk was covered whole by one block: read the next one's head first. */
  private peekHead = false;
  /** Problems met (struct pages unreadable), one line each, bounded. */
  readonly warnings: string[] = [];
  /** Why the first unreadable struct pages (counts.unknown) could not be read. */
  unreadable: { reason: NotInDumpReason | 'damaged'; example: string } | undefined;

  constructor(layout: PageLayout, ranges: MemMapRange[], readVirt: ReadVirt) {
    this.layout = layout;
    this.ranges = ranges;
    this.readVirt = readVirt;
  }

  /**
   * Clears in `keep` (bit i, LSB first = page frame startPfn+i) every page frame in [startPfn,
   * endPfn) that `level` excludes and adds them to `counts`. Call with increasing windows.
   */
  exclude(startPfn: number, endPfn: number, level: number, keep: Uint8Array, counts: ExclusionCounts): void {
    const clear = (from: number, to: number, reason: keyof ExclusionCounts): void => {
      const lo = Math.max(from, startPfn);
      const hi = Math.min(to, endPfn);
      if (hi > lo) counts[reason] += clearBits(keep, lo - startPfn, hi - startPfn);
    };
    let pfn = startPfn;
    if (this.pending) {
      if (this.pending.end > startPfn) {
        clear(startPfn, this.pending.end, this.pending.reason);
        pfn = Math.min(this.pending.end, endPfn);
      }
      this.pending = this.pending.end > endPfn ? this.pending : undefined;
    }
    if (!needsClassification(this.layout, level)) return;
    for (const r of this.ranges) {
      if (r.endPfn <= pfn) continue;
      if (r.startPfn >= endPfn) break;
      let p = Math.max(pfn, r.startPfn);
      const stop = Math.min(endPfn, r.endPfn);
      while (p < stop) {
        const chunkEnd = Math.min(stop, (Math.floor(p / CHUNK) + 1) * CHUNK);
        p = this.excludeChunk(r, p, chunkEnd, startPfn, endPfn, level, keep, counts, clear);
      }
      pfn = Math.max(pfn, p);
    }
  }

  /**
   * Classifies [from, to) (inside one aligned chunk of one range); returns where to continue. After a
   * chunk that a free block or compound page covered whole, the next chunk's head is read first (two
   * struct pages): when it covers that chunk too, the other 510 struct pages are never read (a large
   * machine's free memory is mostly such blocks: 128 bytes of mem_map a block instead of 32 KiB).
   */
  private excludeChunk(
    r: MemMapRange,
    from: number,
    to: number,
    winStart: number,
    winEnd: number,
    level: number,
    keep: Uint8Array,
    counts: ExclusionCounts,
    clear: (from: number, to: number, reason: keyof ExclusionCounts) => void,
  ): number {
    // Skip chunks with nothing kept: holes, or pages already excluded.
    if (!anyBitSet(keep, from - winStart, to - winStart)) return to;
    let pfn = from;
    if (this.peekHead && to - from > 2) {
      const head = this.readStructPages(r, from, from + 2, to, counts);
      if (!head) return to;
      pfn = this.classify(head, from, from, from + 1, winEnd, level, counts, clear);
      this.peekHead = pfn >= to;
      if (this.peekHead) return pfn;
    }
    // One struct page more than the chunk (the folio's second page) unless the chunk ends aligned.
    const extra = to % CHUNK === 0 || to >= r.endPfn ? 0 : 1;
    const bytes = this.readStructPages(r, from, to + extra, to, counts);
    if (!bytes) return to;
    const next = this.classify(bytes, from, pfn, to, winEnd, level, counts, clear);
    this.peekHead = next > to;
    return next;
  }

  /** The struct pages of [from, to), or undefined when they do not read: [from, chunkEnd) is then counted unknown (kept) and warned of. */
  private readStructPages(r: MemMapRange, from: number, to: number, chunkEnd: number, counts: ExclusionCounts): Uint8Array | undefined {
    const size = this.layout.structSize;
    try {
      return this.readVirt(r.vaddr + BigInt((from - r.startPfn) * size), (to - from) * size);
    } catch (e) {
      if (!(e instanceof NotInDumpError || e instanceof ParseError)) throw e;
      counts.unknown += chunkEnd - from;
      this.unreadable ??= { reason: e instanceof NotInDumpError ? e.reason : 'damaged', example: `struct pages of pfn ${from}-${chunkEnd - 1}: ${e.message}` };
      if (this.warnings.length < 8) this.warnings.push(`struct pages of pfn ${from}-${chunkEnd - 1} unreadable (${e.message}): kept`);
      return undefined;
    }
  }

  /**
   * Classifies [pfn, to) from `bytes`, the struct pages from `base` on (and the one after `to`
   * when there); returns where to continue (past `to` when a block runs on).
   */
  private classify(
    bytes: Uint8Array,
    base: number,
    pfn: number,
    to: number,
    winEnd: number,
    level: number,
    counts: ExclusionCounts,
    clear: (from: number, to: number, reason: keyof ExclusionCounts) => void,
  ): number {
    const L = this.layout;
    const size = L.structSize;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headLo = Number(L.pgHeadMask & 0xffffffffn);
    const headHi = Number(L.pgHeadMask >> 32n);
    for (; pfn < to; pfn++) {
      const o = (pfn - base) * size;
      const flagsLo = dv.getUint32(o + L.offFlags, true);
      const flagsHi = dv.getUint32(o + L.offFlags + 4, true);
      const mapcount = dv.getInt32(o + L.offMapcount, true);

      // Compound head: order and hugetlb-ness from the next struct page.
      let order = 0;
      let hugetlb = false;
      const isHead = (flagsLo & headLo) !== 0 || (flagsHi & headHi) !== 0;
      if (isHead && pfn % CHUNK !== CHUNK - 1 && o + 2 * size <= bytes.length) {
        const n = o + size;
        if (L.hugetlbType !== undefined) {
          order = dv.getUint8(n + L.offFlags); // folio._flags_1 & 0xff (6.9+)
          hugetlb = mapcount === L.hugetlbType;
        } else if (L.pgHugetlb !== undefined) {
          const f1 = dv.getUint32(n + L.offFlags, true);
          order = f1 & 0xff; // 6.6-6.8
          hugetlb = L.pgHugetlb < 32 && ((f1 >>> L.pgHugetlb) & 1) === 1;
        } else {
          if (L.orderOffset !== undefined) order = L.orderWidth === 1 ? dv.getUint8(n + L.orderOffset) : dv.getUint16(n + L.orderOffset, true);
          if (L.dtorOffset !== undefined && L.hugetlbDtor !== undefined) {
            const dtor = L.orderWidth === 1 ? dv.getUint8(n + L.dtorOffset) : dv.getUint16(n + L.dtorOffset, true);
            hugetlb = dtor === L.hugetlbDtor;
          }
        }
        if (order >= 64 || pfn % 2 ** order !== 0) order = 0;
      }
      if (L.offCompoundHead !== undefined && (dv.getUint32(o + L.offCompoundHead, true) & 1) === 1) continue; // tail

      const slab = (L.slabType !== undefined && mapcount === L.slabType) || testBit(flagsLo, flagsHi, L.pgSlab);
      const anon = !slab && (dv.getUint32(o + L.offMapping, true) & 1) === 1; // PAGE_MAPPING_ANON
      const cache =
        testBit(flagsLo, flagsHi, L.pgLru) ||
        ((L.pgSwapbacked === undefined || testBit(flagsLo, flagsHi, L.pgSwapbacked)) && testBit(flagsLo, flagsHi, L.pgSwapcache));
      const priv = testBit(flagsLo, flagsHi, L.pgPrivate);
      let nr = 2 ** order;
      let reason: keyof ExclusionCounts;
      if (level & DL_EXCLUDE_FREE && L.buddyType !== undefined && !slab && mapcount === L.buddyType) {
        const privLo = dv.getUint32(o + L.offPrivate, true);
        const privHi = dv.getUint32(o + L.offPrivate + 4, true);
        if (privHi !== 0 || (L.freeAreaLength !== undefined && privLo >= L.freeAreaLength) || privLo >= 64) {
          if (this.warnings.length < 8) this.warnings.push(`invalid free page order ${privLo} at pfn ${pfn}: kept`);
          continue;
        }
        nr = 2 ** privLo;
        reason = 'free';
      } else if (level & DL_EXCLUDE_FREE && L.unacceptedType !== undefined && mapcount === L.unacceptedType) {
        nr = 2 ** ((L.freeAreaLength ?? 11) - 1);
        reason = 'free';
      } else if (level & DL_EXCLUDE_CACHE && cache && !priv && !anon) {
        reason = 'cache';
      } else if (level & DL_EXCLUDE_CACHE_PRI && cache && !anon) {
        reason = priv ? 'cachePrivate' : 'cache';
      } else if (level & DL_EXCLUDE_USER_DATA && (anon || hugetlb)) {
        reason = 'user';
      } else if (testBit(flagsLo, flagsHi, L.pgHwpoison)) {
        reason = 'hwpoison';
      } else if (L.offlineType !== undefined && !slab && mapcount === L.offlineType) {
        reason = 'offline';
      } else continue;

      if (nr === 1) {
        clear(pfn, pfn + 1, reason);
        continue;
      }
      clear(pfn, pfn + nr, reason);
      if (pfn + nr > winEnd) this.pending = { end: pfn + nr, reason };
      if (pfn + nr >= to) return pfn + nr;
      pfn += nr - 1;
    }
    return to;
  }
}

/** Page flag `nr` of a 64-bit flags word given as two halves; false for a flag the kernel lacks. */
function testBit(lo: number, hi: number, nr: number | undefined): boolean {
  return nr !== undefined && ((nr < 32 ? lo >>> nr : hi >>> (nr - 32)) & 1) === 1;
}

/** True if any bit in [from, to) of an LSB-first bitmap is set. */
export function anyBitSet(bits: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to && i & 7) {
    if (bits[i >> 3]! & (1 << (i & 7))) return true;
    i++;
  }
  for (; i + 8 <= to; i += 8) if (bits[i >> 3]) return true;
  for (; i < to; i++) if (bits[i >> 3]! & (1 << (i & 7))) return true;
  return false;
}

/** One window of page frames [start, end) and its keep bits (bit 0 = page frame start). */
export interface ClassifiedWindow {
  start: number;
  end: number;
  keep: Uint8Array;
}

export interface ClassifyWalk {
  maxPfn: number;
  /** Page frames per window (a multiple of 8): `keep` holds at least windowPfns / 8 bytes. */
  windowPfns: number;
  /** Page frames classified at a time inside a window (a multiple of 8), between `afterStep` calls. */
  stepPfns: number;
  level: number;
  /** Undefined when the level needs no struct page (the walk then only fills). */
  classifier: PageClassifier | undefined;
  counts: ExclusionCounts;
  /** The window buffer, reused from window to window. */
  keep: Uint8Array;
  /** Sets the bits of the page frames to classify in [start, end) (`bits` is the window's part of `keep`). */
  fill(bits: Uint8Array, start: number, end: number): void;
  /** After each step [a, b): `bits` starts at page frame a. */
  afterStep?(bits: Uint8Array, a: number, b: number, windowStart: number): void;
}

/**
 * The one classification walk (the saver's dump-level filter, `vmcore-ts mem`'s page types): the page
 * frames a window at a time in pfn order, each window filled, then cleared by the classifier a step at
 * a time. Windows and steps start on multiples of 8, so their bits are whole bytes of the bitmap.
 */
export function* classifyWindows(walk: ClassifyWalk): Generator<ClassifiedWindow> {
  const { maxPfn, windowPfns: W, stepPfns: STEP } = walk;
  for (let s = 0; s < maxPfn; s += W) {
    const e = Math.min(maxPfn, s + W);
    const k = walk.keep.subarray(0, Math.ceil((e - s) / 8));
    walk.fill(k, s, e);
    for (let a = s; a < e; a += STEP) {
      const b = Math.min(e, a + STEP);
      const bits = k.subarray((a - s) >> 3, Math.ceil((b - s) / 8));
      walk.classifier?.exclude(a, b, walk.level, bits, walk.counts);
      walk.afterStep?.(bits, a, b, s);
    }
    yield { start: s, end: e, keep: k };
  }
}

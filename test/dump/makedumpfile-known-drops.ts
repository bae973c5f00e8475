// Pages makedumpfile 1.7.2 (Debian bookworm's) drops wrongly at dump level 8 (so 31) on newer kernels,
// told from their struct page. Used where a test compares our pages, or analysis, with its dumps:
//   slab    a slab page (since 6.10 marked by the page type PAGE_SLAB_MAPCOUNT_VALUE in _mapcount,
//           no PG_slab flag) whose struct slab holds an odd number where struct page has `mapping`
//           (the per-cpu partial list's `slabs` count, list poison): 1.7.2 takes it for an anonymous
//           page and drops it at dump level 8. Fixed in makedumpfile 1.7.6 (commit bad2a7c).
//   tail    a tail page of a compound kernel page (slab, large kmalloc) on 7.1+, whose VMCOREINFO
//           names the tail link OFFSET(page.compound_info) (was page.compound_head; a mask, not a
//           pointer, since 7.1): 1.7.2 sees no tail pages and judges each by its own `mapping`
//           word, odd in a tail; it keeps the head and drops the tails of the same allocation.
//           Fixed upstream after 1.7.9 (commit f50c015): no makedumpfile release up to 1.7.9 has it.
import type { FilterSetup } from '../../src/dump/scan.ts';

export type KnownDrop = { kind: 'slab' } | { kind: 'tail'; head: number };

/**
 * Why makedumpfile 1.7.2 drops page frame `pfn`, from its struct page: an odd `mapping` word on a
 * slab page, or on a tail page (then its head's pfn is returned: the head must be kept by
 * makedumpfile too, since a compound page is one allocation). Undefined: not a page it drops wrongly.
 */
export function whyMakedumpfile172Drops(filter: FilterSetup, pfn: number): KnownDrop | undefined {
  const L = filter.layout;
  const read = (p: number) => {
    const r = filter.memMap.find((m) => p >= m.startPfn && p < m.endPfn);
    if (!r) return undefined;
    const vaddr = r.vaddr + BigInt((p - r.startPfn) * L.structSize);
    const b = filter.readVirt(vaddr, L.structSize);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { vaddr, mapcount: v.getInt32(L.offMapcount, true), mapping: v.getBigUint64(L.offMapping, true), link: v.getBigUint64(L.offCompoundHead ?? 8, true) };
  };
  const page = read(pfn);
  if (!page || (page.mapping & 1n) === 0n) return undefined;
  if ((page.link & 1n) === 0n) return page.mapcount === L.slabType ? { kind: 'slab' } : undefined;
  // A tail: its head from a pointer (head | 1) or, since 7.1, a mask of the struct page address.
  const v = page.link & ~1n;
  const inv = ~v & 0xffffffffffffffffn;
  const headAddr = v >= 0xffffffffff000000n && (inv & (inv + 1n)) === 0n ? page.vaddr & v : v;
  for (let p = pfn - 1; p >= Math.max(0, pfn - 4096); p--) if (read(p)?.vaddr === headAddr) return { kind: 'tail', head: p };
  return undefined;
}

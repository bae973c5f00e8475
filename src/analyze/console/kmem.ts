// crash's `kmem -i` (memory.c dump_kmeminfo): the memory summary table. The numbers come in as
// pages (the page-cache and slab counters from the API's vmstat helpers: src/api/console-commands.ts,
// the rest read here: hugetlb pools, swap, the overcommit limit and committed memory); this file
// prints them in crash's layout ("%13s  %7ld  %11s  %3ld%% of TOTAL MEM").
import { isDumpDataError } from '../../errors.ts';
import type { KernelDump } from '../kernel-dump.ts';

/** Everything `kmem -i` prints, in pages; undefined rows are left out (crash leaves them out too). */
export interface KmemInfo {
  total: number;
  free: number;
  buffers: number;
  cached: number;
  slab: number;
  huge?: { total: number; free: number };
  swap?: { total: number; used: number };
  commit?: { limit: number; committed: number };
}

/** crash's pages_to_size: "0", "896 KB", "657.6 MB", "716 MB" (a ".0" is dropped), "1.5 GB". */
export function pagesToSize(pages: number, pageSize: number): string {
  if (pages === 0) return '0';
  const total = pages * pageSize;
  let s: string;
  if (total >= 2 ** 30) s = `${(total / 2 ** 30).toFixed(1)} GB`;
  else if (total >= 2 ** 20) s = `${(total / 2 ** 20).toFixed(1)} MB`;
  else s = `${Math.floor(total / 1024)} KB`;
  return s.replace('.0 ', ' ');
}

export function formatKmemInfo(k: KmemInfo, pageSize: number): string {
  const size = (p: number) => pagesToSize(p, pageSize).padStart(11);
  const head = (label: string, p: number) => `${label.padStart(13)}  ${String(p).padStart(7)}  ${size(p)}         ----`;
  const part = (label: string, p: number, of: number, what: string) =>
    `${label.padStart(13)}  ${String(p).padStart(7)}  ${size(p)}  ${String(of ? Math.floor((p * 100) / of) : 0).padStart(3)}% of ${what}`;
  const lines = ['                 PAGES        TOTAL      PERCENTAGE', head('TOTAL MEM', k.total)];
  for (const [label, p] of [['FREE', k.free], ['USED', k.total - k.free], ['BUFFERS', k.buffers], ['CACHED', k.cached], ['SLAB', k.slab]] as const) {
    lines.push(part(label, p, k.total, 'TOTAL MEM'));
  }
  if (k.huge) lines.push('', head('TOTAL HUGE', k.huge.total), part('HUGE FREE', k.huge.free, k.huge.total, 'TOTAL HUGE'));
  lines.push('');
  if (k.swap) {
    lines.push(head('TOTAL SWAP', k.swap.total), part('SWAP USED', k.swap.used, k.swap.total, 'TOTAL SWAP'), part('SWAP FREE', k.swap.total - k.swap.used, k.swap.total, 'TOTAL SWAP'));
  }
  if (k.commit) {
    lines.push('', head('COMMIT LIMIT', k.commit.limit));
    lines.push(k.commit.limit ? part('COMMITTED', k.commit.committed, k.commit.limit, 'TOTAL LIMIT') : head('COMMITTED', k.commit.committed));
  }
  return lines.join('\n') + '\n';
}

/** A global's value, undefined when the kernel has no such symbol or its page is not in the dump. */
function readGlobal(kd: KernelDump, name: string, size: 4 | 8, signed = false): number | undefined {
  const a = kd.symbols.byName(name)?.address;
  if (a === undefined) return undefined;
  try {
    if (size === 4) return signed ? kd.memory.i32(a) : kd.memory.u32(a);
    const v = kd.memory.u64(a);
    return Number(signed ? BigInt.asIntN(64, v) : v);
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
}

/** hugetlb pools: every hstate's nr_huge_pages and free_huge_pages, in base pages (crash's get_hugetlb_total_pages). */
export function hugePages(kd: KernelDump): { total: number; free: number } | undefined {
  const btf = kd.btf;
  const hs = btf.find('struct hstate');
  const base = kd.symbols.byName('hstates')?.address;
  const count = readGlobal(kd, 'hugetlb_max_hstate', 4);
  if (!hs || base === undefined || count === undefined) return { total: 0, free: 0 };
  let total = 0;
  let free = 0;
  for (let i = 0; i < Math.min(count, 8); i++) {
    const h = base + BigInt(i * hs.size);
    const order = kd.memory.u32(h + BigInt(btf.offsetOf(hs, 'order')));
    total += Number(kd.memory.u64(h + BigInt(btf.offsetOf(hs, 'nr_huge_pages')))) * 2 ** order;
    free += Number(kd.memory.u64(h + BigInt(btf.offsetOf(hs, 'free_huge_pages')))) * 2 ** order;
  }
  return { total, free };
}

/** Swap: total_swap_pages and what is not free (nr_swap_pages). */
export function swapPages(kd: KernelDump): { total: number; used: number } | undefined {
  const total = readGlobal(kd, 'total_swap_pages', 8, true);
  const free = readGlobal(kd, 'nr_swap_pages', 8, true);
  if (total === undefined || free === undefined) return undefined;
  return { total, used: Math.max(0, total - free) };
}

/** The overcommit limit (sysctl_overcommit_kbytes, else ratio of RAM without hugetlb, plus swap) and vm_committed_as's count. */
export function commitPages(kd: KernelDump, total: number, huge: number, swap: number): { limit: number; committed: number } | undefined {
  if (!kd.symbols.byName('sysctl_overcommit_memory')) return undefined;
  const kbytes = readGlobal(kd, 'sysctl_overcommit_kbytes', 8) ?? 0;
  const ratio = readGlobal(kd, 'sysctl_overcommit_ratio', 4) ?? 50;
  const allowed = kbytes ? Math.floor(kbytes / (kd.dump.pageSize / 1024)) : Math.floor(((total - huge) * ratio) / 100);
  const at = kd.symbols.byName('vm_committed_as')?.address;
  const pc = kd.btf.find('struct percpu_counter');
  if (at === undefined || !pc) return undefined;
  const committed = Number(BigInt.asIntN(64, kd.memory.u64(at + BigInt(kd.btf.offsetOf(pc, 'count')))));
  return { limit: allowed + swap, committed: Math.max(0, committed) };
}


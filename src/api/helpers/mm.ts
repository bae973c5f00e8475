// Memory (drgn.helpers.linux.mm): /proc/meminfo computed as the kernel does (fs/proc/meminfo.c)
// from totalram_pages and the global vmstat counters vm_zone_stat / vm_node_stat, with the
// counters' indices taken from the enums in BTF (zone_stat_item, node_stat_item).
import { ParseError } from '../../errors.ts';
import type { CrashDump } from '../dump.ts';
import type { KObject } from '../object.ts';
import { listEntries } from './lists.ts';

/** /proc/meminfo lines this computes, in kB. Keys that cannot be derived without guessing are absent. */
export interface MemInfo {
  /** Total usable RAM (totalram_pages). */
  MemTotal: number;
  /** Free pages (NR_FREE_PAGES). */
  MemFree: number;
  /** nr_blockdev_pages(): page cache of the block device inodes (blockdev_superblock's s_inodes). */
  Buffers?: number;
  /** NR_FILE_PAGES - swap cache - Buffers; absent when swap is in use and the kernel has no NR_SWAPCACHE. */
  Cached?: number;
  /** Shared memory and tmpfs (NR_SHMEM). */
  Shmem: number;
  /** SReclaimable + NR_KERNEL_MISC_RECLAIMABLE; absent when the kernel has no such counter. */
  KReclaimable?: number;
  /** Reclaimable slab (NR_SLAB_RECLAIMABLE_B). */
  SReclaimable: number;
  /** Unreclaimable slab (NR_SLAB_UNRECLAIMABLE_B). */
  SUnreclaim: number;
  /** Kernel stacks (NR_KERNEL_STACK_KB, already in kB). */
  KernelStack: number;
  /** Page tables (NR_PAGETABLE). */
  PageTables: number;
  /** NR_ACTIVE_ANON. */
  'Active(anon)': number;
  /** NR_INACTIVE_ANON. */
  'Inactive(anon)': number;
  /** NR_ACTIVE_FILE. */
  'Active(file)': number;
  /** NR_INACTIVE_FILE. */
  'Inactive(file)': number;
  /** NR_UNEVICTABLE. */
  Unevictable: number;
  /** Locked with mlock (NR_MLOCK). */
  Mlocked: number;
}

/** The global vmstat counters by enumerator name ("NR_FREE_PAGES"), in pages (negatives read as 0, as the kernel does). */
export function vmStat(dump: CrashDump): Map<string, number> {
  const out = new Map<string, number>();
  for (const [array, enumName, count] of [
    ['vm_zone_stat', 'zone_stat_item', 'NR_VM_ZONE_STAT_ITEMS'],
    ['vm_node_stat', 'node_stat_item', 'NR_VM_NODE_STAT_ITEMS'],
  ] as const) {
    const values = dump.object(array);
    for (const [name, i] of dump.enumValues(enumName)) {
      if (name === count || i < 0 || i >= values.length) continue;
      out.set(name, Math.max(0, values.index(i).number()));
    }
  }
  return out;
}

/** Total RAM pages (_totalram_pages, or totalram_pages before 5.0). */
export function totalRamPages(dump: CrashDump): number {
  return dump.hasSymbol('_totalram_pages') ? dump.object('_totalram_pages').number() : dump.object('totalram_pages').number();
}

/** nr_blockdev_pages(): pages cached for block devices, or undefined when the kernel has no blockdev_superblock. */
export function blockdevPages(dump: CrashDump): number | undefined {
  if (!dump.hasSymbol('blockdev_superblock')) return undefined;
  const sb = dump.object('blockdev_superblock').deref();
  let n = 0;
  for (const inode of listEntries(sb.member('s_inodes'), 'struct inode', 'i_sb_list')) n += inode.member('i_mapping').deref().member('nrpages').number();
  return n;
}

/** /proc/meminfo's main lines, computed from the dump (see {@link MemInfo} for which may be absent). */
export function meminfo(dump: CrashDump): MemInfo {
  const page = (dump.kernel.info.pageSize ?? 4096) / 1024;
  const kb = (pages: number) => pages * page;
  const s = vmStat(dump);
  const get = (name: string): number => {
    const v = s.get(name);
    if (v === undefined) throw new ParseError(`this kernel has no vmstat counter ${name} (enum zone_stat_item / node_stat_item)`, { source: dump.btf.name });
    return v;
  };
  const buffers = blockdevPages(dump);
  const swapfiles = dump.hasSymbol('nr_swapfiles') ? dump.object('nr_swapfiles').number() : undefined;
  const swapcache = swapfiles === 0 ? 0 : s.get('NR_SWAPCACHE');
  const out: MemInfo = {
    MemTotal: kb(totalRamPages(dump)),
    MemFree: kb(get('NR_FREE_PAGES')),
    Shmem: kb(get('NR_SHMEM')),
    SReclaimable: kb(get('NR_SLAB_RECLAIMABLE_B')),
    SUnreclaim: kb(get('NR_SLAB_UNRECLAIMABLE_B')),
    KernelStack: get('NR_KERNEL_STACK_KB'),
    PageTables: kb(get('NR_PAGETABLE')),
    'Active(anon)': kb(get('NR_ACTIVE_ANON')),
    'Inactive(anon)': kb(get('NR_INACTIVE_ANON')),
    'Active(file)': kb(get('NR_ACTIVE_FILE')),
    'Inactive(file)': kb(get('NR_INACTIVE_FILE')),
    Unevictable: kb(get('NR_UNEVICTABLE')),
    Mlocked: kb(get('NR_MLOCK')),
  };
  if (buffers !== undefined) out.Buffers = kb(buffers);
  if (buffers !== undefined && swapcache !== undefined) out.Cached = kb(Math.max(0, get('NR_FILE_PAGES') - swapcache - buffers));
  const misc = s.get('NR_KERNEL_MISC_RECLAIMABLE');
  if (misc !== undefined) out.KReclaimable = kb(get('NR_SLAB_RECLAIMABLE_B') + misc);
  // The keys in /proc/meminfo's order.
  const order = ['MemTotal', 'MemFree', 'Buffers', 'Cached', 'Shmem', 'KReclaimable', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Mlocked'] as const;
  return Object.fromEntries(order.filter((k) => out[k] !== undefined).map((k) => [k, out[k]])) as unknown as MemInfo;
}

/** The memory nodes' struct pglist_data: node_data[nid] for each node with data (NUMA kernels), else contig_page_data. */
export function memoryNodes(dump: CrashDump): KObject[] {
  if (!dump.hasSymbol('node_data')) return [dump.object('contig_page_data')];
  const nodes = dump.object('node_data');
  const nr = dump.hasSymbol('nr_node_ids') ? Math.min(nodes.length, dump.object('nr_node_ids').number()) : nodes.length;
  const out: KObject[] = [];
  for (let i = 0; i < nr; i++) {
    const p = nodes.index(i);
    if (!p.isNull()) out.push(p.deref());
  }
  return out;
}

/** One memory zone of a node. */
export interface ZoneInfo {
  /** The node's ID. */
  node: number;
  /** The zone's name: DMA, DMA32, Normal, Movable, Device. */
  name: string;
  /** First page frame (zone_start_pfn). */
  startPfn: number;
  /** Pages the zone spans, holes included. */
  spannedPages: number;
  /** Pages of RAM in it. */
  presentPages: number;
  /** Pages the page allocator manages (what totalram_pages sums). */
  managedPages: number;
  /** Free pages (the zone's NR_FREE_PAGES counter). */
  freePages: number;
  /** The struct zone. */
  zone: KObject;
}

/** Every zone of every memory node (as /proc/zoneinfo lists them), empty ones included. */
export function zones(dump: CrashDump): ZoneInfo[] {
  const free = dump.enumValue('NR_FREE_PAGES', 'zone_stat_item');
  const out: ZoneInfo[] = [];
  for (const pg of memoryNodes(dump)) {
    const node = pg.member('node_id').number();
    for (const z of pg.member('node_zones').elements()) {
      out.push({
        node,
        name: z.member('name').string(32),
        startPfn: z.member('zone_start_pfn').number(),
        spannedPages: z.member('spanned_pages').number(),
        presentPages: z.member('present_pages').number(),
        managedPages: z.member('managed_pages').number(),
        freePages: Math.max(0, z.member('vm_stat').index(free).number()),
        zone: z,
      });
    }
  }
  return out;
}

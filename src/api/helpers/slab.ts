// Slab caches (drgn.helpers.linux.slab, SLUB): the slab_caches list and each cache's sizes and
// per-node counts (kmem_cache_node.nr_slabs / total_objects, kept with CONFIG_SLUB_DEBUG).
import type { CrashDump } from '../dump.ts';
import type { KObject } from '../object.ts';
import { listEntries } from './lists.ts';

/** Every struct kmem_cache on the slab_caches list, in list order. */
export function slabCaches(dump: CrashDump): KObject[] {
  return [...listEntries(dump.object('slab_caches'), 'struct kmem_cache', 'list')];
}

/**
 * The kmem_cache_node objects of a cache (one per NUMA node that has one): `node[N]` until Linux 7.1,
 * `per_node[N].node` (beside each node's sheaf barn) since.
 */
export function slabCacheNodes(dump: CrashDump, cache: KObject): KObject[] {
  const perNode = !cache.hasMember('node') && cache.hasMember('per_node');
  const nodes = cache.member(perNode ? 'per_node' : 'node');
  const nr = dump.hasSymbol('nr_node_ids') ? Math.min(nodes.length, dump.object('nr_node_ids').number()) : 1;
  const out: KObject[] = [];
  for (let i = 0; i < nr; i++) {
    const p = perNode ? nodes.index(i).member('node') : nodes.index(i);
    if (!p.isNull()) out.push(p.deref());
  }
  return out;
}

/** One slab cache's usage. */
export interface SlabUsage {
  /** The cache's name (kmem_cache.name). */
  name: string;
  /** Size of the object the user asked for (kmem_cache.object_size). */
  objectSize: number;
  /** Size of each object with metadata and alignment (kmem_cache.size). */
  size: number;
  /** Slabs on all nodes (sum of kmem_cache_node.nr_slabs). */
  slabs: number;
  /** Objects on all nodes, in use or free (sum of kmem_cache_node.total_objects). */
  objects: number;
}

/** Usage of every slab cache (SLUB with CONFIG_SLUB_DEBUG counters), sorted by name. */
export function slabUsage(dump: CrashDump): SlabUsage[] {
  const out = slabCaches(dump).map((c) => {
    let slabs = 0;
    let objects = 0;
    for (const n of slabCacheNodes(dump, c)) {
      slabs += n.member('nr_slabs').number();
      objects += n.member('total_objects').number();
    }
    return { name: c.member('name').string(256), objectSize: c.member('object_size').number(), size: c.member('size').number(), slabs, objects };
  });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

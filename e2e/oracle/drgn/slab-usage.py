# Oracle for examples/scripts/slab-usage.ts (issue 17): every SLUB cache on slab_caches with its
# object size, slab size and the slabs/objects counted per node (kmem_cache_node.nr_slabs and
# total_objects, summed over the node array up to nr_node_ids, as for_each_kmem_cache_node does).
# Run: drgn -c DUMP -s VMLINUX slab-usage.py. Prints [{"name","objectSize","size","slabs","objects"}]
# sorted by name. Linux 7.1 moved the node array into per_node[N].node (beside each node's barn).
import json

from drgn.helpers.linux.list import list_for_each_entry


def counter(v):
    try:
        return v.counter.value_()
    except AttributeError:
        return v.value_()


nr_nodes = prog["nr_node_ids"].value_()
caches = []
for cache in list_for_each_entry("struct kmem_cache", prog["slab_caches"].address_of_(), "list"):
    slabs = objects = 0
    for nid in range(nr_nodes):
        try:
            node = cache.node[nid].read_()
        except AttributeError:
            node = cache.per_node[nid].node.read_()
        if not node:
            continue
        slabs += counter(node.nr_slabs)
        objects += counter(node.total_objects)
    caches.append({
        "name": cache.name.string_().decode("utf-8", "replace"),
        "objectSize": cache.object_size.value_(),
        "size": cache.size.value_(),
        "slabs": slabs,
        "objects": objects,
    })
caches.sort(key=lambda c: c["name"])
print(json.dumps(caches))

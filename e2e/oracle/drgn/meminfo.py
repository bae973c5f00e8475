# Oracle for examples/scripts/meminfo.ts (issue 17): /proc/meminfo's first lines, computed as
# meminfo_proc_show does from totalram_pages and the global vm_zone_stat / vm_node_stat counters
# (each item's index from enum zone_stat_item / node_stat_item in the debug info; a negative
# per-CPU-drifted total reads as 0, as global_*_page_state does). Values in kB.
# Run: drgn -c DUMP -s VMLINUX meminfo.py. Prints one object.
# Buffers is nr_blockdev_pages(): the page-cache pages of the block-device inodes (blockdev_superblock's
# s_inodes). Cached is NR_FILE_PAGES - swap cache - Buffers; the swap cache is 0 without swap files
# and not derived otherwise (Cached is then left out). KReclaimable needs NR_KERNEL_MISC_RECLAIMABLE (4.20+).
import json

from drgn.helpers.linux.list import list_for_each_entry



def page_kb():
    try:
        return (1 << prog.constant("PAGE_SHIFT").value_()) // 1024
    except Exception:
        return 4


PAGE_KB = page_kb()


def enum_index(type_name, item):
    for e in prog.type(type_name).enumerators:
        if e.name == item:
            return e.value
    return None


def stat(item):
    """Pages (or kB for *_KB items) of a zone or node counter; None when neither enum has it."""
    for enum, array in (("enum zone_stat_item", "vm_zone_stat"), ("enum node_stat_item", "vm_node_stat")):
        i = enum_index(enum, item)
        if i is not None:
            v = prog[array][i].counter.value_()
            return max(v, 0)
    return None


def first(*items):
    for item in items:
        v = stat(item)
        if v is not None:
            return v
    raise LookupError(f"none of {items}")


def totalram():
    try:
        return prog["_totalram_pages"].counter.value_()
    except KeyError:
        return prog["totalram_pages"].value_()


def blockdev_pages():
    sb = prog["blockdev_superblock"].read_()
    total = 0
    for inode in list_for_each_entry("struct inode", sb.s_inodes.address_of_(), "i_sb_list"):
        total += inode.i_mapping.nrpages.value_()
    return total


out = {}
out["MemTotal"] = totalram() * PAGE_KB
out["MemFree"] = first("NR_FREE_PAGES") * PAGE_KB
buffers = blockdev_pages()
out["Buffers"] = buffers * PAGE_KB
if prog["nr_swapfiles"].value_() == 0:
    cached = first("NR_FILE_PAGES") - buffers
    out["Cached"] = max(cached, 0) * PAGE_KB
out["Shmem"] = first("NR_SHMEM") * PAGE_KB
sreclaimable = first("NR_SLAB_RECLAIMABLE_B", "NR_SLAB_RECLAIMABLE")
misc = stat("NR_KERNEL_MISC_RECLAIMABLE")
if misc is not None:
    out["KReclaimable"] = (sreclaimable + misc) * PAGE_KB
out["SReclaimable"] = sreclaimable * PAGE_KB
out["SUnreclaim"] = first("NR_SLAB_UNRECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE") * PAGE_KB
out["KernelStack"] = first("NR_KERNEL_STACK_KB")
out["PageTables"] = first("NR_PAGETABLE") * PAGE_KB
out["Active(anon)"] = first("NR_ACTIVE_ANON") * PAGE_KB
out["Inactive(anon)"] = first("NR_INACTIVE_ANON") * PAGE_KB
out["Active(file)"] = first("NR_ACTIVE_FILE") * PAGE_KB
out["Inactive(file)"] = first("NR_INACTIVE_FILE") * PAGE_KB
out["Unevictable"] = first("NR_UNEVICTABLE") * PAGE_KB
out["Mlocked"] = first("NR_MLOCK") * PAGE_KB
print(json.dumps(out))

# Oracle for examples/scripts/modules.ts (issue 17): loaded modules in list order with their size as
# /proc/modules prints it: since 6.4 the sum of mod->mem[type].size over the non-init types of enum
# mod_mem_type (names from the debug info); before, core_layout.size (before 4.5, core_size).
# Run: drgn -c DUMP -s VMLINUX modules.py. Prints [{"name", "size"}].
import json

from drgn.helpers.linux.module import for_each_module


def core_types():
    try:
        enum = prog.type("enum mod_mem_type")
    except LookupError:
        return None
    count = next(e.value for e in enum.enumerators if e.name == "MOD_MEM_NUM_TYPES")
    # MOD_INVALID (-1) and MOD_MEM_NUM_TYPES are no memory types.
    return [e.value for e in enum.enumerators if 0 <= e.value < count and not e.name.startswith("MOD_INIT_")]


types = core_types()


def size(mod):
    if types is not None:
        return sum(mod.mem[t].size.value_() for t in types)
    try:
        return mod.core_layout.size.value_()
    except AttributeError:
        return mod.core_size.value_()


print(json.dumps([
    {"name": mod.name.string_().decode("utf-8", "replace"), "size": size(mod)} for mod in for_each_module(prog)
]))

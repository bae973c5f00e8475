// Loaded modules (drgn.helpers.linux.module): the `modules` list as struct module objects, and the
// size /proc/modules prints.
import type { CrashDump } from '../dump.ts';
import type { KObject } from '../object.ts';
import { listEntries } from './lists.ts';

/** Every struct module on the `modules` list, in list order (newest first, as /proc/modules). */
export function moduleObjects(dump: CrashDump): KObject[] {
  return [...listEntries(dump.object('modules'), 'struct module', 'list')];
}

/**
 * A module's size as /proc/modules prints it: since 6.4 the sum of mod->mem[type].size over the
 * types that are not init (enum mod_mem_type names MOD_INIT_*), before that core_layout.size.
 */
export function moduleSize(dump: CrashDump, mod: KObject): number {
  if (!mod.hasMember('mem')) return mod.member('core_layout.size').number();
  const mem = mod.member('mem');
  let size = 0;
  for (const [name, value] of dump.enumValues('mod_mem_type')) {
    if (name.startsWith('MOD_INIT_') || value < 0 || value >= mem.length) continue;
    if (name === 'MOD_MEM_NUM_TYPES' || name === 'MOD_INVALID') continue;
    size += mem.index(value).member('size').number();
  }
  return size;
}

/** One module as /proc/modules lists it (name and size). */
export interface ModuleInfo {
  /** The module's name. */
  name: string;
  /** Its size in bytes as /proc/modules prints it ({@link moduleSize}). */
  size: number;
  /** The struct module. */
  module: KObject;
}

/** The loaded modules in list order with their sizes. */
export function modules(dump: CrashDump): ModuleInfo[] {
  return moduleObjects(dump).map((m) => ({ name: m.member('name').string(), size: moduleSize(dump, m), module: m }));
}

// Slab caches (SLUB): name, object size, size, slabs and objects on all nodes, sorted by name.
//   vmcore-ts run examples/scripts/slab-usage.ts DUMP
import { slabUsage, type CrashDump, type SlabUsage } from 'kexec-ts';

export default function (dump: CrashDump): SlabUsage[] {
  return slabUsage(dump);
}

// /proc/meminfo's main lines in kB, computed as the kernel does from totalram_pages and the vmstat
// counters (Buffers, Cached, KReclaimable are left out when they cannot be derived; see meminfo()).
//   vmcore-ts run examples/scripts/meminfo.ts DUMP
import { meminfo, type CrashDump, type MemInfo } from 'kexec-ts';

export default function (dump: CrashDump): MemInfo {
  return meminfo(dump);
}

// A task's memory use as crash's `ps` shows it (VSZ, RSS, %MEM): mm_struct.total_vm and the RSS
// counters (file, anon and shmem pages), with offsets from BTF. The counters are atomic_long_t
// mm->rss_stat.count[] before Linux 6.2 and percpu_counter mm->rss_stat[] since (the global count
// plus every CPU's not yet folded delta, as the kernel's percpu_counter_sum does).
import { isDumpDataError } from '../errors.ts';
import type { KernelDump } from './kernel-dump.ts';

export interface TaskMemory {
  /** Virtual size, in pages. */
  totalVm: bigint;
  /** Resident pages (MM_FILEPAGES + MM_ANONPAGES + MM_SHMEMPAGES). */
  rss: bigint;
}

const ZERO: TaskMemory = { totalVm: 0n, rss: 0n };
/** MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES (MM_SWAPENTS is not resident). */
const RSS_ITEMS = [0, 1, 3] as const;

/**
 * Reads the memory use of the mm_struct at `mm` (0: a kernel thread, which uses none); undefined
 * when it is not in the dump. `group`: the task_structs of the thread group, whose not yet synced
 * per-task counters (task_struct.rss_stat, SPLIT_RSS_COUNTING before 6.2) count too, as crash adds them.
 */
export function taskMemory(kd: KernelDump, mm: bigint, group: readonly bigint[] = []): TaskMemory | undefined {
  if (mm === 0n) return ZERO;
  const btf = kd.btf;
  const mmT = btf.find('struct mm_struct');
  if (!mmT || !btf.hasMember(mmT, 'total_vm') || !btf.hasMember(mmT, 'rss_stat')) return undefined;
  try {
    const mem = kd.memory;
    const totalVm = mem.u64(mm + BigInt(btf.offsetOf(mmT, 'total_vm')));
    const rs = btf.member(mmT, 'rss_stat');
    const rsT = btf.resolve(rs.typeId);
    const items = RSS_ITEMS;
    let rss = 0n;
    if (rsT.kind === 'array') {
      // 6.2+: struct percpu_counter rss_stat[NR_MM_COUNTERS]
      const pc = rsT.array!.typeId;
      const esz = btf.sizeOf(pc);
      const countOff = btf.offsetOf(pc, 'count');
      const cpusOff = btf.hasMember(pc, 'counters') ? btf.offsetOf(pc, 'counters') : undefined;
      for (const i of items) {
        const base = mm + BigInt(rs.offset + i * esz);
        let v = BigInt.asIntN(64, mem.u64(base + BigInt(countOff)));
        if (cpusOff !== undefined) v += perCpuSum(kd, mem.u64(base + BigInt(cpusOff)));
        rss += v;
      }
    } else {
      // before 6.2: struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; }
      const countOff = btf.offsetOf(rsT, 'count');
      for (const i of items) rss += BigInt.asIntN(64, mem.u64(mm + BigInt(rs.offset + countOff + i * 8)));
    }
    const ts = btf.find('struct task_struct');
    if (ts && btf.hasMember(ts, 'rss_stat.count')) {
      const off = btf.offsetOf(ts, 'rss_stat.count');
      for (const t of group) {
        for (const i of items) {
          const v = mem.i32(t + BigInt(off + i * 4));
          if (v > 0) rss += BigInt(v);
        }
      }
    }
    return { totalVm, rss: rss < 0n ? 0n : rss };
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
}

/** Sum of an s32 per-CPU counter over the dump's CPUs. */
function perCpuSum(kd: KernelDump, counters: bigint): bigint {
  if (counters === 0n) return 0n;
  const base = kd.symbols.byName('__per_cpu_offset')?.address;
  if (base === undefined) return 0n;
  let sum = 0n;
  for (let cpu = 0; cpu < kd.cpus.length; cpu++) {
    const off = kd.memory.u64(base + BigInt(cpu * 8));
    sum += BigInt(kd.memory.i32((counters + off) & 0xffffffffffffffffn));
  }
  return sum;
}

// Task lists as crash's `ps` prints them (task.c show_ps_data: "> %7ld %7ld %3s  TASK %3s  %4s %8ld %8ld  COMM"),
// shared by `vmcore-ts ps` and the `ps` of `vmcore-ts shell`: two-letter states, kernel threads in
// brackets, '>' before the task each CPU was running, %MEM/VSZ/RSS from the task's mm_struct.
import { isDumpDataError } from '../errors.ts';
import type { KernelDump } from './kernel-dump.ts';
import type { Task } from './tasks.ts';
import type { TaskTable } from './stacks.ts';
import { taskMemory, type TaskMemory } from './task-memory.ts';
import { hexPadded } from '../text.ts';

/** crash's task state names by ps letter (RU, IN, UN, ST, TR, ZO, DE, PA, ID). */
const CRASH_STATES: Record<string, string> = { R: 'RU', S: 'IN', D: 'UN', T: 'ST', t: 'TR', Z: 'ZO', X: 'DE', P: 'PA', I: 'ID' };
export const CRASH_STATE_NAMES = ['RU', 'IN', 'UN', 'ST', 'TR', 'ZO', 'DE', 'SW', 'WA', 'PA', 'ID', 'NE'];

export function crashState(t: Task): string {
  return CRASH_STATES[t.state] ?? '??';
}

/** "[comm]" for kernel threads and idle tasks (crash's is_kernel_thread), else comm. */
export function psComm(t: Task): string {
  return t.kthread || t.idle || t.pid === 0 ? `[${t.comm}]` : t.comm;
}

export const PS_HEADER = '      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM';

export interface PsRow {
  task: Task;
  active: boolean;
  /** undefined when the mm_struct is not in the dump (the columns show '-'). */
  mem: TaskMemory | undefined;
}

/** Every task's row: running marker and memory use (total RAM for %MEM comes with it). */
export function psRows(kd: KernelDump, table: TaskTable, tasks: readonly Task[] = table.tasks): PsRow[] {
  const groups = new Map<number, bigint[]>();
  for (const t of table.tasks) if (!t.idle) groups.set(t.tgid, [...(groups.get(t.tgid) ?? []), t.task]);
  return tasks.map((t) => ({ task: t, active: table.current.includes(t.task), mem: taskMemory(kd, t.mm ?? 0n, t.idle ? [] : (groups.get(t.tgid) ?? [])) }));
}

/**
 * Pages %MEM is a share of, as crash counts them (vt->total_pages: the pages below high_memory, which
 * is max_low_pfn's end on x86_64); else the kernel's _totalram_pages; undefined when neither reads.
 */
export function totalRamPages(kd: KernelDump): bigint | undefined {
  for (const name of ['max_low_pfn', '_totalram_pages', 'totalram_pages']) {
    const a = kd.symbols.byName(name)?.address;
    if (a === undefined) continue;
    try {
      const v = kd.memory.u64(a);
      if (v > 0n) return v;
    } catch (e) {
      if (!isDumpDataError(e)) throw e;
    }
  }
  return undefined;
}

export function formatPsRow(r: PsRow, pageSize: number, totalPages: bigint | undefined): string {
  const t = r.task;
  const kb = (pages: bigint) => String((pages * BigInt(pageSize)) / 1024n);
  const pct = r.mem && totalPages ? (Number(r.mem.rss) * 100) / Number(totalPages) : r.mem ? 0 : undefined;
  const pctText = pct === undefined ? '-' : pct.toFixed(1);
  return (
    `${r.active ? '>' : ' '} ${String(t.pid).padStart(7)} ${String(t.idle || t.pid === 0 ? 0 : t.ppid).padStart(7)} ${String(t.cpu).padStart(3)}  ${hexPadded(t.task)} ${crashState(t).padStart(3)}  ` +
    `${pctText.padStart(4)} ${(r.mem ? kb(r.mem.totalVm) : '-').padStart(8)} ${(r.mem ? kb(r.mem.rss) : '-').padStart(8)}  ${psComm(t)}`
  );
}

/** The whole table, with the header unless `noHeader`. */
export function formatPs(kd: KernelDump, rows: readonly PsRow[], noHeader = false): string {
  const total = totalRamPages(kd);
  const lines = noHeader ? [] : [PS_HEADER];
  for (const r of rows) lines.push(formatPsRow(r, kd.dump.pageSize, total));
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** crash's `ps -S`: "  RU: 3" per state, in the order the states first appear. */
export function formatPsSummary(tasks: readonly Task[]): string {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(crashState(t), (counts.get(crashState(t)) ?? 0) + 1);
  return [...counts].map(([s, n]) => `  ${s}: ${n}\n`).join('');
}

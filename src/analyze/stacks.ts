// Backtraces of CPUs (from the registers each saved at the crash) and of tasks that were not running
// (from what the context switch saved), over a KernelDump; the architecture's unwinder does the walk.
import { isDumpDataError, NotInDumpError, ParseError } from '../errors.ts';
import { logCpuLine } from './system-info.ts';
import { Gaps } from './completeness.ts';
import type { KernelDump } from './kernel-dump.ts';
import { TaskReader, type Task, type TaskList } from './tasks.ts';
import type { ArchRegs, Backtrace } from './arch/arch.ts';
import { hex } from '../text.ts';

export interface CpuBacktrace extends Backtrace {
  cpu: number;
  pid: number;
  /** The task running on the CPU, when per-CPU data says so. */
  task: bigint | undefined;
  start: ArchRegs;
}

export function cpuBacktrace(kd: KernelDump, cpu: number): CpuBacktrace {
  const st = kd.cpus[cpu];
  if (!st) {
    throw new ParseError(`no registers saved for CPU ${cpu}: the dump has ${kd.cpus.length} NT_PRSTATUS notes`, {
      source: kd.dump.source.name,
      hint: kd.cpus.length ? undefined : 'the saver kept no CPU notes, so there is nothing to unwind from',
    });
  }
  const { backtrace, start } = kd.arch.unwindCpu(kd, st);
  const task = kd.currentTask(cpu);
  return { ...backtrace, cpu, pid: taskPid(kd, task) ?? panicLinePid(kd, cpu) ?? st.pid, task, start };
}

/** The pid in the "CPU: N PID: P" line the panicking CPU printed, when `cpu` is that CPU. */
function panicLinePid(kd: KernelDump, cpu: number): number | undefined {
  try {
    const line = logCpuLine(kd.log.records, true);
    return line.cpu === cpu ? line.pid : undefined;
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
}

/** The pid of the task at `task`, when its task_struct reads (QEMU's notes number pr_pid by CPU, not by task). */
function taskPid(kd: KernelDump, task: bigint | undefined): number | undefined {
  if (task === undefined) return undefined;
  try {
    return new TaskReader(kd.memory, kd.btf).read(task).pid;
  } catch (e) {
    if (e instanceof ParseError || e instanceof NotInDumpError) return undefined;
    throw e;
  }
}

/** A task that is not running: unwinds from what the context switch saved at thread.sp. */
export function taskBacktrace(kd: KernelDump, threadSp: bigint, task?: bigint): Backtrace {
  return kd.arch.unwindTask(kd, threadSp, task);
}

export interface TaskTable extends TaskList {
  /** task_struct address running on each CPU (index = CPU), when known. */
  current: (bigint | undefined)[];
}

/**
 * Every task: the per-CPU idle tasks (swapper/N: init_task and runqueues.idle, not on the task
 * list), then the task list with threads. `current` marks what each CPU was running.
 */
export function taskTable(kd: KernelDump): TaskTable {
  const reader = new TaskReader(kd.memory, kd.btf);
  const init = kd.requireSymbol('init_task', 'the task list');
  const gaps = new Gaps(kd.dump.dumpLevel);
  const btf = kd.btf;
  if (btf.damage) gaps.note('BTF type', 'damaged', `BTF damaged (${btf.damage}): types after it are unavailable`);
  const list = reader.list(init, gaps);
  const current = kd.cpus.map((_, cpu) => kd.currentTask(cpu));
  const idle: Task[] = [];
  const idleOffset = kd.offsetOf('rq', 'idle');
  for (let cpu = 0; cpu < kd.cpus.length; cpu++) {
    let addr: bigint | undefined = cpu === 0 ? init : undefined;
    if (idleOffset !== undefined) {
      const rqAddr = kd.perCpu('runqueues', cpu);
      try {
        if (rqAddr !== undefined) addr = kd.memory.u64(rqAddr + BigInt(idleOffset));
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
    }
    if (addr === undefined) continue;
    const task = gaps.attempt('task', () => reader.read(addr, true), `idle task of CPU ${cpu} at ${hex(addr)}`);
    if (task) idle.push(task);
  }
  return { tasks: [...idle, ...list.tasks], completeness: gaps.result(), current };
}

/** Backtrace of any task: CPU registers when it was running at the crash, else its saved frame. */
export function backtraceOfTask(kd: KernelDump, t: Task, current: (bigint | undefined)[]): Backtrace & { cpu?: number } {
  const cpu = current.indexOf(t.task);
  if (cpu >= 0) return cpuBacktrace(kd, cpu);
  return taskBacktrace(kd, t.threadSp, t.task);
}

/** Records a backtrace that stopped on an error (memory not in the dump, or an unwinding problem). */
export function backtraceGap(gaps: Gaps, bt: Backtrace, label: string): void {
  if (bt.error) gaps.note('backtrace', bt.notInDump ?? 'damaged', `${label}: ${bt.stop}`);
}

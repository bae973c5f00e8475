// Tasks and PIDs (drgn.helpers.linux.pid / sched): the task list as typed objects, a task's state
// letter as ps prints it, backtraces of tasks. Built on src/analyze/tasks.ts and stacks.ts.
import { stateLetter, taskLayout } from '../../analyze/tasks.ts';
import { backtraceOfTask, taskTable } from '../../analyze/stacks.ts';
import type { Task } from '../../analyze/tasks.ts';
import type { CrashDump } from '../dump.ts';
import { ObjectError } from '../errors.ts';
import { KObject } from '../object.ts';

/** One task as read from its task_struct, with the object for anything else. */
export interface TaskInfo {
  /** The struct task_struct. */
  task: KObject;
  /** Its PID (the thread ID, task_struct.pid). */
  pid: number;
  /** Its thread group's ID (the process ID). */
  tgid: number;
  /** The real parent's thread group ID (0 for PID 1 and kernel threads' roots, -1 when unreadable). */
  ppid: number;
  /** task_struct.comm. */
  comm: string;
  /** One letter as ps shows it: R S D T t X Z P I. */
  state: string;
  /** The CPU it last ran on. */
  cpu: number;
  /** A per-CPU idle task (swapper/N). */
  idle: boolean;
  /** The CPU it was running on at the crash, if any. */
  runningOn: number | undefined;
}

function toInfo(dump: CrashDump, t: Task, current: (bigint | undefined)[]): TaskInfo {
  const cpu = current.indexOf(t.task);
  return {
    task: dump.objectAt('struct task_struct', t.task),
    pid: t.pid,
    tgid: t.tgid,
    ppid: t.ppid,
    comm: t.comm,
    state: t.state,
    cpu: t.cpu,
    idle: t.idle === true,
    runningOn: cpu >= 0 ? cpu : undefined,
  };
}

/**
 * Every task: the per-CPU idle tasks first (swapper/N, `idle: true`), then the task list with
 * every thread (like drgn's for_each_task plus the idle tasks). Tasks the dump lacks are skipped;
 * use `kernel` (taskTable) for what was lost.
 */
export function taskList(dump: CrashDump): TaskInfo[] {
  const table = taskTable(dump.kernel);
  return table.tasks.map((t) => toInfo(dump, t, table.current));
}

/** The task_struct objects of every task on the task list (threads included, idle tasks not). */
export function tasks(dump: CrashDump): KObject[] {
  return taskList(dump)
    .filter((t) => !t.idle)
    .map((t) => t.task);
}

/** The task with this PID (thread ID); ObjectError when there is none. Idle tasks are not found by PID 0. */
export function findTask(dump: CrashDump, pid: number): TaskInfo {
  const t = taskList(dump).find((x) => x.pid === pid && !x.idle);
  if (!t) throw new ObjectError(`no task with PID ${pid}`);
  return t;
}

/** The ps state letter of a task_struct object (R S D T t X Z P I). */
export function taskState(task: KObject): string {
  const L = taskLayout(task.ctx.btf);
  const state = task.member(task.hasMember('__state') ? '__state' : 'state').number();
  return stateLetter(state, task.member('exit_state').number(), L.noload);
}

/** One frame of a task's kernel stack. */
export interface StackFrame {
  /** Program counter (a return address except in the innermost frame and after a register frame). */
  pc: bigint;
  /** Function name, undefined when no symbol covers the address. */
  function: string | undefined;
  /** Offset of `pc` into the function. */
  offset: bigint | undefined;
  /** The module holding the function, undefined for the kernel image. */
  module: string | undefined;
}

/**
 * The kernel stack of a task, innermost frame first (the CPU's registers for a task running at
 * the crash, else what its context switch saved). Functions are what the symbol table names:
 * inlined functions do not appear as frames of their own.
 */
export function taskStack(dump: CrashDump, task: TaskInfo): StackFrame[] {
  const current = dump.kernel.cpus.map((_, cpu) => dump.kernel.currentTask(cpu));
  const t: Task = {
    task: task.task.address,
    pid: task.pid,
    tgid: task.tgid,
    ppid: task.ppid,
    cpu: task.cpu,
    state: task.state,
    comm: task.comm,
    onCpu: false,
    threadSp: task.task.member('thread.sp').bigint(),
    stack: task.task.member('stack').pointer(),
  };
  const bt = backtraceOfTask(dump.kernel, t, current);
  return bt.frames.map((f) => ({ pc: f.pc, function: f.symbol?.name, offset: f.symbol?.offset, module: f.symbol?.module }));
}

/** Counts of tasks by state letter, and the tasks in D (uninterruptible sleep) with their stacks. */
export interface TasksByState {
  /** Tasks per state letter (R S D T t X Z P I), idle tasks left out. */
  counts: Record<string, number>;
  /** The tasks in D, sorted by PID, with their stacks' function names (innermost first). */
  D: {
    /** PID. */
    pid: number;
    /** comm. */
    comm: string;
    /** Function names of the non-inlined frames, innermost first, as kallsyms names them. */
    stack: string[];
  }[];
}

/** What `ps` would count per state (idle tasks excluded), and every D task's stack (sorted by PID). */
export function tasksByState(dump: CrashDump): TasksByState {
  const counts: Record<string, number> = {};
  const d: TasksByState['D'] = [];
  for (const t of taskList(dump)) {
    if (t.idle) continue;
    counts[t.state] = (counts[t.state] ?? 0) + 1;
    if (t.state === 'D') {
      const stack = taskStack(dump, t)
        .map((f) => f.function)
        .filter((n): n is string => n !== undefined);
      d.push({ pid: t.pid, comm: t.comm, stack });
    }
  }
  d.sort((a, b) => a.pid - b.pid);
  return { counts, D: d };
}

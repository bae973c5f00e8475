// Backtraces of CPUs (from the registers each saved at the crash) and of tasks that were not running
// (from their saved inactive_task_frame), over a DumpContext.
import { NotInDumpError } from '../errors.ts';
import type { DumpContext } from './dump-context.ts';
import { PT_REGS, inactiveTaskStart, unwind, type Backtrace, type Regs, type StartState } from './unwind.ts';

export interface CpuBacktrace extends Backtrace {
  cpu: number;
  pid: number;
  /** The task running on the CPU, when per-CPU data says so. */
  task: bigint | undefined;
  start: Regs;
}

export function cpuBacktrace(ctx: DumpContext, cpu: number): CpuBacktrace {
  const st = ctx.cpus[cpu];
  if (!st) throw new RangeError(`no registers saved for CPU ${cpu} (the dump has ${ctx.cpus.length})`);
  const regs = {} as Regs;
  for (const r of PT_REGS) regs[r] = st.regs[r];
  const start: StartState = { ip: regs.rip, sp: regs.rsp, bp: regs.rbp, regs, exact: true };
  const bt = (regs.cs & 3n) !== 0n
    ? { frames: [], stop: 'user mode', error: false, userRegs: regs }
    : unwind(ctx.mem, ctx.orc, ctx.symbolizer, start);
  return { ...bt, cpu, pid: st.pid, task: ctx.currentTask(cpu), start: regs };
}

/** A task that is not running: unwinds from the frame __switch_to_asm saved at thread.sp. */
export function taskBacktrace(ctx: DumpContext, threadSp: bigint): Backtrace {
  const btf = ctx.btf;
  const f = btf.find('struct inactive_task_frame');
  const layout = f
    ? { bpOffset: btf.offsetOf(f, 'bp'), retAddrOffset: btf.offsetOf(f, 'ret_addr'), size: f.size }
    : { bpOffset: 40, retAddrOffset: 48, size: 56 };
  let start: StartState;
  try {
    start = inactiveTaskStart(ctx.mem, threadSp, layout);
  } catch (e) {
    if (e instanceof NotInDumpError) return { frames: [], stop: `saved frame not in dump: ${e.message}`, error: true };
    throw e;
  }
  return unwind(ctx.mem, ctx.orc, ctx.symbolizer, start);
}

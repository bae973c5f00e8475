// Where an x86_64 stack walk starts (the arch table's unwindCpu / unwindTask): a CPU's NT_PRSTATUS
// registers (in user mode there is no kernel stack to walk), or a task that was not running: the
// inactive_task_frame __switch_to_asm saved at thread.sp (its layout from BTF, else the known one).
import { NotInDumpError } from '../../../errors.ts';
import type { KernelDump } from '../../kernel-dump.ts';
import type { Prstatus } from './prstatus.ts';
import { PT_REGS, type Regs } from './regs.ts';
import { INACTIVE_TASK_FRAME, inactiveTaskStart, unwind, type Backtrace, type StartState } from './unwind.ts';

export function unwindCpu(kd: KernelDump, cpu: Prstatus): { backtrace: Backtrace; start: Regs } {
  const regs = {} as Regs;
  for (const r of PT_REGS) regs[r] = cpu.regs[r];
  const start: StartState = { ip: regs.rip, sp: regs.rsp, bp: regs.rbp, regs, exact: true };
  const backtrace = (regs.cs & 3n) !== 0n
    ? { frames: [], stop: 'user mode', error: false, userRegs: regs }
    : unwind(kd.memory, kd.orcFinder, kd.symbolizer, start);
  return { backtrace, start: regs };
}

export function unwindTask(kd: KernelDump, threadSp: bigint): Backtrace {
  const btf = kd.btf; // read first: offsetOf asks it
  const layout = {
    bpOffset: kd.offsetOf('inactive_task_frame', 'bp') ?? INACTIVE_TASK_FRAME.bpOffset,
    retAddrOffset: kd.offsetOf('inactive_task_frame', 'ret_addr') ?? INACTIVE_TASK_FRAME.retAddrOffset,
    size: btf.find('struct inactive_task_frame')?.size ?? INACTIVE_TASK_FRAME.size,
  };
  let start: StartState;
  try {
    start = inactiveTaskStart(kd.memory, threadSp, layout);
  } catch (e) {
    if (e instanceof NotInDumpError) return { frames: [], stop: `saved frame not in dump: ${e.message}`, error: true, notInDump: e.reason };
    throw e;
  }
  return unwind(kd.memory, kd.orcFinder, kd.symbolizer, start);
}

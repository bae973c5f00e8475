// Kernel stack unwinder for arm64 dumps: frame records (AAPCS64: x29 points at {previous x29, x30}),
// as the kernel's own arch/arm64/kernel/stacktrace.c follows them, with
// - pointer-authentication bits stripped from every saved return address (KERNELPACMASK),
// - the function that was running when registers were saved (frame 0, or the interrupted one at an
//   exception) checked for a leaf: when no `add x29, sp, #n` precedes its pc in its prologue, its
//   frame record is not set up yet and its caller is found through x30 (the link register),
// - an exception boundary decoded where a return address lies in an entry vector (el1h_64_irq,
//   el0t_64_sync, ...): the frame record the entry code stores in `struct pt_regs` (stackframe) gives
//   the pt_regs, whose registers continue the walk (kernel mode) or end it (user mode).
// The walk stops at the final frame record (fp 0), at user mode, or at the first thing that does not
// check out (marked, never guessed). Nothing is found by scanning the stack.
import { isDumpDataError, NotInDumpError, type NotInDumpReason } from '../../../errors.ts';
import { hex } from '../../../text.ts';
import type { VirtualMemory } from '../../virtual-memory.ts';
import type { Backtrace, Frame, SymbolInfo, Symbolizer } from '../arch.ts';
import { decodeRegs, isUserPstate, USER_PT_REGS_SIZE, type Arm64Regs } from './regs.ts';

const MASK64 = (1n << 64n) - 1n;

export interface Arm64UnwindContext {
  mem: VirtualMemory;
  sym: Symbolizer;
  /** The bits pointer authentication uses in kernel return addresses (NUMBER(KERNELPACMASK)). */
  pacMask: bigint;
  /** offsetof(struct pt_regs, stackframe), when BTF says; without it exception frames end the walk. */
  ptRegsStackframe: number | undefined;
  maxFrames?: number;
}

export interface Arm64Start {
  pc: bigint;
  sp: bigint;
  fp: bigint;
  /** x30 when the registers are exact (a CPU's saved registers), for a leaf at frame 0. */
  lr?: bigint;
  regs?: Arm64Regs;
}

/** A return address without its pointer-authentication code: kernel addresses get their top bits back. */
export function stripPac(addr: bigint, pacMask: bigint): bigint {
  if (pacMask === 0n) return addr;
  return (addr >> 55n) & 1n ? (addr | pacMask) & MASK64 : addr & ~pacMask & MASK64;
}

/** Exception entry code (the vectors' C-called stubs): el1h_64_irq, el0t_64_sync, el1_irq (older)... */
export const isExceptionEntry = (name: string | undefined): boolean =>
  name !== undefined && /^(el[01][th]_(64|32)_(sync|irq|fiq|error)|el[01]_(sync|irq|fiq|error)(_compat)?|el[01]_error_invalid)$/.test(name);

const ADD_X29_SP_MASK = 0xff8003ffn; // add x29, sp, #imm{, lsl 12}
const ADD_X29_SP = 0x910003fdn;
const MAX_PROLOGUE = 32;

/**
 * Whether the function running at `pc` had set up its frame record (x29 = its own frame): an
 * `add x29, sp, #n` (mov x29, sp) among its first instructions before pc. Undefined when its start is
 * unknown or its code is not in the dump.
 */
export function frameRecordSet(mem: VirtualMemory, sym: Symbolizer, pc: bigint): boolean | undefined {
  const s = sym.symbolize(pc);
  if (!s) return undefined;
  const start = pc - s.offset;
  const n = Math.min(MAX_PROLOGUE, Number(s.offset / 4n));
  if (n === 0) return false;
  let code: Uint8Array;
  try {
    code = mem.readVirt(start, n * 4);
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
  const dv = new DataView(code.buffer, code.byteOffset, code.byteLength);
  for (let i = 0; i < n; i++) if ((BigInt(dv.getUint32(i * 4, true)) & ADD_X29_SP_MASK) === ADD_X29_SP) return true;
  return false;
}

/**
 * The function a return address was called from: the symbol of pc - 1 (a call to a noreturn function
 * at the end of one returns to the start of the next), its offset counted from pc.
 */
export function callSite(sym: Symbolizer, pc: bigint): SymbolInfo | undefined {
  const s = sym.symbolize(pc - 1n);
  return s && { ...s, offset: s.offset + 1n };
}

export function unwindArm64(ctx: Arm64UnwindContext, start: Arm64Start): Backtrace {
  const { mem, sym } = ctx;
  const max = ctx.maxFrames ?? 128;
  const frames: Frame[] = [];
  const done = (stop: string, error: boolean, userRegs?: Arm64Regs, notInDump?: NotInDumpReason): Backtrace => ({ frames, stop, error, userRegs, notInDump });
  const strip = (a: bigint) => stripPac(a, ctx.pacMask);
  const u64 = (a: bigint) => {
    const b = mem.readVirt(a & MASK64, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  };
  const push = (pc: bigint, sp: bigint, method: Frame['method']) => {
    const f: Frame = { pc, sp, symbol: method === 'registers' ? sym.symbolize(pc) : callSite(sym, pc), method };
    frames.push(f);
    return f;
  };
  let fp = start.fp;
  let frame = push(start.pc, start.sp, 'registers');
  // A leaf (or a function still in its prologue) at an exact pc: its caller is in x30. Not in the
  // exception vectors: there x30 is the interrupted code's, whose pc (ELR_EL1) the notes lack.
  const leafCaller = (pc: bigint, lr: bigint | undefined, sp: bigint) => {
    if (lr === undefined || lr === 0n || frame.symbol?.name === 'vectors') return;
    if (frameRecordSet(mem, sym, pc) === false) frame = push(strip(lr), sp, 'registers');
  };
  leafCaller(start.pc, start.lr, start.sp);
  const seen = new Set<bigint>();
  try {
    while (frames.length < max) {
      if (fp === 0n) return done('end of stack', false);
      if ((fp & 7n) !== 0n) return done(`frame pointer ${hex(fp)} is not 8-byte aligned`, true);
      if (seen.has(fp)) return done(`frame record at ${hex(fp)} loops`, true);
      seen.add(fp);
      if (frame.method === 'frame pointer' && isExceptionEntry(frame.symbol?.name)) {
        if (ctx.ptRegsStackframe === undefined) return done('exception frame: no struct pt_regs layout (BTF)', true);
        const regsAddr = (fp - BigInt(ctx.ptRegsStackframe)) & MASK64;
        const regs = decodeRegs(mem.readVirt(regsAddr, USER_PT_REGS_SIZE));
        frame.regs = regs;
        if (isUserPstate(regs.pstate)) return done('user mode', false, regs);
        fp = regs.x29;
        frame = push(regs.pc, regs.sp, 'registers');
        leafCaller(regs.pc, regs.x30, regs.sp);
        continue;
      }
      const next = u64(fp);
      const lr = u64(fp + 8n);
      if (lr === 0n) return done('end of stack', false);
      frame = push(strip(lr), (fp + 16n) & MASK64, 'frame pointer');
      fp = next;
    }
  } catch (e) {
    if (e instanceof NotInDumpError) return done(`stack not in dump: ${e.message}`, true, undefined, e.reason);
    if (isDumpDataError(e)) return done(`unreadable stack: ${(e as Error).message}`, true);
    throw e;
  }
  return done(`stopped after ${max} frames`, true);
}

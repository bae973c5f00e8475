// Kernel stack unwinder for x86_64 dumps: ORC first (the same rules as the kernel's
// arch/x86/kernel/unwind_orc.c), frame pointers where ORC has no entry (modules, BPF, damaged
// tables), a pt_regs frame decoded at every interrupt/exception/syscall entry, and a stop at the end
// of the stack, at user mode, or at the first thing that does not check out (marked, never guessed).
// Nothing is found by scanning the stack, so stale return addresses never show up as frames.
import { isDumpDataError, NotInDumpError, type NotInDumpReason } from '../../../errors.ts';
import { readU64, type VirtualMemory } from '../../virtual-memory.ts';
import { ORC_REG, type OrcEntry } from './orc.ts';
import { hex } from '../../../text.ts';
import { PT_REGS, type Regs } from './regs.ts';
import type { Backtrace, Frame, SymbolInfo, Symbolizer } from '../arch.ts';

const PT_REGS_SIZE = PT_REGS.length * 8;
/** offsetof(struct pt_regs, ip): a partial (iret-only) frame starts here. */
const IRET_FRAME_OFFSET = PT_REGS.indexOf('rip') * 8;

/** Finds the ORC entry for an address (the kernel image's table, a module's). */
export interface OrcFinder {
  find(ip: bigint): OrcEntry | undefined;
}

export type { Backtrace, Frame, SymbolInfo, Symbolizer } from '../arch.ts';

export interface StartState {
  ip: bigint;
  sp: bigint;
  bp: bigint;
  /** Full registers when known (from NT_PRSTATUS): ORC entries based on r10/r13/di/dx need them. */
  regs?: Regs;
  /** `ip` is exact (registers were saved there), not a return address. */
  exact: boolean;
}

export interface UnwindOptions {
  maxFrames?: number;
}

const MASK64 = (1n << 64n) - 1n;

function u64(mem: VirtualMemory, addr: bigint): bigint {
  return readU64(mem, addr & MASK64);
}

export function readPtRegs(mem: VirtualMemory, addr: bigint): Regs {
  const b = mem.readVirt(addr, PT_REGS_SIZE);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const r = {} as Regs;
  PT_REGS.forEach((n, i) => (r[n] = dv.getBigUint64(i * 8, true)));
  return r;
}

function readIretRegs(mem: VirtualMemory, regsAddr: bigint): Regs {
  // Only ip, cs, flags, sp, ss are valid in a partial frame; the rest reads as 0.
  const b = mem.readVirt(regsAddr + BigInt(IRET_FRAME_OFFSET), 5 * 8);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const r = Object.fromEntries(PT_REGS.map((n) => [n, 0n])) as Regs;
  (['rip', 'cs', 'eflags', 'rsp', 'ss'] as const).forEach((n, i) => (r[n] = dv.getBigUint64(i * 8, true)));
  return r;
}

export const isUserMode = (r: Regs): boolean => (r.cs & 3n) !== 0n;

/** Stacks are 16 KiB (task), 16 KiB (irq) or 4-8 KiB (exception) regions; this groups addresses. */
const STACK_REGION = 64n * 1024n;

export function unwind(mem: VirtualMemory, orc: OrcFinder | undefined, sym: Symbolizer, start: StartState, opts: UnwindOptions = {}): Backtrace {
  const max = opts.maxFrames ?? 128;
  const frames: Frame[] = [];
  let ip = start.ip;
  let sp = start.sp;
  let bp = start.bp;
  let regs: Regs | undefined = start.regs;
  let fullRegs = !!start.regs;
  let signal = start.exact;
  let method: Frame['method'] = 'registers';
  const done = (stop: string, error: boolean, userRegs?: Regs, notInDump?: NotInDumpReason): Backtrace => ({ frames, stop, error, userRegs, notInDump });

  for (let n = 0; ; n++) {
    if (n >= max) return done(`stopped after ${max} frames`, true);
    const frame: Frame = { pc: ip, sp, symbol: sym.symbolize(ip), method };
    frames.push(frame);
    const prevSp = sp;
    try {
      const lookupIp = signal ? ip : ip - 1n;
      const e: OrcEntry | undefined = orc?.find(lookupIp);
      let cfa: bigint;
      const fallback = !e || e.type === 'undefined' ? prologueFrame(mem, ip, sp, frame.symbol) : undefined;
      if (fallback) {
        // Code objtool left without ORC (STACK_FRAME_NON_STANDARD, e.g. __crash_kexec, whose
        // crash_setup_regs() saved the registers we start from): the frame size comes from the
        // function's prologue, checked by the return address following a call into this function.
        ip = u64(mem, fallback.cfa - 8n);
        sp = fallback.cfa;
        if (fallback.bpSlot !== undefined) bp = u64(mem, fallback.bpSlot);
        regs = undefined;
        fullRegs = false;
        signal = false;
        method = 'prologue';
      } else if (!e) {
        // No ORC entry (module, BPF, or the table is missing): follow the frame-pointer chain.
        if (bp === 0n) return done(`no ORC entry for ${hex(ip)} and no frame pointer`, true);
        ip = u64(mem, bp + 8n);
        sp = bp + 16n;
        bp = u64(mem, bp);
        regs = undefined;
        fullRegs = false;
        signal = false;
        method = 'frame pointer';
      } else {
        if (e.type === 'end') return done('end of stack', false);
        if (e.type === 'undefined') return done(`ORC marks ${hex(ip)} as not unwindable`, true);
        let indirect = false;
        switch (e.spReg) {
          case ORC_REG.SP:
            cfa = sp + BigInt(e.spOffset);
            break;
          case ORC_REG.BP:
            cfa = bp + BigInt(e.spOffset);
            break;
          case ORC_REG.SP_INDIRECT:
            cfa = sp;
            indirect = true;
            break;
          case ORC_REG.BP_INDIRECT:
            cfa = bp + BigInt(e.spOffset);
            indirect = true;
            break;
          case ORC_REG.R10:
          case ORC_REG.R13:
          case ORC_REG.DI:
          case ORC_REG.DX: {
            const name = ({ [ORC_REG.R10]: 'r10', [ORC_REG.R13]: 'r13', [ORC_REG.DI]: 'rdi', [ORC_REG.DX]: 'rdx' } as const)[e.spReg];
            if (!regs || !fullRegs) return done(`ORC needs register ${name} at ${hex(ip)} but no register frame holds it`, true);
            cfa = regs[name];
            break;
          }
          default:
            return done(`ORC entry for ${hex(ip)} has unknown sp base register ${e.spReg}`, true);
        }
        cfa &= MASK64;
        if (indirect) {
          cfa = u64(mem, cfa);
          if (e.spReg === ORC_REG.SP_INDIRECT) cfa = (cfa + BigInt(e.spOffset)) & MASK64;
        }
        if (e.type === 'call') {
          ip = u64(mem, cfa - 8n);
          sp = cfa;
          regs = undefined;
          fullRegs = false;
          signal = e.signal; // v2+: a call entry can still mark an exact ip (kprobe on push/pop)
        } else if (e.type === 'regs') {
          regs = readPtRegs(mem, cfa);
          fullRegs = true;
          frame.regs = regs;
          if (isUserMode(regs)) return done('user mode', false, regs);
          ip = regs.rip;
          sp = regs.rsp;
          signal = true;
        } else {
          const at = cfa - BigInt(IRET_FRAME_OFFSET);
          regs = readIretRegs(mem, at);
          fullRegs = false;
          frame.regs = regs;
          frame.partialRegs = true;
          if (isUserMode(regs)) return done('user mode', false, regs);
          ip = regs.rip;
          sp = regs.rsp;
          signal = true;
        }
        switch (e.bpReg) {
          case ORC_REG.UNDEFINED:
            if (regs && fullRegs) bp = regs.rbp;
            break;
          case ORC_REG.PREV_SP:
            bp = u64(mem, cfa + BigInt(e.bpOffset));
            break;
          case ORC_REG.BP:
            bp = u64(mem, bp + BigInt(e.bpOffset));
            break;
          default:
            return done(`ORC entry for ${hex(ip)} has unknown bp base register ${e.bpReg}`, true);
        }
        method = 'orc';
      }
      if (ip === 0n) return done('end of stack (return address 0)', false);
      // On the same stack, each caller's frame lies above its callee's.
      const sameStack = (sp > prevSp ? sp - prevSp : prevSp - sp) < STACK_REGION;
      if (sameStack && sp <= prevSp && !frame.regs) {
        return done(`stack going the wrong way at ${hex(frame.pc)} (sp ${hex(sp)} <= ${hex(prevSp)})`, true);
      }
    } catch (err) {
      if (err instanceof NotInDumpError) return done(`stack memory not in dump: ${err.message}`, true, undefined, err.reason);
      throw err;
    }
  }
}

/** `struct inactive_task_frame` (what __switch_to_asm pushes) where BTF does not say: r15 r14 r13 r12 bx bp ret_addr. */
export const INACTIVE_TASK_FRAME = { bpOffset: 40, retAddrOffset: 48, size: 56 };

/** The first frame of a task that is not running: its saved `struct inactive_task_frame` at thread.sp. */
export function inactiveTaskStart(mem: VirtualMemory, threadSp: bigint, layout: typeof INACTIVE_TASK_FRAME): StartState {
  return {
    ip: u64(mem, threadSp + BigInt(layout.retAddrOffset)),
    bp: u64(mem, threadSp + BigInt(layout.bpOffset)),
    sp: threadSp + BigInt(layout.size),
    exact: false,
  };
}


export function frameLabel(f: Frame): string {
  if (!f.symbol) return `${hex(f.pc)}`;
  return `${f.symbol.name}+${hex(f.symbol.offset)}${f.symbol.size !== undefined ? `/${hex(f.symbol.size)}` : ''}${f.symbol.module ? ` [${f.symbol.module}]` : ''}`;
}

/**
 * Stack depth at `pc` from the function's prologue: a run of simple instructions from the function
 * start (fentry nop, endbr64, push, sub $n,%rsp, mov %rsp,%rbp, mov $imm,%reg, xor %reg,%reg). Only
 * trusted when the return address it implies follows a call instruction into this very function
 * (or, for an indirect call, any call instruction).
 */
export function prologueFrame(mem: VirtualMemory, pc: bigint, sp: bigint, sym: SymbolInfo | undefined): { cfa: bigint; bpSlot?: bigint } | undefined {
  if (!sym || sym.offset === 0n || sym.offset > 0x10000n) return undefined;
  const fn = pc - sym.offset;
  let code: Uint8Array;
  try {
    code = mem.readVirt(fn, Number(sym.offset < 64n ? sym.offset : 64n));
  } catch (e) {
    if (!isDumpDataError(e)) throw e;
    return undefined;
  }
  let depth = 0;
  let bpPushedAt: number | undefined;
  for (let i = 0; i < code.length; ) {
    const b0 = code[i]!;
    const b1 = code[i + 1];
    const b2 = code[i + 2];
    const nop = nopLength(code, i);
    if (nop) i += nop; // fentry/padding NOPs of any form
    else if (b0 === 0xf3 && b1 === 0x0f && b2 === 0x1e && code[i + 3] === 0xfa) i += 4; // endbr64
    else if (b0 >= 0x50 && b0 <= 0x57) {
      depth += 8;
      if (b0 === 0x55) bpPushedAt = depth;
      i += 1;
    } else if (b0 === 0x41 && b1 !== undefined && b1 >= 0x50 && b1 <= 0x57) {
      depth += 8;
      i += 2;
    } else if (b0 === 0x48 && b1 === 0x83 && b2 === 0xec) {
      depth += code[i + 3]!;
      i += 4;
    } else if (b0 === 0x48 && b1 === 0x81 && b2 === 0xec) {
      depth += new DataView(code.buffer, code.byteOffset + i + 3, 4).getInt32(0, true);
      i += 7;
    } else if (b0 === 0x48 && b1 === 0x89 && b2 === 0xe5) i += 3; // mov %rsp,%rbp
    else if (b0 >= 0xb8 && b0 <= 0xbf) i += 5; // mov $imm32,%r32
    else if ((b0 === 0x31 || b0 === 0x33) && b1 !== undefined && b1 >= 0xc0) i += 2; // xor %r32,%r32
    else break;
  }
  if (depth === 0) return undefined;
  const cfa = sp + BigInt(depth) + 8n;
  let ret: bigint;
  let before: Uint8Array;
  try {
    ret = u64(mem, cfa - 8n);
    before = mem.readVirt(ret - 7n, 7);
  } catch (e) {
    if (!isDumpDataError(e)) throw e;
    return undefined;
  }
  if (!callsInto(before, ret, fn)) return undefined;
  return { cfa, bpSlot: bpPushedAt === undefined ? undefined : cfa - 8n - BigInt(bpPushedAt) };
}

/** Length of the NOP at `i` (0x66* 0x90, or 0x66* 0f 1f /0 with its ModRM/SIB/displacement), or 0. */
function nopLength(code: Uint8Array, i: number): number {
  let k = i;
  while (code[k] === 0x66 && k - i < 8) k++;
  if (code[k] === 0x90) return k + 1 - i;
  if (code[k] !== 0x0f || code[k + 1] !== 0x1f || code[k + 2] === undefined) return 0;
  const modrm = code[k + 2]!;
  const mod = modrm >> 6;
  if (mod === 3 || ((modrm >> 3) & 7) !== 0) return 0;
  let len = k + 3 - i;
  if ((modrm & 7) === 4) len += 1;
  if (mod === 1) len += 1;
  else if (mod === 2) len += 4;
  return len;
}

/** Whether the 7 bytes before return address `ret` end in a call to `fn` (direct) or an indirect call. */
function callsInto(b: Uint8Array, ret: bigint, fn: bigint): boolean {
  if (b[2] === 0xe8) {
    const rel = new DataView(b.buffer, b.byteOffset + 3, 4).getInt32(0, true);
    return ((ret + BigInt(rel)) & MASK64) === fn;
  }
  // ff /2: call *%reg (2-3 bytes), call *disp(%rip) (6 bytes)
  if (b[5] === 0xff && (b[6]! & 0xf8) === 0xd0) return true;
  if (b[1] === 0xff && b[2] === 0x15) return true;
  return false;
}

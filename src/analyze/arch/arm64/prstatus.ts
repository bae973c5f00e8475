// arm64 NT_PRSTATUS notes: `struct elf_prstatus` as on aarch64 (the common header of 112 bytes, then
// pr_reg = struct user_pt_regs: x0–x30, sp, pc, pstate; then pr_fpvalid), one per CPU. The kernel's
// crash_save_cpu() and QEMU's dump-guest-memory write the same layout.
import { ParseError } from '../../../errors.ts';
import type { ElfNote } from '../../../format/dump.ts';
import { readStruct, struct } from '../../../format/struct.ts';
import type { CpuState } from '../arch.ts';
import { decodeRegs, USER_PT_REGS_SIZE, type Arm64Regs } from './regs.ts';

export const NT_PRSTATUS = 1;

export const elfPrstatusArm64 = struct('elf_prstatus', 392, {
  pr_cursig: { off: 12, type: 'u16' },
  pr_pid: { off: 32, type: 'i32' },
  pr_ppid: { off: 36, type: 'i32' },
  pr_reg: { off: 112, type: 'bytes:272' },
  pr_fpvalid: { off: 384, type: 'i32' },
});

export interface Arm64Prstatus extends CpuState {
  regs: Arm64Regs;
}

export function parseArm64Prstatus(note: ElfNote, cpu: number): Arm64Prstatus {
  if (note.desc.length < 112 + USER_PT_REGS_SIZE) {
    throw new ParseError(`NT_PRSTATUS note of CPU ${cpu} has ${note.desc.length} bytes, arm64 elf_prstatus needs ${elfPrstatusArm64.size}`, {
      offset: note.offset,
      hint: 'not an arm64 dump, or a damaged note',
    });
  }
  const s = readStruct(elfPrstatusArm64, note.desc.length >= elfPrstatusArm64.size ? note.desc : padded(note.desc));
  const regs = decodeRegs(s.pr_reg);
  return { cpu, pid: s.pr_pid, ppid: s.pr_ppid, cursig: s.pr_cursig, regs, pc: regs.pc, sp: regs.sp };
}

function padded(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(elfPrstatusArm64.size);
  out.set(b);
  return out;
}

/** Every CORE/NT_PRSTATUS note of the dump, in note order (the kernel's CPU order). */
export function arm64Prstatus(notes: readonly ElfNote[]): Arm64Prstatus[] {
  return notes.filter((n) => n.type === NT_PRSTATUS && n.name === 'CORE').map((n, i) => parseArm64Prstatus(n, i));
}

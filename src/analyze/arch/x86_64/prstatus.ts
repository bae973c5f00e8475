// x86_64 NT_PRSTATUS notes: the kernel's crash_save_cpu() writes one `struct elf_prstatus` per CPU
// (pid of the task running there, registers). Layout = glibc <sys/procfs.h> on x86_64.
import { ParseError } from '../../../errors.ts';
import type { ElfNote } from '../../../format/dump.ts';
import { readStruct, struct } from '../../../format/struct.ts';
import type { CpuState } from '../arch.ts';
import { X86_64_REGS, type X86_64Reg } from './regs.ts';

export const NT_PRSTATUS = 1;

export const elfPrstatusX86_64 = struct('elf_prstatus', 336, {
  si_signo: { off: 0, type: 'i32' },
  si_code: { off: 4, type: 'i32' },
  si_errno: { off: 8, type: 'i32' },
  pr_cursig: { off: 12, type: 'u16' },
  pr_sigpend: { off: 16, type: 'u64' },
  pr_sighold: { off: 24, type: 'u64' },
  pr_pid: { off: 32, type: 'i32' },
  pr_ppid: { off: 36, type: 'i32' },
  pr_pgrp: { off: 40, type: 'i32' },
  pr_sid: { off: 44, type: 'i32' },
  pr_reg: { off: 112, type: 'bytes:216' },
  pr_fpvalid: { off: 328, type: 'i32' },
});

export interface Prstatus extends CpuState {
  regs: Record<X86_64Reg, bigint>;
}

export function parsePrstatus(note: ElfNote, cpu: number): Prstatus {
  if (note.desc.length < elfPrstatusX86_64.size) {
    throw new ParseError(
      `NT_PRSTATUS note of CPU ${cpu} has ${note.desc.length} bytes, x86_64 elf_prstatus needs ${elfPrstatusX86_64.size}`,
      { offset: note.offset, hint: 'not an x86_64 dump, or a damaged note' },
    );
  }
  const s = readStruct(elfPrstatusX86_64, note.desc);
  const dv = new DataView(s.pr_reg.buffer, s.pr_reg.byteOffset, s.pr_reg.byteLength);
  const regs = {} as Record<X86_64Reg, bigint>;
  X86_64_REGS.forEach((r, i) => (regs[r] = dv.getBigUint64(i * 8, true)));
  return { cpu, pid: s.pr_pid, ppid: s.pr_ppid, cursig: s.pr_cursig, regs, pc: regs.rip, sp: regs.rsp };
}

/** Every CORE/NT_PRSTATUS note of the dump, in note order (the kernel's CPU order). */
export function cpuPrstatus(notes: readonly ElfNote[]): Prstatus[] {
  return notes
    .filter((n) => n.type === NT_PRSTATUS && n.name === 'CORE')
    .map((n, i) => parsePrstatus(n, i));
}

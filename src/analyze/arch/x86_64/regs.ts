// x86_64 register layouts, declared once: `struct pt_regs` (what entry code saves on the stack, what
// the unwinder decodes) and `struct user_regs_struct` (elf_gregset_t in NT_PRSTATUS: pt_regs, then
// the segment bases and selectors).

/** `struct pt_regs`: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss, 8 bytes each. */
export const PT_REGS = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss',
] as const;
export type PtReg = (typeof PT_REGS)[number];
export type Regs = Record<PtReg, bigint>;

/** `struct user_regs_struct` order (elf_gregset_t), 8 bytes each. */
export const X86_64_REGS = [...PT_REGS, 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'] as const;
export type X86_64Reg = (typeof X86_64_REGS)[number];

// arm64 register layouts, declared once: `struct user_pt_regs` (elf_gregset_t in NT_PRSTATUS, and the
// start of the kernel's `struct pt_regs` an exception entry saves on the stack): x0–x30, sp, pc, pstate.

export const ARM64_REGS = [
  ...Array.from({ length: 31 }, (_, i) => `x${i}` as const),
  'sp', 'pc', 'pstate',
] as const;
export type Arm64Reg = (typeof ARM64_REGS)[number];
export type Arm64Regs = Record<Arm64Reg, bigint>;

/** sizeof(struct user_pt_regs): 34 registers of 8 bytes. */
export const USER_PT_REGS_SIZE = ARM64_REGS.length * 8;

/** PSTATE.M[3:0] = EL0t: the registers were saved in user mode. */
export const isUserPstate = (pstate: bigint): boolean => (pstate & 0xfn) === 0n;

/** Decodes 34 little-endian u64 registers. */
export function decodeRegs(b: Uint8Array): Arm64Regs {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const r = {} as Arm64Regs;
  ARM64_REGS.forEach((n, i) => (r[n] = dv.getBigUint64(i * 8, true)));
  return r;
}

// The x86_64 row of the architecture table (src/analyze/arch/arch.ts): layout constants from
// src/format/x86_64-layout.ts, the 4/5-level page walk (paging.ts), NT_PRSTATUS registers
// (prstatus.ts). The stack unwinder (ORC, frame pointers, pt_regs frames) is unwind.ts and orc.ts.
import { EM_X86_64 } from '../../../format/elf.ts';
import {
  X86_64_DIRECT_MAP_RANGE,
  X86_64_KERNEL_SPACE,
  X86_64_MODULES_END,
  X86_64_MODULES_VADDR,
  X86_64_START_KERNEL,
  X86_64_START_KERNEL_MAP,
} from '../../../format/x86_64-layout.ts';
import type { KernelArch } from '../arch.ts';
import { X86_64PageTables } from './paging.ts';
import { cpuPrstatus } from './prstatus.ts';

export const x86_64: KernelArch = {
  name: 'x86_64',
  elfMachine: EM_X86_64,
  kernelMap: X86_64_START_KERNEL_MAP,
  kernelText: X86_64_START_KERNEL,
  kernelSpace: X86_64_KERNEL_SPACE,
  moduleArea: [X86_64_MODULES_VADDR, X86_64_MODULES_END],
  directMapRange: (levels) => X86_64_DIRECT_MAP_RANGE[levels === 5 ? 5 : 4],
  pageTables: (phys, root, levels, smeMask) => new X86_64PageTables(phys, root, levels === 5 ? 5 : 4, smeMask),
  cpus: cpuPrstatus,
};

// The x86_64 row of the architecture table (src/analyze/arch/arch.ts): layout constants from
// src/format/x86_64-layout.ts, the 4/5-level page walk (paging.ts) over the top table VMCOREINFO
// names (init_top_pgt, pgtable_l5_enabled, sme_mask), NT_PRSTATUS registers
// (prstatus.ts), where stack walks start (stack.ts) and the unwinder (unwind.ts: ORC from orc.ts,
// frame pointers, pt_regs frames).
import { EM_X86_64 } from '../../../format/elf.ts';
import {
  X86_64_DIRECT_MAP_RANGE,
  X86_64_KERNEL_SPACE,
  X86_64_MODULES_END,
  X86_64_MODULES_VADDR,
  X86_64_START_KERNEL,
  X86_64_START_KERNEL_MAP,
} from '../../../format/x86_64-layout.ts';
import { missingKey } from '../../vmcoreinfo.ts';
import type { KernelArch } from '../arch.ts';
import { X86_64PageTables } from './paging.ts';
import { cpuPrstatus } from './prstatus.ts';
import { unwindCpu, unwindTask } from './stack.ts';

export const x86_64: KernelArch = {
  name: 'x86_64',
  elfMachine: EM_X86_64,
  kernelMap: X86_64_START_KERNEL_MAP,
  kernelText: X86_64_START_KERNEL,
  kernelSpace: X86_64_KERNEL_SPACE,
  moduleArea: [X86_64_MODULES_VADDR, X86_64_MODULES_END],
  directMapRange: (levels) => X86_64_DIRECT_MAP_RANGE[levels === 5 ? 5 : 4],
  pageTables(phys, info, ktextToPhys) {
    const rootName = ['init_top_pgt', 'swapper_pg_dir', 'init_level4_pgt'].find((n) => info.has(`SYMBOL(${n})`));
    if (!rootName) throw missingKey('SYMBOL(init_top_pgt) (or swapper_pg_dir)', 'kernel page-table walks');
    const levels = info.number('pgtable_l5_enabled') === 1n ? 5 : 4;
    return new X86_64PageTables(phys, ktextToPhys(info.symbol(rootName)!), levels, info.number('sme_mask') ?? 0n);
  },
  cpus: cpuPrstatus,
  unwindCpu,
  unwindTask,
};

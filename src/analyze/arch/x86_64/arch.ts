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
import { hexPadded } from '../../../text.ts';
import type { ArchRegs, KernelArch } from '../arch.ts';
import { X86_64PageTables } from './paging.ts';
import { cpuPrstatus } from './prstatus.ts';
import { unwindCpu, unwindTask } from './stack.ts';

const MASK64 = (1n << 64n) - 1n;

/** A register block in crash's `bt` layout (pt_regs; the segment bases and selectors when present). */
function formatRegs(r: ArchRegs, indent: string): string[] {
  const v = (n: string) => r[n] ?? 0n;
  const row = (names: string[]) => indent + names.map((n) => `${n.toUpperCase().padStart(3)}: ${hexPadded(v(n))}`).join('  ');
  const lines = [
    `${indent}RIP: ${hexPadded(v('rip'))}  RSP: ${hexPadded(v('rsp'))}  RFLAGS: ${hexPadded(v('eflags'), 8)}`,
    row(['rax', 'rbx', 'rcx']),
    row(['rdx', 'rsi', 'rdi']),
    row(['rbp', 'r8', 'r9']),
    row(['r10', 'r11', 'r12']),
    row(['r13', 'r14', 'r15']),
    `${indent}ORIG_RAX: ${hexPadded(v('orig_rax'))}  CS: ${hexPadded(v('cs'), 4)}  SS: ${hexPadded(v('ss'), 4)}`,
  ];
  if ('fs_base' in r) {
    lines.push(`${indent}FS_BASE: ${hexPadded(v('fs_base'))}  GS_BASE: ${hexPadded(v('gs_base'))}  DS: ${hexPadded(v('ds'), 4)}  ES: ${hexPadded(v('es'), 4)}  FS: ${hexPadded(v('fs'), 4)}  GS: ${hexPadded(v('gs'), 4)}`);
  }
  return lines;
}

export const x86_64: KernelArch = {
  name: 'x86_64',
  pcName: 'RIP',
  elfMachine: EM_X86_64,
  kernelMap: X86_64_START_KERNEL_MAP,
  kernelText: X86_64_START_KERNEL,
  kernelSpace: X86_64_KERNEL_SPACE,
  moduleArea: [X86_64_MODULES_VADDR, X86_64_MODULES_END],
  directMapRange: (levels) => X86_64_DIRECT_MAP_RANGE[levels === 5 ? 5 : 4],
  imageLayout(info, header) {
    const fromHeader = typeof header.phys_base === 'bigint' ? header.phys_base : typeof header.phys_base === 'number' ? BigInt(header.phys_base) : undefined;
    const physBase = info.number('phys_base') ?? fromHeader;
    if (physBase === undefined) throw missingKey('NUMBER(phys_base)', 'kernel virtual addresses');
    const base = physBase & MASK64;
    // phys_base is printed signed and is negative when KASLR put the kernel physically below its
    // link-time address: wrap like the kernel's unsigned arithmetic does.
    const imageToPhys = (vaddr: bigint) => (vaddr - X86_64_START_KERNEL_MAP + base) & MASK64;
    const size = info.number('KERNEL_IMAGE_SIZE') ?? 0x20000000n;
    return { physBase: base, imageToPhys, imageFastPath: [X86_64_START_KERNEL_MAP, X86_64_START_KERNEL_MAP + size] };
  },
  pageTables(phys, info, ktextToPhys) {
    const rootName = ['init_top_pgt', 'swapper_pg_dir', 'init_level4_pgt'].find((n) => info.has(`SYMBOL(${n})`));
    if (!rootName) throw missingKey('SYMBOL(init_top_pgt) (or swapper_pg_dir)', 'kernel page-table walks');
    const levels = info.number('pgtable_l5_enabled') === 1n ? 5 : 4;
    return new X86_64PageTables(phys, ktextToPhys(info.symbol(rootName)!), levels, info.number('sme_mask') ?? 0n);
  },
  currentTaskSymbols: ['current_task', 'pcpu_hot'],
  cpus: cpuPrstatus,
  formatRegs,
  isUserMode: (r) => ((r.cs ?? 0n) & 3n) !== 0n,
  unwindCpu,
  unwindTask,
};

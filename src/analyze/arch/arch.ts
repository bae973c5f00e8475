// What analysis needs to know about the crashed kernel's architecture, as one table per architecture
// (drgn's struct drgn_architecture_info is the model): the kernel's virtual address layout, its
// page-table walk, the registers the crash notes save and the stack unwinder. The table is chosen from the dump (ELF
// e_machine, or the machine a kdump-compressed header names). x86_64 is implemented (arch/x86_64/);
// arm64 goes beside it.
import { ParseError } from '../../errors.ts';
import type { Dump, ElfNote } from '../../format/dump.ts';
import type { VmcoreInfo } from '../vmcoreinfo.ts';
import type { KernelDump } from '../kernel-dump.ts';
import type { Prstatus } from './x86_64/prstatus.ts';
import type { Regs } from './x86_64/regs.ts';
import type { Backtrace } from './x86_64/unwind.ts';
import { x86_64 } from './x86_64/arch.ts';

export interface PhysReader {
  readPhys(paddr: bigint, length: number): Uint8Array;
}

export interface Translation {
  paddr: bigint;
  /** Size of the page that maps the address (4 KiB, 2 MiB, 1 GiB on x86_64). */
  pageSize: bigint;
}

/** The kernel's page tables, walked over physical memory read from the dump. */
export interface PageTables {
  readonly levels: number;
  /** Physical address for `vaddr`; NotInDumpError when it is not mapped or a table is not in the dump. */
  translate(vaddr: bigint): Translation;
  /** The lowest mapped address in [start, end), and where it maps to; undefined if none. */
  lowestMapped(start: bigint, end: bigint): { vaddr: bigint; paddr: bigint } | undefined;
}

export interface KernelArch {
  /** uname -m. */
  readonly name: string;
  /** ELF e_machine of its dumps. */
  readonly elfMachine: number;
  /** The kernel image mapping (__START_KERNEL_map): va = kernelMap + pa - phys_base. */
  readonly kernelMap: bigint;
  /** Where the kernel text is linked before KASLR. */
  readonly kernelText: bigint;
  /** The lowest kernel-space address: below it nothing is a kernel pointer. */
  readonly kernelSpace: bigint;
  /** Loaded modules' area [start, end). */
  readonly moduleArea: readonly [bigint, bigint];
  /** Where the direct map of all RAM can start [start, end), by page-table levels. */
  directMapRange(levels: number): readonly [bigint, bigint];
  /**
   * The kernel's page tables, as VMCOREINFO names them (top table, levels, encryption mask);
   * `ktextToPhys` translates a kernel-image address (the top table's symbol).
   */
  pageTables(phys: PhysReader, info: VmcoreInfo, ktextToPhys: (vaddr: bigint) => bigint): PageTables;
  /** Every CPU's registers, from the dump's NT_PRSTATUS notes (in CPU order). */
  cpus(notes: readonly ElfNote[]): Prstatus[];
  /** Unwinds a CPU's kernel stack from the registers it saved at the crash (none in user mode). */
  unwindCpu(kd: KernelDump, cpu: Prstatus): { backtrace: Backtrace; start: Regs };
  /** Unwinds a task that was not running, from what the context switch saved at its thread.sp. */
  unwindTask(kd: KernelDump, threadSp: bigint): Backtrace;
}

const ARCHES: readonly KernelArch[] = [x86_64];

/**
 * The architecture of the kernel that crashed: by the dump's ELF machine or its header's machine
 * name. A dump that names none is taken as x86_64 (what every dump reader here was made for).
 */
export function archOf(dump: Dump): KernelArch {
  const m = dump.header.machine;
  if (m === undefined || m === '') return x86_64;
  const arch = ARCHES.find((a) => (typeof m === 'string' ? a.name === m : BigInt(a.elfMachine) === BigInt(m)));
  if (arch) return arch;
  throw new ParseError(`the dump's kernel is ${typeof m === 'string' ? m : `ELF machine ${m}`}: analysis reads x86_64 kernels only`, {
    source: dump.source.name,
    hint: 'its format can still be read and converted (vmcore-ts convert, save)',
  });
}

// What analysis needs to know about the crashed kernel's architecture, as one table per architecture
// (drgn's struct drgn_architecture_info is the model): the kernel's virtual address layout, its
// page-table walk, the registers the crash notes save and the stack unwinder. The table is chosen from the dump (ELF
// e_machine, or the machine a kdump-compressed header names): x86_64 (arch/x86_64/) and arm64
// (arch/arm64/).
import { ParseError } from '../../errors.ts';
import type { Dump, ElfNote } from '../../format/dump.ts';
import type { NotInDumpReason } from '../../errors.ts';
import type { VmcoreInfo } from '../vmcoreinfo.ts';
import type { KernelDump } from '../kernel-dump.ts';
import { x86_64 } from './x86_64/arch.ts';
import { arm64 } from './arm64/arch.ts';

/** Registers by the architecture's names (x86_64: rip, rsp…; arm64: x0…x30, sp, pc, pstate). */
export type ArchRegs = Readonly<Record<string, bigint>>;

/** What a CPU saved at the crash (its NT_PRSTATUS note). */
export interface CpuState {
  /** Index of the note among the dump's NT_PRSTATUS notes (= CPU number when every CPU saved one). */
  cpu: number;
  pid: number;
  ppid: number;
  cursig: number;
  regs: ArchRegs;
  /** Program counter and stack pointer (x86_64 rip/rsp, arm64 pc/sp). */
  pc: bigint;
  sp: bigint;
}

export interface SymbolInfo {
  name: string;
  offset: bigint;
  size?: bigint;
  /** The module the code belongs to; undefined for the kernel image. */
  module?: string;
}
export interface Symbolizer {
  symbolize(addr: bigint): SymbolInfo | undefined;
}

export interface Frame {
  /** Program counter: exact for frame 0 and after a register frame, else a return address. */
  pc: bigint;
  /** Stack pointer in this frame (where the unwinder stood). */
  sp: bigint;
  symbol: SymbolInfo | undefined;
  /** How the caller of this frame was found (arm64 frame records count as frame pointers). */
  method: 'orc' | 'frame pointer' | 'prologue' | 'registers';
  /** A register frame (interrupt, exception, NMI, syscall) found on the stack above this frame. */
  regs?: ArchRegs;
  /** Only the iret part of `regs` is valid. */
  partialRegs?: boolean;
}

export interface Backtrace {
  frames: Frame[];
  /** The user-space registers at the bottom of the stack (syscall or interrupt from user mode). */
  userRegs?: ArchRegs;
  /** Why the walk stopped: 'end of stack', 'user mode', or what was wrong (marked damage). */
  stop: string;
  /** True when the stop is an error rather than a normal end. */
  error: boolean;
  /** When unwinding stopped at stack memory the dump lacks: why it lacks it. */
  notInDump?: NotInDumpReason;
}

/** Where the kernel image and the direct map are, for one dump (from its VMCOREINFO and header). */
export interface ImageLayout {
  /** x86_64 phys_base; arm64 PHYS_OFFSET (the start of RAM). */
  physBase: bigint;
  /** Physical address of a kernel-image address (used for the page tables' root symbol). */
  imageToPhys(vaddr: bigint): bigint;
  /** Kernel-image addresses translated by imageToPhys without a page walk: [start, end), if any. */
  imageFastPath?: readonly [bigint, bigint];
  /** The direct (linear) map's base (va = base + pa) when VMCOREINFO gives it; else found in the page tables. */
  directMapBase?: bigint;
}

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
  /** Name of the program counter in register blocks (RIP, PC). */
  readonly pcName: string;
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
  /** The kernel image's place and the direct map for this dump (KASLR, phys_base / kimage_voffset). */
  imageLayout(info: VmcoreInfo, header: Dump['header']): ImageLayout;
  /**
   * The kernel's page tables, as VMCOREINFO names them (top table, levels, encryption mask);
   * `ktextToPhys` translates a kernel-image address (the top table's symbol).
   */
  pageTables(phys: PhysReader, info: VmcoreInfo, ktextToPhys: (vaddr: bigint) => bigint): PageTables;
  /** Every CPU's registers, from the dump's NT_PRSTATUS notes (in CPU order). */
  cpus(notes: readonly ElfNote[]): CpuState[];
  /** A register block as crash prints it, one string per line. */
  formatRegs(regs: ArchRegs, indent: string): string[];
  /** Whether `regs` (a CPU's or a register frame's) were saved in user mode. */
  isUserMode(regs: ArchRegs): boolean;
  /** Unwinds a CPU's kernel stack from the registers it saved at the crash (none in user mode). */
  unwindCpu(kd: KernelDump, cpu: CpuState): { backtrace: Backtrace; start: ArchRegs };
  /** Per-CPU variables holding the task each CPU runs, tried in order (x86_64 current_task / pcpu_hot, arm64 __entry_task). */
  readonly currentTaskSymbols: readonly string[];
  /** Unwinds a task that was not running, from what the context switch saved (at its thread.sp; arm64: thread.cpu_context of `task`). */
  unwindTask(kd: KernelDump, threadSp: bigint, task?: bigint): Backtrace;
}

const ARCHES: readonly KernelArch[] = [x86_64, arm64];

/** The architecture whose register names `regs` uses (a register block printed without its dump at hand). */
export function archOfRegs(regs: ArchRegs): KernelArch {
  return 'rip' in regs ? x86_64 : arm64;
}

/**
 * The architecture of the kernel that crashed: by the dump's ELF machine or its header's machine
 * name; a name no architecture has (QEMU's kdump-compressed dumps say "Unknown") by what only one
 * architecture's VMCOREINFO exports (arm64: kimage_voffset). A dump that names none is taken as
 * x86_64 (what every dump reader here was made for).
 */
export function archOf(dump: Dump): KernelArch {
  let m = dump.header.machine;
  if (typeof m === 'string' && /^unknown$/i.test(m)) m = undefined;
  if (m === undefined || m === '') return dump.vmcoreinfo?.includes('\nNUMBER(kimage_voffset)=') ? arm64 : x86_64;
  const arch = ARCHES.find((a) => (typeof m === 'string' ? a.name === m || (a.name === 'aarch64' && m === 'arm64') : BigInt(a.elfMachine) === BigInt(m)));
  if (arch) return arch;
  throw new ParseError(`the dump's kernel is ${typeof m === 'string' ? m : `ELF machine ${m}`}: analysis reads x86_64 and aarch64 kernels only`, {
    source: dump.source.name,
    hint: 'its format can still be read and converted (vmcore-ts convert, save)',
  });
}

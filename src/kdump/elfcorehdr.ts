// The kdump ELF core header: the small ELF64 ET_CORE file (headers only) that the crashed kernel's
// memory is described by. The capture kernel finds it through `elfcorehdr=`, reads the notes it points
// to (per-CPU registers saved at the crash, VMCOREINFO) and turns the PT_LOADs into /proc/vmcore,
// where each PT_LOAD's p_offset is the physical address to read.
//
// Layout (what the kernel's own crash_prepare_elf64_headers() and kexec-tools' crashdump-elf.c write):
//   Elf64_Ehdr (ET_CORE, EM_X86_64, e_phoff = 64)
//   PT_NOTE per CPU:  p_offset = p_paddr = crash_notes phys addr, p_filesz = p_memsz = crash_notes_size
//   PT_NOTE VMCOREINFO: p_offset = p_paddr = /sys/kernel/vmcoreinfo addr, size from the same file
//   PT_LOAD kernel text: p_vaddr = _text, p_offset = p_paddr = its physical address, RWX
//   PT_LOAD per RAM range: p_offset = p_paddr = start, p_vaddr = __va(start)
// What differs per architecture (the kernel's arch/*/kernel/(machine_kexec_file|crash).c, and
// kexec-tools' kexec/arch/*/crashdump-*.c):
//   x86_64: EM_X86_64; __va(pa) = pa + page_offset_base; the low 1 MiB is left out (see LOW_1M).
//   arm64:  EM_AARCH64; __va(pa) = (pa - PHYS_OFFSET) | PAGE_OFFSET, i.e. pa + (PAGE_OFFSET - PHYS_OFFSET)
//           modulo 2^64 (PHYS_OFFSET may be "negative": 52-bit kernels on 48-bit CPUs shift it);
//           every System RAM range minus the crash regions (the kernel's prepare_elf_headers walks
//           memblock without leaving anything low out); the kernel text PT_LOAD as on x86_64.
// Pure: no Node APIs.
import { Elf64Ehdr, Elf64Phdr, EM_AARCH64, EM_X86_64, encodeCoreEhdr, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE } from '../format/elf.ts';
import { encodeStruct } from '../format/struct.ts';
import { isBzImage } from '../format/bzimage.ts';
import { identifyArm64Kernel } from '../format/arm64-image.ts';
import { mergeRanges, subtractRange, type PhysRange } from '../kexec/ranges.ts';

/** kexec-tools' MAX_NOTE_BYTES: the per-CPU note size when crash_notes_size is missing (old kernels). */
export const DEFAULT_CRASH_NOTES_SIZE = 1024n;
/** The kernel excludes [0, 1 MiB) from the dump: x86 always reserves it when crashkernel= is given (5.7+). */
export const LOW_1M = 0x100000n;

export interface CpuNote {
  cpu: number;
  /** Physical address of the CPU's note buffer (cpuN/crash_notes). */
  addr: bigint;
  /** Its size (cpuN/crash_notes_size). */
  size: bigint;
}

export interface CoreHeaderInput {
  machine?: number;
  cpuNotes: CpuNote[];
  /** /sys/kernel/vmcoreinfo: physical address and size of the VMCOREINFO note. */
  vmcoreinfo?: { addr: bigint; size: bigint };
  /** The kernel image mapping: _text's virtual and physical address, _end - _text page aligned. */
  kernelText?: { vaddr: bigint; paddr: bigint; size: bigint };
  /** RAM to dump (already without the crash region and the low 1 MiB), inclusive ends. */
  ram: PhysRange[];
  /**
   * What the direct (linear) map adds to a physical address, modulo 2^64: x86_64's
   * page_offset_base; arm64's PAGE_OFFSET - PHYS_OFFSET.
   */
  pageOffset: bigint;
}

/** The architectures a crash load builds a core header for (the kexec loader's, from the image). */
export type CoreArch = 'x86_64' | 'arm64';

/** The ELF machine of a core header for `arch`. */
export const coreMachine = (arch: CoreArch): number => (arch === 'arm64' ? EM_AARCH64 : EM_X86_64);

const U64 = (1n << 64n) - 1n;

/** The core header's architecture for a kernel file (its first bytes): a bzImage is x86_64's, an arm64 Image (plain, gzip, zboot) arm64's. */
export function coreArchOfKernel(head: Uint8Array): CoreArch | undefined {
  if (isBzImage(head)) return 'x86_64';
  return identifyArm64Kernel(head) ? 'arm64' : undefined;
}

export interface CorePhdr {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  /** What it describes, for people: "cpu0 notes", "VMCOREINFO", "kernel text", "RAM". */
  what: string;
}

export interface CoreHeader {
  bytes: Uint8Array;
  phdrs: CorePhdr[];
}

/** The program headers, in the order the kernel and kexec-tools write them. */
export function coreHeaderPhdrs(input: CoreHeaderInput): CorePhdr[] {
  const phdrs: CorePhdr[] = [];
  for (const n of input.cpuNotes) {
    phdrs.push({ type: PT_NOTE, flags: 0, offset: n.addr, vaddr: 0n, paddr: n.addr, filesz: n.size, memsz: n.size, what: `cpu${n.cpu} notes` });
  }
  if (input.vmcoreinfo) {
    const v = input.vmcoreinfo;
    phdrs.push({ type: PT_NOTE, flags: 0, offset: v.addr, vaddr: 0n, paddr: v.addr, filesz: v.size, memsz: v.size, what: 'VMCOREINFO' });
  }
  if (input.kernelText) {
    const k = input.kernelText;
    phdrs.push({ type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset: k.paddr, vaddr: k.vaddr, paddr: k.paddr, filesz: k.size, memsz: k.size, what: 'kernel text' });
  }
  for (const r of input.ram) {
    const size = r.end - r.start + 1n;
    phdrs.push({ type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset: r.start, vaddr: (r.start + input.pageOffset) & U64, paddr: r.start, filesz: size, memsz: size, what: 'RAM' });
  }
  return phdrs;
}

/** Builds the header bytes: Ehdr then the program headers, nothing else. */
export function buildCoreHeader(input: CoreHeaderInput): CoreHeader {
  const phdrs = coreHeaderPhdrs(input);
  if (phdrs.length >= 0xffff) throw new Error(`${phdrs.length} program headers: more than ELF's e_phnum can count`);
  const bytes = new Uint8Array(Elf64Ehdr.size + phdrs.length * Elf64Phdr.size);
  bytes.set(encodeCoreEhdr(input.machine ?? EM_X86_64, phdrs.length));
  phdrs.forEach((p, i) => {
    bytes.set(
      encodeStruct(Elf64Phdr, {
        type: p.type,
        flags: p.flags,
        offset: p.offset,
        vaddr: p.vaddr,
        paddr: p.paddr,
        filesz: p.filesz,
        memsz: p.memsz,
        align: 0n,
      }),
      Elf64Ehdr.size + i * Elf64Phdr.size,
    );
  });
  return { bytes, phdrs };
}

/**
 * The RAM the dump covers, like the kernel's kexec_file path (arch/x86/kernel/crash.c): every System
 * RAM range, minus the low 1 MiB on x86_64 (the capture kernel boots in it; the first kernel never
 * used it), minus every crash kernel reservation (the capture kernel's own memory).
 */
export function dumpRamRanges(systemRam: PhysRange[], crashRegions: PhysRange[], arch: CoreArch = 'x86_64'): PhysRange[] {
  let ranges = mergeRanges(systemRam);
  // arm64 (arch/arm64/kernel/machine_kexec_file.c prepare_elf_headers): all RAM but the crash regions.
  if (arch === 'x86_64') ranges = subtractRange(ranges, { start: 0n, end: LOW_1M - 1n });
  for (const c of crashRegions) ranges = subtractRange(ranges, c);
  return ranges;
}

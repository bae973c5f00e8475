// What a crash (kdump) load adds to a kexec_load plan, computed from facts about the running machine:
// the region every segment must lie in, the ELF core header segment, the `elfcorehdr=` (and
// `acpi_rsdp=`) command line additions, and the e820 memory map the capture kernel gets (x86_64:
// written into the zero page by the bzImage loader). The loader (src/kexec) calls `addSegments` with
// its allocator, already limited to the crash region.
//
// Choices, following the kernel's own kexec_file crash path (arch/x86/kernel/crash.c) rather than
// kexec-tools' older kexec_load code:
//   - no 640 KiB backup segment: since Linux 5.7 the first kernel never uses the low 1 MiB when
//     crashkernel= is given, so there is nothing to save; the dump leaves [0, 1 MiB) out and the capture
//     kernel gets the low 1 MiB RAM back in its e820;
//   - the header segment is page-rounded (kexec-tools pads it to 16 KiB for an ld bug of 2003);
//   - the capture kernel's map comes through the zero-page e820, not memmap= options.
// arm64 (chosen from the kernel image the loader probed, never from the host): the same header with
// EM_AARCH64 and the arm64 linear map (elfcorehdr.ts), all RAM but the crash regions, and no
// command line or memory map additions: the arm64 loader names the header in the DTB
// (linux,elfcorehdr) and gives the capture kernel linux,usable-memory-range instead.
// Pure: facts in (see host.ts for reading them), values out.
import { KexecError } from '../errors.ts';
import type { IomemResource, MemoryRange, RangeType } from '../kexec/memory-map.ts';
import { rangeTypeOf, walkIomem } from '../kexec/memory-map.ts';
import type { CrashHook, SegmentAllocator } from '../kexec/plan.ts';
import { PAGE_SIZE } from '../kexec/plan.ts';
import { hex } from '../text.ts';
import { formatSize, reservedCrashRegions } from './crashkernel.ts';
import type { CoreArch, CoreHeader, CpuNote } from './elfcorehdr.ts';
import { buildCoreHeader, coreMachine, dumpRamRanges, LOW_1M } from './elfcorehdr.ts';
import { mergeRanges, subtractRange, type PhysRange } from '../kexec/ranges.ts';
import { X86_64_PAGE_OFFSET } from '../format/x86_64-layout.ts';

/** Facts about the running (to-be-crashed) kernel that the crash load needs. */
export interface CrashFacts {
  /** Parsed /proc/iomem. */
  iomem: IomemResource[];
  /** Per-CPU note buffers (/sys/devices/system/cpu/cpuN/crash_notes, crash_notes_size). */
  cpuNotes: CpuNote[];
  /** /sys/kernel/vmcoreinfo. */
  vmcoreinfo?: { addr: bigint; size: bigint };
  /** Kernel image mapping (/proc/kcore text segment or kallsyms _text.._end; physical from "Kernel code"). */
  kernelText?: { vaddr: bigint; paddr: bigint; size: bigint };
  /**
   * What the direct map adds to a physical address (from /proc/kcore): x86_64 page_offset_base
   * (the non-KASLR default when unknown); arm64 PAGE_OFFSET - PHYS_OFFSET modulo 2^64.
   */
  pageOffset?: bigint;
  /** ACPI RSDP address from the current boot_params (x86), passed on as acpi_rsdp=. */
  acpiRsdp?: bigint;
  /** Where each fact came from or why it is missing ("page offset: /proc/kcore"), for notes. */
  sources?: string[];
}

export interface CrashLoad {
  /** For PlanInput.crash. */
  hook: CrashHook;
  /** The RAM ranges the dump will cover. */
  dumpRam: PhysRange[];
  /** After addSegments ran: the header, where it went, and (x86_64) the e820 given to the capture kernel. */
  placed?: { header: CoreHeader; addr: bigint; memsz: bigint; e820: MemoryRange[]; cmdlineAppend: string };
  arch: CoreArch;
}

/** arm64 without /proc/kcore: PAGE_OFFSET of a 48-bit kernel and PHYS_OFFSET = the lowest RAM (no linear-map randomization). */
function arm64GuessedLinearOffset(ram: PhysRange[]): bigint {
  const pageOffset = (1n << 64n) - (1n << 48n);
  const physOffset = ram.length ? ram.reduce((m, r) => (r.start < m ? r.start : m), ram[0]!.start) : 0n;
  return pageOffset - physOffset;
}

/**
 * Plans the kdump side of a crash load. Throws a KexecError when no memory is reserved or a fact the
 * capture kernel cannot do without (a CPU note) is missing.
 */
export function planCrashLoad(facts: CrashFacts, arch: CoreArch = 'x86_64'): CrashLoad {
  const regions = reservedCrashRegions(facts.iomem);
  if (!regions.main) {
    throw new KexecError('no memory is reserved for a crash kernel (no "Crash kernel" in /proc/iomem)', {
      hint: 'boot with crashkernel=256M (see `kdump-ts estimate`) and reboot',
    });
  }
  if (facts.cpuNotes.length === 0) {
    throw new KexecError('no CPU crash notes found under /sys/devices/system/cpu/cpu*/crash_notes', {
      hint: 'the kernel needs CONFIG_CRASH_DUMP; reading crash_notes needs root',
    });
  }
  const main = regions.main;
  const systemRam = walkIomem(facts.iomem)
    .filter((r) => r.name.startsWith('System RAM'))
    .map((r) => ({ start: r.start, end: r.end }));
  const dumpRam = dumpRamRanges(systemRam, regions.all, arch);
  let pageOffset = facts.pageOffset ?? X86_64_PAGE_OFFSET;
  const extraNotes: string[] = [];
  if (arch === 'arm64' && facts.pageOffset === undefined) {
    pageOffset = arm64GuessedLinearOffset(systemRam);
    extraNotes.push(`arm64 linear map unknown (no /proc/kcore): RAM p_vaddr assume PAGE_OFFSET 0xffff000000000000 at the lowest RAM (${hex(pageOffset)} added); VMCOREINFO gives readers the real layout`);
  }
  const notes = [
    `crash kernel region ${hex(main.start)}-${hex(main.end)} (${formatSize(main.size)})${regions.low.length ? `, low part ${regions.low.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ')}` : ''}`,
    ...(facts.sources ?? []),
    ...extraNotes,
  ];
  const load: CrashLoad = {
    arch,
    dumpRam,
    hook: {
      region: [{ start: main.start, end: main.end }],
      addSegments(alloc: SegmentAllocator) {
        const header = buildCoreHeader({
          machine: coreMachine(arch),
          cpuNotes: facts.cpuNotes,
          ...(facts.vmcoreinfo ? { vmcoreinfo: facts.vmcoreinfo } : {}),
          ...(facts.kernelText ? { kernelText: facts.kernelText } : {}),
          ram: dumpRam,
          pageOffset,
        });
        // Top-down in the crash region (the loader's allocator is limited to it); `elfcorehdr=…K`
        // needs 1 KiB alignment, a page gives it.
        const seg = alloc.place({ buf: header.bytes, align: PAGE_SIZE, min: main.start, max: main.end, topDown: true, what: 'ELF core header' });
        const placedNote = `ELF core header: ${header.phdrs.length} program headers, ${header.bytes.length} bytes at ${hex(seg.mem)}`;
        if (arch === 'arm64') {
          // The arm64 loader turns the segment into the DTB's linux,elfcorehdr; no e820, no command line.
          load.placed = { header, addr: seg.mem, memsz: seg.memsz, e820: [], cmdlineAppend: '' };
          return { notes: [...notes, placedNote] };
        }
        const e820 = captureE820(facts.iomem, main, regions.low, { start: seg.mem, end: seg.mem + seg.memsz - 1n });
        let cmdlineAppend = `elfcorehdr=${seg.mem / 1024n}K`;
        if (facts.acpiRsdp) cmdlineAppend = `acpi_rsdp=${hex(facts.acpiRsdp)} ${cmdlineAppend}`;
        load.placed = { header, addr: seg.mem, memsz: seg.memsz, e820, cmdlineAppend };
        return {
          cmdlineAppend,
          e820,
          notes: [...notes, placedNote],
        };
      },
    },
  };
  return load;
}

/**
 * The memory map the capture kernel boots with (the kernel's crash_setup_memmap_entries): the low
 * 1 MiB of System RAM, ACPI tables and NVS, e820-reserved ranges (so it can still find firmware
 * tables and not touch device memory), the low crash part, and the main crash region minus the ELF
 * core header — all other RAM belongs to the crashed kernel and must not be touched. Sorted.
 */
export function captureE820(iomem: IomemResource[], main: PhysRange, low: PhysRange[], header: PhysRange): MemoryRange[] {
  const out: MemoryRange[] = [];
  const byType = new Map<RangeType, PhysRange[]>();
  for (const r of walkIomem(iomem)) {
    const type = r.name.startsWith('System RAM') ? 'ram' : rangeTypeOf(r.name);
    if (type === 'ram') {
      if (r.start < LOW_1M) out.push({ start: r.start, end: r.end < LOW_1M - 1n ? r.end : LOW_1M - 1n, type: 'ram' });
    } else if (type === 'acpi' || type === 'nvs' || type === 'reserved') {
      byType.set(type, [...(byType.get(type) ?? []), { start: r.start, end: r.end }]);
    }
  }
  for (const [type, ranges] of byType) for (const r of mergeRanges(ranges)) out.push({ ...r, type });
  for (const r of low) out.push({ start: r.start, end: r.end, type: 'ram' });
  for (const r of subtractRange([main], header)) {
    if (r.end - r.start + 1n >= PAGE_SIZE) out.push({ ...r, type: 'ram' });
  }
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/**
 * kexec-tools arm64's `kexec -p -d` lines before the header's (load_crashdump_segments): the crash
 * region and the ranges the dump covers, in its format.
 */
export function arm64CrashRangeDebugLines(load: CrashLoad, region: PhysRange[]): string[] {
  const row = (r: PhysRange) => `${r.start.toString(16).padStart(16, '0')}-${r.end.toString(16).padStart(16, '0')} (0)`;
  return ['Reserved memory range', ...region.map(row), 'Coredump memory ranges', ...load.dumpRam.map(row)];
}

/** `kexec -d`-style lines for the header (same printf formats as kexec-tools, to diff). */
export function coreHeaderDebugLines(header: CoreHeader): string[] {
  return header.phdrs.map((p) => {
    const label = p.what === 'VMCOREINFO' ? 'vmcoreinfo header' : p.what === 'kernel text' ? 'Kernel text Elf header' : 'Elf header';
    return `${label}: p_type = ${p.type}, p_offset = ${hex(p.offset)} p_paddr = ${hex(p.paddr)} p_vaddr = ${hex(p.vaddr)} p_filesz = ${hex(p.filesz)} p_memsz = ${hex(p.memsz)}`;
  });
}

// IA-64 (Itanium) ELF vmlinux through kexec_load — plan only. Linux removed IA-64 in 6.7 and no
// machine or emulator is left to run it, so this loader plans what kexec-tools' elf-ia64 loader
// loads (kexec/arch/ia64/kexec-elf-ia64.c) and shows what its purgatory will do at kexec -e time:
//
//   kernel      each PT_LOAD at its p_paddr; if that is not RAM, the whole image moves to the first
//               64 MiB-aligned RAM range that holds it (crash loads: to the crash region's start);
//               the kernel is mapped by one 64 MiB translation register, so its base stays 64 MiB aligned
//   purgatory   top-down anywhere (its IA-64 code is not built here: a 64 KiB segment is reserved)
//   elfcorehdr  crash loads, from the kdump side (`elfcorehdr=…K` on the command line)
//   loaded-segments table, boot_param (4 KiB), EFI memory map buffer, command line (16-byte
//               rounded), initrd: each top-down anywhere (kexec-tools' elf_max_addr is ULONG_MAX for ELF64)
//   crash       ` max_addr=<end>M min_addr=<start>M` appended so the capture kernel stays in its region
//
// At exec time the purgatory copies the old ia64_boot_param to the new one, writes a 16-byte
// "mov r8=r0; br.ret" after the command line and points EFI SetVirtualAddressMap at it (EFI allows
// the call once; the new kernel calls it again), and patches the EFI memory map (efi-memmap.ts):
// the plan prints the map the new kernel will see when the machine's EFI map is known (--efi-memmap).
import { KexecError, ParseError } from '../../../errors.ts';
import { hex } from '../../../text.ts';
import { mergeHalfOpenRanges } from '../../ranges.ts';
import { PT_LOAD, openElf, segmentData, type ElfProgramHeader } from '../../../format/elf.ts';
import { BufferSource } from '../../../io/source.ts';
import { crashKernelRanges, mainCrashRegion, walkIomem, type IomemResource, type MemoryRange, type RangeType } from '../../memory-map.ts';
import {
  KEXEC_ARCH_IA_64,
  KEXEC_ON_CRASH,
  SegmentAllocator,
  crashRegion,
  alignDown,
  alignUp,
  type KexecLoader,
  type KexecPlan,
  type KexecSegment,
  type PlanInput,
} from '../../plan.ts';
import { BOOT_PARAM_SEGMENT_SIZE, describeStruct, ia64KexecBootParams, type Ia64KexecBootParams } from './boot-param.ts';
import { EFI_PAGE_SIZE, descEnd, efiTypeName, formatEfiMemmap, iomemNameOf, patchEfiMemmap, type LoadedRange } from './efi-memmap.ts';
import type { EfiMemoryDescriptor } from '../../../format/efi.ts';

export const EM_IA_64 = 50;
/** KERNEL_TR_PAGE_SIZE: the kernel image is mapped by one 64 MiB translation register. */
export const IA64_KERNEL_ALIGN = 64n << 20n;
/** The usual IA-64 kernel page size (CONFIG_IA64_PAGE_SIZE_16KB); segments align to it. */
export const IA64_DEFAULT_PAGE_SIZE = 16n << 10n;
/** Room we reserve for the purgatory (no IA-64 toolchain builds ours here). */
export const IA64_PURGATORY_RESERVE = 64n << 10n;
/** The dummy EFI function the purgatory writes after the command line: one 16-byte bundle. */
export const DUMMY_EFI_FUNCTION_SIZE = 16;
const ULONG_MAX = (1n << 64n) - 1n;

export interface Ia64Options {
  /** The machine's EFI memory map (from a recording): lets the plan show the patched map. */
  efiMemmap?: EfiMemoryDescriptor[];
  /** efi_memdesc_size (default 48 — what HP and SGI firmware report; 40 is the bare struct). */
  efiMemdescSize?: number;
  /** Kernel page size (default 16 KiB). */
  pageSize?: bigint;
}

/** kexec-tools' IA-64 view of /proc/iomem: RAM, reserved and uncached ranges (coalesced), with the
 *  boot parameters and EFI memory map cut out as reserved; the crash region; the EFI map's size. */
export function ia64MemoryRanges(tree: IomemResource[]): { ranges: MemoryRange[]; crash?: { start: bigint; end: bigint }; efiMemmapSize?: bigint } {
  let ranges: MemoryRange[] = [];
  let efiMemmapSize: bigint | undefined;
  const cuts: { start: bigint; end: bigint }[] = [];
  for (const r of walkIomem(tree)) {
    let type: RangeType | undefined;
    if (r.name === 'System RAM') type = 'ram';
    else if (r.name === 'reserved') type = 'reserved';
    else if (r.name === 'Uncached RAM') type = 'uncached';
    else if (r.name === 'Boot parameter' || r.name === 'EFI Memory Map') {
      cuts.push({ start: alignDown(r.start, EFI_PAGE_SIZE), end: alignUp(r.end + 1n, EFI_PAGE_SIZE) - 1n });
      if (r.name === 'EFI Memory Map') efiMemmapSize = r.end - r.start + 1n;
    }
    if (!type) continue;
    const last = ranges[ranges.length - 1];
    if (last && last.type === type && last.end + 1n === r.start) last.end = r.end;
    else ranges.push({ start: r.start, end: r.end, type });
  }
  for (const c of cuts) {
    ranges = ranges.flatMap((r) => {
      if (c.end < r.start || c.start > r.end) return [r];
      const parts: MemoryRange[] = [];
      if (c.start > r.start) parts.push({ ...r, end: c.start - 1n });
      parts.push({ start: c.start > r.start ? c.start : r.start, end: c.end < r.end ? c.end : r.end, type: 'reserved' });
      if (c.end < r.end) parts.push({ ...r, start: c.end + 1n });
      return parts;
    });
  }
  const crash = mainCrashRegion(crashKernelRanges(tree));
  return { ranges, ...(crash ? { crash } : {}), ...(efiMemmapSize !== undefined ? { efiMemmapSize } : {}) };
}

interface KernelLoad {
  phdr: ElfProgramHeader;
  paddr: bigint;
  bytes: Uint8Array;
}

function probe(image: Uint8Array): boolean {
  if (image.length < 64 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) return false;
  return new DataView(image.buffer, image.byteOffset).getUint16(18, image[5] !== 2) === EM_IA_64;
}

export function makeIa64Loader(opts: Ia64Options = {}): KexecLoader {
  return { name: 'elf-ia64', arch: 'ia64', probe, plan: (input) => planIa64(input, opts) };
}

export const ia64ElfLoader: KexecLoader = makeIa64Loader();

export function planIa64(input: PlanInput, opts: Ia64Options = {}): KexecPlan {
  const page = opts.pageSize ?? IA64_DEFAULT_PAGE_SIZE;
  const descSize = opts.efiMemdescSize ?? 48;
  const notes: string[] = [];
  const debug: string[] = [];

  // The kernel's PT_LOADs.
  if (!probe(input.image)) throw new ParseError('not an IA-64 ELF vmlinux (e_machine is not EM_IA_64)', { offset: 18, source: input.imageName });
  const elf = openElf(new BufferSource(input.image, input.imageName));
  if (elf.header.class !== 64 || !elf.header.littleEndian) throw new ParseError('IA-64 vmlinux must be ELF64 little-endian', { offset: 4, source: input.imageName });
  const loads: KernelLoad[] = elf.programHeaders
    .filter((p) => p.type === PT_LOAD && p.memsz > 0)
    .map((p) => ({ phdr: p, paddr: p.paddr, bytes: segmentData(elf.source, p) }));
  if (loads.length === 0) throw new ParseError('the vmlinux has no PT_LOAD segment', { source: input.imageName });
  let entry = elf.header.entry;

  // Memory as kexec-tools sees it.
  if (!input.memory.iomem) throw new KexecError('IA-64 plans need /proc/iomem (--iomem FILE)');
  const mm = ia64MemoryRanges(input.memory.iomem);
  const ram = mm.ranges.filter((r) => r.type === 'ram');
  // [memMin, memMax) — kexec-tools keeps mem_max exclusive for IA-64 crash loads.
  let memMin = input.memMin ?? 0n;
  let memMax = input.memMax !== undefined ? input.memMax + 1n : ULONG_MAX;
  if (input.kind === 'crash') {
    const crash = crashRegion(input, 'ia64')[0]!;
    if (crash.start > memMin) memMin = crash.start;
    if (crash.end + 1n < memMax) memMax = crash.end + 1n;
  }

  // Where the kernel goes.
  const start = loads.reduce((m, l) => (l.paddr < m ? l.paddr : m), ULONG_MAX);
  const end = loads.reduce((m, l) => (l.paddr + BigInt(l.phdr.memsz) > m ? l.paddr + BigInt(l.phdr.memsz) : m), 0n);
  let moveTo: bigint | undefined;
  if (input.kind === 'crash') {
    moveTo = memMin;
  } else if (!ram.some((r) => r.start <= start && r.end >= end - 1n)) {
    const fit = ram.find((r) => r.end > alignUp(r.start, IA64_KERNEL_ALIGN) && r.end - alignUp(r.start, IA64_KERNEL_ALIGN) > end - start);
    if (!fit) throw new KexecError(`no 64 MiB-aligned RAM range holds the kernel (${hex(end - start)} bytes)`);
    moveTo = alignUp(fit.start, IA64_KERNEL_ALIGN);
  }
  if (moveTo !== undefined && moveTo !== start) {
    const delta = moveTo - start;
    for (const l of loads) l.paddr += delta;
    entry += delta;
    notes.push(`kernel moved from its link address ${hex(start)} to ${hex(moveTo)} (entry ${hex(entry)})`);
  }
  const kernelBase = moveTo ?? start;
  if (kernelBase % IA64_KERNEL_ALIGN !== 0n) {
    throw new KexecError(`the kernel would start at ${hex(kernelBase)}, not 64 MiB aligned`, { hint: 'IA-64 maps the kernel with one 64 MiB translation register: use a 64 MiB-aligned crashkernel= region' });
  }
  // The usable ranges and the allocator (kexec-tools' locate_hole over RAM, within mem_min/mem_max).
  const usable = input.kind === 'crash' ? [{ start: memMin, end: memMax - 1n, type: 'ram' as const }] : ram;
  const alloc = new SegmentAllocator(usable, { memMin, memMax: memMax === ULONG_MAX ? ULONG_MAX : memMax - 1n });
  const kernelSegs: KexecSegment[] = loads.map((l, i) => {
    if (l.paddr % page !== 0n) throw new ParseError(`PT_LOAD ${i} at ${hex(l.paddr)} is not aligned to the ${hex(page)}-byte kernel page`, { source: input.imageName });
    return alloc.add({ buf: l.bytes, mem: l.paddr, memsz: alignUp(BigInt(l.phdr.memsz), page), what: `kernel PT_LOAD ${i}` });
  });
  for (const s of kernelSegs) {
    if (!usable.some((r) => s.mem >= r.start && s.mem + s.memsz - 1n <= r.end)) {
      throw new KexecError(`${s.what} at ${hex(s.mem)}-${hex(s.mem + s.memsz - 1n)} is not inside usable RAM`);
    }
  }
  const topDown = (what: string, buf: Uint8Array, memsz?: bigint) => alloc.place({ buf, memsz: alignUp(memsz ?? BigInt(buf.length), page), align: page, what });

  // Purgatory: kexec-tools puts it top-down anywhere (0..ULONG_MAX).
  const purgatory = topDown('purgatory', new Uint8Array(0), IA64_PURGATORY_RESERVE);
  notes.push(`purgatory: IA-64 code is not built here (no IA-64 toolchain); ${hex(IA64_PURGATORY_RESERVE)} bytes reserved at ${hex(purgatory.mem)}, entry assumed at its start`);

  // Crash: the ELF core header from the kdump side.
  let cmdline = input.cmdline;
  const protect: LoadedRange[] = [];
  if (input.kind === 'crash' && input.crash) {
    const before = new Set(alloc.segments);
    const add = input.crash.addSegments(alloc);
    for (const s of alloc.segments) {
      if (before.has(s)) continue;
      // The kdump side works in 4 KiB pages; IA-64 segments must be whole kernel pages.
      if (s.mem % page !== 0n) throw new KexecError(`the ${s.what} at ${hex(s.mem)} is not aligned to the ${hex(page)}-byte IA-64 page`);
      s.memsz = alignUp(s.memsz, page);
      protect.push({ start: s.mem, end: s.mem + BigInt(s.buf.length) });
    }
    if (add.cmdlineAppend) cmdline = cmdline ? `${cmdline} ${add.cmdlineAppend}` : add.cmdlineAppend;
    notes.push(...(add.notes ?? []));
  }
  // The ranges the purgatory marks EFI_LOADER_DATA: the kernel's PT_LOADs (consecutive ones merged,
  // as kexec-tools' add_loaded_segments_info does) and the crash segments; a sorted table of (start, end).
  const loadedRanges = mergeHalfOpenRanges([
    ...protect,
    ...loads.map((l) => ({ start: alignDown(l.paddr, EFI_PAGE_SIZE), end: alignUp(l.paddr + BigInt(l.phdr.memsz), EFI_PAGE_SIZE) })),
  ]);
  const loadedTable = new Uint8Array(16 * loadedRanges.length);
  const ltv = new DataView(loadedTable.buffer);
  loadedRanges.forEach((r, i) => {
    ltv.setBigUint64(16 * i, r.start, true);
    ltv.setBigUint64(16 * i + 8, r.end, true);
  });
  const loadedSeg = topDown('loaded-segments table', loadedTable);

  const bootParam = topDown('boot_param', new Uint8Array(BOOT_PARAM_SEGMENT_SIZE));
  // The EFI memory map buffer: kexec-tools sizes it as the old map; every protected range can split
  // one descriptor into three, so we add room for two more descriptors per range.
  const oldMapSize = mm.efiMemmapSize ?? (opts.efiMemmap ? BigInt(opts.efiMemmap.length * descSize) : undefined);
  if (oldMapSize === undefined) throw new KexecError('the EFI memory map size is unknown', { hint: 'give /proc/iomem with its "EFI Memory Map" line, or --efi-memmap' });
  const efiMapSize = oldMapSize + BigInt(2 * loadedRanges.length * descSize);
  const efiMap = topDown('EFI memory map', new Uint8Array(0), efiMapSize);

  // Command line: crash loads keep the capture kernel inside its region.
  if (input.kind === 'crash') cmdline = `${cmdline} max_addr=${memMax >> 20n}M min_addr=${memMin >> 20n}M`.trimStart();
  const cmdBytes = new TextEncoder().encode(cmdline);
  const cmdLen = Number(alignUp(BigInt(cmdBytes.length + 1), 16n));
  const cmdBuf = new Uint8Array(cmdLen);
  cmdBuf.set(cmdBytes);
  const cmdSeg = topDown('command line', cmdBuf, BigInt(cmdLen + DUMMY_EFI_FUNCTION_SIZE));

  let initrd: KexecSegment | undefined;
  if (input.initrd) initrd = topDown('initrd', input.initrd);

  const params: Ia64KexecBootParams = {
    vmcode_base: 0n,
    vmcode_size: 0n,
    ramdisk_base: initrd?.mem ?? 0n,
    ramdisk_size: BigInt(input.initrd?.length ?? 0),
    command_line: cmdSeg.mem,
    command_line_len: BigInt(cmdLen),
    efi_memmap_base: efiMap.mem,
    efi_memmap_size: oldMapSize,
    boot_param_base: bootParam.mem,
    loaded_segments: loadedSeg.mem,
    loaded_segments_num: BigInt(loadedRanges.length),
  };
  debug.push(...describeStruct(ia64KexecBootParams, params));
  debug.push(
    `SetVirtualAddressMap: the purgatory writes "mov r8=r0; br.ret" (${DUMMY_EFI_FUNCTION_SIZE} bytes) at ${hex(cmdSeg.mem + BigInt(cmdLen))} and points the EFI runtime services' set_virtual_address_map descriptor at it`,
    `new ia64_boot_param at ${hex(bootParam.mem)}: command_line ${hex(cmdSeg.mem)}, efi_memmap ${hex(efiMap.mem)}, initrd ${hex(params.ramdisk_base)}+${hex(params.ramdisk_size)}, console orig_x/orig_y 0; entered with r28 = ${hex(bootParam.mem)}`,
  );
  if (opts.efiMemmap) {
    const patched = patchEfiMemmap(opts.efiMemmap, loadedRanges);
    if (BigInt(patched.length * descSize) > efiMapSize) throw new Error('patched EFI memory map outgrew its buffer');
    const ramDescs = mergeHalfOpenRanges(opts.efiMemmap.filter((d) => iomemNameOf(d) === 'System RAM').map((d) => ({ start: d.physAddr, end: descEnd(d) })));
    for (const r of loadedRanges) {
      if (!ramDescs.some((d) => d.start <= r.start && d.end >= r.end)) {
        throw new KexecError(`loaded range ${hex(r.start)}-${hex(r.end - 1n)} is not RAM in the EFI memory map`, { hint: 'the kernel would be loaded over firmware memory' });
      }
    }
    debug.push(`EFI memory map the new kernel will see (${patched.length} descriptors of ${descSize} bytes; was ${opts.efiMemmap.length}):`, ...formatEfiMemmap(patched));
    notes.push(`EFI map patch: ${opts.efiMemmap.filter((d) => efiTypeName(d.type) === 'LoaderData').length} LoaderData descriptor(s) freed, ${loadedRanges.length} loaded range(s) marked LoaderData`);
  }
  if (input.kind === 'crash') notes.push(`crash: mem_min ${hex(memMin)}, mem_max ${hex(memMax)} (from "Crash kernel"); max_addr=/min_addr= keep the capture kernel inside`);

  return {
    arch: 'ia64',
    kind: input.kind,
    syscall: 'kexec_load',
    loader: 'IA-64 ELF vmlinux (plan only)',
    entry: purgatory.mem,
    segments: alloc.segments,
    cmdline,
    flags: KEXEC_ARCH_IA_64 | (input.kind === 'crash' ? KEXEC_ON_CRASH : 0n),
    notes: [`kernel entry ${hex(entry)} (physical; e_entry${moveTo !== undefined && moveTo !== start ? ' moved' : ''})`, ...notes],
    usable,
    debug,
  };
}

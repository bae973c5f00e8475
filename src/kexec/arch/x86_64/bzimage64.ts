// x86_64 bzImage through kexec_load: the same layout kexec-tools' bzImage64 loader makes
// (purgatory, boot parameters + command line, kernel, initrd top-down; setup_data bottom-up from
// 1 MiB), with our own purgatory. Pure: bytes and a memory map in, a plan out.
import { KexecError, ParseError } from '../../../errors.ts';
import { hex } from '../../../text.ts';
import { check64BitEntry, isBzImage, parseBzImage, setupHeaderEnd, XLF_EFI_KEXEC, type BzImage } from '../../../format/bzimage.ts';
import { x86LoaderRanges, type MemoryRange } from '../../memory-map.ts';
import {
  KEXEC_ARCH_X86_64,
  KEXEC_ON_CRASH,
  PAGE_SIZE,
  SegmentAllocator,
  alignUp,
  usableRanges,
  type KexecLoader,
  type KexecPlan,
  type PlanInput,
} from '../../plan.ts';
import { fillBootParams, newSetupBuffer, placeSystemData } from './boot-params.ts';
import { finishPurgatory, MIN_PURGATORY_ADDR, placePurgatory, purgatoryDebugLine, type PlacedPurgatory } from './purgatory.ts';

export const MIN_KERNEL_LOAD_ADDR = 0x100000n;
export const MIN_INITRD_LOAD_ADDR = 0x1000000n;
export { MIN_SETUP_DATA_ADDR } from './boot-params.ts';
/** The 64-bit entry point is 0x200 bytes into the protected-mode kernel (boot.rst). */
export const ENTRY_64_OFFSET = 0x200n;

/** The bytes the command line takes in boot parameters (with its NUL), checked against the header. */
export function checkCmdline(cmdline: string, limit: number, source: string): number {
  const len = new TextEncoder().encode(cmdline).length + 1;
  if (len > limit) {
    throw new KexecError(`command line too long: ${len} bytes with its NUL, ${source} accepts ${limit}`, {
      hint: 'shorten --append/--command-line',
    });
  }
  return len;
}

export interface X86Common {
  alloc: SegmentAllocator;
  usable: MemoryRange[];
  e820: MemoryRange[];
  cmdline: string;
  notes: string[];
  debug: string[];
}

/** Crash-hook segments first (they sit at the bottom of the crash region in kexec-tools too). */
/**
 * The initrd, then the setup_data (EFI, RNG seed), the EFI runtime map, efi_info and the ACPI RSDP
 * from the running machine, and the zero page's fields — the same for the bzImage and ELF loaders
 * (`efi`: whether the kernel takes an EFI handover from kexec).
 */
export function placeInitrdAndBootParams(input: PlanInput, c: X86Common, setup: { buf: Uint8Array; mem: bigint }, cmdlineOffset: number, efi: boolean): void {
  let initrd: { mem: bigint; size: number } | undefined;
  if (input.initrd) {
    const seg = c.alloc.place({ buf: input.initrd, min: MIN_INITRD_LOAD_ADDR, what: 'initrd' });
    initrd = { mem: seg.mem, size: input.initrd.length };
    c.debug.push(`Loaded initrd at ${hex(seg.mem)} size ${hex(input.initrd.length)}`);
  }
  const sys = placeSystemData(c.alloc, input.host, { efi });
  c.notes.push(...sys.notes);
  c.debug.push(
    ...fillBootParams(setup.buf, {
      base: setup.mem,
      cmdlineOffset,
      e820: c.e820,
      setupData: sys.setupData,
      acpiRsdp: sys.acpiRsdp,
      ...(sys.efiInfo ? { efiInfo: sys.efiInfo } : {}),
      ...(initrd ? { initrd } : {}),
      ...(input.host?.bootParams ? { host: input.host.bootParams } : {}),
    }),
  );
}

export function startX86Plan(input: PlanInput): X86Common {
  const ranges = x86LoaderRanges(input.memory);
  const usable = usableRanges(input, ranges, 'x86_64');
  const alloc = new SegmentAllocator(usable, { ...(input.memMin !== undefined ? { memMin: input.memMin } : {}), ...(input.memMax !== undefined ? { memMax: input.memMax } : {}) });
  let cmdline = input.cmdline;
  let e820 = ranges;
  const notes: string[] = [];
  if (input.kind === 'crash' && input.crash) {
    const add = input.crash.addSegments(alloc);
    if (add.cmdlineAppend) cmdline = cmdline ? `${cmdline} ${add.cmdlineAppend}` : add.cmdlineAppend;
    if (add.e820) e820 = add.e820;
    notes.push(...(add.notes ?? []));
  }
  return { alloc, usable, e820, cmdline, notes, debug: [] };
}

function plan(input: PlanInput): KexecPlan {
  const bz: BzImage = parseBzImage(input.image, input.imageName);
  check64BitEntry(bz, input.imageName);
  const h = bz.header;
  const c = startX86Plan(input);
  checkCmdline(c.cmdline, h.cmdline_size, `this kernel (cmdline_size ${h.cmdline_size})`);

  const purgatory = placePurgatory(c.alloc, input.purgatory);
  c.debug.push(purgatoryDebugLine(purgatory));

  // Boot parameters and command line: kexec-tools sizes this segment as the kernel's setup code (at
  // least 4 KiB) + command line + 64 spare bytes, and puts the command line after the setup code.
  const cmdlineOffset = Math.max(bz.setupSize, 4096);
  const setupBuf = newSetupBuffer({ setupHeader: input.image.subarray(0x1f1, setupHeaderEnd(input.image)), cmdlineOffset, cmdline: c.cmdline });
  const setup = c.alloc.place({ buf: setupBuf, align: 16n, min: MIN_PURGATORY_ADDR, what: 'boot params + cmdline' });
  c.debug.push(`Loaded real_mode_data and command line at ${hex(setup.mem)}`);

  const kernelMemsz = alignUp(BigInt(h.init_size), PAGE_SIZE);
  c.debug.push(`kernel init_size ${hex(h.init_size)}`);
  if (BigInt(bz.kernel.length) > kernelMemsz) {
    throw new ParseError(`kernel (${hex(bz.kernel.length)} bytes) is larger than its init_size ${hex(h.init_size)}`, { source: input.imageName, offset: 0x260 });
  }
  const minKernel = h.pref_address > MIN_KERNEL_LOAD_ADDR ? h.pref_address : MIN_KERNEL_LOAD_ADDR;
  const kernel = h.relocatable_kernel
    ? c.alloc.place({ buf: bz.kernel, memsz: kernelMemsz, align: BigInt(h.kernel_alignment || 0x200000), min: minKernel, what: 'kernel' })
    : c.alloc.place({ buf: bz.kernel, memsz: kernelMemsz, min: h.pref_address, max: h.pref_address + kernelMemsz - 1n, what: 'kernel' });
  c.debug.push(`Loaded 64bit kernel at ${hex(kernel.mem)}`);

  placeInitrdAndBootParams(input, c, setup, cmdlineOffset, (h.xloadflags & XLF_EFI_KEXEC) !== 0);

  return finishX86Plan(input, c, purgatory, {
    loader: 'x86_64 bzImage',
    kernelEntry: kernel.mem + ENTRY_64_OFFSET,
    bootParams: setup.mem,
    notes: [
      `bzImage boot protocol ${bz.protocol}${bz.versionString ? `, ${bz.versionString}` : ''}`,
      `kernel 64-bit entry ${hex(kernel.mem + ENTRY_64_OFFSET)}, boot_params at ${hex(setup.mem)}`,
    ],
  });
}

/** Links the purgatory against the final segments (kernel entry, boot_params, digests) and builds the plan. */
export function finishX86Plan(
  input: PlanInput,
  c: X86Common,
  purgatory: PlacedPurgatory,
  o: { loader: string; kernelEntry: bigint; bootParams: bigint; notes: string[] },
): KexecPlan {
  const segments = c.alloc.segments;
  const sha256Regions = finishPurgatory(purgatory, segments, {
    kernelEntry: o.kernelEntry,
    bootParams: o.bootParams,
    cmdline: c.cmdline,
    skipChecks: input.noChecks ?? false,
    ...(input.sha256 ? { sha256: input.sha256 } : {}),
    ...(input.corruptSegment ? { corruptSegment: input.corruptSegment } : {}),
  });
  return {
    arch: 'x86_64',
    kind: input.kind,
    syscall: 'kexec_load',
    loader: o.loader,
    entry: purgatory.linked.entry,
    segments,
    cmdline: c.cmdline,
    flags: KEXEC_ARCH_X86_64 | (input.kind === 'crash' ? KEXEC_ON_CRASH : 0n),
    notes: [...o.notes, ...c.notes],
    usable: c.usable,
    debug: c.debug,
    sha256Regions,
  };
}

export const bzImage64Loader: KexecLoader = {
  name: 'bzImage64',
  arch: 'x86_64',
  probe: (image) => isBzImage(image),
  plan,
};

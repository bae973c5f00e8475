// The x86 zero page (struct boot_params) and command line a kexec_load loader hands the new kernel in
// %rsi: one segment holding boot_params, the command line after it, and kexec-tools' spare room.
import { KexecError } from '../../../errors.ts';
import { hexPadded } from '../../../text.ts';
import {
  BootParams,
  E820_MAX_ZEROPAGE,
  LOADER_TYPE_KEXEC,
  SetupData,
  SETUP_RNG_SEED,
  ZERO_PAGE_SIZE,
  encodeE820,
} from '../../../format/bzimage.ts';
import { readStruct, writeStruct } from '../../../format/struct.ts';
import { E820_TYPE, type MemoryRange } from '../../memory-map.ts';
import type { SegmentAllocator } from '../../plan.ts';
import { acpiRsdpAddr, efiInfoWithMemmap, planEfiHandover, type EfiFacts } from './efi.ts';

/** setup_data nodes and the EFI map go bottom-up from here (kexec-tools: add_buffer min 1 MiB, end +1). */
export const MIN_SETUP_DATA_ADDR = 0x100000n;

/** kexec-tools leaves this much room after the command line (PURGATORY_CMDLINE_SIZE, for kexec jump-back). */
export const SPARE_CMDLINE_ROOM = 64;

export interface BootParamsInput {
  /** The setup-header bytes to copy (0x1f1 up to the header's end) — from the bzImage; absent for ELF. */
  setupHeader?: Uint8Array;
  /** Where the command line starts inside the segment (kexec-tools: max(setup size, 4096)). */
  cmdlineOffset: number;
  cmdline: string;
}

/** A zeroed setup segment with the kernel's setup header copied in and the command line after it. */
export function newSetupBuffer(i: BootParamsInput): Uint8Array {
  const cmd = new TextEncoder().encode(i.cmdline);
  const buf = new Uint8Array(i.cmdlineOffset + cmd.length + 1 + SPARE_CMDLINE_ROOM);
  if (i.setupHeader) buf.set(i.setupHeader.subarray(0, Math.min(i.setupHeader.length, 0x7f)), 0x1f1);
  buf.set(cmd, i.cmdlineOffset);
  return buf;
}

export interface FillInput {
  /** Physical address of the setup segment. */
  base: bigint;
  cmdlineOffset: number;
  initrd?: { mem: bigint; size: number };
  e820: MemoryRange[];
  /** The running kernel's boot_params (/sys/kernel/boot_params/data): hardware_subarch, ACPI RSDP. */
  host?: Uint8Array;
  /** Head of the setup_data chain (physical address), 0n for none. */
  setupData?: bigint;
  /** efi_info for the next kernel (placeSystemData), absent: zeroed (no EFI). */
  efiInfo?: Uint8Array;
  /** acpi_rsdp_addr (placeSystemData); absent: the running kernel's. */
  acpiRsdp?: bigint;
}

/** Fills boot_params in the setup segment. Returns `kexec -d` lines (E820 memmap). */
export function fillBootParams(buf: Uint8Array, f: FillInput): string[] {
  if (f.e820.length > E820_MAX_ZEROPAGE) {
    throw new KexecError(`the memory map has ${f.e820.length} ranges; the zero page holds ${E820_MAX_ZEROPAGE}`, {
      hint: 'plan against /sys/firmware/memmap, which is usually shorter',
    });
  }
  const cmdAddr = f.base + BigInt(f.cmdlineOffset);
  const host = f.host && f.host.length >= ZERO_PAGE_SIZE ? readStruct(BootParams, f.host) : undefined;
  // screen_info: the running kernel's (what its firmware or EFI stub found: VGA text, VESA or EFI
  // framebuffer), as kexec_file_load passes it; without one, an 80x25 VGA text console.
  if (host) writeStruct(BootParams, buf, { screen_info: host.screen_info });
  else writeStruct(BootParams, buf, { orig_video_cols: 80, orig_video_lines: 25, orig_video_isVGA: 1, orig_video_points: 16 });
  if (f.efiInfo) writeStruct(BootParams, buf, { efi_info: f.efiInfo, secure_boot: host?.secure_boot ?? 0 });
  writeStruct(BootParams, buf, {
    type_of_loader: LOADER_TYPE_KEXEC,
    loadflags: 0,
    root_flags: 0xffff,
    root_dev: 0x0300,
    cmd_line_ptr: Number(cmdAddr & 0xffffffffn),
    ext_cmd_line_ptr: Number(cmdAddr >> 32n),
    ramdisk_image: f.initrd ? Number(f.initrd.mem & 0xffffffffn) : 0,
    ext_ramdisk_image: f.initrd ? Number(f.initrd.mem >> 32n) : 0,
    ramdisk_size: f.initrd ? f.initrd.size >>> 0 : 0,
    ext_ramdisk_size: f.initrd ? Math.floor(f.initrd.size / 2 ** 32) : 0,
    setup_data: f.setupData ?? 0n,
    hardware_subarch: host?.hardware_subarch ?? 0,
    acpi_rsdp_addr: f.acpiRsdp ?? host?.acpi_rsdp_addr ?? 0n,
    e820_entries: f.e820.length,
    e820_table: encodeE820(f.e820.map((r) => ({ addr: r.start, size: r.end - r.start + 1n, type: E820_TYPE[r.type] }))),
    ...memK(f.e820),
  });
  return ['E820 memmap:', ...f.e820.map((r) => `${hexPadded(r.start)}-${hexPadded(r.end)} (${E820_TYPE[r.type]})`)];
}

/**
 * ext_mem_k / alt_mem_k: KiB of RAM above 1 MiB in the range that covers 1 MiB (legacy fields),
 * counted as kexec-tools does: (inclusive end >> 10) - 1024, one less than the range's KiB.
 */
function memK(e820: MemoryRange[]): { ext_mem_k: number; alt_mem_k: number } {
  const r = e820.find((x) => x.type === 'ram' && x.start <= 0x100000n && x.end > 0x100000n);
  if (!r) return { ext_mem_k: 0, alt_mem_k: 0 };
  const k = Number((r.end >> 10n) - (0x100000n >> 10n));
  return { ext_mem_k: Math.min(k, 0xfc00), alt_mem_k: Math.min(k, 0xffffffff) };
}

export interface SystemData {
  /** Head of the setup_data chain, 0n for none. */
  setupData: bigint;
  efiInfo?: Uint8Array;
  acpiRsdp: bigint;
  /** Why the next kernel gets no EFI state (when the machine is UEFI but it cannot be passed). */
  notes: string[];
}

/**
 * The setup_data nodes and EFI memory map the next kernel gets, placed bottom-up from 1 MiB in
 * kexec-tools' order (SETUP_EFI, EFI runtime map, SETUP_RNG_SEED; the chain starts at the newest),
 * plus efi_info and the ACPI RSDP address. `efi`: the kernel takes EFI state from a kexec loader
 * (bzImage xloadflags XLF_EFI_KEXEC).
 */
export function placeSystemData(
  alloc: SegmentAllocator,
  host: { bootParams?: Uint8Array; rngSeed?: Uint8Array; efi?: EfiFacts } | undefined,
  opts: { efi: boolean },
): SystemData {
  const out: SystemData = { setupData: 0n, acpiRsdp: acpiRsdpAddr(host?.bootParams, host?.efi), notes: [] };
  const low = (buf: Uint8Array, what: string) => alloc.place({ buf, min: MIN_SETUP_DATA_ADDR, topDown: false, what });
  if (host?.efi) {
    const efi = opts.efi ? planEfiHandover(host.bootParams, host.efi) : { none: 'EFI: the kernel does not take EFI state from kexec (no XLF_EFI_KEXEC)' };
    if ('none' in efi) out.notes.push(efi.none);
    else {
      out.setupData = low(efi.setupData, 'setup_data EFI').mem;
      out.efiInfo = efiInfoWithMemmap(efi.info, low(efi.memmap, 'EFI runtime map').mem);
    }
  }
  if (host?.rngSeed) out.setupData = low(rngSeedSetupData(host.rngSeed, out.setupData), 'setup_data RNG seed').mem;
  return out;
}

/** A SETUP_RNG_SEED setup_data node (chained through `next`). */
export function rngSeedSetupData(seed: Uint8Array, next = 0n): Uint8Array {
  const out = new Uint8Array(SetupData.size + seed.length);
  writeStruct(SetupData, out, { next, type: SETUP_RNG_SEED, len: seed.length });
  out.set(seed, SetupData.size);
  return out;
}


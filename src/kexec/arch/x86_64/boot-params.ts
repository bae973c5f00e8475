// The x86 zero page (struct boot_params) and command line a kexec_load loader hands the new kernel in
// %rsi: one segment holding boot_params, the command line after it, and kexec-tools' spare room.
import { KexecError } from '../../../errors.ts';
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
  writeStruct(BootParams, buf, {
    type_of_loader: LOADER_TYPE_KEXEC,
    loadflags: 0,
    root_flags: 0xffff,
    root_dev: 0x0300,
    // screen_info defaults: an 80x25 VGA text console (what kexec-tools passes without a framebuffer).
    orig_video_cols: 80,
    orig_video_lines: 25,
    orig_video_isVGA: 1,
    orig_video_points: 16,
    cmd_line_ptr: Number(cmdAddr & 0xffffffffn),
    ext_cmd_line_ptr: Number(cmdAddr >> 32n),
    ramdisk_image: f.initrd ? Number(f.initrd.mem & 0xffffffffn) : 0,
    ext_ramdisk_image: f.initrd ? Number(f.initrd.mem >> 32n) : 0,
    ramdisk_size: f.initrd ? f.initrd.size >>> 0 : 0,
    ext_ramdisk_size: f.initrd ? Math.floor(f.initrd.size / 2 ** 32) : 0,
    setup_data: f.setupData ?? 0n,
    hardware_subarch: host?.hardware_subarch ?? 0,
    acpi_rsdp_addr: host?.acpi_rsdp_addr ?? 0n,
    e820_entries: f.e820.length,
    e820_table: encodeE820(f.e820.map((r) => ({ addr: r.start, size: r.end - r.start + 1n, type: E820_TYPE[r.type] }))),
    ...memK(f.e820),
  });
  return ['E820 memmap:', ...f.e820.map((r) => `${pad16(r.start)}-${pad16(r.end)} (${E820_TYPE[r.type]})`)];
}

/** ext_mem_k / alt_mem_k: KiB of RAM above 1 MiB in the range that covers 1 MiB (legacy fields). */
function memK(e820: MemoryRange[]): { ext_mem_k: number; alt_mem_k: number } {
  const r = e820.find((x) => x.type === 'ram' && x.start <= 0x100000n && x.end >= 0x100000n);
  if (!r) return { ext_mem_k: 0, alt_mem_k: 0 };
  const k = Number((r.end + 1n - 0x100000n) >> 10n);
  return { ext_mem_k: Math.min(k, 0xfc00), alt_mem_k: Math.min(k, 0xffffffff) };
}

/** A SETUP_RNG_SEED setup_data node (chained through `next`). */
export function rngSeedSetupData(seed: Uint8Array, next = 0n): Uint8Array {
  const out = new Uint8Array(SetupData.size + seed.length);
  writeStruct(SetupData, out, { next, type: SETUP_RNG_SEED, len: seed.length });
  out.set(seed, SetupData.size);
  return out;
}

export const pad16 = (v: bigint): string => v.toString(16).padStart(16, '0');

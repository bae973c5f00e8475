// x86 Linux boot protocol (Documentation/arch/x86/boot.rst, zero-page.rst): the bzImage setup header
// and the zero page (struct boot_params) a loader hands the kernel in %rsi. The setup header sits at
// the same offsets in the bzImage file and in boot_params, so one table serves both.
import { ParseError } from '../errors.ts';
import { readStruct, struct, writeStruct, type StructValue } from './struct.ts';

export const BOOT_FLAG = 0xaa55;
export const HDRS_MAGIC = 0x53726448; // "HdrS"
export const LOADED_HIGH = 0x01;
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;
export const XLF_EFI_HANDOVER_32 = 1 << 2;
export const XLF_EFI_HANDOVER_64 = 1 << 3;
export const XLF_EFI_KEXEC = 1 << 4;
export const XLF_5LEVEL = 1 << 5;
/** type_of_loader for kexec (0x0D << 4). */
export const LOADER_TYPE_KEXEC = 0xd0;
/** Boot protocol 2.12: the first with xloadflags (64-bit entry, above-4G loading). */
export const MIN_BOOT_PROTOCOL_64 = 0x020c;
export const ZERO_PAGE_SIZE = 4096;
export const E820_MAX_ZEROPAGE = 128;
export const E820_ENTRY_SIZE = 20;
/** setup_data types. */
export const SETUP_E820_EXT = 1;
export const SETUP_RNG_SEED = 9;

/** struct boot_params (4096 bytes), with the setup header (struct setup_header) at 0x1f1. */
export const BootParams = struct('boot_params', ZERO_PAGE_SIZE, {
  // struct screen_info (0x000, 0x40 bytes)
  orig_x: { off: 0x00, type: 'u8' },
  orig_y: { off: 0x01, type: 'u8' },
  ext_mem_k: { off: 0x02, type: 'u16' },
  orig_video_cols: { off: 0x07, type: 'u8' },
  orig_video_lines: { off: 0x0e, type: 'u8' },
  orig_video_isVGA: { off: 0x0f, type: 'u8' },
  orig_video_points: { off: 0x10, type: 'u16' },
  screen_info: { off: 0x00, type: 'bytes:64' },
  acpi_rsdp_addr: { off: 0x70, type: 'u64' },
  ext_ramdisk_image: { off: 0xc0, type: 'u32' },
  ext_ramdisk_size: { off: 0xc4, type: 'u32' },
  ext_cmd_line_ptr: { off: 0xc8, type: 'u32' },
  efi_info: { off: 0x1c0, type: 'bytes:32' },
  alt_mem_k: { off: 0x1e0, type: 'u32' },
  e820_entries: { off: 0x1e8, type: 'u8' },
  eddbuf_entries: { off: 0x1e9, type: 'u8' },
  edd_mbr_sig_buf_entries: { off: 0x1ea, type: 'u8' },
  secure_boot: { off: 0x1ec, type: 'u8' },
  // struct setup_header (0x1f1 ..)
  setup_sects: { off: 0x1f1, type: 'u8' },
  root_flags: { off: 0x1f2, type: 'u16' },
  syssize: { off: 0x1f4, type: 'u32' },
  ram_size: { off: 0x1f8, type: 'u16' },
  vid_mode: { off: 0x1fa, type: 'u16' },
  root_dev: { off: 0x1fc, type: 'u16' },
  boot_flag: { off: 0x1fe, type: 'u16' },
  jump: { off: 0x200, type: 'u16' },
  header: { off: 0x202, type: 'u32' },
  version: { off: 0x206, type: 'u16' },
  realmode_swtch: { off: 0x208, type: 'u32' },
  start_sys_seg: { off: 0x20c, type: 'u16' },
  kernel_version: { off: 0x20e, type: 'u16' },
  type_of_loader: { off: 0x210, type: 'u8' },
  loadflags: { off: 0x211, type: 'u8' },
  setup_move_size: { off: 0x212, type: 'u16' },
  code32_start: { off: 0x214, type: 'u32' },
  ramdisk_image: { off: 0x218, type: 'u32' },
  ramdisk_size: { off: 0x21c, type: 'u32' },
  bootsect_kludge: { off: 0x220, type: 'u32' },
  heap_end_ptr: { off: 0x224, type: 'u16' },
  ext_loader_ver: { off: 0x226, type: 'u8' },
  ext_loader_type: { off: 0x227, type: 'u8' },
  cmd_line_ptr: { off: 0x228, type: 'u32' },
  initrd_addr_max: { off: 0x22c, type: 'u32' },
  kernel_alignment: { off: 0x230, type: 'u32' },
  relocatable_kernel: { off: 0x234, type: 'u8' },
  min_alignment: { off: 0x235, type: 'u8' },
  xloadflags: { off: 0x236, type: 'u16' },
  cmdline_size: { off: 0x238, type: 'u32' },
  hardware_subarch: { off: 0x23c, type: 'u32' },
  hardware_subarch_data: { off: 0x240, type: 'u64' },
  payload_offset: { off: 0x248, type: 'u32' },
  payload_length: { off: 0x24c, type: 'u32' },
  setup_data: { off: 0x250, type: 'u64' },
  pref_address: { off: 0x258, type: 'u64' },
  init_size: { off: 0x260, type: 'u32' },
  handover_offset: { off: 0x264, type: 'u32' },
  kernel_info_offset: { off: 0x268, type: 'u32' },
  e820_table: { off: 0x2d0, type: `bytes:${E820_MAX_ZEROPAGE * E820_ENTRY_SIZE}` },
});

/** One packed e820 entry (struct boot_e820_entry). */
export const E820Entry = struct('boot_e820_entry', E820_ENTRY_SIZE, {
  addr: { off: 0, type: 'u64' },
  size: { off: 8, type: 'u64' },
  type: { off: 16, type: 'u32' },
});

/** The zero page's e820_table bytes for these entries (at most E820_MAX_ZEROPAGE). */
export function encodeE820(entries: { addr: bigint; size: bigint; type: number }[]): Uint8Array {
  const out = new Uint8Array(E820_MAX_ZEROPAGE * E820_ENTRY_SIZE);
  entries.slice(0, E820_MAX_ZEROPAGE).forEach((e, i) => writeStruct(E820Entry, out, e, i * E820_ENTRY_SIZE));
  return out;
}

/** struct setup_data header; the payload follows. */
export const SetupData = struct('setup_data', 16, {
  next: { off: 0, type: 'u64' },
  type: { off: 8, type: 'u32' },
  len: { off: 12, type: 'u32' },
});

/** The offset of the end of the setup header (boot.rst: 0x202 + byte at 0x201). */
export function setupHeaderEnd(image: Uint8Array): number {
  return 0x202 + image[0x201]!;
}

export type SetupHeader = StructValue<typeof BootParams.fields>;

export interface BzImage {
  header: SetupHeader;
  /** Bytes of the real-mode part (boot sector + setup): (setup_sects + 1) * 512. */
  setupSize: number;
  /** The protected-mode kernel (what gets loaded at the kernel address). */
  kernel: Uint8Array;
  /** Boot protocol as "2.15". */
  protocol: string;
  /** Kernel version string from the header, if any ("6.1.0-53-cloud-amd64 (…) #1 SMP …"). */
  versionString?: string;
}

/** Cheap check: boot flag and "HdrS" magic. */
export function isBzImage(bytes: Uint8Array): boolean {
  if (bytes.length < 0x270) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return dv.getUint16(0x1fe, true) === BOOT_FLAG && dv.getUint32(0x202, true) === HDRS_MAGIC;
}

/** Parses and checks a bzImage; the ParseError says what is wrong and at which offset. */
export function parseBzImage(bytes: Uint8Array, source = 'kernel'): BzImage {
  const header = parseBzImageHead(bytes, bytes.length, source);
  const setupSize = ((header.setup_sects || 4) + 1) * 512;
  const protocol = `${header.version >> 8}.${(header.version & 0xff).toString().padStart(2, '0')}`;
  let versionString: string | undefined;
  if (header.kernel_version !== 0 && header.kernel_version + 0x200 < bytes.length) {
    const at = header.kernel_version + 0x200;
    const end = bytes.indexOf(0, at);
    if (end > at && end - at < 256) versionString = new TextDecoder('latin1').decode(bytes.subarray(at, end));
  }
  return { header, setupSize, kernel: bytes.subarray(setupSize), protocol, ...(versionString ? { versionString } : {}) };
}

/**
 * The setup header from the first bytes of a bzImage (at least 0x270), checked against the file's
 * full size (a truncated file is refused) — enough for kexec_file_load, which passes the file itself.
 */
export function parseBzImageHead(bytes: Uint8Array, fileSize: number, source = 'kernel'): SetupHeader {
  if (bytes.length < 0x270) {
    throw new ParseError(`too short for a bzImage (${bytes.length} bytes)`, { source, hint: 'not a Linux kernel image' });
  }
  if (!isBzImage(bytes)) {
    throw new ParseError('no Linux boot header (boot flag 0xAA55 at 0x1fe and "HdrS" at 0x202)', {
      source,
      offset: 0x1fe,
      hint: 'not an x86 bzImage; give an uncompressed ELF vmlinux or a bzImage',
    });
  }
  const header = readStruct(BootParams, padTo(bytes.subarray(0, ZERO_PAGE_SIZE), ZERO_PAGE_SIZE));
  const setupSize = ((header.setup_sects || 4) + 1) * 512;
  const protectedSize = header.syssize * 16;
  if (fileSize < setupSize + protectedSize) {
    throw new ParseError(
      `truncated bzImage: ${fileSize} bytes, the header says ${setupSize + protectedSize} (setup ${setupSize} + kernel ${protectedSize})`,
      { source, offset: fileSize, hint: 'the file is incomplete: copy it again' },
    );
  }
  return header;
}

/**
 * Checks a bzImage can be started through its 64-bit entry point (what kexec on x86_64 does); throws
 * a ParseError naming the missing feature.
 */
export function check64BitEntry(bz: BzImage, source = 'kernel'): void {
  const h = bz.header;
  if (h.version < MIN_BOOT_PROTOCOL_64) {
    throw new ParseError(`boot protocol ${bz.protocol} is older than 2.12: no 64-bit entry point`, { source, offset: 0x206 });
  }
  if (!(h.loadflags & LOADED_HIGH)) throw new ParseError('kernel is not loaded high (zImage)', { source, offset: 0x211 });
  if (!(h.xloadflags & XLF_KERNEL_64)) throw new ParseError('kernel has no 64-bit entry point (xloadflags bit 0)', { source, offset: 0x236 });
  if (!(h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)) {
    throw new ParseError('kernel cannot be loaded above 4 GiB (xloadflags bit 1)', { source, offset: 0x236 });
  }
  if (h.init_size === 0) throw new ParseError('init_size is 0', { source, offset: 0x260 });
}

function padTo(bytes: Uint8Array, n: number): Uint8Array {
  if (bytes.length >= n) return bytes;
  const out = new Uint8Array(n);
  out.set(bytes);
  return out;
}

// IA-64 boot parameters: struct ia64_boot_param (arch/ia64/include/asm/system.h, the block the
// kernel finds through r28 at entry), and the parameter block kexec-tools' IA-64 purgatory reads
// (purgatory/arch/ia64/purgatory-ia64.c, struct kexec_boot_params, filled through its symbols).
import { encodeStruct, readStruct, struct, type StructValue } from '../../../format/struct.ts';

export const ia64BootParam = struct('ia64_boot_param', 96, {
  command_line: { off: 0, type: 'u64' },
  efi_systab: { off: 8, type: 'u64' },
  efi_memmap: { off: 16, type: 'u64' },
  efi_memmap_size: { off: 24, type: 'u64' },
  efi_memdesc_size: { off: 32, type: 'u64' },
  efi_memdesc_version: { off: 40, type: 'u32' },
  console_num_cols: { off: 44, type: 'u16' },
  console_num_rows: { off: 46, type: 'u16' },
  console_orig_x: { off: 48, type: 'u16' },
  console_orig_y: { off: 50, type: 'u16' },
  fpswa: { off: 56, type: 'u64' },
  initrd_start: { off: 64, type: 'u64' },
  initrd_size: { off: 72, type: 'u64' },
  vmcode_start: { off: 80, type: 'u64' },
  vmcode_size: { off: 88, type: 'u64' },
});
export type Ia64BootParam = StructValue<(typeof ia64BootParam)['fields']>;

/** kexec-tools reserves a whole 4 KiB for the copy of the boot parameters. */
export const BOOT_PARAM_SEGMENT_SIZE = 4096;

/** The purgatory's parameter block (the __* symbols kexec-tools patches), in the order it declares them. */
export const ia64KexecBootParams = struct('kexec_boot_params', 88, {
  vmcode_base: { off: 0, type: 'u64' },
  vmcode_size: { off: 8, type: 'u64' },
  ramdisk_base: { off: 16, type: 'u64' },
  ramdisk_size: { off: 24, type: 'u64' },
  command_line: { off: 32, type: 'u64' },
  command_line_len: { off: 40, type: 'u64' },
  efi_memmap_base: { off: 48, type: 'u64' },
  efi_memmap_size: { off: 56, type: 'u64' },
  boot_param_base: { off: 64, type: 'u64' },
  loaded_segments: { off: 72, type: 'u64' },
  loaded_segments_num: { off: 80, type: 'u64' },
});
export type Ia64KexecBootParams = StructValue<(typeof ia64KexecBootParams)['fields']>;

/** The fields the purgatory rewrites in its copy of the old boot parameters (ia64_env_setup). */
export function newBootParam(old: Ia64BootParam, p: Ia64KexecBootParams, patchedMemmapSize: bigint): Ia64BootParam {
  return {
    ...old,
    efi_memmap: p.efi_memmap_base,
    efi_memmap_size: patchedMemmapSize,
    command_line: p.command_line,
    console_orig_x: 0,
    console_orig_y: 0,
    initrd_start: p.ramdisk_base,
    initrd_size: p.ramdisk_size,
    vmcode_start: p.vmcode_base,
    vmcode_size: p.vmcode_size,
  };
}

/** A table of field, offset, value lines — the struct a reviewer checks by hand. */
export function describeStruct<F extends Record<string, { off: number; type: string }>>(
  s: { name: string; fields: F },
  v: Record<string, unknown>,
): string[] {
  return [
    `struct ${s.name}:`,
    ...Object.entries(s.fields).map(([k, f]) => {
      const val = v[k];
      const shown = typeof val === 'bigint' ? '0x' + val.toString(16) : String(val);
      return `  +0x${f.off.toString(16).padStart(2, '0')} ${f.type.padEnd(4)} ${k.padEnd(20)} ${shown}`;
    }),
  ];
}

export const encodeBootParam = (v: Partial<Ia64BootParam>): Uint8Array => encodeStruct(ia64BootParam, v);
export const decodeBootParam = (b: Uint8Array): Ia64BootParam => readStruct(ia64BootParam, b);

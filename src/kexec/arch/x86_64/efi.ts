// What a kexec_load loader hands the next kernel on a UEFI-booted x86_64 machine, so that kernel keeps
// EFI runtime services and finds ACPI: efi_info in the zero page (the running kernel's, with the memory
// map pointing at a copy of the EFI runtime map), a SETUP_EFI setup_data node (firmware vendor,
// runtime services, configuration tables, SMBIOS) and the ACPI RSDP address. Facts: kexec-tools
// kexec/arch/i386/x86-linux-setup.c (setup_efi_info, setup_efi_data, get_acpi_rsdp), the kernel's
// arch/x86/kernel/kexec-bzimage64.c (setup_efi_state) and Documentation/arch/x86/zero-page.rst.
// Pure: the files' text in (src/host/efi-facts.ts reads them), bytes out.
import { ParseError } from '../../../errors.ts';
import { BootParams, SetupData, ZERO_PAGE_SIZE } from '../../../format/bzimage.ts';
import { EfiMemoryDesc, encodeEfiMemmap, type EfiMemoryDescriptor } from '../../../format/efi.ts';
import { encodeStruct, readStruct, struct, writeStruct } from '../../../format/struct.ts';

/** setup_data type of the kexec EFI node (arch/x86/include/uapi/asm/bootparam.h). */
export const SETUP_EFI = 4;
/** efi_loader_signature of a 64-bit EFI boot ("EL64"); "EL32" for 32-bit firmware. */
export const EFI_LOADER_SIGNATURE_64 = 0x34364c45;
/** The only EFI memory descriptor version the kernel (and kexec-tools) accept. */
export const EFI_MEMDESC_VERSION = 1;

/** struct efi_info at 0x1c0 of boot_params. */
export const EfiInfo = struct('efi_info', 32, {
  efi_loader_signature: { off: 0x00, type: 'u32' },
  efi_systab: { off: 0x04, type: 'u32' },
  efi_memdesc_size: { off: 0x08, type: 'u32' },
  efi_memdesc_version: { off: 0x0c, type: 'u32' },
  efi_memmap: { off: 0x10, type: 'u32' },
  efi_memmap_size: { off: 0x14, type: 'u32' },
  efi_systab_hi: { off: 0x18, type: 'u32' },
  efi_memmap_hi: { off: 0x1c, type: 'u32' },
});
export const EFI_INFO_OFFSET = 0x1c0;


/** struct efi_setup_data: the SETUP_EFI payload (fw_vendor, runtime, tables, smbios, 8 reserved u64). */
export const EfiSetupData = struct('efi_setup_data', 96, {
  fw_vendor: { off: 0, type: 'u64' },
  runtime: { off: 8, type: 'u64' },
  tables: { off: 16, type: 'u64' },
  smbios: { off: 24, type: 'u64' },
});

/** The running kernel's EFI facts (from /sys/firmware/efi). */
export interface EfiFacts {
  /** systab's KEY=0x… lines: ACPI20, ACPI, SMBIOS, SMBIOS3, … */
  systab: Record<string, bigint>;
  fwVendor?: bigint;
  runtime?: bigint;
  configTable?: bigint;
  /** runtime-map/N in N order; empty when the kernel exports none (CONFIG_EFI_RUNTIME_MAP off, efi=noruntime). */
  runtimeMap: EfiMemoryDescriptor[];
}

/** The raw files, as read (undefined: missing). */
export interface EfiFiles {
  systab?: string;
  fw_vendor?: string;
  runtime?: string;
  config_table?: string;
  /** runtime-map/N/{type,phys_addr,virt_addr,num_pages,attribute}, in N order */
  runtimeMap: Record<'type' | 'phys_addr' | 'virt_addr' | 'num_pages' | 'attribute', string | undefined>[];
}

function hexValue(text: string | undefined, source: string): bigint | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^0x[0-9a-f]+$/i.test(t)) throw new ParseError(`not a hex value: '${t.slice(0, 40)}'`, { source, hint: 'expected 0x… as the kernel writes it' });
  return BigInt(t);
}

/** systab lines "KEY=0x…" (the kernel prints ACPI20 before ACPI). */
export function parseEfiSystab(text: string, source = 'systab'): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = hexValue(m[2], `${source}: ${m[1]}`)!;
  }
  return out;
}

export function parseEfiFacts(f: EfiFiles, root = '/sys/firmware/efi'): EfiFacts {
  const facts: EfiFacts = { systab: f.systab !== undefined ? parseEfiSystab(f.systab, `${root}/systab`) : {}, runtimeMap: [] };
  const fw = hexValue(f.fw_vendor, `${root}/fw_vendor`);
  const rt = hexValue(f.runtime, `${root}/runtime`);
  const ct = hexValue(f.config_table, `${root}/config_table`);
  if (fw !== undefined) facts.fwVendor = fw;
  if (rt !== undefined) facts.runtime = rt;
  if (ct !== undefined) facts.configTable = ct;
  f.runtimeMap.forEach((r, i) => {
    const at = (k: keyof typeof r) => {
      const v = hexValue(r[k], `${root}/runtime-map/${i}/${k}`);
      if (v === undefined) throw new ParseError(`${root}/runtime-map/${i}/${k} is missing`, { source: root });
      return v;
    };
    facts.runtimeMap.push({ type: Number(at('type')), physAddr: at('phys_addr'), virtAddr: at('virt_addr'), numPages: at('num_pages'), attribute: at('attribute') });
  });
  return facts;
}

/**
 * The ACPI RSDP address for the next kernel: the running kernel's boot_params.acpi_rsdp_addr, else
 * systab's ACPI20=, else ACPI= (kexec-tools' order). Kernels started through the EFI stub without the
 * legacy decompressor (6.1 and later) leave boot_params' field 0, so on UEFI the systab is the source.
 */
export function acpiRsdpAddr(bootParams: Uint8Array | undefined, efi: EfiFacts | undefined): bigint {
  const bp = bootParams && bootParams.length >= ZERO_PAGE_SIZE ? readStruct(BootParams, bootParams).acpi_rsdp_addr : 0n;
  return bp || efi?.systab.ACPI20 || efi?.systab.ACPI || 0n;
}

export interface EfiHandover {
  /** efi_info with every field but efi_memmap/efi_memmap_hi (set once the map is placed). */
  info: Uint8Array;
  /** SETUP_EFI node (setup_data header + efi_setup_data); `next` is patched when chained. */
  setupData: Uint8Array;
  /** The runtime map as 40-byte version-1 descriptors. */
  memmap: Uint8Array;
}

/**
 * EFI state for the next kernel on a UEFI-booted machine, or why there is none (the next kernel then
 * starts without EFI runtime services, as with kexec-tools). `bootParams` is the running kernel's zero page.
 */
export function planEfiHandover(bootParams: Uint8Array | undefined, efi: EfiFacts): EfiHandover | { none: string } {
  if (!bootParams || bootParams.length < ZERO_PAGE_SIZE) return { none: 'EFI: /sys/kernel/boot_params/data is not readable, efi_info not passed' };
  const cur = readStruct(EfiInfo, bootParams.subarray(EFI_INFO_OFFSET, EFI_INFO_OFFSET + EfiInfo.size));
  if (cur.efi_memmap_size === 0) return { none: 'EFI: the running kernel has no EFI memory map (noefi?), efi_info not passed' };
  if (cur.efi_memdesc_version !== EFI_MEMDESC_VERSION) return { none: `EFI: memory descriptor version ${cur.efi_memdesc_version} is not supported, efi_info not passed` };
  if (efi.fwVendor === undefined || efi.runtime === undefined || efi.configTable === undefined) {
    return { none: 'EFI: /sys/firmware/efi lacks fw_vendor, runtime or config_table, efi_info not passed' };
  }
  if (efi.runtimeMap.length === 0) {
    return { none: 'EFI: no /sys/firmware/efi/runtime-map (kernel without CONFIG_EFI_RUNTIME_MAP, or efi=noruntime): the next kernel starts without EFI runtime services' };
  }
  const memmap = encodeEfiMemmap(efi.runtimeMap);
  const setupData = new Uint8Array(SetupData.size + EfiSetupData.size);
  writeStruct(SetupData, setupData, { next: 0n, type: SETUP_EFI, len: EfiSetupData.size });
  writeStruct(EfiSetupData, setupData, { fw_vendor: efi.fwVendor, runtime: efi.runtime, tables: efi.configTable, smbios: efi.systab.SMBIOS ?? 0n }, SetupData.size);
  const info = encodeStruct(EfiInfo, {
    efi_loader_signature: cur.efi_loader_signature,
    efi_systab: cur.efi_systab,
    efi_systab_hi: cur.efi_systab_hi,
    efi_memdesc_version: cur.efi_memdesc_version,
    efi_memdesc_size: EfiMemoryDesc.size,
    efi_memmap_size: memmap.length,
  });
  return { info, setupData, memmap };
}

/** efi_info with the memory map's address filled in. */
export function efiInfoWithMemmap(info: Uint8Array, memmap: bigint): Uint8Array {
  return writeStruct(EfiInfo, info.slice(), { efi_memmap: Number(memmap & 0xffffffffn), efi_memmap_hi: Number(memmap >> 32n) });
}

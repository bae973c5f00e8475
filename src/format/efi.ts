// UEFI structures the loaders hand to the next kernel (x86_64 efi_info memory map, IA-64 boot param).
import { ParseError } from '../errors.ts';
import { encodeStruct, readStruct, struct } from './struct.ts';

/** efi_memory_desc_t, version 1 (40 bytes); a firmware's descriptor size (efi_memdesc_size) may be larger. */
export const EfiMemoryDesc = struct('efi_memory_desc_t', 40, {
  type: { off: 0, type: 'u32' },
  pad: { off: 4, type: 'u32' },
  phys_addr: { off: 8, type: 'u64' },
  virt_addr: { off: 16, type: 'u64' },
  num_pages: { off: 24, type: 'u64' },
  attribute: { off: 32, type: 'u64' },
});

/** One EFI memory descriptor (efi_memory_desc_t, or a /sys/firmware/efi/runtime-map/N entry). */
export interface EfiMemoryDescriptor {
  type: number;
  physAddr: bigint;
  numPages: bigint;
  attribute: bigint;
  /** Kept as read (SetVirtualAddressMap filled it for runtime ranges). */
  virtAddr: bigint;
}

/** The binary table (x86_64 efi_info's memory map, what IA-64's ia64_boot_param.efi_memmap points at), `descSize` bytes per descriptor. */
export function encodeEfiMemmap(descs: EfiMemoryDescriptor[], descSize = EfiMemoryDesc.size): Uint8Array {
  if (descSize < EfiMemoryDesc.size) throw new Error(`EFI descriptor size ${descSize} < ${EfiMemoryDesc.size}`);
  const out = new Uint8Array(descs.length * descSize);
  descs.forEach((d, i) =>
    out.set(encodeStruct(EfiMemoryDesc, { type: d.type, phys_addr: d.physAddr, virt_addr: d.virtAddr, num_pages: d.numPages, attribute: d.attribute }), i * descSize),
  );
  return out;
}

export function decodeEfiMemmap(bytes: Uint8Array, descSize = EfiMemoryDesc.size): EfiMemoryDescriptor[] {
  if (descSize < EfiMemoryDesc.size || bytes.length % descSize !== 0) {
    throw new ParseError(`EFI memory map of ${bytes.length} bytes is not a whole number of ${descSize}-byte descriptors`);
  }
  const out: EfiMemoryDescriptor[] = [];
  for (let o = 0; o < bytes.length; o += descSize) {
    const d = readStruct(EfiMemoryDesc, bytes, o);
    out.push({ type: d.type, physAddr: d.phys_addr, numPages: d.num_pages, attribute: d.attribute, virtAddr: d.virt_addr });
  }
  return out;
}

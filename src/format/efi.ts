// UEFI structures the loaders hand to the next kernel (x86_64 efi_info memory map, IA-64 boot param).
import { struct } from './struct.ts';

/** efi_memory_desc_t, version 1 (40 bytes); a firmware's descriptor size (efi_memdesc_size) may be larger. */
export const EfiMemoryDesc = struct('efi_memory_desc_t', 40, {
  type: { off: 0, type: 'u32' },
  pad: { off: 4, type: 'u32' },
  phys_addr: { off: 8, type: 'u64' },
  virt_addr: { off: 16, type: 'u64' },
  num_pages: { off: 24, type: 'u64' },
  attribute: { off: 32, type: 'u64' },
});

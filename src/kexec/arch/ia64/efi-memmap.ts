// The EFI memory map of an IA-64 machine and the edit the kexec purgatory makes to it before it
// enters the new kernel (kexec-tools purgatory/arch/ia64/purgatory-ia64.c, patch_efi_memmap):
//   - every EFI_LOADER_DATA descriptor becomes EFI_CONVENTIONAL_MEMORY: what the old boot loader
//     (elilo) and the old kernel's image held is free memory for the new kernel;
//   - every range kexec loaded (kernel PT_LOADs, ELF core header, …) is cut out of its descriptor
//     and marked EFI_LOADER_DATA, so the new kernel does not hand it out before it is done with it.
// The IA-64 kernel builds its memory map (and /proc/iomem) from this table, so this is what the new
// kernel will believe about memory. Pure: descriptors in, descriptors out.
import { ParseError } from '../../../errors.ts';
import { hexPadded } from '../../../text.ts';
import { mergeHalfOpenRanges, type HalfOpenRange } from '../../ranges.ts';
import type { EfiMemoryDescriptor } from '../../../format/efi.ts';

export const EFI_PAGE_SHIFT = 12n;
export const EFI_PAGE_SIZE = 1n << EFI_PAGE_SHIFT;

/** EFI memory types (UEFI spec, table "Memory Type Usage"). */
export const EFI_TYPE_NAMES = [
  'Reserved',
  'LoaderCode',
  'LoaderData',
  'BootServicesCode',
  'BootServicesData',
  'RuntimeServicesCode',
  'RuntimeServicesData',
  'ConventionalMemory',
  'UnusableMemory',
  'ACPIReclaimMemory',
  'ACPIMemoryNVS',
  'MemoryMappedIO',
  'MemoryMappedIOPortSpace',
  'PalCode',
] as const;
export type EfiTypeName = (typeof EFI_TYPE_NAMES)[number];
export const EFI_LOADER_DATA = 2;
export const EFI_CONVENTIONAL_MEMORY = 7;

/** Attribute bits. */
export const EFI_MEMORY_UC = 0x1n;
export const EFI_MEMORY_WB = 0x8n;
export const EFI_MEMORY_WP = 0x1000n;
export const EFI_MEMORY_RUNTIME = 0x8000000000000000n;


export const efiTypeName = (t: number): string => EFI_TYPE_NAMES[t] ?? `type${t}`;
export const descEnd = (d: EfiMemoryDescriptor): bigint => d.physAddr + (d.numPages << EFI_PAGE_SHIFT);

/**
 * Parses the text form our fixtures and --dry-run use, one descriptor a line:
 *   <TypeName> <phys_addr hex> <num_pages hex> <attribute hex> [virt_addr hex]
 * ('#' starts a comment).
 */
export function parseEfiMemmapText(text: string, source = 'efi-memmap'): EfiMemoryDescriptor[] {
  const out: EfiMemoryDescriptor[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const f = line.split(/\s+/);
    const type = EFI_TYPE_NAMES.indexOf(f[0] as EfiTypeName);
    const hexes = f.slice(1).map((x) => (/^0x[0-9a-fA-F]+$/.test(x) ? BigInt(x) : undefined));
    if (type < 0 || f.length < 4 || f.length > 5 || hexes.some((h) => h === undefined)) {
      throw new ParseError(`line ${i + 1}: want "<EfiType> <phys 0x…> <pages 0x…> <attr 0x…> [virt 0x…]", got ${JSON.stringify(line.slice(0, 80))}`, { source });
    }
    out.push({ type, physAddr: hexes[0]!, numPages: hexes[1]!, attribute: hexes[2]!, virtAddr: hexes[3] ?? 0n });
  });
  return out;
}

export function formatEfiMemmap(descs: EfiMemoryDescriptor[]): string[] {
  return descs.map(
    (d) =>
      `${efiTypeName(d.type).padEnd(24)} ${hexPadded(d.physAddr)}-${hexPadded(descEnd(d) - 1n)} ${('0x' + d.numPages.toString(16)).padStart(9)} pages  attr 0x${d.attribute.toString(16)}`,
  );
}

/** A range kexec loaded, [start, end) in EFI pages. */
export type LoadedRange = HalfOpenRange;

/**
 * The purgatory's patch. `loaded` are the ranges to protect (any order; rounded out to EFI pages,
 * merged). Descriptors are visited in order; a loaded range may span several adjacent descriptors
 * (they are cut at its edges). Returns the new map, sorted by address as the input is.
 */
export function patchEfiMemmap(descs: EfiMemoryDescriptor[], loaded: LoadedRange[]): EfiMemoryDescriptor[] {
  const ranges = mergeHalfOpenRanges(
    loaded.map((r) => ({ start: (r.start >> EFI_PAGE_SHIFT) << EFI_PAGE_SHIFT, end: ((r.end + EFI_PAGE_SIZE - 1n) >> EFI_PAGE_SHIFT) << EFI_PAGE_SHIFT })),
  );
  const out: EfiMemoryDescriptor[] = [];
  for (const d of descs) {
    if (d.numPages === 0n) continue;
    const type = d.type === EFI_LOADER_DATA ? EFI_CONVENTIONAL_MEMORY : d.type;
    let start = d.physAddr;
    const end = descEnd(d);
    const piece = (s: bigint, e: bigint, t: number) => out.push({ ...d, type: t, physAddr: s, numPages: (e - s) >> EFI_PAGE_SHIFT });
    for (const r of ranges) {
      if (r.end <= start || r.start >= end) continue;
      const cs = r.start > start ? r.start : start;
      const ce = r.end < end ? r.end : end;
      if (cs > start) piece(start, cs, type);
      piece(cs, ce, EFI_LOADER_DATA);
      start = ce;
    }
    if (start < end) piece(start, end, type);
  }
  return out;
}

/** The kernel's iomem name for a descriptor (arch/ia64/kernel/efi.c efi_initialize_iomem_resources); undefined = not listed. */
export function iomemNameOf(d: EfiMemoryDescriptor): string | undefined {
  switch (efiTypeName(d.type)) {
    case 'MemoryMappedIO':
    case 'MemoryMappedIOPortSpace':
      return undefined;
    case 'LoaderCode':
    case 'LoaderData':
    case 'BootServicesCode':
    case 'BootServicesData':
    case 'ConventionalMemory':
      if (d.attribute & EFI_MEMORY_WP) return 'System ROM';
      return d.attribute === EFI_MEMORY_UC ? 'Uncached RAM' : 'System RAM';
    case 'ACPIMemoryNVS':
      return 'ACPI Non-volatile Storage';
    case 'UnusableMemory':
      return 'reserved';
    case 'ACPIReclaimMemory':
      return 'ACPI Tables';
    default:
      return 'reserved';
  }
}

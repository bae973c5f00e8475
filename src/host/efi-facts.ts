// Reads the running kernel's EFI facts from /sys/firmware/efi (or a recorded copy of that tree) for
// the x86_64 loaders; parsing is in efi.ts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readOptional } from './kexec-facts.ts';
import { parseEfiFacts, type EfiFacts, type EfiFiles } from '../kexec/arch/x86_64/efi.ts';

export const SYS_FIRMWARE_EFI = '/sys/firmware/efi';

/** The EFI facts under `root`, or undefined when the machine did not boot through UEFI. */
export function readEfiFacts(root = SYS_FIRMWARE_EFI): EfiFacts | undefined {
  if (!existsSync(root)) return undefined;
  const mapDir = join(root, 'runtime-map');
  let entries: string[] = [];
  try {
    entries = readdirSync(mapDir).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
  } catch {
    /* no runtime map exported */
  }
  const files: EfiFiles = {
    systab: readOptional(join(root, 'systab')),
    fw_vendor: readOptional(join(root, 'fw_vendor')),
    runtime: readOptional(join(root, 'runtime')),
    config_table: readOptional(join(root, 'config_table')),
    runtimeMap: entries.map((n) => {
      const f = (k: string) => readOptional(join(mapDir, n, k));
      return { type: f('type'), phys_addr: f('phys_addr'), virt_addr: f('virt_addr'), num_pages: f('num_pages'), attribute: f('attribute') };
    }),
  };
  return parseEfiFacts(files, root);
}

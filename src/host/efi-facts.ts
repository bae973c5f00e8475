// Reads the running kernel's EFI facts from /sys/firmware/efi (or a recorded copy of that tree) for
// the x86_64 loaders; parsing is in efi.ts.
import { existsSync } from 'node:fs';
import { listDir, readText } from './machine-files.ts';
import { parseEfiFacts, type EfiFacts, type EfiFiles } from '../kexec/arch/x86_64/efi.ts';

export const SYS_FIRMWARE_EFI = '/sys/firmware/efi';

/** The EFI facts under `root`, or undefined when the machine did not boot through UEFI. */
export function readEfiFacts(root = SYS_FIRMWARE_EFI): EfiFacts | undefined {
  if (!existsSync(root)) return undefined;
  // `root` is the EFI directory itself (this machine's, or a recorded copy), so paths are relative to it.
  const read = (p: string) => readText(root, `/${p}`, 'utf8');
  const entries = listDir(root, '/runtime-map').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
  const files: EfiFiles = {
    systab: read('systab'),
    fw_vendor: read('fw_vendor'),
    runtime: read('runtime'),
    config_table: read('config_table'),
    runtimeMap: entries.map((n) => {
      const f = (k: string) => read(`runtime-map/${n}/${k}`);
      return { type: f('type'), phys_addr: f('phys_addr'), virt_addr: f('virt_addr'), num_pages: f('num_pages'), attribute: f('attribute') };
    }),
  };
  return parseEfiFacts(files, root);
}

// Files kexec-ts needs in a guest beyond what the harness's bundle carries.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO, type FileSpec } from './harness/initramfs.ts';

/** koffi 3 keeps its prebuilt binary in an optional package; ship the linux x64 one with the bundle. */
export function koffiBinaryFiles(): Record<string, FileSpec> {
  const pkg = join(REPO, 'node_modules', '@koromix', 'koffi-linux-x64');
  const out: Record<string, FileSpec> = {};
  if (!existsSync(pkg)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (!e.startsWith('musl')) walk(p);
      } else out[`opt/kexec-ts/node_modules/@koromix/koffi-linux-x64/${relative(pkg, p)}`] = { host: p };
    }
  };
  walk(pkg);
  return out;
}


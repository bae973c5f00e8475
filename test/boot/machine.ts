// An in-memory machine for src/boot/ tests: files by absolute path ('@link:TARGET' makes a symbolic link).
import type { BootMachine, Mount } from '../../src/boot/model.ts';

export function memMachine(files: Record<string, string | Uint8Array>, opts: Partial<Omit<BootMachine, 'files'>> = {}): BootMachine {
  const enc = new TextEncoder();
  const isLink = (p: string) => typeof files[p] === 'string' && (files[p] as string).startsWith('@link:');
  const resolve = (p: string): string => {
    for (let n = 0; n < 8 && isLink(p); n++) {
      const t = (files[p] as string).slice(6);
      p = t.startsWith('/') ? t : p.slice(0, p.lastIndexOf('/') + 1) + t;
      p = p.replace(/\/[^/]+\/\.\.\//g, '/');
    }
    return p;
  };
  const mounts: Mount[] = opts.mounts ?? [{ mountpoint: '/', from: 'test' }];
  return {
    files: {
      read: (p) => {
        const v = files[resolve(p)];
        return v === undefined ? undefined : typeof v === 'string' ? enc.encode(v) : v;
      },
      list: (p) => {
        const dir = p.replace(/\/$/, '') + '/';
        const names = new Set(Object.keys(files).filter((f) => f.startsWith(dir)).map((f) => f.slice(dir.length).split('/')[0]!));
        return names.size ? [...names] : undefined;
      },
      isFile: (p) => files[resolve(p)] !== undefined,
      readlink: (p) => (isLink(p) ? (files[p] as string).slice(6) : undefined),
    },
    mounts,
    arch: 'x64',
    platform: 'efi',
    efiVariables: {},
    ...opts,
  };
}

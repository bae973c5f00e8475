// Every kexec loader, in the order `probe` is tried (kexec-tools' order on x86: ELF before bzImage).
// `-t/--type NAME` picks one by name. The formats are distinct, so probing across architectures is
// safe; whether a plan may be loaded on this machine is the CLI's check (hostArch).
import { KexecError, ParseError } from '../errors.ts';
import { arm64ImageLoader } from './arch/arm64/image.ts';
import { ia64ElfLoader } from './arch/ia64/elf-ia64.ts';
import { bzImage64Loader } from './arch/x86_64/bzimage64.ts';
import { elfX86_64Loader } from './arch/x86_64/elf-x86_64.ts';
import type { KexecArch, KexecLoader } from './plan.ts';

export const LOADERS: KexecLoader[] = [elfX86_64Loader, bzImage64Loader, arm64ImageLoader, ia64ElfLoader];

/** The loader for this image: by name (-t) or the first whose probe accepts it. */
export function pickLoader(image: Uint8Array, opts: { type?: string; arch?: KexecArch; source: string }): KexecLoader {
  const pool = LOADERS.filter((l) => !opts.arch || l.arch === opts.arch);
  if (opts.type) {
    const l = LOADERS.find((x) => x.name === opts.type);
    if (!l) throw new KexecError(`unknown kernel type ${opts.type}`, { hint: `known types: ${LOADERS.map((x) => x.name).join(', ')}` });
    if (!l.probe(image)) throw new ParseError(`not a ${l.name} image`, { source: opts.source });
    return l;
  }
  const l = pool.find((x) => x.probe(image));
  if (!l) {
    throw new ParseError('cannot determine the file type: not a kernel image kexec-ts can load', {
      source: opts.source,
      offset: 0,
      hint: `supported${opts.arch ? ` on ${opts.arch}` : ''}: ${pool.map((x) => `${x.name} (${x.arch})`).join(', ')}`,
    });
  }
  return l;
}

/** The kexec architecture of this machine, undefined where kexec-ts cannot load. */
export function hostArch(nodeArch: string = process.arch): KexecArch | undefined {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'arm64' : undefined;
}

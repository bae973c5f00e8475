// Every kexec loader, in the order `probe` is tried (kexec-tools' order on x86: ELF before bzImage).
// `-t/--type NAME` picks one by name. The formats are distinct, so probing across architectures is
// safe; whether a plan may be loaded on this machine is the CLI's check (hostArch). Each loader's
// module is imported only when it is probed: a bzImage on x86_64 never evaluates the arm64 or IA-64
// code (nor fflate, which the arm64 Image loader needs) — start-up under emulation is most of a load.
import { KexecError, ParseError } from '../errors.ts';
import type { KexecArch, KexecLoader } from './plan.ts';

/** The options only some loaders take (each fills the LoadRequest field of the same meaning). */
export type LoaderOptionName = 'dtb' | 'efi-memmap';

/** An option a loader declares with its usage line, as kexec-tools' file_type has its own usage(). */
export interface LoaderOption {
  name: LoaderOptionName;
  /** What follows '=' in the help. */
  value: string;
  help: string;
}

interface LoaderEntry {
  name: string;
  arch: KexecArch;
  options?: readonly LoaderOption[];
  load: () => Promise<KexecLoader>;
}

export const LOADERS: readonly LoaderEntry[] = [
  { name: 'elf-x86_64', arch: 'x86_64', load: async () => (await import('./arch/x86_64/elf-x86_64.ts')).elfX86_64Loader },
  { name: 'bzImage64', arch: 'x86_64', load: async () => (await import('./arch/x86_64/bzimage64.ts')).bzImage64Loader },
  {
    name: 'Image',
    arch: 'arm64',
    options: [{ name: 'dtb', value: 'FILE', help: 'device tree (arm64)' }],
    load: async () => (await import('./arch/arm64/image.ts')).arm64ImageLoader,
  },
  {
    name: 'elf-ia64',
    arch: 'ia64',
    options: [{ name: 'efi-memmap', value: 'FILE', help: "IA-64: the machine's EFI memory map (text), to show it as the purgatory patches it" }],
    load: async () => (await import('./arch/ia64/elf-ia64.ts')).ia64ElfLoader,
  },
];

/** Every loader's own options, in loader order (the CLI's option table and help are built from them). */
export const LOADER_OPTIONS: readonly LoaderOption[] = LOADERS.flatMap((l) => l.options ?? []);

/** Their help lines, in the layout of kexec-ts's help. */
export function loaderOptionsUsage(): string {
  return LOADER_OPTIONS.map((o) => `      ${`--${o.name}=${o.value}`.padEnd(20)} ${o.help}`).join('\n');
}

/** Whether the loader named `name` declares option `option`. */
export function loaderTakes(name: string, option: LoaderOptionName): boolean {
  return !!LOADERS.find((l) => l.name === name)?.options?.some((o) => o.name === option);
}

/** The loader for this image: by name (-t) or the first whose probe accepts it. */
export async function pickLoader(image: Uint8Array, opts: { type?: string; arch?: KexecArch; source: string }): Promise<KexecLoader> {
  const pool = LOADERS.filter((l) => !opts.arch || l.arch === opts.arch);
  if (opts.type) {
    const e = LOADERS.find((x) => x.name === opts.type);
    if (!e) throw new KexecError(`unknown kernel type ${opts.type}`, { hint: `known types: ${LOADERS.map((x) => x.name).join(', ')}` });
    const l = await e.load();
    if (!l.probe(image)) throw new ParseError(`not a ${l.name} image`, { source: opts.source });
    return l;
  }
  for (const e of pool) {
    const l = await e.load();
    if (l.probe(image)) return l;
  }
  throw new ParseError('cannot determine the file type: not a kernel image kexec-ts can load', {
    source: opts.source,
    offset: 0,
    hint: `supported${opts.arch ? ` on ${opts.arch}` : ''}: ${pool.map((x) => `${x.name} (${x.arch})`).join(', ')}`,
  });
}

/** The kexec architecture of this machine, undefined where kexec-ts cannot load. */
export function hostArch(nodeArch: string = process.arch): KexecArch | undefined {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'arm64' : undefined;
}

// Debian's own arm64 kexec-tools and makedumpfile for the arm64 guests (issue 15: the reference
// dump made in the guest). The packages are sid's (kexec-tools 2.0.32, makedumpfile 1.7.8: the
// newest, as the sid root's x86_64 tools), downloaded through the private apt view of sid/arm64
// (downloadSuiteDebs, cached) and unpacked one directory per package.
//
// Their shared libraries are resolved as the arm64 ld.so would: DT_NEEDED (src/initramfs/elf-deps.ts)
// recursively from `kexec` and `makedumpfile`, each soname looked up first in the guest's own
// userland (trixie's Node.js tree: libc6, zlib1g, libzstd1 ... are already there; sid's packages
// ask for libc6 >= 2.38, trixie has 2.41) and then in the unpacked packages. Which packages to
// fetch comes from their Depends, followed recursively over libraries only (not debconf, dpkg or
// perl): kexec-tools -> libxenmisc4.20 -> libxenctrl's chain (libxencall1, libxenevtchn1,
// libxenforeignmemory1, libxengnttab1, libxendevicemodel1, libxentoollog1, libxenstore4,
// libxenhypfs1, libyajl2, libfdt1, libext2fs2t64 ...). Those are ordinary shared objects: the
// hypervisor is only consulted when kexec is asked to load under Xen (/proc/xen), which a plain
// arm64 guest is not. Every library not in the userland goes to /usr/lib/aarch64-linux-gnu (where
// /lib/aarch64-linux-gnu points), named by its soname; a soname found nowhere fails here, naming
// it and the object that needs it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readElfDeps } from '../../src/initramfs/elf-deps.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { cacheDir } from './cache.ts';
import { downloadSuiteDebs, suiteDependsClosure } from './kernels.ts';
import { E2EStepError, run } from './steps.ts';

/** The suite the reference tools come from. */
export const REF_TOOLS_SUITE = 'sid';
export const REF_TOOLS_ROOTS = ['kexec-tools', 'makedumpfile'];

export interface RefLibrary {
  soname: string;
  /** the host file (the package's, or the userland's) */
  path: string;
  /** 'userland' (already in the guest) or the Debian package it comes from */
  from: string;
}

export interface Arm64RefTools {
  suite: string;
  /** the .deb file names unpacked (name_version_arm64.deb) */
  debs: string[];
  kexec: string;
  makedumpfile: string;
  /** every library the two load, in resolution order */
  libraries: RefLibrary[];
  /** kexec-tools' and makedumpfile's Debian versions */
  versions: { kexecTools: string; makedumpfile: string };
}

const LIB_DIRS = ['usr/lib/aarch64-linux-gnu', 'lib/aarch64-linux-gnu', 'usr/lib', 'lib'];

/** Library packages are followed (lib*, zlib1g); the userland's packages are not (the guest has them). */
const followFor = (userlandPackages: readonly string[]) => (name: string) => /^(lib|zlib1g$)/.test(name) && !userlandPackages.includes(name);

/** A package's Debian version from its .deb file name (apt-get download's NAME_VERSION_ARCH.deb, ':' as %3a). */
const debVersion = (deb: string) => decodeURIComponent(basename(deb).split('_')[1] ?? '?');

/**
 * The shared objects `executables` load, recursively, each soname looked up in `roots` in order
 * (the first root that has it wins); the interpreter (PT_INTERP) must be in the first root.
 */
export function resolveNeeded(executables: readonly string[], roots: readonly { dir: string; from: string }[]): RefLibrary[] {
  const out: RefLibrary[] = [];
  const seen = new Set<string>();
  const find = (soname: string): RefLibrary | undefined => {
    for (const r of roots) {
      for (const d of LIB_DIRS) {
        const p = join(r.dir, d, soname);
        if (existsSync(p)) return { soname, path: p, from: r.from };
      }
    }
    return undefined;
  };
  const queue: { file: string; by: string }[] = executables.map((file) => ({ file, by: basename(file) }));
  while (queue.length) {
    const { file, by } = queue.shift()!;
    const src = new FileSource(file);
    let deps;
    try {
      deps = readElfDeps(src);
    } finally {
      src.close();
    }
    if (deps.interpreter && !existsSync(join(roots[0]!.dir, deps.interpreter)) && !find(basename(deps.interpreter))) {
      throw new E2EStepError('initramfs', `${by}: its interpreter ${deps.interpreter} is in no root`);
    }
    for (const soname of deps.needed) {
      if (seen.has(soname)) continue;
      seen.add(soname);
      const lib = find(soname);
      if (!lib) throw new E2EStepError('initramfs', `${soname} (needed by ${by}) is in neither the guest's userland nor the unpacked packages`, roots.map((r) => `${r.from}: ${r.dir}`).join('\n'));
      out.push(lib);
      queue.push({ file: lib.path, by: soname });
    }
  }
  return out;
}

/**
 * sid's arm64 kexec-tools and makedumpfile with the libraries the guest's userland lacks, resolved
 * against `userland` (the unpacked tree the initramfs is made of; `userlandPackages` its packages).
 */
export async function arm64ReferenceTools(userland: string, userlandPackages: readonly string[], log: (s: string) => void = () => {}, suite = REF_TOOLS_SUITE): Promise<Arm64RefTools> {
  const packages = await suiteDependsClosure(suite, REF_TOOLS_ROOTS, followFor(userlandPackages), log, 'arm64');
  log(`reference tools (${suite}/arm64): ${packages.join(' ')}`);
  const debs = await downloadSuiteDebs(suite, packages, log, 'arm64');
  const base = cacheDir('initramfs', `arm64-reftools-${suite}`);
  const trees: { dir: string; from: string }[] = [];
  for (const [i, deb] of debs.entries()) {
    const dir = join(base, basename(deb, '.deb'));
    if (!existsSync(dir)) {
      const tmp = `${dir}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      await run('unpack', 'dpkg-deb', ['-x', deb, tmp], { timeoutMs: 120_000 });
      renameSync(tmp, dir);
    }
    trees.push({ dir, from: packages[i]! });
  }
  const exe = (pkg: string, name: string) => {
    const t = trees.find((x) => x.from === pkg)!;
    const p = ['usr/sbin', 'sbin', 'usr/bin'].map((d) => join(t.dir, d, name)).find((f) => existsSync(f));
    if (!p) throw new E2EStepError('initramfs', `package ${pkg} has no ${name}`, readdirSync(t.dir).join(' '));
    return p;
  };
  const kexec = exe('kexec-tools', 'kexec');
  const makedumpfile = exe('makedumpfile', 'makedumpfile');
  const libraries = resolveNeeded([kexec, makedumpfile], [{ dir: userland, from: 'userland' }, ...trees]);
  const versionOf = (pkg: string) => debVersion(debs[packages.indexOf(pkg)]!);
  return { suite, debs: debs.map((d) => basename(d)), kexec, makedumpfile, libraries, versions: { kexecTools: versionOf('kexec-tools'), makedumpfile: versionOf('makedumpfile') } };
}

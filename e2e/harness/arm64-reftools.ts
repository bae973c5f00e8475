// Debian's own arm64 kexec-tools and makedumpfile for the arm64 guests (issue 15: the reference
// dump made in the guest), downloaded through the private apt view of SUITE/arm64
// (downloadSuiteDebs, cached) and unpacked one directory per package:
// - kexec-tools: the guest kernel's own suite (bookworm: 2.0.25, the version the recorded
//   fixtures/arm64 oracle came from). Not sid's 2.0.32: on Debian's bookworm 6.1 arm64 kernel
//   (no KALLSYMS_ALL, so no _text in /proc/kallsyms) it prints "Cannot get kernel _text symbol
//   address", takes the randomized linear-map PHYS_OFFSET from VMCOREINFO and writes a "Kernel text"
//   PT_LOAD with p_vaddr 0xffffffffffffffff and p_filesz 0xffff…: the capture kernel's /proc/vmcore
//   then claims 16 EiB, makedumpfile stops ("Can't seek the dump memory") and vmcore-ts save
//   refuses program header 1 ("p_filesz … is too large"). Seen in this harness on 6 Dec 2026.
// - makedumpfile: sid's 1.7.8 (the newest, as the host's arm64 oracle in arm64-oracles.ts).
//
// Their shared libraries are resolved as the arm64 ld.so would: DT_NEEDED (src/initramfs/elf-deps.ts)
// recursively from `kexec` and `makedumpfile`, each soname looked up first in the guest's own
// userland (trixie's Node.js tree: libc6, zlib1g, libzstd1 ... are already there; the tools' packages
// ask for libc6 >= 2.34 / 2.38, trixie has 2.41) and then in the tool's unpacked packages. Which
// packages to fetch comes from their Depends, followed recursively over libraries only (not
// debconf, dpkg or perl): kexec-tools -> libxenmisc4.17 (bookworm; 4.20 in sid) -> libxenctrl's
// chain (libxencall1, libxenevtchn1, libxenforeignmemory1, libxengnttab1, libxendevicemodel1,
// libxentoollog1, libxentoolcore1, libxenstore4, libyajl2, libfdt1, libext2fs2 ...). Those are
// ordinary shared objects: the hypervisor is only consulted when kexec is asked to load under Xen
// (/proc/xen), which a plain arm64 guest is not. Every library not in the userland goes to
// /usr/lib/aarch64-linux-gnu (where /lib/aarch64-linux-gnu points), named by its soname; a soname
// found nowhere fails here, naming it and the object that needs it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readElfDeps } from '../../src/initramfs/elf-deps.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { cacheDir } from './cache.ts';
import { downloadSuiteDebs, suiteDependsClosure } from './kernels.ts';
import { E2EStepError, run } from './steps.ts';

/** makedumpfile: sid's (1.7.8, the newest, as the host's arm64 oracle in arm64-oracles.ts). */
export const REF_MAKEDUMPFILE_SUITE = 'sid';

export interface RefLibrary {
  soname: string;
  /** the host file (the package's, or the userland's) */
  path: string;
  /** 'userland' (already in the guest) or the Debian package it comes from */
  from: string;
}

export interface Arm64RefTools {
  suites: RefToolSuites;
  /** the .deb file names unpacked (name_version_arm64.deb) */
  debs: string[];
  kexec: string;
  makedumpfile: string;
  /** every library the two load, in resolution order */
  libraries: RefLibrary[];
  /** kexec-tools' and makedumpfile's Debian versions */
  versions: { kexecTools: string; makedumpfile: string };
}

/** Where the arm64 ld.so looks (Debian multiarch first), relative to a root. */
export const ARM64_LIB_DIRS = ['usr/lib/aarch64-linux-gnu', 'lib/aarch64-linux-gnu', 'usr/lib', 'lib'];

/** Library packages are followed (lib*, zlib1g); the userland's packages are not (the guest has them). */
const followFor = (userlandPackages: readonly string[]) => (name: string) => /^(lib|zlib1g$)/.test(name) && !userlandPackages.includes(name);

/** A package's Debian version from its .deb file name (apt-get download's NAME_VERSION_ARCH.deb, ':' as %3a). */
const debVersion = (deb: string) => decodeURIComponent(basename(deb).split('_')[1] ?? '?');

/**
 * The shared objects `executables` load, recursively, each soname looked up in `roots` in order
 * (the first root that has it wins) under `libDirs`; the interpreter (PT_INTERP) must be in the first root or found as a library.
 */
export function resolveNeeded(executables: readonly string[], roots: readonly { dir: string; from: string }[], libDirs: readonly string[] = ARM64_LIB_DIRS): RefLibrary[] {
  const out: RefLibrary[] = [];
  const seen = new Set<string>();
  const find = (soname: string): RefLibrary | undefined => {
    for (const r of roots) {
      for (const d of libDirs) {
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

/** Which suite each tool comes from (kexec-tools: the guest kernel's own, makedumpfile: REF_MAKEDUMPFILE_SUITE; see the top). */
export interface RefToolSuites {
  kexecTools: string;
  makedumpfile: string;
}

/** One tool's package with its library packages (Depends, libraries only, recursively), unpacked one directory per package. */
async function toolTrees(suite: string, root: string, userlandPackages: readonly string[], log: (s: string) => void): Promise<{ trees: { dir: string; from: string }[]; version: string; debs: string[] }> {
  const packages = await suiteDependsClosure(suite, [root], followFor(userlandPackages), log, 'arm64');
  log(`${root} (${suite}/arm64) and its library packages: ${packages.join(' ')}`);
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
    trees.push({ dir, from: `${packages[i]!} (${suite})` });
  }
  return { trees, version: debVersion(debs[0]!), debs: debs.map((d) => basename(d)) };
}

/**
 * Debian's arm64 kexec-tools and makedumpfile (each from its suite) with the libraries the guest's
 * userland lacks, resolved against `userland` (the unpacked tree the initramfs is made of;
 * `userlandPackages` its packages). A soname two tools take from different packages is an error.
 */
export async function arm64ReferenceTools(userland: string, userlandPackages: readonly string[], suites: RefToolSuites, log: (s: string) => void = () => {}): Promise<Arm64RefTools> {
  const k = await toolTrees(suites.kexecTools, 'kexec-tools', userlandPackages, log);
  const m = await toolTrees(suites.makedumpfile, 'makedumpfile', userlandPackages, log);
  const exe = (t: { dir: string; from: string }, name: string) => {
    const p = ['usr/sbin', 'sbin', 'usr/bin'].map((d) => join(t.dir, d, name)).find((f) => existsSync(f));
    if (!p) throw new E2EStepError('initramfs', `${t.from} has no ${name}`, readdirSync(t.dir).join(' '));
    return p;
  };
  const kexec = exe(k.trees[0]!, 'kexec');
  const makedumpfile = exe(m.trees[0]!, 'makedumpfile');
  const userlandRoot = { dir: userland, from: 'userland' };
  const libraries: RefLibrary[] = [];
  for (const lib of [...resolveNeeded([kexec], [userlandRoot, ...k.trees]), ...resolveNeeded([makedumpfile], [userlandRoot, ...m.trees])]) {
    const have = libraries.find((l) => l.soname === lib.soname);
    if (!have) libraries.push(lib);
    else if (have.from !== lib.from && have.from !== 'userland') throw new E2EStepError('initramfs', `${lib.soname}: kexec-tools takes it from ${have.from}, makedumpfile from ${lib.from}`);
  }
  return {
    suites,
    debs: [...k.debs, ...m.debs],
    kexec,
    makedumpfile,
    libraries,
    versions: { kexecTools: k.version, makedumpfile: m.version },
  };
}

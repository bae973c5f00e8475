// The Node.js edge of the initramfs builder: copies host files, executables with their shared
// libraries (from `ldd`), kernel modules (decompressed) into a CpioArchive, and writes it compressed.
import { execFileSync } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { OutputFile } from '../host/output-file.ts';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip, gunzipSync } from 'node:zlib';
import { KexecError } from '../errors.ts';
import { CpioArchive } from '../initramfs/cpio.ts';
import { parseLddOutput, readElfDeps } from '../initramfs/elf-deps.ts';
import { firmwareSearchPaths, moduleFirmware, readModinfo, modinfoDepends } from '../initramfs/modinfo.ts';
import { moduleName, parseModulesDep, resolveModules, resolveModulesByModinfo } from '../initramfs/modules.ts';
import { BufferSource } from '../io/source.ts';
import { FileSource } from '../host/file-source.ts';

/** Adds a host file (symlinks followed) at `as` (default: the same path), keeping its exec bit. */
export function addHostFile(a: CpioArchive, hostPath: string, as = hostPath, mode?: number): void {
  const st = statSync(hostPath);
  a.file(as, readFileSync(hostPath), mode ?? (st.mode & 0o111 ? 0o755 : 0o644));
}

/** The shared libraries (and interpreter) a dynamic executable loads, as host paths, from ldd. */
export function sharedLibraries(hostPath: string): string[] {
  const src = new FileSource(hostPath);
  let deps;
  try {
    deps = readElfDeps(src);
  } finally {
    src.close();
  }
  if (!deps.interpreter && deps.needed.length === 0) return []; // static
  const out = execFileSync('ldd', [hostPath], { encoding: 'utf8' });
  return [...parseLddOutput(out).values()];
}

/** Adds an executable and every library it loads, at their host paths (or the binary at `as`). */
export function addExecutable(a: CpioArchive, hostPath: string, as = hostPath): void {
  addHostFile(a, hostPath, as, 0o755);
  for (const lib of sharedLibraries(hostPath)) if (!a.has(lib)) addHostFile(a, lib, lib, 0o755);
}

/**
 * Adds the named modules of a kernel (and what they depend on), decompressed, under
 * lib/modules/RELEASE/, and returns their archive paths in load order. Uses modules.dep when the
 * directory has one, else each module's .modinfo "depends=" (a package unpacked without depmod).
 */
export function addKernelModules(a: CpioArchive, modulesDir: string, release: string, names: readonly string[]): string[] {
  const read = (f: string) => {
    try {
      return readFileSync(join(modulesDir, f), 'utf8');
    } catch {
      return '';
    }
  };
  const dep = read('modules.dep');
  const builtinText = read('modules.builtin');
  const plain = new Map<string, Uint8Array>(); // rel path -> decompressed module
  const load = (rel: string) => {
    let b = plain.get(rel);
    if (!b) plain.set(rel, (b = decompressFile(join(modulesDir, rel))));
    return b;
  };
  let order: string[];
  if (dep) order = resolveModules(parseModulesDep(dep, builtinText), names);
  else {
    const byName = new Map<string, string>();
    for (const rel of listFiles(modulesDir, 'kernel')) if (/\.ko(\.(xz|zst|gz))?$/.test(rel)) byName.set(moduleName(rel), rel);
    // Without modules.builtin (sid's split packages ship none), a module with no file is taken
    // as built in; the guest's insmod of what depends on it would tell otherwise.
    const builtin = parseModulesDep('', builtinText).builtin;
    const isBuiltin = (n: string) => !builtinText || builtin.has(n);
    const dependsOf = (rel: string) => modinfoDepends(readModinfo(new BufferSource(load(rel), rel)));
    order = resolveModulesByModinfo(names, (n) => byName.get(n), dependsOf, isBuiltin);
  }
  return order.map((rel) => {
    const dest = `lib/modules/${release}/${rel.replace(/\.(xz|zst|gz)$/, '')}`;
    a.file(dest, load(rel));
    return dest;
  });
}

/** Where the kernel RELEASE would load firmware NAME from on the machine at `root` (relative to it), or undefined. */
export function findFirmware(root: string, name: string, release: string): string | undefined {
  return firmwareSearchPaths(name, release).find((p) => {
    try {
      return statSync(join(root, p)).isFile();
    } catch {
      return false;
    }
  });
}

export interface ModuleFirmware {
  /** Archive paths of the firmware files added (as found: compressed ones stay compressed). */
  carried: string[];
  /** Firmware names declared but not on the host (many drivers declare optional firmware). */
  missing: string[];
}

/**
 * Adds the firmware the archive's `modules` (archive paths of decompressed .ko files) declare in
 * their modinfo, from `root`'s firmware directories, at the same paths (where the capture kernel looks).
 */
export function addModuleFirmware(a: CpioArchive, modules: readonly string[], root: string, release: string): ModuleFirmware {
  const out: ModuleFirmware = { carried: [], missing: [] };
  for (const m of modules) {
    const e = a.get(m);
    if (e?.type !== 'file') continue;
    for (const name of moduleFirmware(e.data, m)) {
      const p = findFirmware(root, name, release);
      if (!p) {
        if (!out.missing.includes(name)) out.missing.push(name);
      } else if (!a.has(p)) {
        addHostFile(a, join(root, p), p, 0o644);
        out.carried.push(p);
      }
    }
  }
  return out;
}

/** Paths (relative to `root`) of the files under root/sub. */
function listFiles(root: string, sub: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk(sub);
  return out;
}

/** A file's contents, decompressed by its extension (.xz, .zst with the CLI tools; .gz with zlib). */
export function decompressFile(path: string): Uint8Array {
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) return readFileSync(path);
  return decompressWith(tool, path);
}

/** `xz -dc` / `zstd -dc` of a file (path) or of bytes; a missing tool is a KexecError naming its Debian package. */
export function decompressWith(tool: 'xz' | 'zstd', what: string, data?: Uint8Array): Buffer {
  try {
    return data ? execFileSync(tool, ['-dc'], { input: data, maxBuffer: 2 ** 31 }) : execFileSync(tool, ['-dc', what], { maxBuffer: 1 << 30 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new KexecError(`${what} is ${tool}-compressed and the ${tool} program is not installed`, { hint: `install it: apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}` });
  }
}

/**
 * Writes archive chunks to `outPath`, gzip-compressed unless `gzipLevel` is 0 (level 1 is fast):
 * under a temporary name beside it, renamed over it at the end, so a writer killed half-way never
 * leaves a truncated image where the loader will take it.
 */
export async function writeArchive(chunks: Uint8Array[], outPath: string, gzipLevel = 1): Promise<number> {
  const file = OutputFile.create(outPath, { force: true });
  try {
    const src = Readable.from(chunks);
    const dst = createWriteStream('', { fd: file.fd, autoClose: false });
    if (gzipLevel === 0) await pipeline(src, dst);
    else await pipeline(src, createGzip({ level: gzipLevel }), dst);
  } catch (e) {
    file.discard();
    throw e;
  }
  const size = file.size();
  file.commit();
  return size;
}

// The scenario initramfs: three gzip'd cpio archives concatenated (the kernel unpacks them in turn):
//   1. base     — busybox, the reference tools (kexec, makedumpfile) and, unless slim, Node.js, each
//                 with the libraries ldd lists. Cached: it depends only on host binaries.
//   2. kernel   — that kernel's virtio modules (decompressed) and the kernel image at /boot/vmlinuz.
//                 Cached per kernel.
//   3. scenario — /init, /e2e/lib.sh, the stage scripts, our bundle (dist/ + bin/), extra files.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { addExecutable, addHostFile, addKernelModules, writeArchive } from '../../src/host/initramfs-collect.ts';
import { cacheDir } from './cache.ts';
import type { Kernel } from './kernels.ts';
import { E2EStepError } from './steps.ts';
import { INIT_SCRIPT, LIB_SCRIPT } from './guest-scripts.ts';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** Reference tools copied into every initramfs (with their libraries) when the host has them. */
export const REFERENCE_TOOLS = ['/usr/sbin/kexec', '/usr/bin/makedumpfile'];
/** Modules to load for the scratch disk; their dependencies are resolved from the kernel. */
export const DISK_MODULES = ['virtio_pci', 'virtio_blk'];
/** npm packages our bundle loads at run time (esbuild externals), copied from node_modules. */
const RUNTIME_PACKAGES = ['koffi'];

const BUSYBOX = '/bin/busybox';

function fileKey(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    const st = statSync(p);
    h.update(`${p}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

async function cached(name: string, build: () => CpioArchive): Promise<string> {
  const out = join(cacheDir('initramfs'), name);
  if (existsSync(out)) return out;
  const tmp = `${out}.tmp-${process.pid}`;
  await writeArchive(build().encode(), tmp);
  renameSync(tmp, out);
  return out;
}

/** busybox + reference tools (+ node unless slim). */
export async function baseArchive(opts: { node: boolean }): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new E2EStepError('initramfs', `${BUSYBOX} is missing`, 'install busybox-static');
  const tools = REFERENCE_TOOLS.filter((t) => existsSync(t));
  const inputs = [BUSYBOX, ...tools, ...(opts.node ? [process.execPath] : [])];
  return cached(`base-${opts.node ? 'node' : 'slim'}-${fileKey(inputs)}.cpio.gz`, () => {
    const a = new CpioArchive();
    for (const d of ['dev', 'proc', 'sys', 'tmp', 'run', 'scratch', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'etc']) a.dir(d);
    a.add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1 });
    a.add({ type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
    addHostFile(a, BUSYBOX, 'bin/busybox', 0o755);
    a.symlink('bin/sh', 'busybox');
    for (const t of tools) addExecutable(a, t);
    if (opts.node) addExecutable(a, process.execPath, '/usr/bin/node');
    a.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
    return a;
  });
}

/** The kernel's disk modules (decompressed) and its image; /e2e/modules lists the load order. */
export async function kernelArchive(k: Kernel): Promise<string> {
  return cached(`kernel-${k.suite}-${k.version}-${DISK_MODULES.join('+')}.cpio.gz`, () => {
    const a = new CpioArchive();
    const order = addKernelModules(a, k.modulesDir, k.release, DISK_MODULES);
    a.file('e2e/modules', order.map((p) => '/' + p).join('\n') + '\n');
    addHostFile(a, k.vmlinuz, 'boot/vmlinuz', 0o644);
    return a;
  });
}

export type FileSpec = string | Uint8Array | { host: string; mode?: number };

function addSpec(a: CpioArchive, path: string, spec: FileSpec): void {
  if (typeof spec === 'string' || spec instanceof Uint8Array) a.file(path, spec, path.endsWith('.sh') ? 0o755 : 0o644);
  else addHostFile(a, spec.host, path, spec.mode);
}

/** Our build: dist/ (no source maps), bin/, package.json, runtime packages, /usr/local/bin wrappers. */
function addBundle(a: CpioArchive): void {
  const dist = join(REPO, 'dist');
  if (!existsSync(dist)) throw new E2EStepError('initramfs', 'dist/ is missing', 'run: node scripts/build.mjs');
  const root = 'opt/kexec-ts';
  // the CLI bundles, workers and purgatory objects; not source maps nor the browser viewer (dist/web)
  for (const e of readdirSync(dist, { withFileTypes: true })) {
    if (e.isFile() && !e.name.endsWith('.map')) addHostFile(a, join(dist, e.name), `${root}/dist/${e.name}`);
  }
  for (const f of readdirSync(join(REPO, 'bin'))) addHostFile(a, join(REPO, 'bin', f), `${root}/bin/${f}`, 0o755);
  addHostFile(a, join(REPO, 'package.json'), `${root}/package.json`);
  for (const pkg of RUNTIME_PACKAGES) {
    const dir = join(REPO, 'node_modules', pkg);
    if (!existsSync(dir)) continue;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        const rel = relative(dir, p);
        // prebuilt binaries of other platforms are most of such a package: keep linux x64 only
        if (e.isDirectory() && /(^|\/)(darwin|win32|freebsd|openbsd|musl|linux_(?!x64)|linux-(?!x64))/.test(e.name)) continue;
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) addHostFile(a, p, `${root}/node_modules/${pkg}/${rel}`);
      }
    };
    walk(dir);
  }
  for (const cmd of ['kexec-ts', 'kdump-ts', 'vmcore-ts']) {
    a.file(`usr/local/bin/${cmd}`, `#!/bin/sh\nexec /usr/bin/node /${root}/bin/${cmd}.mjs "$@"\n`, 0o755);
  }
}

export interface ScenarioInitramfsOptions {
  stages: Record<string, string>;
  files?: Record<string, FileSpec>;
  /** kernel command line the guest's stage_cmdline helper starts from */
  baseCmdline: string;
  node: boolean;
}

/** Writes the scenario's initramfs (base + kernel + scenario parts) to `out`. */
export async function buildInitramfs(k: Kernel, out: string, o: ScenarioInitramfsOptions): Promise<number> {
  let parts: string[];
  try {
    parts = [await baseArchive({ node: o.node }), await kernelArchive(k)];
    const a = new CpioArchive();
    a.file('init', INIT_SCRIPT, 0o755);
    a.file('e2e/lib.sh', LIB_SCRIPT, 0o644);
    a.file('e2e/base-cmdline', o.baseCmdline + '\n');
    for (const [name, body] of Object.entries(o.stages)) {
      if (!/^[a-z0-9_-]+$/.test(name)) throw new E2EStepError('initramfs', `bad stage name '${name}'`);
      a.file(`e2e/stage-${name}.sh`, body, 0o755);
    }
    if (o.node) addBundle(a);
    for (const [p, spec] of Object.entries(o.files ?? {})) addSpec(a, p, spec);
    const scenarioPart = `${out}.scenario`;
    await writeArchive(a.encode(), scenarioPart);
    parts.push(scenarioPart);
  } catch (e) {
    if (e instanceof E2EStepError) throw e;
    throw new E2EStepError('initramfs', (e as Error).message);
  }
  writeFileSync(out, Buffer.concat(parts.map((p) => readFileSync(p))));
  rmSync(parts.at(-1)!);
  return statSync(out).size;
}

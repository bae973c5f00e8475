// Debian cloud kernels for a suite, fetched as .deb files through a private apt view (our own
// sources.list, lists and archives under the cache; the system's apt state is not touched),
// unpacked with dpkg-deb -x and cached. Versions are resolved at run time from the suite's
// `linux-image-cloud-amd64` meta package: bookworm and older depend on one `linux-image-VERSION`
// package (boot/vmlinuz-*, lib/modules/*); newer suites split it into `linux-binary-*`
// (usr/lib/modules/V/vmlinuz) and `linux-modules-*` (.ko.xz).
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { cacheDir } from './cache.ts';
import { E2EStepError, run } from './steps.ts';

export const SUITES = ['bullseye', 'bookworm', 'trixie', 'sid'] as const;
export const META_PACKAGE = 'linux-image-cloud-amd64';
/** Debian architectures the harness fetches kernels for (arm64: issue 15, booted by qemu-system-aarch64). */
export type DebArch = 'amd64' | 'arm64';
/** The cloud kernel meta package of a Debian architecture. */
export const metaPackage = (arch: DebArch): string => `linux-image-cloud-${arch}`;
/** The cache key of a suite's view for an architecture: SUITE for amd64 (as before), SUITE-ARCH otherwise. */
const viewKey = (suite: string, arch: DebArch): string => (arch === 'amd64' ? suite : `${suite}-${arch}`);
/** The Debian architecture a kernel release is built for (uname -r ends in -amd64 / -arm64). */
export const releaseArch = (release: string): DebArch => (/-arm64$/.test(release) ? 'arm64' : 'amd64');

export interface Kernel {
  suite: string;
  /** the Debian package version of the meta package, e.g. 6.1.176-1 */
  version: string;
  /** uname -r, e.g. 6.1.0-50-cloud-amd64 */
  release: string;
  vmlinuz: string;
  /** lib/modules/RELEASE (holds kernel/, modules.builtin; no modules.dep: depmod is not run) */
  modulesDir: string;
  /** boot/config-* when the package has one */
  config: string | undefined;
  packages: string[];
}

/** The Debian mirror the machine already uses (from /etc/apt/sources.list*), else deb.debian.org. */
export function hostDebianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
    }
  } catch {
    /* no directory */
  }
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)/gm)) {
      const uri = m[1]!.replace(/\/+$/, '');
      if (/^https?:\/\//.test(uri) && /\/debian$/.test(uri)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

/** apt-get/apt-cache options for a private view of one suite (and architecture: amd64 unless named). */
function aptView(suite: string, arch: DebArch = 'amd64'): { dir: string; opts: string[] } {
  const dir = cacheDir('apt', viewKey(suite, arch));
  for (const d of ['lists/partial', 'archives/partial', 'cache']) mkdirSync(join(dir, d), { recursive: true });
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const attrs = [...(arch === 'amd64' ? [] : [`arch=${arch}`]), ...(existsSync(keyring) ? [`signed-by=${keyring}`] : [])];
  const signed = attrs.length ? `[${attrs.join(' ')}] ` : '';
  // Debian's security archive sits beside the main one (deb.debian.org/debian-security).
  const mirror = suite.endsWith('-security') ? `${hostDebianMirror()}-security` : hostDebianMirror();
  writeFileSync(join(dir, 'sources.list'), `deb ${signed}${mirror} ${suite} main\n`);
  const opts = [
    `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    'Dir::Etc::SourceParts=/dev/null',
    `Dir::State::Lists=${join(dir, 'lists')}`,
    `Dir::Cache=${join(dir, 'cache')}`,
    `Dir::Cache::archives=${join(dir, 'archives')}`,
    'Dir::State::status=/dev/null',
    `APT::Architecture=${arch}`,
    `APT::Architectures=${arch}`,
    'Acquire::Retries=2',
    'Acquire::http::Timeout=30',
  ].flatMap((o) => ['-o', o]);
  return { dir, opts };
}

/** Fields of `apt-cache show --no-all-versions PKG` (the candidate version). */
async function showPackage(opts: string[], pkg: string): Promise<Record<string, string>> {
  const r = await run('resolve', 'apt-cache', [...opts, 'show', '--no-all-versions', pkg], { timeoutMs: 60_000 });
  const fields: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^([A-Za-z-]+): (.*)$/gm)) fields[m[1]!] ??= m[2]!;
  if (!fields.Version) throw new E2EStepError('resolve', `apt-cache show ${pkg}: no Version field`);
  return fields;
}

/** The real kernel packages behind the meta package: linux-image/binary/modules-<version>. */
async function resolvePackages(opts: string[], metaName = META_PACKAGE): Promise<{ version: string; packages: string[] }> {
  const meta = await showPackage(opts, metaName);
  const out: string[] = [];
  const queue = [metaName];
  for (let guard = 0; queue.length && guard < 16; guard++) {
    const pkg = queue.shift()!;
    const f = pkg === metaName ? meta : await showPackage(opts, pkg);
    if (pkg !== metaName) out.push(`${pkg}=${f.Version}`);
    for (const alt of (f.Depends ?? '').split(',')) {
      const name = alt.trim().split(/[\s|(]/)[0]!;
      if (/^linux-(image|binary|modules)-\d/.test(name) && !queue.includes(name) && !out.some((p) => p.startsWith(name + '='))) {
        queue.push(name);
      }
    }
  }
  if (!out.some((p) => p.startsWith('linux-image-') || p.startsWith('linux-binary-'))) {
    throw new E2EStepError('resolve', `${metaName} depends on no kernel image package (Depends: ${meta.Depends})`);
  }
  return { version: meta.Version!, packages: out };
}

function findKernel(root: string): { vmlinuz: string; modulesDir: string; release: string; config: string | undefined } {
  for (const modBase of ['usr/lib/modules', 'lib/modules']) {
    const base = join(root, modBase);
    if (!existsSync(base)) continue;
    for (const release of readdirSync(base)) {
      const modulesDir = join(base, release);
      if (!existsSync(join(modulesDir, 'kernel'))) continue;
      const candidates = [join(modulesDir, 'vmlinuz'), join(root, 'boot', `vmlinuz-${release}`)];
      const vmlinuz = candidates.find((c) => existsSync(c));
      const cfg = [join(root, 'boot', `config-${release}`), join(modulesDir, 'config')].find((c) => existsSync(c));
      if (vmlinuz) return { vmlinuz, modulesDir, release, config: cfg };
    }
  }
  throw new E2EStepError('unpack', `no vmlinuz with a modules directory found under ${root}`);
}

/** dpkg-deb -x only (no maintainer scripts, so no depmod: modules are resolved from .modinfo). */
async function unpack(debs: string[], dest: string): Promise<void> {
  for (const deb of debs) await run('unpack', 'dpkg-deb', ['-x', deb, dest], { timeoutMs: 5 * 60_000 });
}

function newestCached(suite: string, arch: DebArch): Kernel | undefined {
  const base = cacheDir('kernels', viewKey(suite, arch));
  const found = readdirSync(base)
    .map((d) => join(base, d, 'kernel.json'))
    .filter((f) => existsSync(f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found.length ? (JSON.parse(readFileSync(found[0]!, 'utf8')) as Kernel) : undefined;
}

const MAX_LIST_AGE_MS = Number(process.env.E2E_APT_MAX_AGE_MS ?? 6 * 3600_000);

/** `apt-get update` in the private view when its lists are missing or older than E2E_APT_MAX_AGE_MS. */
async function refreshLists(suite: string, dir: string, opts: string[], log: (s: string) => void): Promise<void> {
  const lists = readdirSync(join(dir, 'lists')).filter((f) => f.includes('_Packages'));
  if (lists.length > 0 && Date.now() - statSync(join(dir, 'lists', lists[0]!)).mtimeMs < MAX_LIST_AGE_MS) return;
  log(`apt update (private view for ${suite}, ${hostDebianMirror()})`);
  await run('download', 'apt-get', [...opts, '-q', 'update'], { timeoutMs: 5 * 60_000 });
}

/**
 * The newest cloud kernel of `suite`, unpacked in the cache (downloaded on first use). When the
 * mirror cannot be reached, falls back to the newest kernel already cached for the suite. `arch`
 * arm64 fetches linux-image-cloud-arm64 (cached apart: kernels/SUITE-arm64).
 */
export async function getKernel(suite: string, log: (s: string) => void = () => {}, arch: DebArch = 'amd64'): Promise<Kernel> {
  if (!/^[a-z]+$/.test(suite)) throw new E2EStepError('resolve', `bad suite name '${suite}'`);
  const { dir, opts } = aptView(suite, arch);
  let resolved: { version: string; packages: string[] };
  try {
    await refreshLists(suite, dir, opts, log);
    resolved = await resolvePackages(opts, metaPackage(arch));
  } catch (e) {
    const cached = newestCached(suite, arch);
    if (cached) {
      log(`warning: cannot resolve ${suite} kernels (${(e as Error).message.split('\n')[0]}); using cached ${cached.release}`);
      return cached;
    }
    throw e;
  }
  const kdir = join(cacheDir('kernels', viewKey(suite, arch)), resolved.version);
  const infoFile = join(kdir, 'kernel.json');
  if (existsSync(infoFile)) return JSON.parse(readFileSync(infoFile, 'utf8')) as Kernel;

  log(`downloading ${resolved.packages.join(' ')}`);
  const debDir = cacheDir('debs', viewKey(suite, arch));
  await run('download', 'apt-get', [...opts, '-q', 'download', ...resolved.packages], { cwd: debDir, timeoutMs: 10 * 60_000 });
  const debs = resolved.packages.map((p) => {
    const [name, ver] = p.split('=') as [string, string];
    const file = readdirSync(debDir).find((f) => f.startsWith(`${name}_${ver.replace(/:/g, '%3a')}_`) && f.endsWith('.deb'));
    if (!file) throw new E2EStepError('download', `apt-get download ${p} left no .deb in ${debDir}`);
    return join(debDir, file);
  });
  const tmp = `${kdir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`unpacking into ${kdir}`);
  await unpack(debs, join(tmp, 'root'));
  const found = findKernel(join(tmp, 'root'));
  const rel = (p: string | undefined) => p && join(kdir, p.slice(tmp.length + 1));
  const kernel: Kernel = {
    suite,
    version: resolved.version,
    release: found.release,
    vmlinuz: rel(found.vmlinuz)!,
    modulesDir: rel(found.modulesDir)!,
    config: rel(found.config),
    packages: resolved.packages,
  };
  writeFileSync(join(tmp, 'kernel.json'), JSON.stringify(kernel, null, 2) + '\n');
  rmSync(kdir, { recursive: true, force: true });
  renameSync(tmp, kdir);
  for (const d of debs) rmSync(d, { force: true }); // the unpacked tree is the cache
  return kernel;
}

/**
 * Packages of `suite` (candidate versions, private apt view as getKernel uses) downloaded into the
 * cache's debs directory, kept for the next run; the .deb paths. For test tools a host suite lacks
 * (bookworm has no systemd-ukify: test/boot/uki-fixture.ts takes trixie's).
 */
export async function downloadSuiteDebs(suite: string, packages: readonly string[], log: (s: string) => void = () => {}, arch: DebArch = 'amd64'): Promise<string[]> {
  const { dir, opts } = aptView(suite, arch);
  await refreshLists(suite, dir, opts, log);
  const debDir = cacheDir('debs', viewKey(suite, arch));
  const out: string[] = [];
  for (const pkg of packages) {
    const version = (await showPackage(opts, pkg)).Version!;
    const find = () => readdirSync(debDir).find((f) => f.startsWith(`${pkg}_${version.replace(/:/g, '%3a')}_`) && f.endsWith('.deb'));
    if (!find()) {
      log(`downloading ${pkg}=${version} (${suite})`);
      await run('download', 'apt-get', [...opts, '-q', 'download', `${pkg}=${version}`], { cwd: debDir, timeoutMs: 10 * 60_000 });
    }
    const file = find();
    if (!file) throw new E2EStepError('download', `apt-get download ${pkg}=${version} left no .deb in ${debDir}`);
    out.push(join(debDir, file));
  }
  return out;
}

/**
 * The packages `roots` depend on in `suite` (candidate versions, private apt view, Depends and
 * Pre-Depends followed recursively, the first of alternatives), the roots included, in the order
 * found; `follow(name)` says which dependencies to take (e.g. only libraries, not debconf or perl).
 */
export async function suiteDependsClosure(suite: string, roots: readonly string[], follow: (name: string) => boolean, log: (s: string) => void = () => {}, arch: DebArch = 'amd64'): Promise<string[]> {
  const { dir, opts } = aptView(suite, arch);
  await refreshLists(suite, dir, opts, log);
  const out: string[] = [];
  const queue = [...roots];
  while (queue.length) {
    const pkg = queue.shift()!;
    if (out.includes(pkg)) continue;
    if (out.length > 200) throw new E2EStepError('resolve', `${roots.join(', ')}: more than 200 packages in the dependency closure (${suite})`);
    out.push(pkg);
    const f = await showPackage(opts, pkg);
    for (const dep of [f['Pre-Depends'] ?? '', f.Depends ?? ''].join(',').split(',')) {
      const name = dep.trim().split('|')[0]!.trim().split(/[\s(:]/)[0]!;
      if (name && follow(name) && !out.includes(name) && !queue.includes(name)) queue.push(name);
    }
  }
  return out;
}

/**
 * Where each suite's kernel upgrade comes from: the newest cloud kernel Debian offers the suite
 * beyond the one the image installs. Trixie: trixie-backports (7.x). Bookworm: the linux-6.12 cloud
 * kernel that bookworm-security carries, not bookworm-backports' last 6.12 (6.12.95), which dies
 * early in boot when kexec'd from bookworm's 6.1 under SeaBIOS, with kexec-tools' `kexec -l` as with
 * ours (a double fault in the slab allocator; 6.12.118 from bookworm-security boots: checked 5 Dec).
 */
export const UPGRADE_KERNELS: Record<string, { aptSuite: string; meta: string }> = {
  trixie: { aptSuite: 'trixie-backports', meta: META_PACKAGE },
  bookworm: { aptSuite: 'bookworm-security', meta: 'linux-image-6.12-cloud-amd64' },
};

/**
 * A kernel upgrade for the Debian-system scenarios (UPGRADE_KERNELS: the packages its meta package
 * depends on, candidate versions in a private apt view of that suite, lists refreshed as getKernel
 * does), downloaded into the cache's debs directory and kept for the next run. Returns the .deb
 * paths and the kernel release they install.
 */
export async function downloadUpgradeKernel(suite: string, log: (s: string) => void = () => {}): Promise<{ release: string; debs: string[] }> {
  const source = UPGRADE_KERNELS[suite];
  if (!source) throw new E2EStepError('resolve', `no kernel upgrade is known for suite '${suite}'`, `known: ${Object.keys(UPGRADE_KERNELS).join(', ')} (e2e/harness/kernels.ts UPGRADE_KERNELS)`);
  const { aptSuite, meta } = source;
  const { dir, opts } = aptView(aptSuite);
  await refreshLists(aptSuite, dir, opts, log);
  const { packages } = await resolvePackages(opts, meta);
  // linux-base-RELEASE (7.x splits the image package), and backports' linux-base when it is newer
  // than the suite's (trixie-backports' 7.x pre-depends on linux-base >= 4.17~; trixie has 4.12).
  for (const spec of [...packages]) {
    const f = await showPackage(opts, spec.split('=')[0]!);
    for (const dep of (f.Depends ?? '').split(',')) {
      const name = dep.trim().split(/[\s|(]/)[0]!;
      if (/^linux-base-\d/.test(name) && !packages.some((p) => p.startsWith(name + '='))) packages.push(`${name}=${(await showPackage(opts, name)).Version}`);
    }
  }
  const base = (await showPackage(opts, 'linux-base')).Version!;
  const suiteView = aptView(suite);
  await refreshLists(suite, suiteView.dir, suiteView.opts, log);
  const newer = await run('resolve', 'dpkg', ['--compare-versions', base, 'gt', (await showPackage(suiteView.opts, 'linux-base')).Version!], { timeoutMs: 10_000, allowFail: true });
  if (newer.code === 0) packages.push(`linux-base=${base}`);
  const debDir = cacheDir('debs', aptSuite);
  const debs: string[] = [];
  for (const spec of packages) {
    const [pkg, version] = spec.split('=') as [string, string];
    const find = () => readdirSync(debDir).find((f) => f.startsWith(`${pkg}_${version.replace(/:/g, '%3a')}_`) && f.endsWith('.deb'));
    if (!find()) {
      log(`downloading ${spec} (${aptSuite})`);
      await run('download', 'apt-get', [...opts, '-q', 'download', spec], { cwd: debDir, timeoutMs: 10 * 60_000 });
    }
    const file = find();
    if (!file) throw new E2EStepError('download', `apt-get download ${spec} left no .deb in ${debDir}`);
    debs.push(join(debDir, file));
  }
  const image = packages.find((p) => /^linux-(image|binary)-\d/.test(p))!;
  return { release: image.replace(/^linux-(image|binary)-/, '').replace(/=.*$/, ''), debs };
}

/**
 * The vmlinux with debug info of Debian kernel `release` (package linux-image-RELEASE-dbg of
 * `suite`, about 320 MB, through the private apt view of the release's architecture: -arm64
 * releases come from the arm64 view): only the vmlinux is unpacked, into
 * $CACHE/dbg/RELEASE/vmlinux (bench/setup.sh's place for the fixture's), and the .deb dropped.
 */
export async function getDebugVmlinux(suite: string, release: string, log: (s: string) => void = () => {}): Promise<string> {
  const out = cacheDir('dbg', release);
  const vmlinux = join(out, 'vmlinux');
  if (existsSync(vmlinux)) return vmlinux;
  const { dir, opts } = aptView(suite, releaseArch(release));
  await refreshLists(suite, dir, opts, log);
  const pkg = `linux-image-${release}-dbg`;
  const version = (await showPackage(opts, pkg)).Version!;
  log(`downloading ${pkg}=${version} (~320 MB, once)`);
  const tmp = mkdtempSync(join(out, 'unpack.'));
  try {
    await run('download', 'apt-get', [...opts, '-q', 'download', `${pkg}=${version}`], { cwd: tmp, timeoutMs: 20 * 60_000 });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new E2EStepError('download', `apt-get download ${pkg} left no .deb`);
    let member = `./usr/lib/debug/boot/vmlinux-${release}`;
    const unpack = (m: string) => run('unpack', 'sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "$3"', 'sh', join(tmp, deb), tmp, m], { timeoutMs: 10 * 60_000 });
    await unpack(member);
    // Newer packages (sid's 7.x) make boot/vmlinux-RELEASE a symlink to lib/modules/RELEASE/vmlinux.
    if (lstatSync(join(tmp, member)).isSymbolicLink()) {
      member = `./${posix.normalize(posix.join(posix.dirname(member), readlinkSync(join(tmp, member))))}`;
      await unpack(member);
    }
    renameSync(join(tmp, member), vmlinux);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return vmlinux;
}

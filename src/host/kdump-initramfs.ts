// `kdump-ts mkinitrd`'s edge: the host files of the capture initramfs — a static busybox, Node.js
// with its shared libraries, our vmcore-ts bundle, koffi and the native codecs, the kernel modules
// the dump target needs (its block driver chain, found in /sys, and filesystem) with the firmware
// they declare. What goes where, which modules and the /init are decided in
// src/kdump/capture-initramfs.ts; the archive is written with src/initramfs (cpio newc + gzip).
import { readFileSync, readdirSync, readlinkSync, realpathSync, existsSync, statSync, statfsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KexecError, ParseError } from '../errors.ts';
import { CpioArchive } from '../initramfs/cpio.ts';
import { addExecutable, addHostFile, addKernelModules, addModuleFirmware, sharedLibraries, type ModuleFirmware } from './initramfs-collect.ts';
import type { KdumpConfig } from '../kdump/config.ts';
import {
  addBusyboxApplets,
  addCaptureConfig,
  addCaptureSkeleton,
  bundleCompanions,
  externalizedBuiltinPaths,
  INITRAMFS_BUNDLE,
  INITRAMFS_NODE,
  libraryInLdCache,
  NATIVE_CODEC_LIBS,
  noModulesDir,
  S3_WORKER_BUNDLE,
  OFFLINE_DISK_DRIVERS,
  wantedModules,
} from '../kdump/capture-initramfs.ts';
import { configuredDumpTarget, dumpTargetOnMounts, mountTableSource, NETWORK_FSTYPES, parseFstab, parseMountinfo, rootMountNamed, type CaptureNet, type DumpTarget, type MountTable, type S3Capture, type SshCapture } from '../kdump/dump-target.ts';
import { readS3Credentials } from './s3-store.ts';
import { chooseCaptureMode, type CaptureMode, type CaptureRoot } from '../kdump/capture-mode.ts';
import { machinePath, readText } from './machine-files.ts';
import { parseDeviceSpec } from '../kdump/device-spec.ts';
import { cmdlineParam } from '../kdump/capture-cmdline.ts';
import { parseModulesDep } from '../initramfs/modules.ts';

/** UUID=… for a device when /dev/disk/by-uuid has a link to it, else the device path. */
function stableDeviceName(root: string, device: string): string {
  const byUuid = machinePath(root, '/dev/disk/by-uuid');
  try {
    const real = realpathSync(machinePath(root, device));
    for (const uuid of readdirSync(byUuid)) {
      if (realpathSync(join(byUuid, uuid)) === real) return `UUID=${uuid}`;
    }
  } catch {
    // no by-uuid directory (containers, minimal systems): keep the path
  }
  return device;
}

/**
 * A configured device the capture /init can find: a udev link only this machine's /dev has
 * (/dev/disk/by-id, by-path…) by the device it points to, by UUID when it has one.
 */
function configuredDeviceName(root: string, device: string): string {
  const d = parseDeviceSpec(device);
  if ('error' in d || d.kind !== 'udev-link') return device;
  let real: string;
  try {
    real = `/dev/${basename(realpathSync(machinePath(root, device)))}`;
  } catch {
    throw new KexecError(`${device} does not exist on this machine, and the capture initramfs has no udev to make it`, {
      hint: 'name the device by UUID=, LABEL=, PARTUUID=, PARTLABEL= or /dev/NAME',
    });
  }
  return stableDeviceName(root, real);
}

/** Where root's /proc/self/mountinfo comes from: a mounted procfs (the reader's own mounts), a plain copy, or none. */
function mountinfoKind(root: string): 'live' | 'copy' | 'none' {
  try {
    statSync(machinePath(root, '/proc/self/mountinfo'));
    return statfsSync(machinePath(root, '/proc')).type === PROC_SUPER_MAGIC ? 'live' : 'copy';
  } catch {
    return 'none';
  }
}
const PROC_SUPER_MAGIC = 0x9fa0;

/** This process runs in a chroot: its / is not init's (as debianutils' ischroot; unknown, e.g. unprivileged: no). */
function inChroot(): boolean {
  try {
    const a = statSync('/');
    const b = statSync('/proc/1/root');
    return a.dev !== b.dev || a.ino !== b.ino;
  } catch {
    return false;
  }
}

/**
 * The mounts the root and dump target are decided from (mountTableSource): the running system's,
 * with a kernel-mounted /dev/root named by root=, or the root's /etc/fstab when they are not its.
 */
export function readMountTable(root: string): MountTable & { from: string } {
  const mounts = parseMountinfo(readText(root, '/proc/self/mountinfo', 'utf8') ?? '');
  const src = mountTableSource({ root: resolve(root), chroot: resolve(root) === '/' && inChroot(), mountinfo: mountinfoKind(root), rootMounted: mounts.some((m) => m.mountPoint === '/') });
  if (src.use === 'mountinfo') {
    return { mounts: rootMountNamed(mounts, cmdlineParam(readText(root, '/proc/cmdline') ?? '', 'root')), from: src.from };
  }
  return { mounts: parseFstab(readText(root, '/etc/fstab', 'utf8') ?? ''), fstab: src.from.replace(/ \(.*$/, ''), from: src.from };
}

/** The interface of the default route in /proc/net/route (destination 00000000), if any. */
function defaultRouteInterface(root: string): string | undefined {
  for (const line of (readText(root, '/proc/net/route', 'utf8') ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[7] === '00000000') return f[0];
  }
  return undefined;
}

const isIpAddress = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.startsWith('[');

/**
 * The capture kernel's network for an ssh, S3 or NFS target: the interface by MAC when this machine has
 * it (the capture kernel has no udev, so its names may differ), the server's name resolved now (the
 * capture kernel has no resolver of its own; `server` undefined: none to resolve, AWS's names are
 * looked up through the DNS servers DHCP gives).
 */
function captureNet(config: KdumpConfig, server: string | undefined, root: string): CaptureNet {
  const name = config.netDevice ?? defaultRouteInterface(root);
  if (name === undefined) {
    throw new KexecError('a network dump target: no default route to take the network interface from', { hint: 'name it: net_device = eth0 (or its MAC address)' });
  }
  const givenMac = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(name);
  const mac = givenMac ? name.toLowerCase() : readText(root, `/sys/class/net/${name}/address`, 'utf8')?.trim();
  // This machine's name for the interface (its driver modules): the name given, or the one with that MAC.
  let here = givenMac ? undefined : name;
  if (givenMac) {
    try {
      here = readdirSync(machinePath(root, '/sys/class/net')).find((n) => readText(root, `/sys/class/net/${n}/address`, 'utf8')?.trim() === mac);
    } catch {
      // no /sys/class/net (an image): modules = names the driver
    }
  }
  const hosts: { name: string; address: string }[] = [];
  if (server !== undefined && !isIpAddress(server)) {
    let address: string | undefined;
    try {
      address = execFileSync('getent', ['ahostsv4', server], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\s+/)[0];
    } catch {
      // not resolvable here
    }
    if (!address) throw new KexecError(`cannot resolve ${server} now, and the capture kernel has no resolver`, { hint: 'name the server by its address, or make the name resolvable on this machine' });
    hosts.push({ name: server, address });
  }
  return { netDevice: mac ?? name, ...(here ? { hostInterface: here } : {}), net: config.net, hosts };
}

/** An ssh target: nothing to mount; the network and what ssh needs. */
function resolveSshTarget(config: KdumpConfig, root: string): DumpTarget {
  const ssh = config.ssh!;
  return {
    device: '',
    fstype: 'ssh',
    dir: ssh.target.dir,
    configured: config.target,
    ssh: { url: config.target, key: ssh.key, knownHosts: ssh.knownHosts, ...(ssh.encryptTo ? { encryptTo: ssh.encryptTo } : {}) },
    network: captureNet(config, ssh.target.host, root),
  };
}

/** The CA bundle (Debian's ca-certificates) an https S3 endpoint is checked against in the capture kernel. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * An S3 target: nothing to mount; the network (the endpoint's host resolved now; AWS through DHCP's
 * DNS servers) and what the upload needs. The credentials file is read now: refused unless mode 600
 * and owned by root, so that the capture initramfs never carries a key others could read.
 */
function resolveS3Target(config: KdumpConfig, root: string): DumpTarget {
  const s3 = config.s3!;
  try {
    readS3Credentials(machinePath(root, s3.credentials));
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    throw new KexecError(`s3_credentials ${s3.credentials}${e.line ? `:${e.line}` : ''}: ${e.message}`, { hint: e.hint ?? `chmod 600 ${s3.credentials}` });
  }
  const https = s3.endpoint === undefined || s3.endpoint.startsWith('https:');
  const capture: S3Capture = {
    url: config.target,
    credentials: s3.credentials,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.region ? { region: s3.region } : {}),
    ...(s3.encryptTo ? { encryptTo: s3.encryptTo } : {}),
    ...(https && existsSync(machinePath(root, CA_BUNDLE)) ? { caBundle: CA_BUNDLE } : {}),
  };
  return { device: '', fstype: 's3', dir: s3.target.prefix || '/', configured: config.target, s3: capture, network: captureNet(config, s3.endpoint ? new URL(s3.endpoint).hostname : undefined, root) };
}

/** The client module of a network filesystem type (its dependencies come from modules.dep). */
const NFS_MODULE: Record<string, string> = { nfs: 'nfs', nfs4: 'nfsv4' };

/** Kernel modules a network interface needs: the drivers bound along its sysfs device path. */
export function netDeviceModules(name: string, root = '/'): string[] {
  let dev: string;
  try {
    dev = realpathSync(machinePath(root, `/sys/class/net/${name}/device`));
  } catch {
    return [];
  }
  return driverChain(dev);
}

/** Resolves the configured target to what the capture kernel mounts (its device by UUID when it has one). */
export function resolveTarget(config: KdumpConfig, root = '/'): DumpTarget {
  if (config.ssh) return resolveSshTarget(config, root);
  if (config.s3) return resolveS3Target(config, root);
  const configured = configuredDumpTarget(config);
  if (configured && NETWORK_FSTYPES.has(configured.fstype)) return { ...configured, network: captureNet(config, configured.device.slice(0, configured.device.indexOf(':')), root) };
  if (configured) return { ...configured, device: configuredDeviceName(root, configured.device) };
  const t = dumpTargetOnMounts(config, readMountTable(root));
  return { ...t, device: stableDeviceName(root, t.device) };
}

/**
 * Where the capture runs Node.js from (src/kdump/capture-mode.ts decides): `node`/`bundle` are the
 * paths on the root file system (default: this Node.js and this package's bundle; given ones, for
 * another machine, are not checked against this machine's mounts). The root device by UUID when it has one.
 */
export function resolveCaptureMode(config: KdumpConfig, root = '/', paths: { node?: string; bundle?: string } = {}): CaptureMode {
  // This Node.js and package, as paths on the root: under --root DIR without DIR's prefix when they are its.
  const dirs = resolve(root) === '/' ? [] : [resolve(root), realpathOr(root) ?? resolve(root)];
  const onRoot = (p: string) => {
    const d = dirs.find((x) => p.startsWith(`${x}/`));
    return d ? p.slice(d.length) : p;
  };
  const real = (p: string) => onRoot(realpathOr(p) ?? p);
  const m = chooseCaptureMode(config, {
    ...readMountTable(root),
    node: paths.node !== undefined ? onRoot(paths.node) : real(process.execPath),
    bundle: paths.bundle !== undefined ? onRoot(paths.bundle) : real(rootModeBundle(`${packageRoot()}/dist`)),
    pathsGiven: paths.node !== undefined,
  });
  if (m.mode !== 'root') return m;
  return { ...m, root: { ...m.root, device: config.rootDevice ? configuredDeviceName(root, m.root.device) : stableDeviceName(root, m.root.device) } };
}

/**
 * The modules the capture kernel needs for this target (and root file system, in root mode) and
 * config: the loaded ones of their driver chains and filesystems; for an image (`offline`: its
 * mounts from its fstab) OFFLINE_DISK_DRIVERS and the filesystems that its modules directory has.
 */
export function targetModules(target: DumpTarget, config: KdumpConfig, root = '/', captureRoot?: CaptureRoot, offline?: { modulesDir: string }): string[] {
  if (offline) {
    const modules = parseModulesDep(readText('/', join(offline.modulesDir, 'modules.dep'), 'utf8') ?? '').paths;
    const chain = (d: DumpTarget | CaptureRoot) => ('network' in d && d.network ? { drivers: [], fstype: NFS_MODULE[d.fstype] ?? '' } : { drivers: OFFLINE_DISK_DRIVERS, fstype: d.fstype });
    return wantedModules(chain(target), (m) => modules.has(m), config, captureRoot && chain(captureRoot));
  }
  const chain = (d: DumpTarget | CaptureRoot) => {
    if ('network' in d && d.network) {
      const nic = d.network.hostInterface ? netDeviceModules(d.network.hostInterface, root) : [];
      return { drivers: nic, fstype: NFS_MODULE[d.fstype] ?? '' };
    }
    return { drivers: d.majmin ? blockDeviceModules(d.majmin, root) : [], fstype: d.fstype };
  };
  return wantedModules(chain(target), (m) => isLoadedModule(m, root), config, captureRoot && chain(captureRoot));
}

/**
 * Kernel modules a block device needs: every driver bound along its sysfs device path (a partition's
 * disk, the disk's controller, the bus above it…), e.g. virtio_blk + virtio_pci, or sd_mod + ahci.
 */
export function blockDeviceModules(majmin: string, root = '/'): string[] {
  let dev: string;
  try {
    dev = realpathSync(machinePath(root, `/sys/dev/block/${majmin}`));
  } catch {
    return [];
  }
  if (existsSync(join(dev, 'partition'))) dev = dirname(dev);
  return driverChain(dev);
}

/** Every driver module bound along a sysfs device's path: its own device's, then each parent's up the bus. */
function driverChain(dev: string): string[] {
  const out: string[] = [];
  const add = (driverLink: string) => {
    try {
      const mod = basename(readlinkSync(join(driverLink, 'module')));
      if (!out.includes(mod)) out.push(mod);
    } catch {
      // built-in driver: no module link
    }
  };
  add(join(dev, 'device', 'driver'));
  for (let p = realpathOr(join(dev, 'device')); p && p !== '/' && p.includes('/devices/'); p = dirname(p)) add(join(p, 'driver'));
  return out;
}

/** A loadable module loaded now (built-in ones have no /sys/module/NAME/initstate). */
function isLoadedModule(name: string, root = '/'): boolean {
  return existsSync(machinePath(root, `/sys/module/${name.replace(/-/g, '_')}/initstate`));
}

function realpathOr(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * What a root-mode capture runs: vmcore-ts's CommonJS launcher, which starts save from one CommonJS
 * file (no ESM loader, one file to read from a cold disk); the ESM bundle when the build has no launcher.
 */
export function rootModeBundle(dist: string): string {
  return existsSync(`${dist}/vmcore-ts.cjs`) ? `${dist}/vmcore-ts.cjs` : `${dist}/vmcore-ts.mjs`;
}

/** The package directory (holding package.json and dist/) of this running copy of kexec-ts. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'kexec-ts') return dir;
    } catch {
      // keep walking up
    }
    dir = dirname(dir);
  }
  throw new KexecError('cannot find the kexec-ts package directory', { hint: 'pass --bundle PATH/TO/dist/vmcore-ts.mjs' });
}

export interface CaptureInitramfsInput {
  config: KdumpConfig;
  target: DumpTarget;
  /** Kernel release whose modules to take (e.g. 6.1.0-18-amd64). */
  release: string;
  /** /lib/modules/RELEASE (may not exist for a kernel without modules). */
  modulesDir: string;
  /** dist/vmcore-ts.mjs. */
  bundle: string;
  node?: string;
  busybox?: string;
  /** Where to read /sys from (tests). */
  root?: string;
  /** Where the capture runs Node.js from (default: resolveCaptureMode with `bundle`). */
  mode?: CaptureMode;
}

export interface CaptureInitramfs {
  archive: CpioArchive;
  /** Module names asked for (target's drivers, filesystem, config's `modules`). */
  wanted: string[];
  /** Their archive paths in load order, dependencies included. */
  modules: string[];
  /** Firmware the modules declare: carried (archive paths) and missing on the host (names). */
  firmware: ModuleFirmware;
  /** The native page compressors carried (koffi + these libraries); [] when the host lacks them or in root mode. */
  nativeCodecs: string[];
  mode: CaptureMode;
}

/** Host path of a shared library by soname, from the dynamic linker's cache. */
function findLibrary(soname: string): string | undefined {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      return libraryInLdCache(execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), soname, process.arch);
    } catch {
      // try the next path
    }
  }
  return undefined;
}

/**
 * koffi (the FFI the bundle loads from node_modules beside it) and the C page compressors the host
 * has, so that `vmcore-ts save` in the capture kernel compresses as fast as on the host. Without
 * them the save uses Node's zlib and our LZO1X: slower, same format.
 */
function addNativeCodecs(a: CpioArchive, bundleDir: string): string[] {
  const libs = NATIVE_CODEC_LIBS.flatMap((n) => {
    const p = findLibrary(n);
    return p ? [[n, p] as const] : [];
  });
  if (libs.length === 0) return [];
  let koffiDir: string;
  try {
    koffiDir = dirname(createRequire(import.meta.url).resolve('koffi'));
  } catch {
    return [];
  }
  // koffi 3 loads its prebuilt binary from the package beside it (node_modules/@koromix/koffi-OS-ARCH).
  const binDir = join(dirname(koffiDir), '@koromix', `koffi-${process.platform}-${process.arch}`);
  if (!existsSync(binDir)) return [];
  const copy = (from: string, to: string, keep: (rel: string) => boolean) => {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        const rel = relative(from, p);
        if (e.isDirectory()) walk(p);
        else if (keep(rel)) addHostFile(a, p, `${to}/${rel}`, 0o644);
      }
    };
    walk(from);
  };
  const nm = `${bundleDir}/node_modules`;
  // koffi's JavaScript (not its C sources, headers or docs) and this platform's glibc binary.
  copy(koffiDir, `${nm}/koffi`, (rel) => /\.(c?js|json)$/.test(rel) && !/^(doc|vendor)\//.test(rel));
  copy(binDir, `${nm}/@koromix/${basename(binDir)}`, (rel) => !rel.startsWith('musl') && /(\.(c?js|json)|\/koffi\.node)$/.test(rel));
  for (const [, p] of libs) addExecutable(a, p);
  return libs.map(([n]) => n);
}

/** A file the config names, at the same path in the archive; a missing one is named with what it should hold. */
function addConfiguredFile(a: CpioArchive, root: string, path: string, mode: number, key: string, what: string): void {
  const host = machinePath(root, path);
  if (!existsSync(host)) throw new KexecError(`${key} ${path} does not exist`, { hint: `put ${what} there` });
  addHostFile(a, host, path.slice(1), mode);
}

/** ssh, its libraries, the key (0600), the known hosts and the public key to seal to, at the paths the config names. */
function addSshClient(a: CpioArchive, ssh: SshCapture, root: string): void {
  const client = ['/usr/bin/ssh', '/bin/ssh'].map((p) => machinePath(root, p)).find((p) => existsSync(p));
  if (!client) throw new KexecError('target = ssh://… but ssh is not installed', { hint: 'apt-get install openssh-client' });
  addExecutable(a, client, 'usr/bin/ssh');
  const file = (p: string | undefined, mode: number, what: string) => {
    if (p === undefined) return;
    const host = machinePath(root, p);
    if (!existsSync(host)) throw new KexecError(`${what} ${p} does not exist`, { hint: what === 'ssh_key' ? 'ssh-keygen -t ed25519 -N "" -f ' + p : what === 'known_hosts' ? `ssh-keyscan -H SERVER > ${p}` : 'openssl pkey -in dump.key -pubout -out ' + p });
    addHostFile(a, host, p.slice(1), mode);
  };
  file(ssh.key, 0o600, 'ssh_key');
  file(ssh.knownHosts, 0o644, 'known_hosts');
  file(ssh.encryptTo, 0o644, 'encrypt_to');
}

/**
 * Debian's node loads some builtins from /usr/share/nodejs at every start (the paths are in node or
 * libnode): the files, at the same paths. Official builds have none.
 */
function addExternalizedBuiltins(a: CpioArchive, node: string): void {
  for (const bin of [node, ...sharedLibraries(node).filter((l) => /\/libnode\.so/.test(l))]) {
    for (const p of externalizedBuiltinPaths(readFileSync(bin))) if (!a.has(p) && existsSync(p)) addHostFile(a, p, p, 0o644);
  }
}

/** An S3 target's files, at the paths the config names: the credentials (0600), the public key to seal to, the CA bundle. */
function addS3Files(a: CpioArchive, s3: S3Capture, root: string): void {
  addConfiguredFile(a, root, s3.credentials, 0o600, 's3_credentials', 'the AWS credentials file ([default], aws_access_key_id, aws_secret_access_key), mode 600');
  if (s3.encryptTo) addConfiguredFile(a, root, s3.encryptTo, 0o644, 'encrypt_to', 'the X25519 public key (openssl pkey -in dump.key -pubout)');
  if (s3.caBundle) addConfiguredFile(a, root, s3.caBundle, 0o644, 'CA bundle', 'the CA certificates (ca-certificates)');
}

/** Assembles the archive in memory (write it with writeArchive from src/initramfs). */
export function buildCaptureInitramfs(input: CaptureInitramfsInput): CaptureInitramfs {
  const a = new CpioArchive();
  addCaptureSkeleton(a);
  const root = input.root ?? '/';
  // The root's own static busybox (an image's, under --root DIR), else this machine's.
  const busybox = input.busybox ?? [machinePath(root, '/bin/busybox'), '/bin/busybox'].find((p) => existsSync(p)) ?? '/bin/busybox';
  if (!existsSync(busybox)) throw new KexecError(`${busybox} not found`, { hint: 'install busybox-static' });
  addHostFile(a, busybox, 'bin/busybox', 0o755);
  addBusyboxApplets(a);
  const mode = input.mode ?? resolveCaptureMode(input.config, root, { bundle: input.bundle });
  let nativeCodecs: string[] = [];
  if (mode.mode === 'initramfs') {
    // Node.js, the bundle and the codecs in the initramfs (root mode runs the root file system's).
    const node = input.node ?? process.execPath;
    addExecutable(a, node, INITRAMFS_NODE);
    addExternalizedBuiltins(a, node);
    if (!existsSync(input.bundle)) throw new KexecError(`${input.bundle} not found`, { hint: 'run `npm run build` in the kexec-ts package first' });
    addHostFile(a, input.bundle, INITRAMFS_BUNDLE, 0o644);
    const siblings = readdirSync(dirname(input.bundle));
    if (input.target.s3 && !siblings.includes(S3_WORKER_BUNDLE)) {
      throw new KexecError(`target = s3://… but ${join(dirname(input.bundle), S3_WORKER_BUNDLE)} (the AWS SDK the upload runs in) is not beside the bundle`, { hint: 'run `npm run build` in the kexec-ts package, or copy every dist/*.mjs' });
    }
    for (const f of bundleCompanions(siblings, basename(input.bundle), { s3: input.target.s3 !== undefined })) {
      addHostFile(a, join(dirname(input.bundle), f), `${dirname(INITRAMFS_BUNDLE)}/${f}`, 0o644);
    }
    nativeCodecs = addNativeCodecs(a, dirname(INITRAMFS_BUNDLE).slice(1));
    if (input.target.ssh) addSshClient(a, input.target.ssh, root);
    if (input.target.s3) addS3Files(a, input.target.s3, root);
  }
  const offline = readMountTable(root).fstab !== undefined ? { modulesDir: input.modulesDir } : undefined;
  const wanted = targetModules(input.target, input.config, root, mode.mode === 'root' ? mode.root : undefined, offline);
  // Triage first: the collector's network (the target's when it has one), its token and CA.
  let collectorNet: CaptureNet | undefined;
  if (input.config.collector) {
    collectorNet = input.target.network ?? captureNet(input.config, new URL(input.config.collector.url).hostname, root);
    if (collectorNet.hostInterface && !offline) for (const m of netDeviceModules(collectorNet.hostInterface, root)) if (!wanted.includes(m)) wanted.push(m);
    addConfiguredFile(a, root, input.config.collector.token, 0o600, 'collector_token', 'the token line the collector has for this host, in a file of mode 600');
    if (input.config.collector.ca) addConfiguredFile(a, root, input.config.collector.ca, 0o644, 'collector_ca', "the collector's CA certificate (PEM)");
  }
  let modules: string[] = [];
  let firmware: ModuleFirmware = { carried: [], missing: [] };
  if (existsSync(join(input.modulesDir, 'kernel')) || existsSync(join(input.modulesDir, 'modules.dep'))) {
    try {
      modules = addKernelModules(a, input.modulesDir, input.release, wanted);
      firmware = addModuleFirmware(a, modules, root, input.release);
    } catch (e) {
      throw new KexecError(`capture initramfs: ${(e as Error).message} (in ${input.modulesDir})`, {
        hint: 'install the modules of the capture kernel, or list only available ones in `modules =`',
      });
    }
  } else noModulesDir(input.modulesDir, input.config);
  addCaptureConfig(a, { config: input.config, target: input.target, release: input.release, modules, mode, collectorNet });
  return { archive: a, wanted, modules, firmware, nativeCodecs, mode };
}

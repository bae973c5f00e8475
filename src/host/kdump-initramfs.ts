// `kdump-ts mkinitrd`: the capture initramfs. It holds a static busybox, Node.js with its shared
// libraries, our vmcore-ts bundle, the kernel modules the dump target needs (its block driver chain
// and filesystem) with the firmware they declare, and a small /init that mounts the target, runs `vmcore-ts save` and reboots.
// The archive itself is written with src/initramfs (cpio newc + gzip).
import { readFileSync, readdirSync, readlinkSync, realpathSync, statSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KexecError } from '../errors.ts';
import { CpioArchive } from '../initramfs/cpio.ts';
import { addExecutable, addHostFile, addKernelModules, addModuleFirmware, type ModuleFirmware } from './initramfs-collect.ts';
import type { KdumpConfig } from '../kdump/config.ts';
import { saveArgs } from '../kdump/config.ts';
import { hostPath } from './crash-facts.ts';

/** Where things go inside the capture initramfs. */
export const INITRAMFS_BUNDLE = '/kdump-ts/vmcore-ts.mjs';
export const INITRAMFS_NODE = '/usr/bin/node';
/** The kernel release the capture initramfs was built for (its modules' release). */
export const INITRAMFS_RELEASE = 'etc/kdump-ts.release';
/** The C libraries vmcore-ts save compresses pages with when it can load them (src/dump/native-codecs.ts). */
const NATIVE_CODEC_LIBS = ['libdeflate.so.0', 'liblzo2.so.2'];
/** The other CLIs' bundles in dist/: the capture kernel only runs vmcore-ts. */
const BUNDLES_NOT_NEEDED = new Set(['kexec-ts.mjs', 'kdump-ts.mjs']);
const BUSYBOX_APPLETS = ['sh', 'mount', 'umount', 'mkdir', 'insmod', 'sleep', 'reboot', 'poweroff', 'halt', 'findfs', 'cat', 'echo', 'sync', 'date', 'ls', 'df', 'dmesg', 'free', 'grep', 'stat', 'tr', 'awk', 'kill'];
/** Filesystems a capture kernel cannot write a dump to (they do not survive the crash). */
const NOT_A_DISK = new Set(['tmpfs', 'ramfs', 'proc', 'sysfs', 'devtmpfs', 'overlay', 'squashfs', 'fuse', 'nfs', 'nfs4', 'cifs']);

/** Where the dump goes, as the capture kernel must find it. */
export interface DumpTarget {
  /** What `mount` gets: /dev/…, or UUID=… / LABEL=… (resolved with findfs). */
  device: string;
  fstype: string;
  /** Directory inside that filesystem, "/" based. */
  dir: string;
  /** The directory as configured on the running system (for messages). */
  configured: string;
  /** major:minor of the device now, when known (to find its driver modules). */
  majmin?: string;
}

export interface InitScriptOptions {
  target: DumpTarget;
  /** Module paths inside the archive, in load order. */
  modules: string[];
  /** `vmcore-ts save` flags (compression, dump level). */
  saveArgs: string[];
  after: KdumpConfig['after'];
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The capture initramfs's /init (busybox sh). Every message starts with "kdump-ts:". */
export function initScript(o: InitScriptOptions): string {
  const after = { reboot: 'reboot -f', poweroff: 'poweroff -f', halt: 'halt -f', shell: 'exec sh' }[o.after];
  return `#!/bin/sh
# kdump-ts capture initramfs /init: save /proc/vmcore to the dump target, then ${o.after}.
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
log() { echo "kdump-ts: $*"; }
finish() { sync; log "done (${o.after})"; ${after}; }
trap finish EXIT
[ -e /proc/vmcore ] || { log "no /proc/vmcore: this is not a capture kernel"; exit 1; }
for m in ${o.modules.map(shQuote).join(' ')}; do insmod "/$m" 2>/dev/null || log "insmod $m failed (built in?)"; done
dev=${shQuote(o.target.device)}
i=0
while :; do
  case "$dev" in UUID=*|LABEL=*) d=$(findfs "$dev" 2>/dev/null) ;; *) d=$dev ;; esac
  [ -n "$d" ] && [ -b "$d" ] && break
  i=$((i + 1))
  [ $i -ge 30 ] && { log "dump target $dev not found after 30 s"; exit 1; }
  sleep 1
done
mkdir -p /mnt/target
mount -t ${shQuote(o.target.fstype)} "$d" /mnt/target || { log "cannot mount $d (${o.target.fstype})"; exit 1; }
dir=/mnt/target${o.target.dir === '/' ? '' : shQuote(o.target.dir)}/$(date +%Y%m%d-%H%M%S)
mkdir -p "$dir" || { log "cannot create $dir"; exit 1; }
log "saving /proc/vmcore ($(stat -c %s /proc/vmcore) bytes) to $d:\${dir#/mnt/target}; memory: $(grep -E '^Mem(Total|Available):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
node ${INITRAMFS_BUNDLE} save --dump-dmesg /proc/vmcore "$dir/dmesg.txt" || log "dmesg extraction failed"
# MemAvailable sampled each second: its low-water mark is the headroom crashkernel= had.
( while :; do grep MemAvailable /proc/meminfo; sleep 1; done > /tmp/mem.log ) &
sampler=$!
node ${INITRAMFS_BUNDLE} save ${o.saveArgs.join(' ')} /proc/vmcore "$dir/vmcore"
rc=$?
kill $sampler
echo "$rc" > "$dir/save-exit-code"
[ $rc -eq 0 ] && log "saved $dir/vmcore" || log "vmcore-ts save failed with exit code $rc"
log "lowest MemAvailable during the save: $(awk 'NR == 1 || $2 < m { m = $2 } END { print m }' /tmp/mem.log) kB"
umount /mnt/target
exit $rc
`;
}

/** One line of /proc/self/mountinfo. */
interface Mount {
  majmin: string;
  root: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6 || f.length < dash + 3) continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({ majmin: f[2]!, root: unescape(f[3]!), mountPoint: unescape(f[4]!), fstype: f[dash + 1]!, source: unescape(f[dash + 2]!) });
  }
  return out;
}

/** The mount a path lives on: the longest mount point that is a prefix of it (the last one mounted wins). */
export function mountOf(mounts: Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const under = mp === '/' || path === mp || path.startsWith(mp + '/');
    if (under && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** UUID=… for a device when /dev/disk/by-uuid has a link to it, else the device path. */
function stableDeviceName(root: string, device: string): string {
  const byUuid = hostPath(root, '/dev/disk/by-uuid');
  try {
    const real = realpathSync(hostPath(root, device));
    for (const uuid of readdirSync(byUuid)) {
      if (realpathSync(join(byUuid, uuid)) === real) return `UUID=${uuid}`;
    }
  } catch {
    // no by-uuid directory (containers, minimal systems): keep the path
  }
  return device;
}

/** Resolves the configured target to what the capture kernel mounts. */
export function resolveTarget(config: KdumpConfig, root = '/'): DumpTarget {
  if (config.targetDevice) {
    return { device: config.targetDevice, fstype: config.targetFstype ?? 'ext4', dir: config.target, configured: config.target };
  }
  let mountinfo: string;
  try {
    mountinfo = readFileSync(hostPath(root, '/proc/self/mountinfo'), 'utf8');
  } catch {
    throw new KexecError('cannot read /proc/self/mountinfo to find the dump target\'s filesystem', { hint: 'set target_device and target_fstype in the config' });
  }
  const m = mountOf(parseMountinfo(mountinfo), config.target);
  if (!m || NOT_A_DISK.has(m.fstype) || !m.source.startsWith('/dev/')) {
    throw new KexecError(`the dump target ${config.target} is on ${m ? `${m.fstype} (${m.source})` : 'no mounted filesystem'}, which a capture kernel cannot write to`, {
      hint: 'point target at a directory on a local disk, or set target_device and target_fstype',
    });
  }
  const inFs = join(m.root, relative(m.mountPoint, config.target) || '.');
  return { device: stableDeviceName(root, m.source), fstype: config.targetFstype ?? m.fstype, dir: inFs, configured: config.target, majmin: m.majmin };
}

/**
 * Kernel modules a block device needs: every driver bound along its sysfs device path (a partition's
 * disk, the disk's controller, the bus above it…), e.g. virtio_blk + virtio_pci, or sd_mod + ahci.
 */
export function blockDeviceModules(majmin: string, root = '/'): string[] {
  const out: string[] = [];
  let dev: string;
  try {
    dev = realpathSync(hostPath(root, `/sys/dev/block/${majmin}`));
  } catch {
    return out;
  }
  if (existsSync(join(dev, 'partition'))) dev = dirname(dev);
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
export function isLoadedModule(name: string, root = '/'): boolean {
  return existsSync(hostPath(root, `/sys/module/${name.replace(/-/g, '_')}/initstate`));
}

function realpathOr(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
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
}

export interface CaptureInitramfs {
  archive: CpioArchive;
  /** Module names asked for (target's drivers, filesystem, config's `modules`). */
  wanted: string[];
  /** Their archive paths in load order, dependencies included. */
  modules: string[];
  /** Firmware the modules declare: carried (archive paths) and missing on the host (names). */
  firmware: ModuleFirmware;
  /** The native page compressors carried (koffi + these libraries); [] when the host lacks them. */
  nativeCodecs: string[];
}

/** Host path of a shared library by soname, from the dynamic linker's cache. */
function findLibrary(soname: string): string | undefined {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const out = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const m = new RegExp(`^\\s+${soname.replace(/\./g, '\\.')} \\(([^)]*)\\) => (\\S+)$`, 'm').exec(out);
      return m && (process.arch !== 'x64' || m[1]!.includes('x86-64')) ? m[2] : undefined;
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

/** Assembles the archive in memory (write it with writeArchive from src/initramfs). */
export function buildCaptureInitramfs(input: CaptureInitramfsInput): CaptureInitramfs {
  const a = new CpioArchive();
  for (const d of ['proc', 'sys', 'dev', 'mnt', 'tmp', 'bin', 'usr/bin']) a.dir(d);
  a.add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 });
  a.add({ type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
  const busybox = input.busybox ?? '/bin/busybox';
  if (!existsSync(busybox)) throw new KexecError(`${busybox} not found`, { hint: 'install busybox-static' });
  addHostFile(a, busybox, 'bin/busybox', 0o755);
  for (const applet of BUSYBOX_APPLETS) a.symlink(`bin/${applet}`, 'busybox');
  addExecutable(a, input.node ?? process.execPath, INITRAMFS_NODE);
  if (!existsSync(input.bundle)) throw new KexecError(`${input.bundle} not found`, { hint: 'run `npm run build` in the kexec-ts package first' });
  addHostFile(a, input.bundle, INITRAMFS_BUNDLE, 0o644);
  // Modules the bundle loads from beside itself at run time (the save pipeline's compression worker).
  for (const f of readdirSync(dirname(input.bundle))) {
    if (f.endsWith('.mjs') && !BUNDLES_NOT_NEEDED.has(f) && f !== basename(input.bundle)) addHostFile(a, join(dirname(input.bundle), f), `${dirname(INITRAMFS_BUNDLE)}/${f}`, 0o644);
  }
  const nativeCodecs = addNativeCodecs(a, dirname(INITRAMFS_BUNDLE).slice(1));
  const root = input.root ?? '/';
  // The target's driver chain and filesystem are in use now, so each is either built in (nothing
  // to do) or a loaded module (/sys/module/NAME/initstate): take the loaded ones, plus what the
  // config names.
  const auto = [...(input.target.majmin ? blockDeviceModules(input.target.majmin, root) : []), input.target.fstype];
  const wanted = [...new Set([...auto.filter((m) => isLoadedModule(m, root)), ...input.config.modules])];
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
  } else if (input.config.modules.length) {
    throw new KexecError(`capture initramfs: ${input.modulesDir} does not exist, but the config asks for modules ${input.config.modules.join(' ')}`);
  }
  a.file('etc/kdump-ts.target', `${input.target.device} ${input.target.fstype} ${input.target.dir}\n`);
  a.file(INITRAMFS_RELEASE, `${input.release}\n`); // what `kdump-ts test` checks it was built for
  a.file('init', initScript({ target: input.target, modules, saveArgs: saveArgs(input.config), after: input.config.after }), 0o755);
  return { archive: a, wanted, modules, firmware, nativeCodecs };
}

/** Size of a file, or undefined. */
export function fileSize(path: string): bigint | undefined {
  try {
    return BigInt(statSync(path).size);
  } catch {
    return undefined;
  }
}

// Where the dump goes: the configured target directory as the capture kernel must find it (device,
// filesystem, directory inside it), and where that directory is on the running system. Decided from
// /proc/self/mountinfo's text and the device paths the host resolved. Pure.
import { KexecError } from '../errors.ts';
import type { KdumpConfig } from './config.ts';
import { deviceLink, deviceSpecText, parseDeviceSpec } from './device-spec.ts';

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
  /** target = ssh://…: nothing is mounted; the capture kernel sends the dump (save --to). */
  ssh?: SshCapture;
  /** target = s3://…: nothing is mounted; the capture kernel uploads the dump (save --to s3://). */
  s3?: S3Capture;
  /** An ssh, S3 or NFS target: the network the capture kernel brings up first. */
  network?: CaptureNet;
}

/** Filesystem types that are mounted over the network (target_device = SERVER:/EXPORT). */
export const NETWORK_FSTYPES = new Set(['nfs', 'nfs4']);

/** What the capture kernel needs to send the dump over ssh. */
export interface SshCapture {
  /** ssh://[user@]host[:port]/dir as configured. */
  url: string;
  key: string;
  knownHosts: string;
  encryptTo?: string;
}

/** What the capture kernel needs to upload the dump to S3-compatible storage. */
export interface S3Capture {
  /** s3://bucket[/prefix] as configured. */
  url: string;
  /** The AWS credentials file (mode 600), at the same path in the capture initramfs. */
  credentials: string;
  endpoint?: string;
  region?: string;
  encryptTo?: string;
  /** A CA bundle the capture initramfs carries for an https endpoint (NODE_EXTRA_CA_CERTS), when the host has one. */
  caBundle?: string;
}

/** The capture kernel's network. */
export interface CaptureNet {
  /** The interface: a MAC address (found by address in the capture kernel, whose names may differ) or a name. */
  netDevice: string;
  /** Its name on the machine building the initramfs, when it has it (for its driver modules). */
  hostInterface?: string;
  net: KdumpConfig['net'];
  /** Host name → address for the capture kernel's /etc/hosts (it has no resolver). */
  hosts: { name: string; address: string }[];
}

/** One line of /proc/self/mountinfo (or of an /etc/fstab: no major:minor, root "/"). */
export interface Mount {
  majmin?: string;
  root: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

/** Filesystems a capture kernel cannot write a dump to (they do not survive the crash). */
export const NOT_A_DISK = new Set(['tmpfs', 'ramfs', 'proc', 'sysfs', 'devtmpfs', 'overlay', 'squashfs', 'fuse', 'nfs', 'nfs4', 'cifs']);

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

/**
 * Where the decisions about the root and the dump target read the mounts from: the running
 * system's mount table, or the /etc/fstab of a root it does not describe (an image being built).
 */
export interface MountTable {
  mounts: Mount[];
  /** Set when the mounts are an fstab's: its path, for messages. */
  fstab?: string;
}

/**
 * Which mounts describe the root being built for: this machine's /proc/self/mountinfo when it is
 * that root's — the running system (root "/", not in a chroot: init's root is ours, when that can
 * be read, and / is in the mount table) or a copied machine's file under --root DIR — else the
 * root's /etc/fstab: an image built in a chroot or under --root DIR, where a live /proc shows the
 * building host's mounts. `from` says which, and why, for mkinitrd's output.
 */
export function mountTableSource(f: { root: string; chroot: boolean; mountinfo: 'live' | 'copy' | 'none'; rootMounted: boolean }): { use: 'mountinfo' | 'fstab'; from: string } {
  const here = f.root === '/';
  if (here && !f.chroot && f.mountinfo === 'live' && f.rootMounted) return { use: 'mountinfo', from: '/proc/self/mountinfo (the running system)' };
  if (!here && f.mountinfo === 'copy') return { use: 'mountinfo', from: `${f.root}/proc/self/mountinfo (a copy of that machine's)` };
  const why = !here
    ? f.mountinfo === 'none' ? 'no /proc/self/mountinfo' : `the running system's mounts are not those of ${f.root}`
    : f.mountinfo === 'none' ? 'no /proc/self/mountinfo'
    : f.chroot ? "in a chroot the running system's mounts are the building host's"
    : "/ is not in the running system's mount table: a chroot";
  return { use: 'fstab', from: `${here ? '' : f.root}/etc/fstab (${why})` };
}

/** An /etc/fstab's mounts (spec, mount point, type; swap and `none` entries left out). */
export function parseFstab(text: string): Mount[] {
  const out: Mount[] = [];
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [source, mountPoint, fstype] = line.split(/\s+/).map(unescape);
    if (!source || !mountPoint?.startsWith('/') || !fstype || fstype === 'swap') continue;
    out.push({ root: '/', mountPoint: normalize(mountPoint).replace(/(.)\/$/, '$1'), fstype, source });
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

/** The configured target_device when there is one: no mount table is needed. */
export function configuredDumpTarget(config: KdumpConfig): DumpTarget | undefined {
  if (!config.targetDevice) return undefined;
  // NFS: the capture kernel mounts SERVER:/EXPORT itself (resolveTarget adds the network).
  return { device: config.targetDevice, fstype: config.targetFstype ?? 'ext4', dir: config.target, configured: config.target };
}

/**
 * The configured target (without target_device) on the running system's mounts: the disk
 * filesystem holding it, refused when it is not a local disk. `device` is the mount's source
 * (the host may name it by UUID afterwards).
 */
export function dumpTargetOnMounts(config: KdumpConfig, table: MountTable): DumpTarget {
  const m = mountOf(table.mounts, config.target);
  if (!m || NOT_A_DISK.has(m.fstype) || !isDiskSource(m.source)) {
    const on = m ? `${m.fstype} (${m.source})` : table.fstab ? `no filesystem of ${table.fstab}` : 'no mounted filesystem';
    throw new KexecError(`the dump target ${config.target} is on ${on}, which a capture kernel cannot write to`, {
      hint: 'point target at a directory on a local disk, or set target_device and target_fstype',
    });
  }
  return { device: m.source, fstype: config.targetFstype ?? m.fstype, dir: joinPath(m.root, relativePath(m.mountPoint, config.target)), configured: config.target, majmin: m.majmin };
}

/**
 * The mounts with a root the kernel mounted itself (no initramfs), which mountinfo calls /dev/root,
 * named by the command line's root= (`cmdlineRoot`) in its canonical form; kept when root= is absent or no device name.
 */
export function rootMountNamed(mounts: Mount[], cmdlineRoot: string | undefined): Mount[] {
  const d = cmdlineRoot === undefined ? undefined : parseDeviceSpec(cmdlineRoot);
  if (!d || 'error' in d) return mounts;
  return mounts.map((m) => (m.source === '/dev/root' ? { ...m, source: deviceSpecText(d) } : m));
}

/** A mount's source names a block device (/dev/…, or UUID=… and the other forms fstab takes). */
export function isDiskSource(source: string): boolean {
  return !('error' in parseDeviceSpec(source));
}

/** The device path a target_device names on the running system: tags through udev's /dev/disk links. */
export function targetDeviceLink(dev: string): string {
  const d = parseDeviceSpec(dev);
  return ('error' in d ? undefined : deviceLink(d)) ?? dev;
}

/**
 * Where the target directory is now when target_device is mounted: `device` is the real path of
 * the configured device, each mount's `real` the real path of its /dev source. Undefined when the
 * device is not mounted (or not mounted where the target lies).
 */
export function targetOnMountedDevice(target: string, device: string, mounts: (Mount & { real?: string })[]): string | undefined {
  const m = mounts.find((x) => x.source.startsWith('/dev/') && x.real === device && (target + '/').startsWith(x.root === '/' ? '/' : x.root + '/'));
  if (!m) return undefined;
  const inside = m.root === '/' ? target : target.slice(m.root.length) || '/';
  return joinPath(m.mountPoint, inside);
}

/** node:path's posix normalize for absolute paths (the paths mountinfo and the config hold); keeps a trailing slash. */
function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  const n = '/' + out.join('/');
  return p.endsWith('/') && n !== '/' ? n + '/' : n;
}

/** node:path's join for an absolute `a`. */
function joinPath(a: string, b: string): string {
  return normalize(`${a}/${b}`);
}

/** `to` below `from` ("" when equal); both absolute. */
function relativePath(from: string, to: string): string {
  const f = normalize(from).replace(/(.)\/$/, '$1');
  const t = normalize(to).replace(/(.)\/$/, '$1');
  if (f === t) return '';
  const prefix = f === '/' ? '/' : f + '/';
  return t.startsWith(prefix) ? t.slice(prefix.length) : relativeUp(f, t);
}

function relativeUp(f: string, t: string): string {
  const a = f.split('/').filter(Boolean);
  const b = t.split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}

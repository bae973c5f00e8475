// Where the capture kernel runs Node.js from (`capture =` in the config): from the crashed system's
// root file system, mounted read-only (or read-write when it is also the dump target) — the
// initramfs then holds only busybox, the modules and /init, and node's pages come from the disk
// through the page cache — or, when the root is not a local block device (NFS, tmpfs, overlay…),
// from the initramfs itself, as before (about 110 MiB more crashkernel=). Pure: facts in, decision out.
import { KexecError } from '../errors.ts';
import type { KdumpConfig } from './config.ts';
import { isDiskSource, mountOf, NOT_A_DISK, type MountTable } from './dump-target.ts';
import { deviceSpecText, parseDeviceSpec, xEscape, xUnescape } from './device-spec.ts';

/** The root file system as the capture kernel mounts it. */
export interface CaptureRoot {
  /** The canonical device name (device-spec.ts deviceSpecText) the capture /init resolves. */
  device: string;
  fstype: string;
  /** major:minor now, when known (to find its driver modules). */
  majmin?: string;
}

export type CaptureMode =
  | { mode: 'root'; root: CaptureRoot; node: string; bundle: string; why: string }
  | { mode: 'initramfs'; why: string };

export interface CaptureModeFacts extends MountTable {
  /** Node.js and the vmcore-ts bundle the capture would run, as absolute paths on the root file system. */
  node: string;
  bundle: string;
  /** The paths were given explicitly (mkinitrd --node/--bundle for another machine): not checked against the mounts. */
  pathsGiven?: boolean;
}

/** The capture mode for this config and machine; `capture = root` that cannot work is an error, `auto` falls back to the initramfs. */
export function chooseCaptureMode(config: KdumpConfig, f: CaptureModeFacts): CaptureMode {
  if (config.capture === 'initramfs') return { mode: 'initramfs', why: 'capture = initramfs in the config' };
  if (config.collector) return { mode: 'initramfs', why: 'collector = … triages from the capture initramfs' };
  const notRoot = (why: string): CaptureMode => {
    if (config.capture === 'root') throw new KexecError(`capture = root: ${why}`, { hint: 'set root_device and root_fstype, or capture = initramfs' });
    return { mode: 'initramfs', why };
  };
  let root: CaptureRoot;
  if (config.rootDevice) {
    root = { device: config.rootDevice, fstype: config.rootFstype ?? 'ext4' };
  } else {
    const m = mountOf(f.mounts, '/');
    if (!m) return notRoot(f.fstab ? `${f.fstab} has no entry for /` : 'the root file system is not in the mount table');
    // The kernel mounted root= itself and the command line has none we can use (rootMountNamed).
    if (m.source === '/dev/root') return notRoot('the root file system is mounted as /dev/root and the kernel command line has no root= naming it');
    if (NOT_A_DISK.has(m.fstype) || !isDiskSource(m.source)) return notRoot(`the root file system is ${m.fstype} (${m.source}), not a local block device`);
    if (m.root !== '/') return notRoot(`the root file system is a subdirectory (${m.root}) of ${m.source}`);
    const d = parseDeviceSpec(m.source);
    // Only this machine's /dev has udev's by-id/by-path links: an image's fstab naming / so cannot be followed here.
    if (f.fstab && 'kind' in d && d.kind === 'udev-link') return notRoot(`${f.fstab} names / by ${m.source}, a udev link this machine cannot follow: set root_device`);
    root = { device: 'kind' in d ? deviceSpecText(d) : m.source, fstype: config.rootFstype ?? m.fstype, ...(m.majmin ? { majmin: m.majmin } : {}) };
    if (!f.pathsGiven) {
      for (const [what, p] of [['Node.js', f.node], ['the vmcore-ts bundle', f.bundle]] as const) {
        const on = mountOf(f.mounts, p);
        if (on && on.mountPoint !== '/') return notRoot(`${what} (${p}) is on ${on.mountPoint}, not on the root file system`);
      }
    }
  }
  return { mode: 'root', root, node: f.node, bundle: f.bundle, why: `node runs from the root file system ${root.device} (${root.fstype})` };
}

/** The line the capture initramfs keeps in CAPTURE_MODE_FILE (read back by `kdump-ts test` and estimate). */
export function captureModeLine(m: CaptureMode): string {
  const word = (t: string) => xEscape(t, /[\\\s]/g);
  return m.mode === 'root' ? `root ${word(m.root.device)} ${m.root.fstype} ${word(m.node)} ${word(m.bundle)}\n` : `initramfs ${m.why}\n`;
}

/** The mode a capture initramfs was built in, from its CAPTURE_MODE_FILE (none: built before modes, i.e. initramfs). */
export function parseCaptureModeLine(text: string | undefined): { mode: 'root' | 'initramfs'; detail: string } {
  const line = (text ?? '').trim();
  if (line.startsWith('root ')) {
    const [, device, fstype, node] = line.split(' ').map(xUnescape);
    return { mode: 'root', detail: `Node.js (${node}) runs from the root file system ${device} (${fstype}), mounted by the capture kernel` };
  }
  return { mode: 'initramfs', detail: `Node.js is in the initramfs (${line.replace(/^initramfs ?/, '') || 'built before capture modes'})` };
}

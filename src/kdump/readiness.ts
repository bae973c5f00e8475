// What `kdump-ts test`'s checks conclude from the facts the host read (src/host/kdump-readiness.ts):
// the capture initramfs's contents, the reservation against the estimate, the modules and their
// firmware, the dump target's room, the load. Pure.
import { KexecError, ParseError } from '../errors.ts';
import { moduleFirmware } from '../initramfs/modinfo.ts';
import { CAPTURE_MODE_FILE, INITRAMFS_RELEASE } from './capture-initramfs.ts';
import { parseCaptureModeLine } from './capture-mode.ts';
import type { KdumpConfig } from './config.ts';
import { formatSize } from './crashkernel.ts';
import type { DumpTarget } from './dump-target.ts';
import type { Estimate } from './estimate.ts';
import { targetNotMounted, type CaptureFiles, type KdumpStatus } from './status.ts';

export interface Check {
  name: string;
  /** 'skip': cannot be checked from the running system (said why in `detail`). */
  result: 'ok' | 'FAIL' | 'skip';
  detail: string;
  /** What to do when it failed. */
  fix?: string;
}

/** A check that failed with this error (its hint is the fix). */
export function failedCheck(name: string, e: unknown): Check {
  if (!(e instanceof Error)) throw e;
  const hint = (e as KexecError).hint;
  return { name, result: 'FAIL', detail: e.message, ...(hint ? { fix: hint } : {}) };
}

/** Module names compare with '-' and '_' alike (as modprobe does). */
export const modName = (p: string): string => p.replace(/^.*\//, '').replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');

/** What a capture initramfs holds, as `kdump-ts test` looks at it. */
export interface InitrdContents {
  /** The release it was built for (INITRAMFS_RELEASE), when kdump-ts mkinitrd built it. */
  builtFor?: string;
  /** Module names (modName) inside. */
  modules: Set<string>;
  paths: Set<string>;
  /** Uncompressed modules (mkinitrd decompresses them), for their modinfo. */
  kos: { name: string; data: Uint8Array }[];
  /** Where the capture runs Node.js from (CAPTURE_MODE_FILE), when mkinitrd recorded it. */
  capture?: { mode: 'root' | 'initramfs'; detail: string };
}

/** Adds the entries (path and bytes, in archive order) to `c` (a new one by default); a damaged archive leaves what came before it. */
export function initrdContents(entries: Iterable<{ name: string; data: Uint8Array }>, c: InitrdContents = { modules: new Set(), paths: new Set(), kos: [] }): InitrdContents {
  for (const e of entries) {
    if (e.name === INITRAMFS_RELEASE) c.builtFor = new TextDecoder().decode(e.data).trim();
    if (e.name === CAPTURE_MODE_FILE) c.capture = parseCaptureModeLine(new TextDecoder().decode(e.data));
    c.paths.add(e.name);
    if (/\.ko(\.(xz|gz|zst))?$/.test(e.name)) c.modules.add(modName(e.name));
    if (e.name.endsWith('.ko')) c.kos.push({ name: e.name, data: e.data });
  }
  return c;
}

/** The initramfs is mkinitrd's, built for the capture kernel's release. */
export function initramfsCheck(files: CaptureFiles, builtFor: string | undefined): Check {
  if (builtFor === files.release) return { name: 'capture initramfs', result: 'ok', detail: `${files.initrd}, built for ${builtFor}` };
  return {
    name: 'capture initramfs',
    result: 'FAIL',
    detail: builtFor ? `${files.initrd} was built for ${builtFor}, the capture kernel is ${files.release}` : `${files.initrd} was not built by kdump-ts mkinitrd (no ${INITRAMFS_RELEASE})`,
    fix: 'rebuild it: kdump-ts mkinitrd',
  };
}

/** Where the capture runs Node.js from: informational (root: a small reservation; initramfs: ~110 MiB more). */
export function captureModeCheck(capture: InitrdContents['capture']): Check {
  const c = capture ?? parseCaptureModeLine(undefined);
  return { name: 'capture mode', result: 'ok', detail: `${c.mode}: ${c.detail}` };
}

/** The reservation against what the capture needs (`why`: the reason there is no estimate). */
export function crashkernelCheck(reserved: KdumpStatus['reserved'], estimate: Estimate | undefined, why: string): Check {
  if (!reserved) {
    return { name: 'crashkernel', result: 'FAIL', detail: 'no memory is reserved for a capture kernel', fix: `add ${estimate?.param ?? 'crashkernel=SIZE (see kdump-ts estimate)'} to the kernel command line and reboot` };
  }
  if (!estimate) return { name: 'crashkernel', result: 'skip', detail: `${formatSize(reserved.size)} reserved; ${why}` };
  const need = estimate.total;
  const what = `${formatSize(reserved.size)} reserved, the capture kernel and initramfs need ${formatSize(need)} (kdump-ts estimate)`;
  return reserved.size >= need ? { name: 'crashkernel', result: 'ok', detail: what } : { name: 'crashkernel', result: 'FAIL', detail: what, fix: `reserve more: ${estimate.param} on the kernel command line, then reboot` };
}

/** The firmware names each uncompressed module in the initramfs declares (modinfo firmware=). */
export function declaredFirmware(kos: InitrdContents['kos'], initrd: string): { module: string; names: string[] }[] {
  return kos.map((ko) => {
    try {
      return { module: modName(ko.name), names: moduleFirmware(ko.data, ko.name) };
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      throw new KexecError(`cannot read the modinfo of ${ko.name} in ${initrd}: ${e.message}`, { hint: 'rebuild it: kdump-ts mkinitrd' });
    }
  });
}

/**
 * The modules the capture kernel needs are inside, and so is the firmware they declare that the
 * host has (`firmwareOnHost`: host path -> the module declaring it).
 */
export function modulesCheck(wanted: string[], target: DumpTarget, inside: InitrdContents | undefined, firmwareOnHost: Map<string, string>): Check {
  if (!inside) return { name: 'modules', result: 'skip', detail: `needs ${wanted.join(' ') || 'none'}; no initramfs to look in` };
  const missing = wanted.filter((m) => !inside.modules.has(modName(m)));
  const fwMissing = [...firmwareOnHost].filter(([p]) => !inside.paths.has(p)).map(([p, m]) => `${p} (for ${m})`);
  const fw = firmwareOnHost.size ? `; firmware: ${firmwareOnHost.size - fwMissing.length} of ${firmwareOnHost.size} present` : '';
  if (missing.length) {
    return { name: 'modules', result: 'FAIL', detail: `the initramfs lacks ${missing.join(' ')} (needed for ${target.ssh || target.s3 ? `the network to ${(target.ssh ?? target.s3)!.url}` : `${target.device} ${target.fstype}`})`, fix: 'install the modules of the capture kernel and rebuild: kdump-ts mkinitrd' };
  }
  if (fwMissing.length) return { name: 'modules', result: 'FAIL', detail: `the initramfs lacks firmware the host has: ${fwMissing.join(' ')}`, fix: 'run kdump-ts mkinitrd' };
  return { name: 'modules', result: 'ok', detail: `${wanted.length ? wanted.join(' ') : 'none needed (built into the kernel)'}${fw}` };
}

/** /proc/meminfo's "Key: N kB" lines, in bytes. */
export function parseMeminfo(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split('\n')) {
    const x = /^(\w+):\s+(\d+) kB/.exec(l);
    if (x) m.set(x[1]!, Number(x[2]) * 1024);
  }
  return m;
}

/**
 * The dump target is there, writable and has room: the dump is at most the RAM minus what the dump
 * level leaves out (by /proc/meminfo now); compression makes it smaller still.
 */
export function dumpTargetCheck(status: KdumpStatus, config: KdumpConfig, meminfo: Map<string, number>): Check {
  const t = status.target;
  if (config.s3) {
    // Object storage: reachable and the key accepted is all there is to know; it reports no free space.
    const at = config.s3.endpoint ?? 'AWS';
    if (t.error) return { name: 'dump target', result: t.error.endsWith('not asked for another root (--root)') ? 'skip' : 'FAIL', detail: t.error };
    return { name: 'dump target', result: 'ok', detail: `${t.dir} at ${at}: reachable, the key is accepted and the bucket is there (HeadBucket); room: not applicable (object storage reports no free space)` };
  }
  if (t.error && !t.exists && !t.writable && t.freeBytes === undefined) {
    return { name: 'dump target', result: t.error === targetNotMounted(config) ? 'skip' : 'FAIL', detail: `${t.dir}: ${t.error}` };
  }
  if (!t.writable) {
    return { name: 'dump target', result: 'FAIL', detail: `${t.dir} ${t.exists ? 'is not writable' : 'does not exist'}`, fix: t.exists ? 'fix its permissions' : `create it: mkdir -p ${config.target}` };
  }
  const level = config.dumpLevel;
  const excluded = (level & 16 ? (meminfo.get('MemFree') ?? 0) : 0) + (level & 6 ? (meminfo.get('Cached') ?? 0) : 0) + (level & 8 ? (meminfo.get('AnonPages') ?? 0) : 0);
  const need = Math.max(0, status.wouldSave.ramBytes - excluded);
  const free = t.freeBytes ?? 0;
  const what = `${t.dir}: writable, ${formatSize(BigInt(free))} free, a dump at dump level ${level} takes up to ${formatSize(BigInt(need))}`;
  return free >= need ? { name: 'dump target', result: 'ok', detail: what } : { name: 'dump target', result: 'FAIL', detail: what, fix: 'free space there, point target = elsewhere, or raise dump_level' };
}

/** A capture kernel is loaded. */
export function loadedCheck(status: KdumpStatus): Check {
  return status.loaded
    ? { name: 'loaded', result: 'ok', detail: status.loadedBy ? `${status.loadedBy.kernel} with ${status.loadedBy.initrd}` : 'a capture kernel is loaded (not by kdump-ts)' }
    : { name: 'loaded', result: 'FAIL', detail: 'no capture kernel is loaded', fix: 'kdump-ts load' };
}

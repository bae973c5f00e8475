// `kdump-ts estimate` and `kdump-ts test`: how much memory the capture needs on this machine, and
// whether a crash now would be captured — checked without crashing anything (like Debian's
// `kdump-config test`). Reads the machine through `root` ("/", or a fake tree in tests).
import { gzipSync } from 'node:zlib';
import { KexecError, ParseError } from '../errors.ts';
import { moduleFirmware } from '../initramfs/modinfo.ts';
import { findFirmware } from './initramfs-collect.ts';
import { formatSize } from '../kdump/crashkernel.ts';
import { estimateCrashkernel, type Estimate } from '../kdump/estimate.ts';
import { hostPath, readText } from './crash-facts.ts';
import { bzImageInitSize, initrdEntries, initrdUnpackedSize } from './initrd-size.ts';
import { INITRAMFS_RELEASE } from '../kdump/capture-initramfs.ts';
import { buildCaptureInitramfs, packageRoot, resolveTarget, targetModules } from './kdump-initramfs.ts';
import { captureFiles, osRelease, readCaptureFile, readConfig, readStatus } from './kdump-service.ts';

export interface CaptureEstimate {
  kernel: string;
  /** The initramfs measured: its path, or what mkinitrd would build. */
  initrd: string;
  estimate: Estimate;
}

/** The crashkernel= size the configured capture kernel and initramfs need (built in memory when missing). */
export function estimateCapture(root: string, opts: { configPath?: string; bundle?: string } = {}): CaptureEstimate {
  const { config } = readConfig(root, opts.configPath);
  const files = captureFiles(config, root);
  const kernelInitSize = bzImageInitSize(readCaptureFile(root, 'kernel', files, config, opts.configPath), hostPath(root, files.kernel));
  let initrdSize: bigint;
  let unpacked: bigint;
  let source: string;
  const initrdPath = hostPath(root, files.initrd);
  let initrd: Uint8Array | undefined;
  try {
    initrd = readCaptureFile(root, 'initrd', files, config, opts.configPath);
  } catch (e) {
    if (!(e instanceof KexecError) || !/does not exist/.test(e.message)) throw e;
  }
  if (initrd) {
    initrdSize = BigInt(initrd.length);
    unpacked = initrdUnpackedSize(initrd, initrdPath);
    source = files.initrd;
  } else {
    // Not built yet: assemble it in memory to measure what mkinitrd would write.
    const built = buildCaptureInitramfs({
      config,
      target: resolveTarget(config, root),
      release: files.release,
      modulesDir: `/lib/modules/${files.release}`,
      bundle: opts.bundle ?? `${packageRoot()}/dist/vmcore-ts.mjs`,
      root,
    });
    unpacked = BigInt(built.archive.dataSize());
    initrdSize = BigInt(gzipSync(Buffer.concat(built.archive.encode()), { level: 1 }).length);
    source = 'what `kdump-ts mkinitrd` would build (measured in memory)';
  }
  return { kernel: files.kernel, initrd: source, estimate: estimateCrashkernel({ kernelInitSize, initrdSize, initrdUnpacked: unpacked }) };
}

export interface Check {
  name: string;
  /** 'skip': cannot be checked from the running system (said why in `detail`). */
  result: 'ok' | 'FAIL' | 'skip';
  detail: string;
  /** What to do when it failed. */
  fix?: string;
}

/** /proc/meminfo's "Key: N kB" lines, in bytes. */
function meminfo(root: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of (readText(root, '/proc/meminfo') ?? '').split('\n')) {
    const x = /^(\w+):\s+(\d+) kB/.exec(l);
    if (x) m.set(x[1]!, Number(x[2]) * 1024);
  }
  return m;
}

/** Module names compare with '-' and '_' alike (as modprobe does). */
const modName = (p: string) => p.replace(/^.*\//, '').replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');

/**
 * Every check of `kdump-ts test`: memory reserved and large enough, capture kernel and initramfs
 * present and matching, its modules, the dump target, the capture kernel loaded. Never acts.
 */
export function readinessChecks(root: string, opts: { configPath?: string; bundle?: string } = {}): Check[] {
  const checks: Check[] = [];
  const fail = (name: string, e: unknown): Check => {
    if (!(e instanceof Error)) throw e;
    const hint = (e as KexecError).hint;
    return { name, result: 'FAIL', detail: e.message, ...(hint ? { fix: hint } : {}) };
  };
  const status = readStatus(root, opts.configPath);
  const { config } = readConfig(root, opts.configPath);
  const files = captureFiles(config, root);

  try {
    readCaptureFile(root, 'kernel', files, config, opts.configPath);
    checks.push({ name: 'capture kernel', result: 'ok', detail: `${files.kernel} (release ${files.release}; running ${osRelease(root)})` });
  } catch (e) {
    checks.push(fail('capture kernel', e));
  }
  const initrdPath = hostPath(root, files.initrd);
  let modulesInside: Set<string> | undefined;
  const pathsInside = new Set<string>();
  const kosInside: { name: string; data: Uint8Array }[] = [];
  try {
    const bytes = readCaptureFile(root, 'initrd', files, config, opts.configPath);
    let builtFor: string | undefined;
    modulesInside = new Set();
    for (const e of initrdEntries(bytes, initrdPath)) {
      if (e.name === INITRAMFS_RELEASE) builtFor = new TextDecoder().decode(e.data).trim();
      pathsInside.add(e.name);
      if (/\.ko(\.(xz|gz|zst))?$/.test(e.name)) modulesInside.add(modName(e.name));
      if (e.name.endsWith('.ko')) kosInside.push({ name: e.name, data: e.data }); // mkinitrd decompresses modules
    }
    if (builtFor === files.release) checks.push({ name: 'capture initramfs', result: 'ok', detail: `${files.initrd}, built for ${builtFor}` });
    else {
      checks.push({
        name: 'capture initramfs',
        result: 'FAIL',
        detail: builtFor ? `${files.initrd} was built for ${builtFor}, the capture kernel is ${files.release}` : `${files.initrd} was not built by kdump-ts mkinitrd (no ${INITRAMFS_RELEASE})`,
        fix: 'rebuild it: kdump-ts mkinitrd',
      });
    }
  } catch (e) {
    checks.push(fail('capture initramfs', e));
  }

  const r = status.reserved;
  let estimate: CaptureEstimate | undefined;
  let why = 'what the capture needs is unknown without its kernel and initramfs';
  if (checks.every((c) => c.result === 'ok')) {
    try {
      estimate = estimateCapture(root, opts);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      why = `the estimate failed: ${e.message}`;
    }
  }
  if (!r) {
    checks.push({ name: 'crashkernel', result: 'FAIL', detail: 'no memory is reserved for a capture kernel', fix: `add ${estimate?.estimate.param ?? 'crashkernel=SIZE (see kdump-ts estimate)'} to the kernel command line and reboot` });
  } else if (!estimate) {
    checks.push({ name: 'crashkernel', result: 'skip', detail: `${formatSize(r.size)} reserved; ${why}` });
  } else {
    const need = estimate.estimate.total;
    const what = `${formatSize(r.size)} reserved, the capture kernel and initramfs need ${formatSize(need)} (kdump-ts estimate)`;
    checks.push(r.size >= need ? { name: 'crashkernel', result: 'ok', detail: what } : { name: 'crashkernel', result: 'FAIL', detail: what, fix: `reserve more: ${estimate.estimate.param} on the kernel command line, then reboot` });
  }

  // The modules the capture kernel needs: the dump target's driver chain and filesystem (when they
  // are modules now) and those the config names.
  try {
    const target = resolveTarget(config, root);
    const wanted = targetModules(target, config, root);
    if (!modulesInside) checks.push({ name: 'modules', result: 'skip', detail: `needs ${wanted.join(' ') || 'none'}; no initramfs to look in` });
    else {
      const missing = wanted.filter((m) => !modulesInside!.has(modName(m)));
      // The firmware its modules declare that the host has must be inside too (mkinitrd carries it).
      const fwOnHost = new Map<string, string>(); // host firmware path -> the module declaring it
      for (const ko of kosInside) {
        let names: string[];
        try {
          names = moduleFirmware(ko.data, ko.name);
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          throw new KexecError(`cannot read the modinfo of ${ko.name} in ${files.initrd}: ${e.message}`, { hint: 'rebuild it: kdump-ts mkinitrd' });
        }
        for (const name of names) {
          const onHost = findFirmware(root, name, files.release);
          if (onHost && !fwOnHost.has(onHost)) fwOnHost.set(onHost, modName(ko.name));
        }
      }
      const fwMissing = [...fwOnHost].filter(([p]) => !pathsInside.has(p)).map(([p, m]) => `${p} (for ${m})`);
      const fw = fwOnHost.size ? `; firmware: ${fwOnHost.size - fwMissing.length} of ${fwOnHost.size} present` : '';
      checks.push(
        missing.length
          ? { name: 'modules', result: 'FAIL', detail: `the initramfs lacks ${missing.join(' ')} (needed for ${target.device} ${target.fstype})`, fix: 'install the modules of the capture kernel and rebuild: kdump-ts mkinitrd' }
          : fwMissing.length
            ? { name: 'modules', result: 'FAIL', detail: `the initramfs lacks firmware the host has: ${fwMissing.join(' ')}`, fix: 'run kdump-ts mkinitrd' }
            : { name: 'modules', result: 'ok', detail: `${wanted.length ? wanted.join(' ') : 'none needed (built into the kernel)'}${fw}` },
      );
    }
  } catch (e) {
    checks.push(fail('modules', e));
  }

  const t = status.target;
  if (t.error && !t.exists && !t.writable && t.freeBytes === undefined) {
    checks.push({ name: 'dump target', result: /not mounted now/.test(t.error) ? 'skip' : 'FAIL', detail: `${t.dir}: ${t.error}` });
  } else if (!t.writable) {
    checks.push({ name: 'dump target', result: 'FAIL', detail: `${t.dir} ${t.exists ? 'is not writable' : 'does not exist'}`, fix: t.exists ? 'fix its permissions' : `create it: mkdir -p ${config.target}` });
  } else {
    // The dump is at most the RAM minus what the dump level leaves out (by /proc/meminfo now);
    // compression makes it smaller still.
    const mem = meminfo(root);
    const level = config.dumpLevel;
    const excluded = (level & 16 ? (mem.get('MemFree') ?? 0) : 0) + (level & 6 ? (mem.get('Cached') ?? 0) : 0) + (level & 8 ? (mem.get('AnonPages') ?? 0) : 0);
    const need = Math.max(0, status.wouldSave.ramBytes - excluded);
    const free = t.freeBytes ?? 0;
    const what = `${t.dir}: writable, ${formatSize(BigInt(free))} free, a dump at dump level ${level} takes up to ${formatSize(BigInt(need))}`;
    checks.push(free >= need ? { name: 'dump target', result: 'ok', detail: what } : { name: 'dump target', result: 'FAIL', detail: what, fix: 'free space there, point target = elsewhere, or raise dump_level' });
  }

  checks.push(
    status.loaded
      ? { name: 'loaded', result: 'ok', detail: status.loadedBy ? `${status.loadedBy.kernel} with ${status.loadedBy.initrd}` : 'a capture kernel is loaded (not by kdump-ts)' }
      : { name: 'loaded', result: 'FAIL', detail: 'no capture kernel is loaded', fix: 'kdump-ts load' },
  );
  return checks;
}

/** The checks as aligned lines: "ok    name  detail", FAIL lines followed by what to do. */
export function formatChecks(checks: Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.result.padEnd(5)} ${c.name.padEnd(18)} ${c.detail}`);
    if (c.fix) lines.push(`${''.padEnd(25)}→ ${c.fix}`);
  }
  const failed = checks.filter((c) => c.result === 'FAIL').length;
  lines.push(failed ? `NOT READY: ${failed} check${failed > 1 ? 's' : ''} failed` : 'ready: a crash now would be captured');
  return lines.join('\n') + '\n';
}

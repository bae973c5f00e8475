// The kdump service's decisions: which capture kernel, initramfs and command line the config gives
// on a machine, what `kdump-ts load` asks of the kexec library and records, and what the facts read
// by `kdump-ts status` mean (the problems and `ready`). Pure: src/host/kdump-service.ts reads the
// machine and hands the facts over.
import { KexecError, ParseError, UsageError } from '../errors.ts';
import { walkIomem } from '../kexec/memory-map.ts';
import type { LoadRequest } from '../kexec/load.ts';
import { captureCmdline } from './capture-cmdline.ts';
import { DEFAULT_CONFIG_PATH, DEFAULT_INITRD_DIR, type KdumpConfig } from './config.ts';
import type { CrashFacts } from './crash-load.ts';
import { crashkernelFromCmdline, formatSize, reservedCrashRegions, type CrashRegion } from './crashkernel.ts';
import type { DumpTarget } from './dump-target.ts';
import { dumpRamRanges, type CoreArch } from './elfcorehdr.ts';

/** Where `load` records what it loaded (tmpfs: gone after reboot, like the loaded kernel). */
export const STATE_FILE = '/run/kdump-ts/loaded.json';

export interface LoadedState {
  kernel: string;
  initrd: string;
  cmdline: string;
  syscall: string;
  /** ISO time of the load. */
  at: string;
}

/** The capture kernel, initramfs and command line, and the kernel release they are for. */
export interface CaptureFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
  release: string;
}

export interface KdumpStatus {
  config: { path: string; found: boolean };
  reserved: (CrashRegion & { param?: string }) | null;
  /** /sys/kernel/kexec_crash_size, when readable. */
  crashSize?: number;
  loaded: boolean;
  /** What kdump-ts loaded, when it was kdump-ts. */
  loadedBy?: LoadedState;
  capture: { kernel: string; kernelExists: boolean; initrd: string; initrdExists: boolean; cmdline: string };
  target: { dir: string; exists: boolean; writable: boolean; freeBytes?: number; device?: string; fstype?: string; error?: string; lastDump?: SavedDump };
  wouldSave: { ramBytes: number; dumpLevel: number; compression: string; format: string; path: string };
  /** What our ELF core header would describe (kexec_load path); sources say where each fact came from. */
  coreHeader: { arch: CoreArch; cpuNotes: number; vmcoreinfo: boolean; kernelText?: { vaddr: bigint; paddr: bigint; size: bigint }; pageOffset?: bigint; sources: string[] };
  problems: string[];
  ready: boolean;
}

/** The running release (/proc/sys/kernel/osrelease); a missing one is an error. */
export function runningRelease(osrelease: string | undefined): string {
  const r = osrelease?.trim();
  if (!r) throw new KexecError('cannot read /proc/sys/kernel/osrelease');
  return r;
}

/**
 * The capture kernel, initrd and command line the config gives on a machine running `osrelease`
 * with `procCmdline` (/proc/cmdline).
 */
export function captureFilesFor(config: KdumpConfig, osrelease: string | undefined, procCmdline: string | undefined): CaptureFiles {
  const running = runningRelease(osrelease);
  const kernel = config.kernel ?? `/boot/vmlinuz-${running}`;
  const release = /vmlinu[xz]-(.+)$/.exec(kernel)?.[1] ?? running;
  const initrd = config.initrd ?? `${DEFAULT_INITRD_DIR}/initrd.img-${release}`;
  const cmdline = config.cmdline ?? captureCmdline(procCmdline?.trim() ?? '', { append: config.cmdlineAppend, remove: config.cmdlineRemove }).cmdline;
  return { kernel, initrd, cmdline, release };
}

/**
 * Where `kdump-ts mkinitrd --release R` writes without -o: the default path is one per release
 * (DEFAULT_INITRD_DIR/initrd.img-R); a configured `initrd =` is one fixed path (the config has no
 * per-release pattern), so it is only used for the configured kernel's release — for another
 * release writing there would replace the initramfs the service loads.
 */
export function mkinitrdOutput(config: KdumpConfig, files: CaptureFiles, release: string, configFile = DEFAULT_CONFIG_PATH): string {
  if (!config.initrd) return `${DEFAULT_INITRD_DIR}/initrd.img-${release}`;
  if (release === files.release) return config.initrd;
  throw new UsageError(`initrd = ${config.initrd} in ${configFile} is the capture initramfs of ${files.release}, not of ${release}: give -o FILE`);
}

/** The capture files status reports: the config's, or (with `error`) what is known when they cannot be worked out. */
export function statusCaptureFiles(config: KdumpConfig, osrelease: string | undefined, procCmdline: string | undefined): { files: CaptureFiles; error?: string } {
  try {
    return { files: captureFilesFor(config, osrelease, procCmdline) };
  } catch (e) {
    return { files: { kernel: config.kernel ?? '?', initrd: config.initrd ?? '?', cmdline: config.cmdline ?? '', release: '?' }, error: (e as Error).message };
  }
}

/** A capture kernel or initramfs that is not there (callers that can do without one catch this class). */
export class CaptureFileMissingError extends KexecError {}

/** A capture kernel or initramfs that is not there, with what to do about it. */
export function captureFileMissing(which: 'kernel' | 'initrd', path: string, config: KdumpConfig, release: string, configFile = DEFAULT_CONFIG_PATH): CaptureFileMissingError {
  if (which === 'kernel') {
    return new CaptureFileMissingError(`capture kernel ${path} does not exist`, {
      hint: config.kernel
        ? `fix kernel = in ${configFile}`
        : `install the kernel of release ${release} (Debian: apt install linux-image-${release}), or set kernel = PATH in ${configFile}`,
    });
  }
  return new CaptureFileMissingError(`capture initramfs ${path} does not exist`, {
    hint: config.initrd ? `build it there (kdump-ts mkinitrd -o ${config.initrd}) or fix initrd = in ${configFile}` : 'build it: kdump-ts mkinitrd',
  });
}

/** What `kdump-ts load` asks of the kexec library for these files: kexec-ts -p's load, by the config's syscall. */
export function captureLoadRequest(files: { kernel: string; initrd: string; cmdline: string }, syscall: KdumpConfig['syscall']): LoadRequest {
  return {
    kernel: files.kernel,
    initrd: files.initrd,
    cmdline: files.cmdline,
    kind: 'crash',
    syscall: syscall === 'kexec_load' ? 'load' : syscall === 'kexec_file_load' ? 'file' : 'auto',
    dryRun: false,
  };
}

/**
 * The steps of `kdump-ts load`: unload a loaded capture kernel first, load the files (at their
 * paths under the machine's root), record what was loaded.
 */
export function captureLoadSteps(
  config: KdumpConfig,
  files: CaptureFiles,
  machine: { crashLoaded: boolean; path: (p: string) => string; at: Date },
): { unloadFirst: boolean; request: LoadRequest; state: LoadedState } {
  return {
    unloadFirst: machine.crashLoaded,
    request: captureLoadRequest({ ...files, kernel: machine.path(files.kernel), initrd: machine.path(files.initrd) }, config.syscall),
    state: { kernel: files.kernel, initrd: files.initrd, cmdline: files.cmdline, syscall: config.syscall, at: machine.at.toISOString() },
  };
}

/** Why the target's space and permissions are unknown: its target_device is not mounted now. */
export function targetNotMounted(config: KdumpConfig): string {
  return `${config.targetDevice} is not mounted now: its space and permissions are checked only by the capture kernel`;
}

/** What the host found about the configured dump target directory. */
export interface TargetFacts {
  /** Where the directory is now (undefined: its target_device is not mounted). */
  here?: string;
  exists: boolean;
  /** The host may write there (access W_OK). */
  writable: boolean;
  /** Its free space (statfs), when it is writable and that could be read. */
  freeBytes?: number;
  /** What the capture kernel would mount, or why that is unknown. */
  resolved: DumpTarget | { error: string };
  /** The newest dump directory there (lastDumpDir) and what it holds. */
  lastDump?: SavedDump;
}

/** A dump directory the capture kernel wrote: TARGET/YYYYmmdd-HHMMSS/{vmcore,dmesg.txt,save-exit-code}. */
export interface SavedDump {
  dir: string;
  /** vmcore's size; undefined when there is none */
  vmcoreBytes?: number;
  dmesg: boolean;
  /** save-exit-code's text (undefined: the save did not finish) */
  exitCode?: string;
}

/** The newest capture directory name (YYYYmmdd-HHMMSS, as /init names them) among `names`. */
export function lastDumpDir(names: string[]): string | undefined {
  return names.filter((n) => /^\d{8}-\d{6}$/.test(n)).sort().pop();
}

/** One line on a saved dump: where, what it holds, whether the save finished. */
export function formatSavedDump(d: SavedDump | undefined): string {
  if (!d) return 'none';
  const what = [d.vmcoreBytes !== undefined ? `vmcore ${formatSize(BigInt(d.vmcoreBytes))}` : 'no vmcore', d.dmesg ? 'dmesg.txt' : 'no dmesg.txt'];
  const saved = d.exitCode === undefined ? 'save did not finish' : d.exitCode === '0' ? 'saved' : `save failed (exit ${d.exitCode})`;
  return `${d.dir}: ${what.join(', ')}, ${saved}`;
}

/** The facts `kdump-ts status` reads from the machine. */
export interface StatusFacts {
  config: KdumpConfig;
  configPath: string;
  configFound: boolean;
  /** For the ELF core header (an empty iomem when /proc/iomem is unreadable). */
  crash: CrashFacts;
  /** The capture kernel's architecture (from its image; default x86_64): which RAM the dump covers. */
  arch?: CoreArch;
  /** /proc/cmdline. */
  cmdline: string;
  /** /sys/kernel/kexec_crash_size and kexec_crash_loaded. */
  crashSize?: string;
  crashLoaded?: string;
  /** The STATE_FILE's text. */
  state?: string;
  /** The capture files (statusCaptureFiles) and whether each exists. */
  capture: { files: CaptureFiles; kernelExists: boolean; initrdExists: boolean; error?: string };
  target: TargetFacts;
}

/** What the status facts mean: the reservation, the load, the capture files, the target, what would be saved, the problems. */
export function kdumpStatus(f: StatusFacts): KdumpStatus {
  const { config } = f;
  const problems: string[] = [];
  const iomem = f.crash.iomem;
  const regions = reservedCrashRegions(iomem);
  let param: string | undefined;
  try {
    const specs = crashkernelFromCmdline(f.cmdline);
    if (specs.length) param = specs.map((s) => `crashkernel=${s.text}`).join(' ');
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    problems.push(`the running command line has a bad crashkernel=: ${e.message}`);
  }
  const reserved = regions.main ? { ...regions.main, ...(param ? { param } : {}) } : null;
  if (!reserved) {
    problems.push(
      param
        ? `${param} is on the command line but no memory is reserved (too little RAM, or no room at the asked offset)`
        : 'no memory is reserved for a capture kernel: add crashkernel=SIZE to the kernel command line (see `kdump-ts estimate`) and reboot',
    );
  }
  const loaded = f.crashLoaded?.trim() === '1';
  let loadedBy: LoadedState | undefined;
  if (loaded && f.state) {
    try {
      loadedBy = JSON.parse(f.state) as LoadedState;
    } catch {
      // a damaged state file only loses the "which one"
    }
  }
  if (!loaded) problems.push('no capture kernel is loaded: run `kdump-ts load`');

  const { files, kernelExists, initrdExists } = f.capture;
  if (f.capture.error !== undefined) problems.push(f.capture.error);
  const capture = { ...files, kernelExists, initrdExists };
  for (const which of ['kernel', 'initrd'] as const) {
    if (!(which === 'kernel' ? kernelExists : initrdExists)) {
      const e = captureFileMissing(which, files[which], config, files.release, f.configPath);
      problems.push(`${e.message}: ${e.hint}`);
    }
  }

  const t = f.target;
  const target: KdumpStatus['target'] = { dir: config.target, exists: false, writable: false };
  if (t.here === undefined) {
    target.error = targetNotMounted(config);
  } else {
    target.exists = t.exists;
    target.writable = t.writable;
    if (t.freeBytes !== undefined) target.freeBytes = t.freeBytes;
    // An ssh target that could not be asked says why in its resolved error, below.
    else if (!config.ssh && !config.s3) problems.push(t.exists ? `dump target ${t.here} is not writable` : `dump target ${t.here} does not exist: create it`);
  }
  if ('error' in t.resolved) {
    target.error = t.resolved.error;
    problems.push(target.error);
  } else {
    target.device = t.resolved.device;
    target.fstype = t.resolved.fstype;
  }
  if (t.lastDump) target.lastDump = t.lastDump;
  if (t.here !== undefined && t.here !== config.target) target.dir = `${config.target} (mounted at ${t.here} now)`;
  const systemRam = walkIomem(iomem)
    .filter((r) => r.name.startsWith('System RAM'))
    .map((r) => ({ start: r.start, end: r.end }));
  const ramBytes = dumpRamRanges(systemRam, regions.all, f.arch).reduce((n, r) => n + Number(r.end - r.start + 1n), 0);
  const wouldSave = {
    ramBytes,
    dumpLevel: config.dumpLevel,
    compression: config.compression,
    format: config.compression === 'none' ? 'ELF' : 'kdump-compressed',
    path: `${config.target.replace(/\/$/, '')}/YYYYmmdd-HHMMSS/${config.ssh ? 'vmcore.part-NNNNN + vmcore.manifest.json' : config.s3 ? 'vmcore.flat + vmcore.manifest.json' : 'vmcore'}`,
  };
  if (target.freeBytes !== undefined && config.dumpLevel === 0 && config.compression === 'none' && target.freeBytes < ramBytes) {
    problems.push(`the dump target has ${formatSize(BigInt(target.freeBytes))} free, less than the ${formatSize(BigInt(ramBytes))} an unfiltered ELF dump takes`);
  }
  const facts = f.crash;
  const coreHeader: KdumpStatus['coreHeader'] = {
    arch: f.arch ?? 'x86_64',
    cpuNotes: facts.cpuNotes.length,
    vmcoreinfo: !!facts.vmcoreinfo,
    ...(facts.kernelText ? { kernelText: facts.kernelText } : {}),
    ...(facts.pageOffset !== undefined ? { pageOffset: facts.pageOffset } : {}),
    sources: facts.sources ?? [],
  };
  if (config.syscall === 'kexec_load' && coreHeader.cpuNotes === 0) {
    problems.push('no CPU crash notes readable under /sys/devices/system/cpu: kexec_load cannot build the ELF core header (run as root; needs CONFIG_CRASH_DUMP)');
  }
  return {
    config: { path: f.configPath, found: f.configFound },
    reserved,
    ...(f.crashSize !== undefined ? { crashSize: Number(f.crashSize.trim()) } : {}),
    loaded,
    ...(loadedBy ? { loadedBy } : {}),
    capture,
    target,
    wouldSave,
    coreHeader,
    problems,
    ready: problems.length === 0,
  };
}

// The kdump service: what `kdump-ts status` reports, and `load` / `unload` from the config file
// (in-process through the kexec library, with the KexecSyscalls the caller gives: only the CLI
// constructs the real ones). Reads the machine through a `root` directory ("/" normally; a fake tree in tests).
import { accessSync, constants, mkdirSync, readFileSync, realpathSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KexecError, ParseError } from '../errors.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import { hex } from '../text.ts';
import { walkIomem } from '../kexec/memory-map.ts';
import { DUMP_LEVEL_WORDS } from '../analyze/page-class.ts';
import type { CrashFacts } from '../kdump/crash-load.ts';
import { captureCmdline } from '../kdump/capture-cmdline.ts';
import type { KdumpConfig } from '../kdump/config.ts';
import { DEFAULT_CONFIG, DEFAULT_CONFIG_PATH, DEFAULT_INITRD_DIR, parseConfig } from '../kdump/config.ts';
import { crashkernelFromCmdline, formatSize, reservedCrashRegions } from '../kdump/crashkernel.ts';
import type { CrashRegion } from '../kdump/crashkernel.ts';
import { dumpRamRanges } from '../kdump/elfcorehdr.ts';
import { hostPath, readCrashFacts, readText } from './crash-facts.ts';
import type { DumpTarget } from './kdump-initramfs.ts';
import { parseMountinfo, resolveTarget } from './kdump-initramfs.ts';
import type { LoadRequest, PlannedLoad } from '../kexec/load.ts';
import type { KexecSyscalls } from '../kexec/syscalls.ts';
import { loadKernel, planKernelLoad, unloadKernel } from './kexec-load.ts';
import { refuseInTests } from './syscalls.ts';

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

export interface KdumpStatus {
  config: { path: string; found: boolean };
  reserved: (CrashRegion & { param?: string }) | null;
  /** /sys/kernel/kexec_crash_size, when readable. */
  crashSize?: number;
  loaded: boolean;
  /** What kdump-ts loaded, when it was kdump-ts. */
  loadedBy?: LoadedState;
  capture: { kernel: string; kernelExists: boolean; initrd: string; initrdExists: boolean; cmdline: string };
  target: { dir: string; exists: boolean; writable: boolean; freeBytes?: number; device?: string; fstype?: string; error?: string };
  wouldSave: { ramBytes: number; dumpLevel: number; compression: string; format: string; path: string };
  /** What our ELF core header would describe (kexec_load path); sources say where each fact came from. */
  coreHeader: { cpuNotes: number; vmcoreinfo: boolean; kernelText?: { vaddr: bigint; paddr: bigint; size: bigint }; pageOffset?: bigint; sources: string[] };
  problems: string[];
  ready: boolean;
}

export function osRelease(root: string): string {
  const r = readText(root, '/proc/sys/kernel/osrelease')?.trim();
  if (!r) throw new KexecError('cannot read /proc/sys/kernel/osrelease');
  return r;
}

/**
 * Reads the config file: `path` (--config) must exist; without it DEFAULT_CONFIG_PATH is read when
 * it exists, else the defaults apply. A file that exists but cannot be read is an error either way.
 */
export function readConfig(root: string, path?: string): { config: KdumpConfig; found: boolean } {
  const file = hostPath(root, path ?? DEFAULT_CONFIG_PATH);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && path === undefined) return { config: { ...DEFAULT_CONFIG, cmdlineRemove: [], modules: [] }, found: false };
    throw new KexecError(code === 'ENOENT' ? `config file ${file} does not exist` : `cannot read config file ${file} (${code})`, {
      hint: code === 'ENOENT' ? `check the path; without --config, ${DEFAULT_CONFIG_PATH} is read when it exists (defaults otherwise)` : 'run as root, or fix its permissions',
    });
  }
  return { config: parseConfig(text, file), found: true };
}

/** The capture kernel, initrd and command line the config gives on this machine. */
export function captureFiles(config: KdumpConfig, root: string): { kernel: string; initrd: string; cmdline: string; release: string } {
  const running = osRelease(root);
  const kernel = config.kernel ?? `/boot/vmlinuz-${running}`;
  const release = /vmlinu[xz]-(.+)$/.exec(kernel)?.[1] ?? running;
  const initrd = config.initrd ?? `${DEFAULT_INITRD_DIR}/initrd.img-${release}`;
  const cmdline =
    config.cmdline ?? captureCmdline(readText(root, '/proc/cmdline')?.trim() ?? '', { append: config.cmdlineAppend, remove: config.cmdlineRemove }).cmdline;
  return { kernel, initrd, cmdline, release };
}

const exists = (p: string) => {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
};

export function readStatus(root = '/', configFile?: string): KdumpStatus {
  const problems: string[] = [];
  const { config, found } = readConfig(root, configFile);
  const configPath = configFile ?? DEFAULT_CONFIG_PATH;
  // The facts our ELF core header is built from; /proc/iomem among them.
  const facts: CrashFacts = readText(root, '/proc/iomem') !== undefined ? readCrashFacts(root) : { iomem: [], cpuNotes: [], sources: ['no /proc/iomem'] };
  const iomem = facts.iomem;
  const regions = reservedCrashRegions(iomem);
  const cmdline = readText(root, '/proc/cmdline') ?? '';
  let param: string | undefined;
  try {
    const specs = crashkernelFromCmdline(cmdline);
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
  const crashSizeText = readText(root, '/sys/kernel/kexec_crash_size');
  const loaded = readText(root, '/sys/kernel/kexec_crash_loaded')?.trim() === '1';
  let loadedBy: LoadedState | undefined;
  const stateText = readText(root, STATE_FILE);
  if (loaded && stateText) {
    try {
      loadedBy = JSON.parse(stateText) as LoadedState;
    } catch {
      // a damaged state file only loses the "which one"
    }
  }
  if (!loaded) problems.push('no capture kernel is loaded: run `kdump-ts load`');

  let files = { kernel: config.kernel ?? '?', initrd: config.initrd ?? '?', cmdline: config.cmdline ?? '', release: '?' };
  try {
    files = captureFiles(config, root);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const capture = {
    ...files,
    kernelExists: exists(hostPath(root, files.kernel)),
    initrdExists: exists(hostPath(root, files.initrd)),
  };
  for (const which of ['kernel', 'initrd'] as const) {
    if (!capture[which === 'kernel' ? 'kernelExists' : 'initrdExists']) {
      const e = captureFileMissing(which, files[which], config, files.release, configPath);
      problems.push(`${e.message}: ${e.hint}`);
    }
  }

  const target: KdumpStatus['target'] = { dir: config.target, exists: false, writable: false };
  const here = targetHere(config, root);
  if (here === undefined) {
    target.error = `${config.targetDevice} is not mounted now: its space and permissions are checked only by the capture kernel`;
  } else {
    const targetPath = hostPath(root, here);
    target.exists = exists(targetPath);
    try {
      accessSync(targetPath, constants.W_OK);
      target.writable = true;
      const fs = statfsSync(targetPath);
      target.freeBytes = fs.bavail * fs.bsize;
    } catch {
      problems.push(target.exists ? `dump target ${here} is not writable` : `dump target ${here} does not exist: create it`);
    }
  }
  try {
    const t: DumpTarget = resolveTarget(config, root);
    target.device = t.device;
    target.fstype = t.fstype;
  } catch (e) {
    target.error = (e as Error).message;
    problems.push(target.error);
  }
  if (here !== undefined && here !== config.target) target.dir = `${config.target} (mounted at ${here} now)`;
  const systemRam = walkIomem(iomem)
    .filter((r) => r.name.startsWith('System RAM'))
    .map((r) => ({ start: r.start, end: r.end }));
  const ramBytes = dumpRamRanges(systemRam, regions.all).reduce((n, r) => n + Number(r.end - r.start + 1n), 0);
  const wouldSave = {
    ramBytes,
    dumpLevel: config.dumpLevel,
    compression: config.compression,
    format: config.compression === 'none' ? 'ELF' : 'kdump-compressed',
    path: `${config.target.replace(/\/$/, '')}/YYYYmmdd-HHMMSS/vmcore`,
  };
  if (target.freeBytes !== undefined && config.dumpLevel === 0 && config.compression === 'none' && target.freeBytes < ramBytes) {
    problems.push(`the dump target has ${formatSize(BigInt(target.freeBytes))} free, less than the ${formatSize(BigInt(ramBytes))} an unfiltered ELF dump takes`);
  }
  const coreHeader: KdumpStatus['coreHeader'] = {
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
    config: { path: configPath, found },
    reserved,
    ...(crashSizeText !== undefined ? { crashSize: Number(crashSizeText.trim()) } : {}),
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

/**
 * Where the dump directory is on the running system: `target` itself, or — with target_device —
 * the device's mount point now plus `target`; undefined when that device is not mounted.
 */
export function targetHere(config: KdumpConfig, root: string): string | undefined {
  if (!config.targetDevice) return config.target;
  const dev = config.targetDevice;
  const link = /^UUID=(.+)$/.exec(dev) ? `/dev/disk/by-uuid/${dev.slice(5)}` : /^LABEL=(.+)$/.exec(dev) ? `/dev/disk/by-label/${dev.slice(6)}` : dev;
  const real = (p: string) => {
    try {
      return realpathSync(hostPath(root, p));
    } catch {
      return undefined;
    }
  };
  const want = real(link);
  if (!want) return undefined;
  const mountinfo = readText(root, '/proc/self/mountinfo') ?? '';
  const m = parseMountinfo(mountinfo).find((x) => x.source.startsWith('/dev/') && real(x.source) === want && (config.target + '/').startsWith(x.root === '/' ? '/' : x.root + '/'));
  if (!m) return undefined;
  const inside = m.root === '/' ? config.target : config.target.slice(m.root.length) || '/';
  return join(m.mountPoint, inside);
}


/** The status in plain words, one fact per line. */
export function formatStatus(s: KdumpStatus): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${(k + ':').padEnd(17)} ${v}`);
  row('config', s.config.found ? s.config.path : `${s.config.path} (not found: defaults)`);
  row(
    'memory reserved',
    s.reserved
      ? `${formatSize(s.reserved.size)} at ${hex(s.reserved.start)}-${hex(s.reserved.end)}${s.reserved.param ? ` (${s.reserved.param})` : ''}`
      : 'none',
  );
  if (s.loaded) {
    row('capture kernel', s.loadedBy ? `loaded: ${s.loadedBy.kernel} with ${s.loadedBy.initrd} (${s.loadedBy.syscall}, ${s.loadedBy.at})` : 'loaded (not by kdump-ts: which one is unknown)');
    if (s.loadedBy) row('command line', s.loadedBy.cmdline);
  } else {
    row('capture kernel', `not loaded (would load ${s.capture.kernel}${s.capture.kernelExists ? '' : ' — missing'} with ${s.capture.initrd}${s.capture.initrdExists ? '' : ' — missing'})`);
    row('command line', s.capture.cmdline);
  }
  const t = s.target;
  const where = t.device ? ` on ${t.device} (${t.fstype})` : '';
  const state = t.writable ? 'writable' : t.exists ? 'NOT writable' : (t.error ?? 'does not exist');
  row('dump target', `${t.dir}${where}, ${state}${t.freeBytes !== undefined ? `, ${formatSize(BigInt(t.freeBytes))} free` : ''}`);
  const excluded = DUMP_LEVEL_WORDS.filter((_, i) => s.wouldSave.dumpLevel & (1 << i));
  row(
    'would save',
    `${formatSize(BigInt(s.wouldSave.ramBytes))} of RAM${excluded.length ? ` minus ${excluded.join(', ')}` : ''} (dump level ${s.wouldSave.dumpLevel}), ${s.wouldSave.format}${s.wouldSave.format === 'ELF' ? '' : ` ${s.wouldSave.compression}`}, to ${s.wouldSave.path}`,
  );
  const h = s.coreHeader;
  row(
    'core header',
    `${h.cpuNotes} CPU note${h.cpuNotes === 1 ? '' : 's'}, ${h.vmcoreinfo ? 'VMCOREINFO' : 'no VMCOREINFO'}, ${h.kernelText ? `kernel text ${hex(h.kernelText.vaddr)} (${formatSize(h.kernelText.size)} at ${hex(h.kernelText.paddr)})` : 'no kernel text'}, direct map ${h.pageOffset !== undefined ? hex(h.pageOffset) : 'unknown'}`,
  );
  row('ready', s.ready ? 'yes' : 'no');
  for (const p of s.problems) lines.push(`  - ${p}`);
  return lines.join('\n') + '\n';
}

/** JSON with bigints as hex strings. */
export function statusJson(s: KdumpStatus): string {
  return JSON.stringify({ schema: JSON_SCHEMA, ...s }, (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n';
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

/** A capture kernel or initramfs that is not there, with what to do about it. */
export function captureFileMissing(which: 'kernel' | 'initrd', path: string, config: KdumpConfig, release: string, configFile = DEFAULT_CONFIG_PATH): KexecError {
  if (which === 'kernel') {
    return new KexecError(`capture kernel ${path} does not exist`, {
      hint: config.kernel
        ? `fix kernel = in ${configFile}`
        : `install the kernel of release ${release} (Debian: apt install linux-image-${release}), or set kernel = PATH in ${configFile}`,
    });
  }
  return new KexecError(`capture initramfs ${path} does not exist`, {
    hint: config.initrd ? `build it there (kdump-ts mkinitrd -o ${config.initrd}) or fix initrd = in ${configFile}` : 'build it: kdump-ts mkinitrd',
  });
}

/** A capture file's bytes; a missing or unreadable file is a KexecError saying what to do (never a raw ENOENT). */
export function readCaptureFile(root: string, which: 'kernel' | 'initrd', files: { kernel: string; initrd: string; release: string }, config: KdumpConfig, configFile?: string): Buffer {
  const path = hostPath(root, files[which]);
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw captureFileMissing(which, path, config, files.release, configFile);
    throw new KexecError(`cannot read ${which === 'kernel' ? 'capture kernel' : 'capture initramfs'} ${path} (${code})`, { hint: code === 'EACCES' ? 'run it as root' : undefined });
  }
}

function captureFilesPresent(root: string, configPath: string | undefined) {
  const { config } = readConfig(root, configPath);
  const files = captureFiles(config, root);
  for (const which of ['kernel', 'initrd'] as const) {
    if (!exists(hostPath(root, files[which]))) throw captureFileMissing(which, hostPath(root, files[which]), config, files.release, configPath);
  }
  return { config, files };
}

/**
 * The capture kernel load the config describes, planned for the machine under `root` (its
 * /proc, /sys and files): what `kdump-ts load --root DIR` prints. No syscall object exists here.
 */
export async function planCaptureLoad(opts: { root: string; configPath?: string }): Promise<PlannedLoad> {
  const { config, files } = captureFilesPresent(opts.root, opts.configPath);
  const req = captureLoadRequest({ ...files, kernel: hostPath(opts.root, files.kernel), initrd: hostPath(opts.root, files.initrd) }, config.syscall);
  return planKernelLoad({ ...req, dryRun: true, machine: { root: opts.root } });
}

/**
 * Loads the capture kernel the config describes through `sys` (in-process, as kexec-ts -p does;
 * a loaded one is unloaded first) and records it. `root` is where the config, state file and
 * sysfs are read (tests: a fake tree with a fake `sys`); the load itself is this machine's.
 */
export async function loadCaptureKernel(sys: KexecSyscalls, opts: { root?: string; configPath?: string; debug?: (line: string) => void } = {}): Promise<LoadedState> {
  const root = opts.root ?? '/';
  const { config, files } = captureFilesPresent(root, opts.configPath);
  if (readText(root, '/sys/kernel/kexec_crash_loaded')?.trim() === '1') unloadKernel('crash', 'auto', sys);
  const req = captureLoadRequest({ ...files, kernel: hostPath(root, files.kernel), initrd: hostPath(root, files.initrd) }, config.syscall);
  await loadKernel(root === '/' ? req : { ...req, machine: { root } }, sys, opts.debug ? { debug: opts.debug } : {});
  const state: LoadedState = { kernel: files.kernel, initrd: files.initrd, cmdline: files.cmdline, syscall: config.syscall, at: new Date().toISOString() };
  const stateFile = hostPath(root, STATE_FILE);
  mkdirSync(join(stateFile, '..'), { recursive: true });
  writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
  return state;
}

/** Unloads the capture kernel through `sys` (kexec-ts -p -u) and forgets what was loaded. */
export function unloadCaptureKernel(sys: KexecSyscalls, root = '/'): void {
  unloadKernel('crash', 'auto', sys);
  rmSync(hostPath(root, STATE_FILE), { force: true });
}

/**
 * Triggers a crash through sysrq-c (the trigger file works for root whatever kernel.sysrq says).
 * Never returns on a machine that crashes.
 */
export function crashThisMachine(root = '/'): void {
  if (resolve(root) === '/') refuseInTests('crashing this machine', 'write /proc/sysrq-trigger', 'give --root a fake tree');
  writeFileSync(hostPath(root, '/proc/sysrq-trigger'), 'c');
}

// The kdump service's edge: reads the machine for `kdump-ts status` (src/kdump/status.ts says what
// the facts mean), and runs `load` / `unload` from the config file (in-process through the kexec
// library, with the KexecSyscalls the caller gives: only the CLI constructs the real ones).
// Reads the machine through a `root` directory ("/" normally; a fake tree in tests).
import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, readdirSync, readFileSync, realpathSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KexecError, OutputError } from '../errors.ts';
import type { KdumpConfig } from '../kdump/config.ts';
import { DEFAULT_CONFIG, DEFAULT_CONFIG_PATH, parseConfig } from '../kdump/config.ts';
import { NETWORK_FSTYPES, parseMountinfo, targetDeviceLink, targetOnMountedDevice } from '../kdump/dump-target.ts';
import {
  captureFileMissing,
  captureFilesFor,
  captureLoadRequest,
  captureLoadSteps,
  kdumpStatus,
  lastDumpDir,
  runningRelease,
  statusCaptureFiles,
  STATE_FILE,
  type CaptureFiles,
  type KdumpStatus,
  type LoadedState,
  type SavedDump,
  type TargetFacts,
} from '../kdump/status.ts';
import { readCrashFacts } from './crash-facts.ts';
import { coreArchOfKernel, type CoreArch } from '../kdump/elfcorehdr.ts';
import { machinePath, readText } from './machine-files.ts';
import { resolveTarget } from './kdump-initramfs.ts';
import { SshChunkStore } from './chunk-stores.ts';
import { probeS3Bucket, readS3Credentials } from './s3-store.ts';
import type { PlannedLoad } from '../kexec/load.ts';
import type { KexecSyscalls } from '../kexec/syscalls.ts';
import { loadKernel, planKernelLoad, unloadKernel } from './kexec-load.ts';
import { refuseInTests } from './syscalls.ts';

export function osRelease(root: string): string {
  return runningRelease(readText(root, '/proc/sys/kernel/osrelease'));
}

/**
 * Reads the config file: `path` (--config) must exist; without it DEFAULT_CONFIG_PATH is read when
 * it exists, else the defaults apply. A file that exists but cannot be read is an error either way.
 */
export function readConfig(root: string, path?: string): { config: KdumpConfig; found: boolean } {
  const file = machinePath(root, path ?? DEFAULT_CONFIG_PATH);
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
export function captureFiles(config: KdumpConfig, root: string): CaptureFiles {
  return captureFilesFor(config, readText(root, '/proc/sys/kernel/osrelease'), readText(root, '/proc/cmdline'));
}

const exists = (p: string) => {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** The capture kernel's architecture from its first 64 KiB; undefined when unreadable or unknown. */
function kernelArch(path: string): CoreArch | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(0x10000);
    return coreArchOfKernel(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `kdump-ts status`: the machine's facts, read, and what they mean. */
export function readStatus(root = '/', configFile?: string): KdumpStatus {
  const { config, found } = readConfig(root, configFile);
  const { files, error } = statusCaptureFiles(config, readText(root, '/proc/sys/kernel/osrelease'), readText(root, '/proc/cmdline'));
  const crashSize = readText(root, '/sys/kernel/kexec_crash_size');
  const crashLoaded = readText(root, '/sys/kernel/kexec_crash_loaded');
  const state = readText(root, STATE_FILE);
  const arch = kernelArch(machinePath(root, files.kernel));
  return kdumpStatus({
    ...(arch ? { arch } : {}),
    config,
    configPath: configFile ?? DEFAULT_CONFIG_PATH,
    configFound: found,
    // The facts our ELF core header is built from; /proc/iomem among them.
    crash: readText(root, '/proc/iomem') !== undefined ? readCrashFacts(root, arch) : { iomem: [], cpuNotes: [], sources: ['no /proc/iomem'] },
    cmdline: readText(root, '/proc/cmdline') ?? '',
    ...(crashSize !== undefined ? { crashSize } : {}),
    ...(crashLoaded !== undefined ? { crashLoaded } : {}),
    ...(state !== undefined ? { state } : {}),
    capture: { files, kernelExists: exists(machinePath(root, files.kernel)), initrdExists: exists(machinePath(root, files.initrd)), ...(error !== undefined ? { error } : {}) },
    target: readTargetFacts(config, root),
  });
}

/** The dump target directory as the host sees it now, and what the capture kernel would mount. */
function readTargetFacts(config: KdumpConfig, root: string): TargetFacts {
  if (config.ssh) return readSshTargetFacts(config, root);
  if (config.s3) return readS3TargetFacts(config, root);
  const here = targetHere(config, root);
  let resolved: TargetFacts['resolved'];
  try {
    resolved = resolveTarget(config, root);
  } catch (e) {
    resolved = { error: (e as Error).message };
  }
  if (here === undefined) return { exists: false, writable: false, resolved };
  const targetPath = machinePath(root, here);
  const facts: TargetFacts = { here, exists: exists(targetPath), writable: false, resolved };
  const last = facts.exists ? readSavedDump(targetPath, here) : undefined;
  if (last) facts.lastDump = last;
  try {
    accessSync(targetPath, constants.W_OK);
    facts.writable = true;
    const fs = statfsSync(targetPath);
    facts.freeBytes = fs.bavail * fs.bsize;
  } catch {
    // not writable (or its free space unreadable): kdumpStatus says so
  }
  return facts;
}

/**
 * An ssh target: the server asked now (by key only, bounded) whether the directory is writable and
 * how much room it has. On another root (--root) the server is not asked: that machine's network
 * and keys are not this one's.
 */
function readSshTargetFacts(config: KdumpConfig, root: string): TargetFacts {
  let resolved: TargetFacts['resolved'];
  try {
    resolved = resolveTarget(config, root);
  } catch (e) {
    resolved = { error: (e as Error).message };
  }
  if (resolve(root) !== '/') return { here: config.target, exists: false, writable: false, resolved: { error: `${config.target}: not asked for another root (--root)` } };
  const ssh = config.ssh!;
  try {
    const store = new SshChunkStore(ssh.target, { key: ssh.key, knownHosts: ssh.knownHosts, timeoutMs: 30_000 });
    let probe: ReturnType<SshChunkStore['probe']>;
    try {
      probe = store.probe();
    } finally {
      store.close();
    }
    return { here: config.target, exists: true, writable: true, freeBytes: probe.freeBytes, resolved };
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    return { here: config.target, exists: false, writable: false, resolved: 'error' in resolved ? resolved : { error: `${e.message}${e.hint ? ` — ${e.hint}` : ''}` } };
  }
}

/**
 * An S3 target: the credentials file read (refused unless mode 600 and root's), then the server
 * asked (HeadBucket, bounded): reachable, the key accepted, the bucket there. Object storage has no
 * free space to report. On another root (--root) the server is not asked.
 */
function readS3TargetFacts(config: KdumpConfig, root: string): TargetFacts {
  let resolved: TargetFacts['resolved'];
  try {
    resolved = resolveTarget(config, root);
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    const hint = (e as KexecError).hint;
    resolved = { error: `${e.message}${hint ? ` — ${hint}` : ''}` };
  }
  if (resolve(root) !== '/') return { here: config.target, exists: false, writable: false, resolved: { error: `${config.target}: not asked for another root (--root)` } };
  if ('error' in resolved) return { here: config.target, exists: false, writable: false, resolved };
  const s3 = config.s3!;
  try {
    probeS3Bucket(s3.target, { endpoint: s3.endpoint, region: s3.region, credentials: readS3Credentials(s3.credentials) });
    return { here: config.target, exists: true, writable: true, resolved };
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    return { here: config.target, exists: false, writable: false, resolved: { error: `${e.message}${e.hint ? ` — ${e.hint}` : ''}` } };
  }
}

/** The newest capture directory under the target (host path `dir`, shown as `shown`), or undefined. */
function readSavedDump(dir: string, shown: string): SavedDump | undefined {
  let name: string | undefined;
  try {
    name = lastDumpDir(readdirSync(dir));
  } catch {
    return undefined;
  }
  if (!name) return undefined;
  const d: SavedDump = { dir: `${shown.replace(/\/$/, '')}/${name}`, dmesg: exists(join(dir, name, 'dmesg.txt')) };
  try {
    d.vmcoreBytes = statSync(join(dir, name, 'vmcore')).size;
  } catch {
    // no vmcore: the save did not start
  }
  const code = readText('/', join(dir, name, 'save-exit-code'))?.trim();
  if (code !== undefined) d.exitCode = code;
  return d;
}

/**
 * Where the dump directory is on the running system: `target` itself, or — with target_device —
 * the device's mount point now plus `target`; undefined when that device is not mounted.
 */
export function targetHere(config: KdumpConfig, root: string): string | undefined {
  if (!config.targetDevice) return config.target;
  if (NETWORK_FSTYPES.has(config.targetFstype ?? '')) {
    // An NFS export: where it is mounted now (same SERVER:/EXPORT), if it is.
    const m = parseMountinfo(readText(root, '/proc/self/mountinfo') ?? '').find((x) => NETWORK_FSTYPES.has(x.fstype) && x.source.replace(/\/$/, '') === config.targetDevice!.replace(/\/$/, '') && x.root === '/');
    return m ? join(m.mountPoint, config.target) : undefined;
  }
  const real = (p: string) => {
    try {
      return realpathSync(machinePath(root, p));
    } catch {
      return undefined;
    }
  };
  const want = real(targetDeviceLink(config.targetDevice));
  if (!want) return undefined;
  const mounts = parseMountinfo(readText(root, '/proc/self/mountinfo') ?? '').map((m) => {
    const r = m.source.startsWith('/dev/') ? real(m.source) : undefined;
    return r !== undefined ? { ...m, real: r } : m;
  });
  return targetOnMountedDevice(config.target, want, mounts);
}

/** A capture file's bytes; a missing or unreadable file is a KexecError saying what to do (never a raw ENOENT). */
export function readCaptureFile(root: string, which: 'kernel' | 'initrd', files: { kernel: string; initrd: string; release: string }, config: KdumpConfig, configFile?: string): Buffer {
  const path = machinePath(root, files[which]);
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
    if (!exists(machinePath(root, files[which]))) throw captureFileMissing(which, machinePath(root, files[which]), config, files.release, configPath);
  }
  return { config, files };
}

/**
 * The capture kernel load the config describes, planned for the machine under `root` (its
 * /proc, /sys and files): what `kdump-ts load --root DIR` prints. No syscall object exists here.
 */
export async function planCaptureLoad(opts: { root: string; configPath?: string }): Promise<PlannedLoad> {
  const { config, files } = captureFilesPresent(opts.root, opts.configPath);
  const req = captureLoadRequest({ ...files, kernel: machinePath(opts.root, files.kernel), initrd: machinePath(opts.root, files.initrd) }, config.syscall);
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
  const steps = captureLoadSteps(config, files, { crashLoaded: readText(root, '/sys/kernel/kexec_crash_loaded')?.trim() === '1', path: (p) => machinePath(root, p), at: new Date() });
  if (steps.unloadFirst) unloadKernel('crash', 'auto', sys);
  const plan = await loadKernel(root === '/' ? steps.request : { ...steps.request, machine: { root } }, sys, opts.debug ? { debug: opts.debug } : {});
  // The syscall that loaded it (syscall = auto: kexec_file_load, or kexec_load after a fallback).
  const state: LoadedState = { ...steps.state, syscall: plan.files ? 'kexec_file_load' : 'kexec_load' };
  const stateFile = machinePath(root, STATE_FILE);
  mkdirSync(join(stateFile, '..'), { recursive: true });
  writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
  return state;
}

/** Unloads the capture kernel through `sys` (kexec-ts -p -u) and forgets what was loaded. */
export function unloadCaptureKernel(sys: KexecSyscalls, root = '/'): void {
  unloadKernel('crash', 'auto', sys);
  rmSync(machinePath(root, STATE_FILE), { force: true });
}

/**
 * Triggers a crash through sysrq-c (the trigger file works for root whatever kernel.sysrq says).
 * Never returns on a machine that crashes.
 */
export function crashThisMachine(root = '/'): void {
  if (resolve(root) === '/') refuseInTests('crashing this machine', 'write /proc/sysrq-trigger', 'give --root a fake tree');
  writeFileSync(machinePath(root, '/proc/sysrq-trigger'), 'c');
}

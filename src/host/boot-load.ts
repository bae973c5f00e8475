// `kexec-ts boot [ENTRY]` and `kexec-ts reboot [ENTRY]` at the edge: discover (src/boot/), choose the
// entry, read its files (a UKI verified whole, then cut by ukiLoad; several initrds concatenated into
// one staged file), load it through the KexecSyscalls given (or plan it: --dry-run), decrement its
// boot counter and leave the state `kexec-ts boot --bless` needs in the next boot, then exec at once
// (--now) or run `systemctl kexec` through the runner given. Only the CLI passes real syscalls and
// a real runner; tests pass fakes and a fixture root.
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KexecError } from '../errors.ts';
import { blessDecision, blessedName, parseBootCountState, type BootCountState } from '../boot/boot-count.ts';
import { bootLoadSpec, chooseEntry, type BootLoadSpec } from '../boot/boot-entry.ts';
import { discoverBoot } from '../boot/discover.ts';
import { efiVariableString, loaderVariablePath } from '../boot/efivars.ts';
import { writeGrubenv } from '../boot/grubenv.ts';
import type { BootMachine, BootOnce } from '../boot/model.ts';
import { ukiLoad, ukiSource } from '../boot/uki.ts';
import type { LoadRequest, PlannedLoad, SyscallChoice } from '../kexec/load.ts';
import type { KexecPlan } from '../kexec/plan.ts';
import type { KexecSyscalls } from '../kexec/syscalls.ts';
import { readBootMachine, type BootDirs } from './boot-files.ts';
import { removeEfiVariable, restoreEfiVariable } from './efivarfs.ts';
import { hostImageTrust } from './image-trust.ts';
import { execKernel, loadKernel, planKernelLoad } from './kexec-load.ts';
import { machinePath, readBytes, readText } from './machine-files.ts';
import { readMachineTrust } from './secure-boot.ts';

/** Where the load leaves the renamed entry for `kexec-ts boot --bless` (on the machine booted into). */
export const BOOT_COUNT_STATE = '/var/lib/kexec-ts/boot-count.json';

/** What follows the load: nothing (`systemctl kexec` or `kexec-ts -e` later), reboot(KEXEC) at once, or `systemctl kexec`. */
export type BootThen = 'load' | 'exec' | 'systemctl';

export const THEN_TEXT: Record<BootThen, string> = {
  load: 'nothing yet: `systemctl kexec` (clean shutdown) or `kexec-ts -e` boots it',
  exec: 'sync, then reboot(LINUX_REBOOT_CMD_KEXEC) at once (--now: no clean shutdown)',
  systemctl: '`systemctl kexec`: a clean shutdown, then the loaded kernel',
};

/** Runs a command (systemctl); the CLI passes one that spawns it, tests one that records the argv. */
export type CommandRunner = (argv: string[]) => { status: number | null; error?: string };

export interface BootRequest {
  /** Whose boot entries: --root/--boot/--esp. */
  dirs: BootDirs;
  /** ENTRY (id, title, Submenu>Title); undefined: the default. */
  name?: string;
  certs?: string[];
  commandLine?: string;
  append?: string;
  /** -s/-c/-a; undefined: by lockdown and Secure Boot. */
  syscall?: SyscallChoice;
  dryRun: boolean;
  then: BootThen;
  /**
   * The running machine's /proc and /sys (lockdown, SecureBoot, memory map, boot_id, kexec_loaded):
   * default '/' for a load, `dirs.root` for a --dry-run (another machine planned as a whole). Tests
   * give a fixture root with a fake `sys`.
   */
  machineRoot?: string;
  debug?: (line: string) => void;
}

export interface BootDeps {
  /** Required unless dryRun. */
  sys?: KexecSyscalls;
  /** Required for then = 'systemctl' (unless dryRun). */
  run?: CommandRunner;
  /** The state file (default BOOT_COUNT_STATE on dirs.root). */
  stateFile?: string;
}

export interface BootResult {
  spec: BootLoadSpec;
  /** --dry-run: the plan, or why none could be made (the entry is still shown). */
  planned?: PlannedLoad;
  planError?: unknown;
  /** A load: the plan loaded. */
  loaded?: KexecPlan;
  /** The boot counter renamed and the state written (a load); or, loaded again in the same boot, the state as it was. */
  counted?: BootCountState;
  /** An entry counted by an earlier load in this boot whose kernel this load replaced: its name before that count, restored. */
  restored?: string;
  /** A load: what the boot loader would have changed as it booted, done (a one-shot consumed). */
  once?: string;
}

/** The files a load reads, staged where the entry's are not single files on this machine. */
interface Staged {
  kernel: string;
  initrd?: string;
  dtb?: string;
  cleanup(): void;
}

function hostPathOf(m: BootMachine): (p: string) => string {
  const f = m.files.hostPath;
  if (!f) throw new KexecError('internal: the boot machine has no host paths (a pure test machine cannot be loaded)');
  return (p) => f.call(m.files, p);
}

/** Reads and stages what the kernel gets: a UKI's sections (verified whole first), several initrds as one file. */
function stage(m: BootMachine, spec: BootLoadSpec, trust: ReturnType<typeof hostImageTrust>): Staged {
  const host = hostPathOf(m);
  let dir: string | undefined;
  const tmp = (name: string, data: Uint8Array) => {
    dir ??= mkdtempSync(join(tmpdir(), 'kexec-ts-boot-'));
    const p = join(dir, name);
    writeFileSync(p, data, { mode: 0o600 });
    return p;
  };
  const cleanup = () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const e = spec.entry;
    if (e.uki) {
      const files = new Map<string, Uint8Array>();
      for (const p of [e.kernel, ...e.uki.addons]) {
        const b = m.files.read(p);
        if (!b) throw new KexecError(`${p}: cannot read the UKI`, { hint: 'is the ESP mounted?' });
        files.set(p, b);
      }
      // Refuses an unsigned or mismatched UKI when verification is required (Secure Boot, lockdown, --cert).
      const u = ukiLoad(e, files, trust);
      return {
        kernel: tmp('linux', u.kernel),
        ...(u.initrd.length ? { initrd: tmp('initrd', u.initrd) } : {}),
        ...(u.dtb && m.arch === 'aa64' ? { dtb: tmp('dtb', u.dtb) } : {}),
        cleanup,
      };
    }
    let initrd: string | undefined;
    if (spec.initrds.length === 1) initrd = host(spec.initrds[0]!);
    else if (spec.initrds.length > 1) {
      const parts = spec.initrds.map((p) => {
        const b = m.files.read(p);
        if (!b) throw new KexecError(`initrd ${p}: cannot read it`, { hint: 'kexec-ts boot --list shows the entry' });
        return b;
      });
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
      initrd = tmp('initrd', all);
    }
    return { kernel: host(spec.kernel), ...(initrd ? { initrd } : {}), ...(spec.devicetree ? { dtb: host(spec.devicetree) } : {}), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** The running machine's boot_id and its firmware boot (LoaderTimeExecUSec: new on every firmware boot, kept across kexec). */
export function currentBoot(machineRoot: string): { bootId: string; firmwareBoot?: string } {
  const bootId = readText(machineRoot, '/proc/sys/kernel/random/boot_id', 'utf8')?.trim();
  if (!bootId) throw new KexecError('cannot read /proc/sys/kernel/random/boot_id', { hint: 'is /proc mounted?' });
  const v = readBytes(machineRoot, loaderVariablePath('LoaderTimeExecUSec'));
  const fw = v && efiVariableString(v);
  return { bootId, ...(fw ? { firmwareBoot: fw } : {}) };
}

/** The state file, or undefined when there is none or it cannot be read as one. */
function readState(file: string): BootCountState | undefined {
  const t = readText('/', file, 'utf8');
  return t === undefined ? undefined : parseBootCountState(t);
}

/** This boot's identity, read only when a counter is involved (a new count, or a state file to check). */
function currentBootIfCounting(spec: BootLoadSpec, stateFile: string, machineRoot: string): ReturnType<typeof currentBoot> | undefined {
  return spec.counter || existsSync(stateFile) ? currentBoot(machineRoot) : undefined;
}

/** Overwrites a file from its first byte, keeping its blocks (GRUB writes grubenv's in place). */
function writeInPlace(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, 0);
    ftruncateSync(fd, bytes.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Does what the boot loader does as it boots (GRUB's save_env writes, systemd-boot's removal of
 * LoaderEntryOneShot), so a one-shot is used once whether the firmware or a kexec boots; returns how
 * to put it back.
 */
function consumeOnce(once: BootOnce, host: (p: string) => string, root: string): () => void {
  if (once.kind === 'grubenv') {
    const path = host(once.path);
    const before = readFileSync(path);
    writeInPlace(path, writeGrubenv(before, once.path, once.writes));
    return () => writeInPlace(path, before);
  }
  const path = machinePath(root, once.path);
  const before = readFileSync(path);
  removeEfiVariable(path);
  return () => restoreEfiVariable(path, before);
}

function writeState(file: string, state: BootCountState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

/** Chooses the entry, plans it (--dry-run) or loads it, counts the boot, then execs or runs systemctl kexec. */
export async function bootEntry(req: BootRequest, deps: BootDeps = {}): Promise<BootResult> {
  const machineRoot = req.machineRoot ?? (req.dryRun ? req.dirs.root : '/');
  const m = readBootMachine(req.dirs);
  const trust = hostImageTrust(machineRoot, req.certs);
  const list = discoverBoot(m, [ukiSource(trust)]);
  const { entry, why } = chooseEntry(list, req.name);
  const machine = readMachineTrust(machineRoot);
  const spec = bootLoadSpec(entry, {
    ...(req.commandLine !== undefined ? { commandLine: req.commandLine } : {}),
    ...(req.append !== undefined ? { append: req.append } : {}),
    ...(req.syscall ? { syscall: req.syscall } : {}),
    verify: { secureBoot: machine.secureBoot, lockdown: machine.lockdown },
    arch: m.arch,
    why,
    ...(entry.source === 'debian-links' && !entry.cmdline ? { currentCmdline: readText(machineRoot, '/proc/cmdline', 'utf8')?.trim() ?? '' } : {}),
  });
  if (!req.dryRun && !deps.sys) throw new KexecError('internal: a load needs the syscalls');
  if (!req.dryRun && req.then === 'systemctl' && !deps.run) throw new KexecError('internal: kexec-ts reboot needs a command runner');
  const files = stage(m, spec, trust);
  const load: LoadRequest = {
    kernel: files.kernel,
    ...(files.initrd ? { initrd: files.initrd } : {}),
    ...(files.dtb ? { dtb: files.dtb } : {}),
    kind: 'load',
    syscall: spec.syscall,
    cmdline: spec.cmdline,
    dryRun: req.dryRun,
    ...(machineRoot !== '/' ? { machine: { root: machineRoot } } : {}),
  };
  const opts = req.debug ? { debug: req.debug } : {};
  try {
    if (req.dryRun) {
      try {
        return { spec, planned: await planKernelLoad(load, opts) };
      } catch (e) {
        return { spec, planError: e };
      }
    }
    const stateFile = deps.stateFile ?? machinePath(req.dirs.root, BOOT_COUNT_STATE);
    const host = hostPathOf(m);
    if (spec.counter && existsSync(host(spec.counter.to)) && host(spec.counter.to) !== host(spec.counter.from)) {
      throw new KexecError(`boot counting: ${spec.counter.to} exists already: cannot rename ${spec.counter.from} to it`, { hint: 'remove one of the two entry files' });
    }
    const loaded = await loadKernel(load, deps.sys!, opts);
    const result: BootResult = { spec, loaded };
    const boot = currentBootIfCounting(spec, stateFile, machineRoot);
    // An entry this boot counted for an earlier load (the kernel loaded then is replaced now): the
    // same entry is not counted twice for one kexec; another one gets its try back.
    const previous = boot && readState(stateFile);
    let already = false;
    if (previous && previous.bootId === boot!.bootId) {
      if (spec.counter && previous.path === spec.counter.from) already = true;
      else if (previous.from && existsSync(host(previous.path)) && !existsSync(host(previous.from))) {
        renameSync(host(previous.path), host(previous.from));
        rmSync(stateFile, { force: true });
        result.restored = previous.from;
      }
    }
    let undo: (() => void) | undefined;
    if (spec.counter && already) result.counted = previous!;
    else if (spec.counter) {
      const [from, to] = [host(spec.counter.from), host(spec.counter.to)];
      const state: BootCountState = { path: spec.counter.to, blessed: blessedPath(spec.counter.to), from: spec.counter.from, entry: entry.id, ...boot!, time: new Date().toISOString() };
      renameSync(from, to);
      try {
        writeState(stateFile, state);
      } catch (e) {
        renameSync(to, from);
        throw e;
      }
      undo = () => {
        renameSync(to, from);
        rmSync(stateFile, { force: true });
      };
      result.counted = state;
    }
    if (list.once) {
      const undoCount = undo;
      let undoOnce: () => void;
      try {
        undoOnce = consumeOnce(list.once, host, req.dirs.root);
      } catch (e) {
        undoCount?.();
        throw e;
      }
      undo = () => {
        undoOnce();
        undoCount?.();
      };
      result.once = list.once.what;
    }
    if (req.then === 'exec') execKernel(deps.sys!, machineRoot);
    else if (req.then === 'systemctl') {
      const r = deps.run!(['systemctl', 'kexec']);
      if (r.status !== 0) {
        undo?.();
        throw new KexecError(`systemctl kexec failed (${r.error ?? `exit ${r.status}`}): the kernel stays loaded${undo ? `, ${putBack(!!result.counted && !already, !!result.once)}` : ''}`, {
          hint: 'kexec-ts -e boots it without a clean shutdown; kexec-ts -u unloads it',
        });
      }
    }
    return result;
  } finally {
    files.cleanup();
  }
}

/** What a failed `systemctl kexec` undid. */
const putBack = (counter: boolean, once: boolean) =>
  counter && once ? 'the boot counter and the one-shot were put back' : counter ? 'the boot counter was put back' : 'the one-shot was put back';

/** The path once blessed: the counter dropped from the file name. */
const blessedPath = (p: string) => {
  const dir = p.slice(0, p.lastIndexOf('/') + 1);
  return dir + (blessedName(p.slice(dir.length)) ?? p.slice(dir.length));
};

export interface BlessResult {
  action: 'bless' | 'keep' | 'discard' | 'none';
  message: string;
}

/**
 * `kexec-ts boot --bless` (kexec-ts-bless-boot.service, after boot-complete.target): renames the
 * entry the kexec counted to its name without counter when this boot is that kexec boot, and removes
 * the state file; the boot that wrote it keeps it; a state file older than a firmware boot is removed.
 */
export function blessBoot(root = '/', machineRoot = root, stateFile = machinePath(root, BOOT_COUNT_STATE)): BlessResult {
  if (!existsSync(stateFile)) return { action: 'none', message: `no kexec boot to bless (${stateFile} does not exist)` };
  const text = readText('/', stateFile, 'utf8') ?? '';
  const state = parseBootCountState(text);
  if (!state) {
    rmSync(stateFile, { force: true });
    throw new KexecError(`${stateFile}: not a kexec-ts boot counting state file: removed, nothing blessed`, { hint: 'it is written by kexec-ts boot/reboot when the entry has a +LEFT-DONE counter' });
  }
  const d = blessDecision(state, currentBoot(machineRoot));
  if (d.action !== 'bless') {
    if (d.action === 'keep') return { action: 'keep', message: `${state.path}: kept: ${d.reason}` };
    rmSync(stateFile, { force: true });
    return { action: 'discard', message: `${state.path}: not blessed: ${d.reason}` };
  }
  const [from, to] = [machinePath(root, d.from), machinePath(root, d.to)];
  if (!existsSync(from)) {
    rmSync(stateFile, { force: true });
    if (existsSync(to)) return { action: 'none', message: `${d.to}: already blessed` };
    throw new KexecError(`${d.from}: the entry counted by the kexec is gone (renamed or removed since): nothing blessed`, { hint: `${stateFile} was removed` });
  }
  renameSync(from, to);
  rmSync(stateFile, { force: true });
  return { action: 'bless', message: `${d.from} -> ${d.to.slice(d.to.lastIndexOf('/') + 1)}: blessed (${d.reason})` };
}

// runScenario: boots a Debian kernel under QEMU (TCG) with a scenario initramfs and a scratch
// disk, runs the scenario's stage scripts across kexec/kdump reboots, and returns the markers,
// the console and the disk. See e2e/README.md.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, fstatSync, ftruncateSync, statSync, writeFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { basename, join } from 'node:path';
import { getKernel, type Kernel } from './kernels.ts';
import { buildInitramfs, REPO, type FileSpec } from './initramfs.ts';
import { E2EStepError, killGroup, run, tail } from './steps.ts';
import { tcgTextPatchOops, type BootOops } from './boot-oops.ts';

export interface ScenarioSpec {
  /** names the output directory e2e/out/NAME-SUITE-CPU */
  name: string;
  /** Debian suite of the kernel: bullseye, bookworm, trixie, sid */
  suite: string;
  /** QEMU -cpu model: 'max' (5-level paging) or 'qemu64' (4-level) or any model; default max */
  cpu?: string;
  memoryMiB?: number;
  smp?: number;
  /** extra kernel command line for the first kernel (e.g. crashkernel=256M) */
  cmdline?: string;
  /** stage name -> busybox sh script; "first" runs first; others run when a kernel is started with e2e.stage=NAME */
  stages: Record<string, string>;
  /** extra files for the initramfs: guest path -> content or {host: path} */
  files?: Record<string, FileSpec>;
  /** scratch disk size (ext2), MiB; default 512 */
  diskMiB?: number;
  /** Node.js and our bundle in the initramfs of the first (and kexec'd) kernels; default true */
  node?: boolean;
  /** put Node.js and our bundle in the capture kernel's initrd too (needs a bigger crashkernel=) */
  captureNode?: boolean;
  /** markers ("stage:name") that must appear, in any order */
  expect?: string[];
  /** whole run, boots included; QEMU is killed after it */
  timeoutMs?: number;
  /** end the run (kill QEMU, 3 s later) when the console matches: for guests that halt instead of powering off */
  endOn?: RegExp;
  /** let the guest reboot through the firmware (drops -no-reboot); default false */
  allowReboot?: boolean;
  /** 'seabios' (QEMU's default BIOS) or 'uefi' (OVMF: the kernel starts through its EFI stub, /sys/firmware/efi exists) */
  firmware?: 'seabios' | 'uefi';
  /** A virtio NIC on QEMU's user network, restricted: the guest reaches only these forwards (guestNet). */
  net?: GuestNet;
  log?: (line: string) => void;
}

/**
 * A guest's network: QEMU's user-mode network with restrict=on (no way out), DHCP from QEMU, and
 * each forward GUEST_ADDRESS:guestPort → 127.0.0.1:hostPort on the host: the only place it can reach.
 */
export interface GuestNet {
  forwards: { guestPort: number; hostPort: number }[];
}
/** The address the guest reaches the host's forwarded ports at, and the NIC's MAC. */
export const GUEST_NET_HOST = '10.0.2.100';
export const GUEST_NET_MAC = '52:54:00:12:34:56';

function netArgs(net: GuestNet | undefined): string[] {
  if (!net) return ['-nic', 'none'];
  // A command per connection (a chardev forward serves only the first one); it connects to 127.0.0.1 only.
  const relay = `${process.execPath} ${join(REPO, 'e2e', 'harness', 'tcp-relay.mjs')}`;
  const fwd = net.forwards.map((f) => `,guestfwd=tcp:${GUEST_NET_HOST}:${f.guestPort}-cmd:${relay} ${f.hostPort}`).join('');
  return ['-netdev', `user,id=n0,restrict=on${fwd}`, '-device', `virtio-net-pci,netdev=n0,mac=${GUEST_NET_MAC}`];
}

export interface Marker {
  stage: string;
  name: string;
  /** guest uptime (s) when printed: since that kernel started */
  uptime: number;
  value: string;
  /** host milliseconds since QEMU started, when the line arrived */
  hostMs: number;
}

export interface ScenarioResult {
  kernel: Kernel;
  cpu: string;
  outDir: string;
  /** host wall time of the QEMU run (ms) and of the whole scenario with preparation */
  qemuMs: number;
  wallMs: number;
  /** boots retried after the known TCG text-patching oops (at most one); qemuMs and console are the last boot's */
  retries: BootRetry[];
  console: string;
  markers: Marker[];
  /** the first marker stage:name, or undefined */
  find(stage: string, name: string): Marker | undefined;
  /** like find, but throws a report (console tail) when missing */
  marker(stage: string, name: string): Marker;
  disk: ScratchDisk;
  /** removes the disk image and initrds (console.log stays) */
  cleanup(): void;
}

export const MARK_RE = /E2E-MARK (\S+) (\S+) ([0-9.]+) ?(.*)$/;
export const DEFAULT_CMDLINE = 'console=ttyS0 panic=-1';

/** The scratch disk, read on the host with debugfs (no mount). Paths are from the disk's root (the guest's /scratch). */
export class ScratchDisk {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
  /** Copies a file out of the image to `dest` and returns dest. */
  copyOut(file: string, dest: string): string {
    rmSync(dest, { force: true });
    const r = execFileSync('debugfs', ['-R', `dump -p /${file.replace(/^\/+/, '')} ${dest}`, this.path], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (!existsSync(dest)) throw new E2EStepError('read-disk', `/${file} is not on the scratch disk`, r);
    return dest;
  }
  readFile(file: string): Buffer {
    const tmp = `${this.path}.read-${process.pid}`;
    try {
      return readFileSync(this.copyOut(file, tmp));
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  /** Names in a directory of the image. */
  list(dir = '/'): string[] {
    const out = execFileSync('debugfs', ['-R', `ls -l ${dir}`, this.path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out
      .split('\n')
      .map((l) => l.trim().split(/\s+/).at(-1) ?? '')
      .filter((n) => n && n !== '.' && n !== '..');
  }
}

/** OVMF in one file (code + volatile variables) from Debian's `ovmf` package. */
export const OVMF_FD = '/usr/share/ovmf/OVMF.fd';
export function ovmfFirmware(): string {
  if (!existsSync(OVMF_FD)) throw new E2EStepError('qemu', `${OVMF_FD} is missing`, 'install Debian package ovmf (scripts/install-test-deps.sh)');
  return OVMF_FD;
}

/**
 * QEMU's options every guest shares: TCG, CPU model, memory, no network, no monitor, the firmware,
 * and serial ports writing to the files `serial` lists (ttyS0, ttyS1...).
 */
/**
 * OVMF split in code (read-only) and variables (a per-run copy): EFI variables written by the guest
 * (bootctl set-default, set-oneshot) persist across its reboots, as on a real machine. No Secure Boot
 * keys are enrolled in Debian's OVMF_VARS_4M.fd.
 */
export const OVMF_CODE_4M = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS_4M = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/**
 * Secure Boot: OVMF built with Secure Boot and SMM (needs q35 with SMM and a secure pflash), with
 * Debian's "snakeoil" variable store: Secure Boot on, the snakeoil certificate as PK, KEK and db. Its
 * private key ships beside it (password "snakeoil", for testing only): what the guest's boot loader,
 * kernels and UKIs are signed with (README.Debian of the ovmf package).
 */
export const OVMF_CODE_4M_SECBOOT = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_VARS_4M_SNAKEOIL = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
export const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key';
export const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem';

export function qemuBaseArgs(o: { cpu: string; memoryMiB?: number | undefined; smp?: number | undefined; firmware?: 'seabios' | 'uefi' | undefined; serial: string[]; efiVars?: string | undefined; secureBoot?: boolean | undefined; net?: GuestNet | undefined }): string[] {
  const secure = o.firmware === 'uefi' && o.efiVars && o.secureBoot;
  return [
    '-accel', 'tcg',
    ...(secure ? ['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
    '-cpu', o.cpu,
    '-m', String(o.memoryMiB ?? 1024),
    '-smp', String(o.smp ?? 1),
    // Serial ports go to files: a full stdout pipe (a busy host) makes QEMU's 16550 drop characters.
    '-nographic',
    '-monitor', 'none',
    ...o.serial.flatMap((path, i) => ['-chardev', `file,id=serial${i},path=${path}`, '-serial', `chardev:serial${i}`]),
    ...netArgs(o.net),
    ...(o.firmware === 'uefi' && o.efiVars
      ? ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${secure ? OVMF_CODE_4M_SECBOOT : OVMF_CODE_4M}`, '-drive', `if=pflash,format=raw,unit=1,file=${o.efiVars}`]
      : o.firmware === 'uefi' ? ['-bios', ovmfFirmware()] : []),
  ];
}

/** Creates an ext2 image of `mib` MiB holding the files of `staging` (mke2fs -d), with a file system label if given. */
export async function makeDisk(path: string, mib: number, staging: string, label?: string): Promise<void> {
  rmSync(path, { force: true });
  const fd = openSync(path, 'w');
  ftruncateSync(fd, mib * 1024 * 1024);
  closeSync(fd);
  await run('disk', 'mke2fs', ['-q', '-F', '-t', 'ext2', ...(label ? ['-L', label] : []), '-d', staging, path], { timeoutMs: 120_000 });
}

/** A hard link (the cache may be on another file system: then a copy). */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** `dir`, emptied — or dir-PID when a live run (another engineer's) holds it. */
export function claimOutDir(dir: string): string {
  const lock = join(dir, 'owner.pid');
  try {
    const pid = Number(readFileSync(lock, 'utf8'));
    if (pid && pid !== process.pid) {
      process.kill(pid, 0); // throws when that run is gone
      dir = `${dir}-${process.pid}`;
    }
  } catch {
    /* no live owner */
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

const running = new Set<number>();
let handlersInstalled = false;
function track(pid: number | undefined): void {
  if (!pid) return;
  running.add(pid);
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = () => {
    for (const p of running) killGroup(p);
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

export function failReport(why: string, consoleText: string, missing: string[], markers: Marker[]): string {
  const last = markers.at(-1);
  return [
    why,
    missing.length ? `missing marker(s): ${missing.join(', ')}` : '',
    `last marker: ${last ? `${last.stage}:${last.name} ${last.value}`.trim() : '(none: the first kernel never reached /init)'}`,
    '--- last 50 console lines ---',
    tail(consoleText, 50),
  ]
    .filter(Boolean)
    .join('\n');
}

export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const t0 = Date.now();
  const log = spec.log ?? (() => {});
  const cpu = spec.cpu ?? 'max';
  const timeoutMs = spec.timeoutMs ?? 5 * 60_000;
  if (!spec.stages.first) throw new E2EStepError('spec', `scenario ${spec.name} has no "first" stage`);

  const kernel = await getKernel(spec.suite, log);
  const outDir = claimOutDir(join(REPO, 'e2e', 'out', `${spec.name}-${spec.suite}-${cpu}`));
  mkdirSync(join(outDir, 'staging', 'boot'), { recursive: true });

  const baseCmdline = DEFAULT_CMDLINE;
  const initrd = join(outDir, 'initrd.img');
  const initOpts = { stages: spec.stages, files: spec.files, baseCmdline };
  log(`building initramfs for ${kernel.release}`);
  await buildInitramfs(kernel, initrd, { ...initOpts, node: spec.node ?? true });
  // The next kernels (kexec, capture) load their images from the scratch disk.
  linkOrCopy(initrd, join(outDir, 'staging', 'boot', 'initrd.img'));
  linkOrCopy(kernel.vmlinuz, join(outDir, 'staging', 'boot', 'vmlinuz'));
  if (spec.stages.capture) {
    const slim = join(outDir, 'initrd-capture.img');
    await buildInitramfs(kernel, slim, { ...initOpts, node: spec.captureNode ?? false });
    linkOrCopy(slim, join(outDir, 'staging', 'boot', 'initrd-capture.img'));
  }
  const disk = new ScratchDisk(join(outDir, 'disk.img'));
  const staging = join(outDir, 'staging');
  const consolePath = join(outDir, 'console.log');
  const append = [baseCmdline, 'e2e.stage=first', spec.cmdline ?? ''].join(' ').trim();
  const args = [
    ...qemuBaseArgs({ cpu, memoryMiB: spec.memoryMiB, smp: spec.smp, firmware: spec.firmware, serial: [consolePath], net: spec.net }),
    ...(spec.allowReboot ? [] : ['-no-reboot']),
    '-kernel', kernel.vmlinuz,
    '-initrd', initrd,
    '-append', append,
    '-drive', `file=${disk.path},format=raw,if=virtio`,
  ];
  writeFileSync(join(outDir, 'qemu-args.json'), JSON.stringify(args, null, 1) + '\n');
  const what = `${spec.name} on ${spec.suite} (${kernel.release}, -cpu ${cpu})`;

  const retries: BootRetry[] = [];
  for (;;) {
    await makeDisk(disk.path, spec.diskMiB ?? 512, staging);
    log(`qemu-system-x86_64 -cpu ${cpu} (${spec.suite} ${kernel.release}) -append "${append}"`);
    const boot = await bootGuest(spec, args, consolePath, timeoutMs, log);
    const why = failure(spec, boot, timeoutMs);
    if (!why) {
      rmSync(staging, { recursive: true, force: true });
      return scenarioResult(kernel, cpu, outDir, boot, disk, retries, Date.now() - t0);
    }
    // The known TCG text-patching oops early in a boot: once, the whole run again on a fresh disk.
    const oops = retries.length === 0 ? tcgTextPatchOops(boot.console) : undefined;
    if (!oops) {
      rmSync(staging, { recursive: true, force: true });
      const earlier = retries.map((r) => `\n(retried once after the TCG text-patching oops: ${r.oops} at ${r.rip}; that console: ${r.console})`).join('');
      throw new E2EStepError(why.step, what, failReport(why.text, boot.console, why.missing, boot.markers) + `\n(console: ${consolePath})` + earlier);
    }
    const kept = join(outDir, `console-attempt${retries.length + 1}.log`);
    renameSync(consolePath, kept);
    retries.push({ ...oops, qemuMs: boot.qemuMs, console: kept });
    log(`${what}: ${oops.oops} at ${oops.rip} before /init (the known TCG text-patching oops): booting once more`);
  }
}

/** One failed boot the harness retried: the known TCG text-patching oops (harness/boot-oops.ts). */
export interface BootRetry extends BootOops {
  /** host wall time of that QEMU run (ms) */
  qemuMs: number;
  /** its console, kept beside console.log */
  console: string;
}

export interface Boot {
  code: number | null;
  timedOut: boolean;
  /** killed after this many ms without a byte on any watched serial file (bootGuest's `stall.ms`, or `stall.dead.ms` for a dead console) */
  stalled?: number;
  endedOn: boolean;
  stderr: string;
  console: string;
  markers: Marker[];
  qemuMs: number;
}

/**
 * A boot killed when its serial files (`files`) stop growing for `ms`; sooner, after `dead.ms`, when
 * the first file's tail shows a guest that cannot go on (`dead.tail`: a panic's end line, say).
 */
export interface Stall {
  ms: number;
  files: string[];
  dead?: { ms: number; tail: RegExp };
}

/** The last `bytes` of a file as text ('' when it is missing). */
function fileTail(path: string, bytes = 4096): string {
  if (!existsSync(path)) return '';
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const b = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, b, 0, b.length, size - b.length);
    return b.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Runs QEMU once with `args` until it exits, the timeout, or `spec.endOn`; collects the console (the file markers are read from) and its markers. */
export async function bootGuest(spec: Pick<ScenarioSpec, 'endOn'> & { stall?: Stall }, args: string[], consolePath: string, timeoutMs: number, log: (line: string) => void): Promise<Boot> {
  writeFileSync(consolePath, '');
  const markers: Marker[] = [];
  let consoleText = '';
  let pending = '';
  const qStart = Date.now();
  // timeout(1) bounds QEMU even if this process dies without cleaning up.
  const hardLimit = Math.ceil(timeoutMs / 1000) + 30;
  const child = spawn('timeout', ['-s', 'KILL', String(hardLimit), 'qemu-system-x86_64', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child.pid);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const consoleFd = openSync(consolePath, 'r');
  const buf = Buffer.alloc(1 << 16);
  const decoder = new StringDecoder('utf8');
  const poll = () => {
    const now = Date.now() - qStart;
    for (let n; (n = readSync(consoleFd, buf, 0, buf.length, null)) > 0; ) {
      const d = decoder.write(buf.subarray(0, n));
      consoleText += d;
      pending += d;
    }
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const m = MARK_RE.exec(line.replace(/\r$/, ''));
      if (!m) continue;
      const mk = { stage: m[1]!, name: m[2]!, uptime: Number(m[3]), value: m[4]!.trim(), hostMs: now };
      markers.push(mk);
      log(`  [${(now / 1000).toFixed(1)}s] ${mk.stage}:${mk.name} @${mk.uptime}s ${mk.value}`.trimEnd());
    }
  };
  let endedOn = false;
  // stall: the watched files' sizes, and when one last grew
  let sizes = '';
  let grewAt = Date.now();
  let stalled = 0;
  const poller = setInterval(() => {
    poll();
    if (spec.stall && !stalled) {
      const now = spec.stall.files.map((f) => (existsSync(f) ? statSync(f).size : -1)).join(' ');
      if (now !== sizes) [sizes, grewAt] = [now, Date.now()];
      else {
        const idle = Date.now() - grewAt;
        const { dead } = spec.stall;
        const limit = dead && idle > dead.ms && dead.tail.test(fileTail(spec.stall.files[0]!)) ? dead.ms : spec.stall.ms;
        if (idle > limit) {
          stalled = limit;
          log(`no output on ${spec.stall.files.map((f) => basename(f)).join(', ')} for ${limit / 1000} s${limit < spec.stall.ms ? ` after ${dead!.tail}` : ''}: killing QEMU`);
          killGroup(child.pid);
        }
      }
    }
    if (spec.endOn && !endedOn && spec.endOn.test(consoleText)) {
      endedOn = true;
      log(`console matched ${spec.endOn}: ending the run`);
      setTimeout(() => killGroup(child.pid), 3000);
    }
  }, 100);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);
  const code: number | null = await new Promise((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  clearInterval(poller);
  killGroup(child.pid); // nothing of the group may outlive the run
  poll();
  pending += '\n'; // a last line without its newline
  poll();
  closeSync(consoleFd);
  running.delete(child.pid!);
  return { code, timedOut, ...(stalled ? { stalled } : {}), endedOn, stderr, console: consoleText, markers, qemuMs: Date.now() - qStart };
}

export const findMarker = (markers: Marker[], stage: string, name: string) => markers.find((m) => m.stage === stage && m.name === name);

/** Why a boot failed the scenario (step, report text, missing markers), or undefined when it passed. */
export function failure(spec: Pick<ScenarioSpec, 'expect'>, b: Boot, timeoutMs: number): { step: string; text: string; missing: string[] } | undefined {
  const missing = (spec.expect ?? []).filter((k) => {
    const [stage, name] = k.split(':') as [string, string];
    return !findMarker(b.markers, stage, name);
  });
  const failed = b.markers.find((m) => m.name === 'fail' || (m.name === 'exit' && m.value !== '0'));
  if (b.timedOut) return { step: 'timeout', text: `QEMU did not finish within ${timeoutMs / 1000} s (killed)`, missing };
  if (b.stalled) return { step: 'stall', text: 'the guest printed nothing on its serial ports for too long (killed)', missing };
  if (b.code !== 0 && !b.endedOn) return { step: 'qemu', text: `QEMU exited with ${b.code}${b.stderr ? ': ' + tail(b.stderr, 5) : ''}`, missing };
  if (failed) return { step: `stage ${failed.stage}`, text: `stage '${failed.stage}' failed: ${failed.name} ${failed.value}`, missing };
  if (missing.length) return { step: 'markers', text: 'the guest powered off before all markers appeared', missing };
  return undefined;
}

function scenarioResult(kernel: Kernel, cpu: string, outDir: string, b: Boot, disk: ScratchDisk, retries: BootRetry[], wallMs: number): ScenarioResult {
  const find = (stage: string, name: string) => findMarker(b.markers, stage, name);
  return {
    kernel,
    cpu,
    outDir,
    qemuMs: b.qemuMs,
    wallMs,
    retries,
    console: b.console,
    markers: b.markers,
    find,
    marker(stage, name) {
      const m = find(stage, name);
      if (!m) throw new E2EStepError('markers', `no marker ${stage}:${name}`, failReport('', b.console, [`${stage}:${name}`], b.markers));
      return m;
    },
    disk,
    cleanup() {
      for (const f of ['disk.img', 'initrd.img', 'initrd-capture.img']) rmSync(join(outDir, f), { force: true });
    },
  };
}

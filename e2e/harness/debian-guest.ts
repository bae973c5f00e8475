// Boots a real Debian system (harness/debian-image.ts) under QEMU (TCG): through the firmware
// (SeaBIOS or OVMF) and the image's GRUB, from a qcow2 overlay on the cached raw image (the cache is
// never written), with a job disk (ext2 labelled E2EJOB) holding the stage scripts the image's
// e2e-agent runs (guest-scripts.ts). Serial port 1 (ttyS0) is the console (console.log); port 2
// (ttyS1) carries only the agent's markers and the stages' output (agent.log). Guest reboots go
// through the firmware again (no -no-reboot); the run ends when the guest powers off.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './initramfs.ts';
import { firmwareBootKernelFault, firmwareHandoffStall, firmwareResetStall, PANIC_END } from './firmware-stall.ts';
import { AGENT_LIB } from './guest-scripts.ts';
import { bootGuest, claimOutDir, failReport, failure, findMarker, makeDisk, OVMF_CODE_4M, OVMF_CODE_4M_SECBOOT, OVMF_VARS_4M, OVMF_VARS_4M_SNAKEOIL, qemuBaseArgs, ScratchDisk, type Marker } from './scenario.ts';
import { E2EStepError, run, tail } from './steps.ts';

/** A disk to boot: the cached image through a fresh overlay, or (building the image) the raw file itself. */
export interface SystemDisk {
  file: string;
  format: 'raw' | 'qcow2';
}

export interface SystemBoot {
  /** e2e/out/NAME */
  name: string;
  disk: SystemDisk;
  firmware: 'seabios' | 'uefi';
  /**
   * uefi: OVMF as pflash, code read-only + a fresh copy of OVMF_VARS_4M.fd in the out directory
   * (efivars.fd), so the EFI variables the guest writes survive its reboots; default: -bios OVMF.fd
   */
  efiVars?: boolean;
  /**
   * with efiVars: Secure Boot on (q35 + SMM, OVMF's Secure Boot build, Debian's snakeoil variable
   * store: PK, KEK and db hold the snakeoil certificate); what the firmware starts must be signed with it
   */
  secureBoot?: boolean;
  /** stage name -> bash script run by the agent; "first" (or `start`) runs on the first boot */
  stages: Record<string, string>;
  start?: string;
  /** extra files on the job disk (path under /run/e2e-job -> content) */
  files?: Record<string, string | Buffer>;
  /** size of the job disk (sparse ext2), MiB; default 64: make room for what the stages copy out (dumps) */
  jobDiskMiB?: number;
  /** boot a kernel directly (-kernel/-initrd/-append) instead of through the firmware's boot loader */
  direct?: { kernel: string; initrd: string; append: string };
  /** markers ("stage:name") that must appear */
  expect?: string[];
  timeoutMs: number;
  cpu?: string;
  memoryMiB?: number;
  smp?: number;
  log?: (line: string) => void;
}

export interface SystemResult {
  outDir: string;
  firmware: 'seabios' | 'uefi';
  cpu: string;
  qemuMs: number;
  /** ttyS0: firmware, GRUB, kernel, systemd */
  console: string;
  markers: Marker[];
  find(stage: string, name: string): Marker | undefined;
  marker(stage: string, name: string): Marker;
  /** the job disk, read with debugfs (the stages' files under /run/e2e-job) */
  job: ScratchDisk;
  cleanup(): void;
}

/** Host milliseconds since QEMU started at which `stage`'s boot reached multi-user.target (from the agent's markers). */
export function multiUserHostMs(r: Pick<SystemResult, 'marker'>, stage: string): number {
  const m = r.marker(stage, 'multi-user');
  const enteredUs = Number(m.value);
  if (!Number.isFinite(enteredUs) || enteredUs <= 0) throw new E2EStepError('markers', `${stage}: multi-user.target has no ActiveEnterTimestampMonotonic ('${m.value}')`);
  return m.hostMs - (m.uptime * 1000 - enteredUs / 1000);
}

/** Host milliseconds since QEMU started at which `stage`'s kernel started (its uptime 0): firmware + boot loader before it. */
export function kernelStartHostMs(r: Pick<SystemResult, 'marker'>, stage: string): number {
  const m = r.marker(stage, 'boot');
  return m.hostMs - m.uptime * 1000;
}

/**
 * Stage lines that crash the guest: a unique line TAG-UUID in the kernel log (marker crash-line),
 * `next` as the stage of the boot after the crash, marker crash, then sysrq-c.
 */
export function sysrqCrashStage(tag: string, next: string): string {
  return `line="${tag}-$(cat /proc/sys/kernel/random/uuid)"
echo "$line" > /dev/kmsg
mark crash-line "$line"
echo ${next} > $JOB/next
sync
mark crash
echo c > /proc/sysrq-trigger
sleep 120
fail "sysrq-c did not crash the guest"`;
}

/** How long a firmware boot may print nothing on both serial ports (E2E_STALL_MS, default 8 min). */
const STALL_MS = () => Number(process.env.E2E_STALL_MS) || 8 * 60_000;

export async function bootSystem(spec: SystemBoot): Promise<SystemResult> {
  const log = spec.log ?? (() => {});
  const cpu = spec.cpu ?? 'max';
  if (process.env.E2E_REPLAY) return replaySystem(spec, cpu);
  const outDir = claimOutDir(join(REPO, 'e2e', 'out', spec.name));
  const staging = join(outDir, 'job');
  mkdirSync(join(staging, 'stages'), { recursive: true });
  writeFileSync(join(staging, 'lib.sh'), AGENT_LIB);
  writeFileSync(join(staging, 'next'), `${spec.start ?? 'first'}\n`);
  for (const [name, text] of Object.entries(spec.stages)) writeFileSync(join(staging, 'stages', `${name}.sh`), text + '\n');
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    const dest = join(staging, path);
    mkdirSync(join(dest, '..'), { recursive: true });
    writeFileSync(dest, content);
  }
  const job = new ScratchDisk(join(outDir, 'job.img'));
  await makeDisk(job.path, spec.jobDiskMiB ?? 64, staging, 'E2EJOB');
  rmSync(staging, { recursive: true, force: true });
  // The run's starting state (job disk, disk overlay, EFI variables), made again for a retry.
  const jobStart = join(outDir, 'job-start.img');
  const sparseCopy = (from: string, to: string) => run('disk', 'cp', ['--sparse=always', from, to], { timeoutMs: 120_000 });
  await sparseCopy(job.path, jobStart);

  let disk = spec.disk;
  const overlay = join(outDir, 'overlay.qcow2');
  if (disk.format === 'qcow2') disk = { file: overlay, format: 'qcow2' };
  let efiVars: string | undefined;
  let varsTemplate: string | undefined;
  if (spec.efiVars) {
    if (spec.firmware !== 'uefi') throw new E2EStepError('qemu', `${spec.name}: efiVars needs firmware uefi`);
    const [code, vars] = spec.secureBoot ? [OVMF_CODE_4M_SECBOOT, OVMF_VARS_4M_SNAKEOIL] : [OVMF_CODE_4M, OVMF_VARS_4M];
    for (const f of [code, vars]) if (!existsSync(f)) throw new E2EStepError('qemu', `${f} is missing`, 'install Debian package ovmf (scripts/install-test-deps.sh)');
    efiVars = join(outDir, 'efivars.fd');
    varsTemplate = vars;
  } else if (spec.secureBoot) throw new E2EStepError('qemu', `${spec.name}: secureBoot needs efiVars`);
  const fresh = async () => {
    if (spec.disk.format === 'qcow2') {
      rmSync(overlay, { force: true });
      await run('disk', 'qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', spec.disk.file, overlay], { timeoutMs: 60_000 });
    }
    if (efiVars) copyFileSync(varsTemplate!, efiVars);
    await sparseCopy(jobStart, job.path);
  };
  const consolePath = join(outDir, 'console.log');
  const agentPath = join(outDir, 'agent.log');
  const args = [
    ...qemuBaseArgs({ cpu, memoryMiB: spec.memoryMiB, smp: spec.smp, firmware: spec.firmware, serial: [consolePath, agentPath], efiVars, secureBoot: spec.secureBoot }),
    ...(spec.direct ? ['-kernel', spec.direct.kernel, '-initrd', spec.direct.initrd, '-append', spec.direct.append] : []),
    '-drive', `file=${disk.file},format=${disk.format},if=virtio`,
    '-drive', `file=${job.path},format=raw,if=virtio`,
  ];
  writeFileSync(join(outDir, 'qemu-args.json'), JSON.stringify(args, null, 1) + '\n');
  log(`qemu-system-x86_64 ${spec.firmware} ${disk.file}${spec.direct ? ` -append "${spec.direct.append}"` : ''}`);
  // A boot through the firmware that prints nothing on either serial port for STALL_MS is killed; a
  // run that stalled right after the firmware handed over, in the firmware's reset after the kernel
  // restarted the machine, or after the kernel the firmware booted died of an oops
  // (harness/firmware-stall.ts), is run once more from its starting state, its logs kept as
  // *-attempt1.log.
  // A console that ends with a panic's last line is dead: killed after a minute, not STALL_MS.
  const stall = spec.direct ? {} : { stall: { ms: STALL_MS(), files: [consolePath, agentPath], dead: { ms: 60_000, tail: PANIC_END } } };
  let boot: Awaited<ReturnType<typeof bootGuest>>;
  let consoleText: string;
  let retried: string | undefined;
  for (let attempt = 1; ; attempt++) {
    await fresh();
    boot = await bootGuest(stall, args, agentPath, spec.timeoutMs, log);
    consoleText = readFileSync(consolePath, 'utf8');
    const handoff = boot.stalled && attempt === 1 ? firmwareHandoffStall(consoleText) : undefined;
    const reset = boot.stalled && attempt === 1 && !handoff ? firmwareResetStall(consoleText) : undefined;
    const fault = boot.stalled && attempt === 1 && !handoff && !reset ? firmwareBootKernelFault(consoleText) : undefined;
    if (!handoff && !reset && !fault) break;
    const what = handoff ? `stalled after the firmware's "${handoff}"` : reset ? `stalled in the firmware's reset after the kernel's "${reset}"` : `stalled after ${fault}`;
    retried = `${spec.name}: ${what} (no output for ${(boot.stalled ?? 0) / 1000} s, ${boot.markers.length} markers before it): run once more from the start`;
    log(retried);
    for (const f of [consolePath, agentPath]) renameSync(f, f.replace(/\.log$/, '-attempt1.log'));
  }
  rmSync(jobStart, { force: true });
  // Every marker with its host time, for reading a run again after it ended.
  writeFileSync(join(outDir, 'markers.json'), JSON.stringify(boot.markers, null, 1) + '\n');
  const why = failure(spec, boot, spec.timeoutMs);
  if (why) {
    throw new E2EStepError(
      why.step,
      `${spec.name} (${spec.firmware})`,
      failReport(why.text, boot.console, why.missing, boot.markers).replace('--- last 50 console lines ---', '--- last 50 lines of the agent (ttyS1) ---') +
        `\n--- last 40 console lines (ttyS0, ${consolePath}) ---\n${tail(consoleText, 40)}` + (retried ? `\n(${retried})` : ''),
    );
  }
  if (retried) writeFileSync(join(outDir, 'retried.txt'), retried + '\n');
  return systemResult(spec, cpu, outDir, boot.markers, boot.console, consoleText, boot.qemuMs, job);
}

/**
 * E2E_REPLAY=1: the result of the guest's last run, from its out directory (markers.json, job.img,
 * console.log), without starting QEMU: the test's checks run again on what the guest did.
 */
function replaySystem(spec: SystemBoot, cpu: string): SystemResult {
  const outDir = join(REPO, 'e2e', 'out', spec.name);
  const markersFile = join(outDir, 'markers.json');
  const jobFile = join(outDir, 'job.img');
  if (!existsSync(markersFile) || !existsSync(jobFile)) throw new E2EStepError('replay', `E2E_REPLAY: ${outDir} has no markers.json and job.img of an earlier run`, 'run the test once without E2E_REPLAY');
  const markers = JSON.parse(readFileSync(markersFile, 'utf8')) as Marker[];
  const consoleText = readFileSync(join(outDir, 'console.log'), 'utf8');
  const agent = readFileSync(join(outDir, 'agent.log'), 'utf8');
  const qemuMs = Math.max(0, ...markers.map((m) => m.hostMs));
  return systemResult(spec, cpu, outDir, markers, agent, consoleText, qemuMs, new ScratchDisk(jobFile), false);
}

function systemResult(spec: SystemBoot, cpu: string, outDir: string, markers: Marker[], agent: string, consoleText: string, qemuMs: number, job: ScratchDisk, removable = true): SystemResult {
  const boot = { markers, console: agent, qemuMs };
  const find = (stage: string, name: string) => findMarker(boot.markers, stage, name);
  return {
    outDir,
    firmware: spec.firmware,
    cpu,
    qemuMs: boot.qemuMs,
    console: consoleText,
    markers: boot.markers,
    find,
    marker(stage, name) {
      const m = find(stage, name);
      if (!m) throw new E2EStepError('markers', `no marker ${stage}:${name}`, failReport('', boot.console, [`${stage}:${name}`], boot.markers));
      return m;
    },
    job,
    cleanup() {
      if (!removable) return; // a replay keeps what it replays
      for (const f of ['job.img', 'overlay.qcow2']) rmSync(join(outDir, f), { force: true });
    },
  };
}

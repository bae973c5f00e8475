// One kdump-ts capture in a busybox guest at a given crashkernel=, in either capture mode, for the
// small-mode e2e scenario (kdump-ts-small.test.ts) and the bisect (bench/crashkernel-min.ts).
// capture = root: the first stage turns the scratch disk (/dev/vda, also the dump target) into a
// root file system holding Node.js with its libraries and our bundle (copied from the guest's
// initramfs, at the same paths), so the capture kernel's small initramfs (busybox, modules, /init)
// mounts it and runs node from it; capture = initramfs: Node.js inside the capture initramfs.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, type ScenarioResult } from './harness/scenario.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { koffiBinaryFiles } from './kexec-ts-files.ts';
import { MAKE_ROOT } from './scenarios.ts';
import { NODE_ARGS } from '../src/node-args.ts';

export type CaptureKind = 'root' | 'initramfs';

export interface CaptureRun {
  /** The capture saved a dump and vmcore-ts (and makedumpfile, when installed) read it. */
  ok: boolean;
  why: string;
  crashkernelMiB: number;
  mode: CaptureKind;
  /** `kdump-ts mkinitrd`'s report (sizes, mode). */
  mkinitrd: string;
  lowestMemAvailableKiB?: number;
  result?: ScenarioResult;
  marker: string;
}

function cli(name: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `src/cli/${name}.ts`, ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The guest's kdump-ts.conf (also e2e/kdump-ts.test.ts's): the scratch disk is the dump target and, in root mode, the root file system. */
export function guestConfig(mode: CaptureKind, syscall = 'kexec_load'): string {
  return [
    '# written by the e2e kdump-ts scenarios',
    'kernel = /boot/vmlinuz',
    'initrd = /boot/kdump-ts-initrd.img',
    'target = /crash',
    'target_device = /dev/vda',
    'target_fstype = ext4',
    'modules = virtio_pci virtio_blk',
    'dump_level = 31',
    'compression = zlib',
    `syscall = ${syscall}`,
    'after = reboot',
    `capture = ${mode}`,
    ...(mode === 'root' ? ['root_device = /dev/vda', 'root_fstype = ext4'] : []),
    '',
  ].join('\n');
}

export async function runCapture(o: { suite: string; cpu: string; crashkernelMiB: number; mode: CaptureKind; memoryMiB?: number; timeoutMs?: number; log?: (s: string) => void }): Promise<CaptureRun> {
  const kernel = await getKernel(o.suite, o.log);
  const outDir = join(REPO, 'e2e', 'out');
  const confPath = join(outDir, `kdump-ts-small-${o.suite}-${o.mode}.conf`);
  const initrd = join(outDir, `kdump-ts-small-initrd-${o.suite}-${o.mode}.img`);
  writeFileSync(confPath, guestConfig(o.mode));
  const made = cli('kdump-ts', [
    'mkinitrd', '--config', confPath, '-o', initrd, '--release', kernel.release, '--modules-dir', kernel.modulesDir,
    // root mode: the paths node and vmcore-ts's CommonJS launcher (what kdump-ts runs by default) have
    // on the guest's root (the scratch disk);
    // initramfs mode: the host's bundle to carry.
    ...(o.mode === 'root' ? ['--node', '/usr/bin/node', '--bundle', '/opt/kexec-ts/dist/vmcore-ts.cjs'] : []),
  ]);
  const marker = `E2E-KDUMP-SMALL-${randomBytes(6).toString('hex')}`;
  const base = { ok: false, crashkernelMiB: o.crashkernelMiB, mode: o.mode, mkinitrd: made.out + made.err, marker };
  if (made.code !== 0) return { ...base, why: `kdump-ts mkinitrd exited ${made.code}: ${made.err.trim()}` };
  let result: ScenarioResult;
  try {
    result = await runScenario({
      name: `kdump-ts-small-${o.mode}-${o.crashkernelMiB}M`,
      suite: o.suite,
      cpu: o.cpu,
      memoryMiB: o.memoryMiB ?? 1024,
      cmdline: `crashkernel=${o.crashkernelMiB}M`,
      diskMiB: 768,
      files: { 'etc/kdump-ts.conf': guestConfig(o.mode), 'boot/kdump-ts-initrd.img': { host: initrd }, ...koffiBinaryFiles() },
      stages: {
        first: `
mkdir -p /scratch/crash
${o.mode === 'root' ? MAKE_ROOT : ''}
check kdump-load kdump-ts load
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
echo "${marker}" > /dev/kmsg
prepare_kexec
mark crashing
kdump-ts crash --yes-crash-this-machine
fail "still running after kdump-ts crash"
`,
      },
      expect: ['first:crash-loaded', 'first:crashing'],
      timeoutMs: o.timeoutMs ?? 10 * 60_000,
      log: o.log,
    });
  } catch (e) {
    return { ...base, why: `the first kernel did not crash with the capture kernel loaded: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}` };
  }
  const low = /kdump-ts: lowest MemAvailable during the save: (\d+) kB/.exec(result.console);
  const run = { ...base, result, ...(low ? { lowestMemAvailableKiB: Number(low[1]) } : {}) };
  const saved = /kdump-ts: saved \/mnt\/target\/crash\/(\d{8}-\d{6})\/vmcore/.exec(result.console);
  if (!saved) {
    const last = result.console.split('\n').filter((l) => /kdump-ts:|Out of memory|Kernel panic|oom/i.test(l)).slice(-3).join(' | ');
    return { ...run, why: `no dump saved (${last || 'the capture kernel printed nothing of ours'})` };
  }
  const dir = `crash/${saved[1]}`;
  const vmcore = result.disk.copyOut(`${dir}/vmcore`, join(result.outDir, 'vmcore.kdump'));
  const dmesg = cli('vmcore-ts', ['dmesg', vmcore]);
  if (dmesg.code !== 0 || !dmesg.out.includes(marker)) return { ...run, why: `vmcore-ts dmesg on the dump: exit ${dmesg.code}, marker ${dmesg.out.includes(marker) ? 'found' : 'missing'}` };
  if (spawnSync('makedumpfile', ['-v']).status === 0) {
    const md = join(result.outDir, 'makedumpfile-dmesg.txt');
    const r = spawnSync('makedumpfile', ['--dump-dmesg', vmcore, md], { stdio: 'ignore' });
    if (r.status !== 0 || !existsSync(md) || !readFileSync(md, 'utf8').includes(marker)) return { ...run, why: 'makedumpfile --dump-dmesg does not read the dump' };
  }
  return { ...run, ok: true, why: 'dump saved; vmcore-ts dmesg and makedumpfile read it' };
}

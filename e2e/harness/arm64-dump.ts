// Real arm64 crash dumps (issue 15): Debian's arm64 cloud kernel of a suite booted in
// qemu-system-aarch64 (TCG, -M virt, -cpu max,pauth-impdef=on, 2 CPUs) to a busybox /init that loads
// qemu_fw_cfg (so the kernel writes its VMCOREINFO to QEMU's `-device vmcoreinfo`) and panics with
// sysrq-c. No kdump is loaded: the guest stops in panic (panic=0), and QEMU's monitor writes the
// dump over QMP (`dump-guest-memory`): an ELF core (CPU notes with the saved registers + the
// VMCOREINFO note) and a kdump-compressed (zlib) one. Cached as $CACHE/vmcore/arm64-SUITE.elf,
// arm64-SUITE.kdump and arm64-SUITE.json (like the x86_64 ones e2e/kdump.test.ts keeps), remade
// when the suite's kernel changes. One guest at a time: TCG is heavy and the cores are shared.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { addHostFile, addKernelModules, writeArchive } from '../../src/host/initramfs-collect.ts';
import { cacheDir } from './cache.ts';
import { downloadSuiteDebs, getKernel, type Kernel } from './kernels.ts';
import { E2EStepError, killGroup, run, tail } from './steps.ts';

export interface Arm64Dump {
  suite: string;
  release: string;
  version: string;
  /** QEMU's -cpu */
  cpu: string;
  /** ELF core from dump-guest-memory (format elf) */
  vmcore: string;
  /** kdump-compressed (zlib) from dump-guest-memory (format kdump-zlib) */
  kdump: string;
  /** the guest's console up to the panic */
  console: string;
  made: string;
}

export const ARM64_CPU = 'max,pauth-impdef=on';

/** The guest's /init: busybox, fw_cfg for VMCOREINFO, a marker, then sysrq-c. */
export const ARM64_PANIC_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /e2e/modules); do insmod "$m" || echo "e2e: insmod $m failed"; done
echo "e2e: vmcoreinfo $(cat /sys/kernel/vmcoreinfo 2>/dev/null)"
echo "e2e: fw_cfg $(ls /sys/firmware/qemu_fw_cfg/by_name/etc 2>/dev/null | tr '\\n' ' ')"
echo 1 >/proc/sys/kernel/sysrq
echo "e2e: panicking"
echo c >/proc/sysrq-trigger
echo "e2e: still alive"
`;

async function busyboxArm64(suite: string, log: (s: string) => void): Promise<string> {
  const out = join(cacheDir('initramfs'), `busybox-arm64-${suite}`);
  if (existsSync(out)) return out;
  const [deb] = await downloadSuiteDebs(suite, ['busybox-static'], log, 'arm64');
  const tmp = mkdtempSync(`${out}.tmp-`);
  try {
    await run('unpack', 'dpkg-deb', ['-x', deb!, tmp], { timeoutMs: 60_000 });
    const bin = ['bin/busybox', 'usr/bin/busybox'].map((p) => join(tmp, p)).find((p) => existsSync(p)); // trixie: merged /usr
    if (!bin) throw new E2EStepError('unpack', `busybox-static (${suite}, arm64) has no bin/busybox`);
    renameSync(bin, out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

async function buildInitramfs(k: Kernel, busybox: string, out: string): Promise<void> {
  const a = new CpioArchive();
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'bin', 'sbin', 'usr/bin', 'usr/sbin', 'e2e']) a.dir(d);
  a.add({ type: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  addHostFile(a, busybox, 'bin/busybox', 0o755);
  a.symlink('bin/sh', 'busybox');
  const order = addKernelModules(a, k.modulesDir, k.release, ['qemu_fw_cfg']);
  a.file('e2e/modules', order.map((p) => '/' + p).join('\n') + '\n');
  a.file('init', ARM64_PANIC_INIT, 0o755);
  await writeArchive(a.encode(), out);
}

/** One QMP session: sends commands in turn, resolves each with its `return` (rejects on `error`). */
class Qmp {
  private buf = '';
  private waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private readonly sock: import('node:net').Socket;
  private constructor(sock: import('node:net').Socket) {
    this.sock = sock;
    sock.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      for (let i; (i = this.buf.indexOf('\n')) >= 0; ) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as { return?: unknown; error?: { desc: string }; QMP?: unknown; event?: string };
        if (msg.QMP || msg.event) continue;
        const w = this.waiting.shift();
        if (!w) continue;
        if (msg.error) w.reject(new E2EStepError('dump', `QMP: ${msg.error.desc}`));
        else w.resolve(msg.return);
      }
    });
  }
  static async open(path: string, deadline: number): Promise<Qmp> {
    for (;;) {
      try {
        const sock = await new Promise<import('node:net').Socket>((resolve, reject) => {
          const s = connect(path, () => resolve(s)).once('error', reject);
        });
        const q = new Qmp(sock);
        await q.command('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw new E2EStepError('dump', `cannot reach QEMU's QMP socket ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  command(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

/**
 * Boots `k` (arm64) to a panic and writes dump-guest-memory's ELF and kdump-zlib dumps to `elf` and
 * `kdump`; the console text. Bounded by `timeoutMs`; QEMU is killed (its process group) at the end.
 */
export async function panicAndDump(k: Kernel, initrd: string, work: string, elf: string, kdump: string, cpu = ARM64_CPU, timeoutMs = 8 * 60_000, log: (s: string) => void = () => {}): Promise<string> {
  const qmpPath = join(work, 'qmp.sock');
  const consolePath = join(work, 'console.log');
  const args = ['-M', 'virt', '-cpu', cpu, '-m', '1024', '-smp', '2', '-display', 'none', '-no-reboot', '-nic', 'none',
    '-serial', `file:${consolePath}`, '-monitor', 'none', '-qmp', `unix:${qmpPath},server=on,wait=off`, '-device', 'vmcoreinfo',
    '-kernel', k.vmlinuz, '-initrd', initrd, '-append', 'console=ttyAMA0 panic=0 loglevel=7'];
  log(`qemu-system-aarch64 ${args.join(' ')}`);
  const qemu = spawn('qemu-system-aarch64', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  qemu.on('close', () => (exited = true));
  const release = () => killGroup(qemu.pid);
  process.once('exit', release);
  const deadline = Date.now() + timeoutMs;
  const consoleText = () => (existsSync(consolePath) ? readFileSync(consolePath, 'latin1').replace(/\r/g, '') : '');
  try {
    const qmp = await Qmp.open(qmpPath, Date.now() + 30_000);
    try {
      // The panic is over when the kernel printed its end marker (panic=0: it then spins forever).
      while (!/---\[ end Kernel panic/.test(consoleText())) {
        if (exited) throw new E2EStepError('boot', 'qemu-system-aarch64 exited before the guest panicked', tail(stderr + consoleText(), 30));
        if (Date.now() > deadline) throw new E2EStepError('boot', `the guest did not panic within ${timeoutMs / 1000} s`, tail(consoleText(), 30));
        await new Promise((r) => setTimeout(r, 500));
      }
      await new Promise((r) => setTimeout(r, 1000)); // let the other CPU settle in its stop loop
      await qmp.command('stop');
      for (const [format, file] of [['elf', elf], ['kdump-zlib', kdump]] as const) {
        const t0 = Date.now();
        await qmp.command('dump-guest-memory', { paging: false, protocol: `file:${file}.tmp`, format });
        renameSync(`${file}.tmp`, file);
        log(`dump-guest-memory ${format}: ${statSync(file).size} bytes in ${Date.now() - t0} ms`);
      }
      await qmp.command('quit').catch(() => {});
    } finally {
      qmp.close();
    }
  } finally {
    release();
    process.off('exit', release);
  }
  return consoleText();
}

/**
 * The cached arm64 dumps of `suite`'s cloud kernel, made (one boot, a few seconds to minutes under
 * TCG) when missing or when the suite's kernel is newer than the one they were made from. `cpu`:
 * QEMU's -cpu (default ARM64_CPU: LPA2 and pointer authentication); another model is cached under
 * arm64-SUITE-MODEL (e.g. cortex-a72: no LPA2, so trixie's 52-bit kernel runs with 48-bit VA).
 */
export async function getArm64Dump(suite: string, log: (s: string) => void = () => {}, cpu = ARM64_CPU): Promise<Arm64Dump> {
  const k = await getKernel(suite, log, 'arm64');
  const dir = cacheDir('vmcore');
  const name = cpu === ARM64_CPU ? `arm64-${suite}` : `arm64-${suite}-${cpu.replace(/[^a-z0-9-]/gi, '_')}`;
  const jsonPath = join(dir, `${name}.json`);
  if (existsSync(jsonPath)) {
    const had = JSON.parse(readFileSync(jsonPath, 'utf8')) as Arm64Dump;
    if (had.version === k.version && existsSync(had.vmcore) && existsSync(had.kdump)) return had;
  }
  const work = mkdtempSync(join(dir, `${name}.work-`));
  try {
    const initrd = join(work, 'initrd.gz');
    await buildInitramfs(k, await busyboxArm64(suite, log), initrd);
    const elf = join(dir, `${name}.elf`);
    const kdump = join(dir, `${name}.kdump`);
    const consoleText = await panicAndDump(k, initrd, work, elf, kdump, cpu, undefined, log);
    const consoleFile = join(dir, `${name}.console.log`);
    writeFileSync(consoleFile, consoleText);
    const d: Arm64Dump = { suite, release: k.release, version: k.version, cpu, vmcore: elf, kdump, console: consoleFile, made: new Date().toISOString() };
    writeFileSync(jsonPath, JSON.stringify(d, null, 1) + '\n');
    return d;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

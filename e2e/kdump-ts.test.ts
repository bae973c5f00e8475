// Real kernels, our whole kdump chain: the capture initramfs is built with `kdump-ts mkinitrd` (on
// the host, for the guest kernel's release and modules); in the guest `kdump-ts load` loads it with
// `kexec-ts -p` through kexec_load (our ELF core header, e820 and purgatory) and through
// kexec_file_load, `kdump-ts status` reports ready, `kdump-ts crash --yes-crash-this-machine` crashes
// the guest, the capture kernel runs our /init, which saves /proc/vmcore with `vmcore-ts save` onto
// the scratch disk and reboots; on the host `vmcore-ts dmesg` finds the crash marker in the dump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, type ScenarioSpec } from './harness/scenario.ts';
import { kdumpTsCpu, suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { koffiBinaryFiles } from './kexec-ts-files.ts';
import { guestConfig } from './kdump-ts-small.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;

function cli(name: string, args: string[]): string {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `src/cli/${name}.ts`, ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${name} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const CRASHKERNEL = process.env.E2E_CRASHKERNEL ?? '512M';

// Node.js in the capture initramfs (the guest's root is its initramfs); kdump-ts-small.test.ts covers capture = root.
const config = (syscall: string): string => guestConfig('initramfs', syscall);

function scenario(suite: string, cpu: string, syscall: string, initrd: string, marker: string): ScenarioSpec {
  return {
    name: `kdump-ts-${syscall}`,
    suite,
    cpu,
    memoryMiB: 1536,
    cmdline: `crashkernel=${CRASHKERNEL}`,
    diskMiB: 256,
    files: {
      'etc/kdump-ts.conf': config(syscall),
      'boot/kdump-ts-initrd.img': { host: initrd },
      ...koffiBinaryFiles(),
    },
    stages: {
      first: `
mkdir -p /scratch/crash
kdump-ts status; mark status-before $?
check kdump-load kdump-ts load -d
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
kdump-ts status; mark status-after $?
kdump-ts status --json > /scratch/status.json
echo "${marker}" > /dev/kmsg
prepare_kexec
mark crashing
kdump-ts crash --yes-crash-this-machine
fail "still running after kdump-ts crash"
`,
    },
    // The capture kernel runs our /init (no harness markers): it prints "kdump-ts: ..." and reboots.
    expect: ['first:crash-loaded', 'first:crashing'],
    timeoutMs: 12 * 60_000,
  };
}

for (const suite of suites()) {
  const cpu = kdumpTsCpu();
  for (const syscall of ['kexec_load', 'kexec_file_load']) {
    test(`e2e ${suite} -cpu ${cpu}: kdump-ts mkinitrd/load (${syscall})/status/crash, capture /init runs vmcore-ts save, vmcore-ts dmesg shows the crash marker`, async (t) => {
      if (cannotRun(t)) return;
      if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
      await orSkipOnDownload(t, async () => {
        const kernel = await getKernel(suite, log);
        const outDir = join(REPO, 'e2e', 'out');
        const confPath = join(outDir, `kdump-ts-${suite}-${syscall}.conf`);
        const initrd = join(outDir, `kdump-ts-initrd-${suite}.img`);
        writeFileSync(confPath, config(syscall));
        const made = cli('kdump-ts', ['mkinitrd', '--config', confPath, '-o', initrd, '--release', kernel.release, '--modules-dir', kernel.modulesDir]);
        t.diagnostic(made.trim());
        assert.match(made, /modules: .*virtio_blk/);
        const marker = `E2E-KDUMP-TS-${randomBytes(6).toString('hex')}`;
        const r = await runScenario({ ...scenario(suite, cpu, syscall, initrd, marker), log });
        assert.equal(r.marker('first', 'status-before').value, '1', 'status before load: not ready (nothing loaded)');
        assert.equal(r.marker('first', 'crash-loaded').value, '1');
        assert.equal(r.marker('first', 'status-after').value, '0', 'status after load: ready');
        assert.match(r.console, /^capture kernel: +loaded: \/boot\/vmlinuz with \/boot\/kdump-ts-initrd\.img/m);
        const saved = /kdump-ts: saved \/mnt\/target\/crash\/(\d{8}-\d{6})\/vmcore/.exec(r.console);
        assert.ok(saved, `the capture kernel's /init saved the dump (console: ${join(r.outDir, 'console.log')})`);
        const dir = `crash/${saved[1]}`;
        assert.equal(r.disk.readFile(`${dir}/save-exit-code`).toString().trim(), '0');
        const dmesgTxt = r.disk.readFile(`${dir}/dmesg.txt`).toString();
        assert.ok(dmesgTxt.includes(marker), 'vmcore-ts save --dump-dmesg in the capture kernel has the marker');
        const vmcore = r.disk.copyOut(`${dir}/vmcore`, join(r.outDir, 'vmcore.kdump'));
        const ours = cli('vmcore-ts', ['dmesg', vmcore]);
        assert.ok(ours.includes(marker), `vmcore-ts dmesg on the saved dump shows the crash marker ${marker}`);
        assert.match(ours, /sysrq: Trigger a crash/);
        // The facts our ELF core header was built from (kdump-ts status --json in the first kernel)
        // agree with what vmcore-ts finds in the dump by itself: the direct-map base (page_offset_base)
        // the RAM PT_LOADs' p_vaddr use, and _text for the kernel text PT_LOAD.
        const status = JSON.parse(r.disk.readFile('status.json').toString()) as { coreHeader: { pageOffset?: string; kernelText?: { vaddr: string }; sources: string[] } };
        t.diagnostic(`core header facts: ${status.coreHeader.sources.join('; ')}`);
        const info = JSON.parse(cli('vmcore-ts', ['info', '--json', vmcore])) as { kernel: { directMapBase: string } };
        assert.equal(status.coreHeader.pageOffset, info.kernel.directMapBase, 'direct map base: /proc/kcore in the first kernel vs the dump');
        const text = /^([0-9a-f]{16}) \S _text$/m.exec(cli('vmcore-ts', ['sym', vmcore, '_text']));
        assert.equal(status.coreHeader.kernelText?.vaddr, text ? '0x' + text[1]!.replace(/^0+/, '') : undefined, '_text: /proc/kcore in the first kernel vs the dump');
        const mem = /kdump-ts: saving \/proc\/vmcore \((\d+) bytes\).*memory: (.*)$/m.exec(r.console);
        if (mem) t.diagnostic(`capture kernel: /proc/vmcore ${mem[1]} bytes; ${mem[2]!.trim()}`);
        const low = /kdump-ts: lowest MemAvailable during the save: (\d+) kB/.exec(r.console);
        if (low) t.diagnostic(`capture kernel: lowest MemAvailable during vmcore-ts save ${(Number(low[1]) / 1024).toFixed(1)} MiB (crashkernel=${CRASHKERNEL})`);
        if (spawnSync('makedumpfile', ['-v']).status === 0) {
          const md = join(r.outDir, 'makedumpfile-dmesg.txt');
          execFileSync('makedumpfile', ['--dump-dmesg', vmcore, md], { stdio: 'ignore' });
          assert.ok(readFileSync(md, 'utf8').includes(marker), 'makedumpfile reads our dump and finds the marker');
        }
        recordTimings(r, `kdump-ts-${syscall}`, {
          crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000,
        });
        t.diagnostic(timingSummary(r));
        r.cleanup();
      });
    });
  }
}

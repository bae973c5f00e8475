// What the network-target kdump-ts scenarios share (e2e/kdump-ts-ssh, -nfs, -collector.test.ts):
// the capture initramfs built on the host for the guest kernel with kdump-ts mkinitrd, and a guest
// on QEMU's restricted network (its only way out: forwards to 127.0.0.1) that loads the capture
// kernel with kdump-ts, logs a marker and crashes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_NET_MAC, runScenario, type GuestNet, type ScenarioResult } from './harness/scenario.ts';
import { kdumpTsCpu } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import type { Kernel } from './harness/kernels.ts';
import { koffiBinaryFiles } from './kexec-ts-files.ts';
import { NODE_ARGS } from '../src/node-args.ts';

/** A CLI of this checkout run with tsx; a non-zero exit fails the test with its stderr. */
export function cli(name: string, args: string[]): string {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', `src/cli/${name}.ts`, ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${name} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/**
 * The kdump.conf of a guest whose dump leaves through its one NIC: `lines` name the target and
 * what it needs; the kernel, the NIC, the dump level and the capture mode are the same for every
 * network test. `modules`: the capture kernel's (the NIC's, plus a disk's or NFS's).
 */
export function netConfig(testFile: string, lines: string[], modules = 'virtio_pci virtio_net'): string {
  return [
    `# written by e2e/${testFile}`,
    'kernel = /boot/vmlinuz',
    'initrd = /boot/kdump-ts-initrd.img',
    ...lines,
    `net_device = ${GUEST_NET_MAC}`,
    `modules = ${modules}`,
    'dump_level = 31',
    'compression = zlib',
    'syscall = kexec_load',
    'after = reboot',
    'capture = initramfs',
    '',
  ].join('\n');
}

/** `kdump-ts mkinitrd` of `config` for the guest kernel; returns the initrd and mkinitrd's report. */
export function captureInitrd(name: string, suite: string, kernel: Kernel, config: string): { initrd: string; report: string } {
  const outDir = join(REPO, 'e2e', 'out');
  mkdirSync(outDir, { recursive: true });
  const confPath = join(outDir, `${name}-${suite}.conf`);
  const initrd = join(outDir, `${name}-initrd-${suite}.img`);
  writeFileSync(confPath, config);
  const report = cli('kdump-ts', ['mkinitrd', '--config', confPath, '-o', initrd, '--release', kernel.release, '--modules-dir', kernel.modulesDir]);
  return { initrd, report };
}

/** The guest: kdump-ts load (config + initrd in its initramfs), the marker into the log, kdump-ts crash. */
export function crashGuest(o: { name: string; suite: string; config: string; initrd: string; marker: string; net: GuestNet; log?: (s: string) => void; before?: string }): Promise<ScenarioResult> {
  return runScenario({
    name: o.name,
    suite: o.suite,
    cpu: kdumpTsCpu(),
    memoryMiB: 1536,
    cmdline: 'crashkernel=512M',
    diskMiB: 256,
    net: o.net,
    files: { 'etc/kdump-ts.conf': o.config, 'boot/kdump-ts-initrd.img': { host: o.initrd }, ...koffiBinaryFiles() },
    stages: {
      first: `
${o.before ?? ''}
check kdump-load kdump-ts load
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
echo "${o.marker}" > /dev/kmsg
prepare_kexec
mark crashing
kdump-ts crash --yes-crash-this-machine
fail "still running after kdump-ts crash"
`,
    },
    expect: ['first:crash-loaded', 'first:crashing'],
    timeoutMs: 12 * 60_000,
    log: o.log,
  });
}

// `kdump-ts load` / `unload` run the kexec library in-process (no kexec-ts child): the kernel's
// refusal reaches the user as kexec-ts would word it, with its hint; with --root they only plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadCaptureKernel, unloadCaptureKernel } from '../../src/host/kdump-service.ts';
import { STATE_FILE } from '../../src/kdump/status.ts';
import { describeError } from '../../src/cli/run.ts';
import { KEXEC_FILE_ON_CRASH } from '../../src/kexec/plan.ts';
import { ERRNO } from '../../src/kexec/syscalls.ts';
import { NO_HOST_SYSCALLS_ENV } from '../../src/host/syscalls.ts';
import { fakeSyscalls } from '../kexec/fake-syscalls.ts';
import { probeSection } from '../kexec/fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from '../kexec/synthetic.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

/** The fixture machine (crashkernel=256M) with a config naming a capture kernel and initramfs. */
function fakeRoot(syscall: string, crashLoaded = '0'): string {
  const root = mkdtempSync(join(tmpdir(), 'kdump-load-'));
  const files: Record<string, string | Uint8Array> = {
    '/proc/iomem': probeSection('IOMEM'),
    '/proc/cmdline': 'console=ttyS0 crashkernel=256M\n',
    '/proc/sys/kernel/osrelease': '6.1.0-56-cloud-amd64\n',
    '/sys/kernel/kexec_crash_loaded': `${crashLoaded}\n`,
    '/etc/kdump-ts.conf': `kernel = /boot/vmlinuz\ninitrd = /boot/initrd.img\nsyscall = ${syscall}\n`,
    '/boot/vmlinuz': fakeBzImage(FIXTURE_KERNEL),
    '/boot/initrd.img': new Uint8Array(0x10000),
  };
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), data);
  }
  return root;
}

test('kdump-ts load: EPERM from the kernel is kexec-ts\'s line with its hint (in-process, not "exit code 1"); a loaded kernel was unloaded first', async () => {
  const root = fakeRoot('auto', '1');
  const sys = fakeSyscalls({ kexecFileLoad: ERRNO.EPERM });
  const e = await loadCaptureKernel(sys, { root }).catch((x: unknown) => x);
  assert.equal(
    `kdump-ts: ${describeError(e).line}`,
    'kdump-ts: kexec_file_load failed: Operation not permitted (EPERM) — not root (CAP_SYS_BOOT), kernel.kexec_load_disabled=1 or a kexec_load_limit sysctl at 0',
  );
  assert.deepEqual(sys.calls.map((c) => c.name), ['unloadKexecFile', 'kexecFileLoad']);
  assert.equal(existsSync(join(root, STATE_FILE)), false, 'nothing recorded for a failed load');
});

test('kdump-ts load through the fake: kexec_file_load of the configured files on crash, recorded in the state file; unload forgets it', async () => {
  const root = fakeRoot('kexec_file_load');
  const sys = fakeSyscalls();
  const st = await loadCaptureKernel(sys, { root });
  assert.equal(st.kernel, '/boot/vmlinuz');
  assert.equal(st.syscall, 'kexec_file_load');
  assert.deepEqual(sys.calls.map((c) => c.name), ['kexecFileLoad']);
  assert.equal(sys.calls[0]!.args[3], KEXEC_FILE_ON_CRASH);
  assert.equal(JSON.parse(readFileSync(join(root, STATE_FILE), 'utf8')).initrd, '/boot/initrd.img');
  unloadCaptureKernel(sys, root);
  assert.equal(existsSync(join(root, STATE_FILE)), false);
  assert.equal(sys.calls.at(-1)!.name, 'unloadKexecFile');
});

function kdumpTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', ...args], { encoding: 'utf8', env: { ...process.env, [NO_HOST_SYSCALLS_ENV]: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('kdump-ts load --root DIR plans that machine\'s capture load and prints it (nothing loaded); unload --root is refused', () => {
  const root = fakeRoot('kexec_load');
  const r = kdumpTs('load', '--root', root);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^dry run \\(--root ${root}\\): nothing is loaded$`, 'm'));
  assert.match(r.out, /^x86_64 bzImage via kexec_load \(crash kernel\): entry 0x[0-9a-f]+, flags 0x3e0001$/m);
  assert.match(r.out, /note: --dry-run: the ELF core header is left out: no CPU crash notes found/);
  assert.equal(existsSync(join(root, STATE_FILE)), false);
  const u = kdumpTs('unload', '--root', root);
  assert.equal(u.code, 2);
  assert.match(u.err, /^kdump-ts: unload acts on the running kernel: --root DIR has nothing to unload$/m);
});

test('kdump-ts load with syscall = auto records the syscall that loaded it (kexec_file_load), not the config\'s auto', async () => {
  const root = fakeRoot('auto');
  const sys = fakeSyscalls();
  const st = await loadCaptureKernel(sys, { root });
  assert.deepEqual(sys.calls.map((c) => c.name), ['kexecFileLoad']);
  assert.equal(st.syscall, 'kexec_file_load');
  assert.equal(JSON.parse(readFileSync(join(root, STATE_FILE), 'utf8')).syscall, 'kexec_file_load', 'kdump-ts status shows it');
});

// `kdump-ts status` against fake /proc and /sys trees (the root directory is a parameter).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStatus } from '../../src/host/kdump-service.ts';
import { STATE_FILE } from '../../src/kdump/status.ts';
import { formatStatus } from '../../src/cli/kdump-print.ts';
import { fakeRoot } from './fake-root.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

test('status: reserved region, nothing loaded, target and what would be saved on the fixture machine', () => {
  const root = fakeRoot();
  const s = readStatus(root);
  assert.deepEqual(s.reserved, { start: 0x2e000000n, end: 0x3dffffffn, size: 256n << 20n, param: 'crashkernel=256M' });
  assert.equal(s.crashSize, 268435456);
  assert.equal(s.loaded, false);
  assert.equal(s.capture.kernel, '/boot/vmlinuz-6.1.0-56-cloud-amd64');
  assert.equal(s.capture.kernelExists, true);
  assert.equal(s.capture.initrd, '/var/lib/kdump-ts/initrd.img-6.1.0-56-cloud-amd64');
  assert.equal(s.capture.initrdExists, false);
  assert.equal(s.capture.cmdline, 'console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=10 cgroup_disable=memory');
  assert.equal(s.target.writable, true);
  assert.equal(s.target.device, 'UUID=0f4c-77aa');
  assert.equal(s.target.fstype, 'ext4');
  // System RAM 0x100000-0x3ffdffff minus the 256 MiB crash region (the low 1 MiB is never dumped).
  assert.equal(s.wouldSave.ramBytes, 0x3fee0000 - 0x10000000);
  assert.equal(s.ready, false);
  assert.deepEqual(
    s.problems.map((p) => p.replace(/:.*/, '')),
    ['no capture kernel is loaded', 'capture initramfs /var/lib/kdump-ts/initrd.img-6.1.0-56-cloud-amd64 does not exist'],
  );
  const text = formatStatus(s);
  assert.match(text, /^memory reserved: +256 MiB at 0x2e000000-0x3dffffff \(crashkernel=256M\)$/m);
  assert.match(text, /^dump target: +\/var\/crash on UUID=0f4c-77aa \(ext4\), writable, .* free$/m);
  assert.match(text, /^would save: +766\.8 MiB of RAM minus zero pages, cache pages, private cache pages, user pages, free pages \(dump level 31\), kdump-compressed zlib/m);
  assert.match(text, /^ready: +no$/m);
});

test('status: loaded by kdump-ts says which kernel; ready when nothing is missing', () => {
  const state = { kernel: '/boot/vmlinuz-6.1.0-56-cloud-amd64', initrd: '/var/lib/kdump-ts/initrd.img-6.1.0-56-cloud-amd64', cmdline: 'console=ttyS0 irqpoll', syscall: 'auto', at: '2026-11-26T23:50:00.000Z' };
  const root = fakeRoot({
    '/sys/kernel/kexec_crash_loaded': '1\n',
    [STATE_FILE]: JSON.stringify(state),
    '/var/lib/kdump-ts/initrd.img-6.1.0-56-cloud-amd64': 'initrd',
  });
  const s = readStatus(root);
  assert.equal(s.loaded, true);
  assert.deepEqual(s.loadedBy, state);
  assert.deepEqual(s.problems, []);
  assert.equal(s.ready, true);
  assert.match(formatStatus(s), /^capture kernel: +loaded: \/boot\/vmlinuz-6\.1\.0-56-cloud-amd64 with \/var\/lib\/kdump-ts\/initrd\.img-6\.1\.0-56-cloud-amd64 \(auto, 2026-11-26T23:50:00\.000Z\)$/m);
});

test('status: no reservation, a target on tmpfs, and a config file are reported in plain words', () => {
  const root = fakeRoot({
    '/proc/iomem': '00001000-0009fbff : System RAM\n00100000-3ffdffff : System RAM\n',
    '/proc/cmdline': 'console=ttyS0\n',
    '/proc/self/mountinfo': '21 1 254:1 / / rw - ext4 /dev/vda1 rw\n30 21 0:40 / /var/crash rw - tmpfs tmpfs rw\n',
    '/etc/kdump-ts.conf': 'compression = none\ndump_level = 0\n',
  });
  const s = readStatus(root);
  assert.equal(s.reserved, null);
  assert.equal(s.config.found, true);
  assert.equal(s.wouldSave.format, 'ELF');
  assert.ok(s.problems.some((p) => p.startsWith('no memory is reserved for a capture kernel: add crashkernel=SIZE')));
  assert.ok(s.problems.some((p) => /\/var\/crash is on tmpfs \(tmpfs\), which a capture kernel cannot write to/.test(p)), s.problems.join('\n'));
  assert.match(formatStatus(s), /^memory reserved: +none$/m);
});

test('kdump-ts status --json --root: exit code 1 when not ready, bigints as hex', () => {
  const root = fakeRoot();
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'status', '--json', '--root', root], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.reserved.start, '0x2e000000');
  assert.equal(j.loaded, false);
});

test('kdump-ts crash refuses without --yes-crash-this-machine, and without a loaded capture kernel', () => {
  const root = fakeRoot();
  const run = (...a: string[]) => spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'crash', '--root', root, ...a], { encoding: 'utf8' });
  const r1 = run();
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /^kdump-ts: refusing to crash this machine — pass --yes-crash-this-machine/);
  const r2 = run('--yes-crash-this-machine');
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /no capture kernel is loaded/);
  // With one loaded, it writes "c" to (the fake) /proc/sysrq-trigger.
  writeFileSync(join(root, 'sys/kernel/kexec_crash_loaded'), '1\n');
  const r3 = run('--yes-crash-this-machine');
  assert.equal(r3.status, 0, r3.stderr);
  assert.equal(readFileSync(join(root, 'proc/sysrq-trigger'), 'utf8'), 'c');
});

test('status: with target_device the target is checked where that device is mounted now, or left to the capture kernel', () => {
  const conf = 'target = /crash\ntarget_device = UUID=0f4c-77aa\ntarget_fstype = ext4\n';
  const mounted = fakeRoot({
    '/etc/kdump-ts.conf': conf,
    '/proc/self/mountinfo': '21 1 0:2 / / rw - rootfs rootfs rw\n30 21 254:1 / /scratch rw - ext4 /dev/vda1 rw\n',
  });
  mkdirSync(join(mounted, 'scratch/crash'), { recursive: true });
  const s = readStatus(mounted);
  assert.equal(s.target.writable, true);
  assert.equal(s.target.dir, '/crash (mounted at /scratch/crash now)');
  assert.equal(s.target.device, 'UUID=0f4c-77aa');
  const unmounted = fakeRoot({ '/etc/kdump-ts.conf': conf, '/proc/self/mountinfo': '21 1 0:2 / / rw - rootfs rootfs rw\n' });
  const u = readStatus(unmounted);
  assert.equal(u.target.writable, false);
  assert.ok(!u.problems.some((p) => p.includes('dump target')), u.problems.join('\n'));
  assert.match(formatStatus(u), /^dump target: +\/crash on UUID=0f4c-77aa \(ext4\), UUID=0f4c-77aa is not mounted now: its space and permissions are checked only by the capture kernel$/m);
});

test('status: the core header facts come from cpuN/crash_notes, vmcoreinfo and /proc/kcore (direct map and kernel text)', async () => {
  const { encodeStruct } = await import('../../src/format/struct.ts');
  const { Elf64Ehdr, Elf64Phdr, PT_LOAD, PT_NOTE, ET_CORE, EM_X86_64 } = await import('../../src/format/elf.ts');
  // A /proc/kcore's headers as fs/proc/kcore.c writes them: a note, the kernel text mapping (p_paddr
  // = __pa_symbol(_text)), vmalloc (p_paddr = -1) and two direct-map RAM ranges (p_paddr = __pa).
  const directMap = 0xff1718ae40000000n;
  const loads = [
    { type: PT_NOTE, vaddr: 0n, paddr: 0n, memsz: 0x1000n },
    { type: PT_LOAD, vaddr: 0xffffffff99400000n, paddr: 0x18200000n, memsz: 0x282f123n },
    { type: PT_LOAD, vaddr: 0xffffc90000000000n, paddr: 0xffffffffffffffffn, memsz: 0x1000000000n },
    { type: PT_LOAD, vaddr: directMap + 0x1000n, paddr: 0x1000n, memsz: 0x9ec00n },
    { type: PT_LOAD, vaddr: directMap + 0x100000n, paddr: 0x100000n, memsz: 0x3fee0000n },
  ];
  const ident = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const kcore = Buffer.concat([
    encodeStruct(Elf64Ehdr, { ident, type: ET_CORE, machine: EM_X86_64, version: 1, phoff: 64n, ehsize: 64, phentsize: 56, phnum: loads.length }),
    ...loads.map((l) => encodeStruct(Elf64Phdr, { type: l.type, offset: 0x2000n, vaddr: l.vaddr, paddr: l.paddr, filesz: l.memsz, memsz: l.memsz })),
  ]);
  const root = fakeRoot({
    '/sys/devices/system/cpu/cpu0/crash_notes': '3e039400\n',
    '/sys/devices/system/cpu/cpu0/crash_notes_size': '368\n',
    '/sys/devices/system/cpu/cpu1/crash_notes': '3e139400\n',
    '/sys/kernel/vmcoreinfo': '0x00000000011de000 1024\n',
  });
  writeFileSync(join(root, 'proc/kcore'), kcore);
  const s = readStatus(root);
  assert.equal(s.coreHeader.cpuNotes, 2);
  assert.equal(s.coreHeader.vmcoreinfo, true);
  assert.equal(s.coreHeader.pageOffset, directMap);
  assert.deepEqual(s.coreHeader.kernelText, { vaddr: 0xffffffff99400000n, paddr: 0x18200000n, size: 0x2830000n });
  assert.match(formatStatus(s), /^core header: +2 CPU notes, VMCOREINFO, kernel text 0xffffffff99400000 \(40\.1 MiB at 0x18200000\), direct map 0xff1718ae40000000$/m);
  // Without kcore: the kallsyms fallback for the text, the default direct map, and it says so.
  const bare = fakeRoot({ '/proc/kallsyms': 'ffffffff99400000 T _text\nffffffff9bc00000 B _end\n' });
  const b = readStatus(bare);
  assert.deepEqual(b.coreHeader.kernelText, { vaddr: 0xffffffff99400000n, paddr: 0x18200000n, size: 0x2800000n });
  assert.equal(b.coreHeader.pageOffset, undefined);
  assert.ok(b.coreHeader.sources.some((x) => x.startsWith('page offset: /proc/kcore unreadable')));
});

test('load: the kexec library request kdump-ts makes for each syscall setting (kexec-ts -p, -c, -s)', async () => {
  const { captureLoadRequest } = await import('../../src/kdump/status.ts');
  const files = { kernel: '/boot/vmlinuz-6.1', initrd: '/var/lib/kdump-ts/initrd.img-6.1', cmdline: 'console=ttyS0 irqpoll nr_cpus=1' };
  const base = { kernel: '/boot/vmlinuz-6.1', initrd: '/var/lib/kdump-ts/initrd.img-6.1', cmdline: 'console=ttyS0 irqpoll nr_cpus=1', kind: 'crash', dryRun: false };
  assert.deepEqual(captureLoadRequest(files, 'auto'), { ...base, syscall: 'auto' });
  assert.deepEqual(captureLoadRequest(files, 'kexec_load'), { ...base, syscall: 'load' });
  assert.deepEqual(captureLoadRequest(files, 'kexec_file_load'), { ...base, syscall: 'file' });
});

test('status: "last dump" names the newest /var/crash/YYYYmmdd-HHMMSS/ with its vmcore size, dmesg.txt and the save\'s exit code; "none" without one', () => {
  const none = readStatus(fakeRoot());
  assert.equal(none.target.lastDump, undefined);
  assert.match(formatStatus(none), /^last dump: {8}none$/m);
  const root = fakeRoot({
    '/var/crash/20261204-230000/vmcore': new Uint8Array(10),
    '/var/crash/20261205-010203/vmcore': new Uint8Array(3 << 20),
    '/var/crash/20261205-010203/dmesg.txt': 'Kernel panic - not syncing: sysrq triggered crash\n',
    '/var/crash/20261205-010203/save-exit-code': '0\n',
    '/var/crash/notes/x': '',
  });
  const s = readStatus(root);
  assert.deepEqual(s.target.lastDump, { dir: '/var/crash/20261205-010203', vmcoreBytes: 3 << 20, dmesg: true, exitCode: '0' });
  assert.match(formatStatus(s), /^last dump: {8}\/var\/crash\/20261205-010203: vmcore 3 MiB, dmesg\.txt, saved$/m);
  const unfinished = readStatus(fakeRoot({ '/var/crash/20261205-010203/dmesg.txt': '' }));
  assert.match(formatStatus(unfinished), /^last dump: {8}\/var\/crash\/20261205-010203: no vmcore, dmesg\.txt, save did not finish$/m);
  const failed = readStatus(fakeRoot({ '/var/crash/20261205-010203/vmcore': 'x', '/var/crash/20261205-010203/save-exit-code': '4\n' }));
  assert.match(formatStatus(failed), /: vmcore 1 bytes, no dmesg\.txt, save failed \(exit 4\)$/m);
});

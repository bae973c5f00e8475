// The kdump service's decisions as pure functions (src/kdump/: status, dump-target, capture-initramfs,
// readiness, crash-facts), given facts as data: no file, no /proc, no syscall (issue 11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { parseIomem } from '../../src/kexec/memory-map.ts';
import { parseConfig } from '../../src/kdump/config.ts';
import { addCaptureConfig, addCaptureSkeleton, bundleCompanions, libraryInLdCache, wantedModules } from '../../src/kdump/capture-initramfs.ts';
import { crashFactsFrom } from '../../src/kdump/crash-facts.ts';
import { dumpTargetOnMounts, parseMountinfo, targetDeviceLink, targetOnMountedDevice } from '../../src/kdump/dump-target.ts';
import { dumpTargetCheck, initrdContents, modulesCheck, parseMeminfo } from '../../src/kdump/readiness.ts';
import { captureFilesFor, captureLoadSteps, kdumpStatus, statusCaptureFiles, type StatusFacts } from '../../src/kdump/status.ts';
import { FIXTURE_IOMEM } from './fake-root.ts';

const RELEASE = '6.1.0-56-cloud-amd64';
const MOUNTS = parseMountinfo('21 1 254:1 / / rw - ext4 /dev/vda1 rw\n30 21 0:30 / /run rw - tmpfs tmpfs rw\n40 21 254:17 /dumps /srv/crash rw - xfs /dev/vdb1 rw\n');

test('capture files: the running release\'s kernel and mkinitrd\'s initramfs, the command line from /proc/cmdline; no release is one error', () => {
  const config = parseConfig('cmdline_append = console=ttyS0\n');
  const files = captureFilesFor(config, `${RELEASE}\n`, 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 crashkernel=256M quiet\n');
  assert.equal(files.kernel, `/boot/vmlinuz-${RELEASE}`);
  assert.equal(files.initrd, `/var/lib/kdump-ts/initrd.img-${RELEASE}`);
  assert.equal(files.release, RELEASE);
  assert.doesNotMatch(files.cmdline, /crashkernel=/);
  assert.match(files.cmdline, /console=ttyS0/);
  assert.throws(() => captureFilesFor(config, undefined, ''), /cannot read \/proc\/sys\/kernel\/osrelease/);
  const unknown = statusCaptureFiles(parseConfig('kernel = /boot/vmlinuz-6.1.0-9-amd64\n'), undefined, '');
  assert.equal(unknown.files.kernel, '/boot/vmlinuz-6.1.0-9-amd64');
  assert.equal(unknown.files.release, '?');
  assert.match(unknown.error ?? '', /osrelease/);
});

test('load steps: unload a loaded capture kernel first, load the files under the root, record the configured paths', () => {
  const config = parseConfig('syscall = kexec_load\n');
  const files = captureFilesFor(config, RELEASE, 'root=/dev/vda1');
  const at = new Date('2026-12-04T23:00:00Z');
  const steps = captureLoadSteps(config, files, { crashLoaded: true, path: (p) => `/tmp/machine${p}`, at });
  assert.equal(steps.unloadFirst, true);
  assert.equal(steps.request.kernel, `/tmp/machine/boot/vmlinuz-${RELEASE}`);
  assert.equal(steps.request.syscall, 'load');
  assert.equal(steps.request.kind, 'crash');
  assert.deepEqual(steps.state, { kernel: files.kernel, initrd: files.initrd, cmdline: files.cmdline, syscall: 'kexec_load', at: '2026-12-04T23:00:00.000Z' });
  assert.equal(captureLoadSteps(config, files, { crashLoaded: false, path: (p) => p, at }).unloadFirst, false);
});

test('dump target: the disk filesystem holding the target (bind roots too); tmpfs and no mount are refused with what to do', () => {
  const config = parseConfig('target = /srv/crash/host1\n');
  assert.deepEqual(dumpTargetOnMounts(config, { mounts: MOUNTS }), { device: '/dev/vdb1', fstype: 'xfs', dir: '/dumps/host1', configured: '/srv/crash/host1', majmin: '254:17' });
  assert.throws(() => dumpTargetOnMounts(parseConfig('target = /run/crash\n'), { mounts: MOUNTS }), (e: Error & { hint?: string }) => /is on tmpfs \(tmpfs\), which a capture kernel cannot write to/.test(e.message) && /target_device/.test(e.hint ?? ''));
  assert.throws(() => dumpTargetOnMounts(config, { mounts: [] }), /is on no mounted filesystem/);
  assert.equal(targetDeviceLink('UUID=0f4c-77aa'), '/dev/disk/by-uuid/0f4c-77aa');
  assert.equal(targetDeviceLink('LABEL=dumps'), '/dev/disk/by-label/dumps');
  const real = MOUNTS.map((m) => (m.source === '/dev/vdb1' ? { ...m, real: '/dev/vdb1' } : m));
  assert.equal(targetOnMountedDevice('/dumps/host1', '/dev/vdb1', real), '/srv/crash/host1');
  assert.equal(targetOnMountedDevice('/elsewhere', '/dev/vdb1', real), undefined, 'not below the mounted subtree');
  assert.equal(targetOnMountedDevice('/dumps', '/dev/vdc1', real), undefined, 'device not mounted');
});

/** Status facts of the fixture machine: reserved, nothing loaded, files present, target writable with room. */
function facts(over: Partial<StatusFacts> = {}): StatusFacts {
  const config = parseConfig('');
  return {
    config,
    configPath: '/etc/kdump-ts.conf',
    configFound: false,
    crash: { iomem: parseIomem(FIXTURE_IOMEM), cpuNotes: [{ cpu: 0, addr: 0x1000n, size: 0x170n }], sources: [] },
    cmdline: 'console=ttyS0 crashkernel=256M',
    crashLoaded: '0\n',
    capture: { files: captureFilesFor(config, RELEASE, ''), kernelExists: true, initrdExists: true },
    target: { here: '/var/crash', exists: true, writable: true, freeBytes: 10 << 30, resolved: { device: 'UUID=0f4c-77aa', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' } },
    ...over,
  };
}

test('status facts: what they mean (reservation with its parameter, the one problem of a machine with nothing loaded)', () => {
  const s = kdumpStatus(facts());
  assert.deepEqual(s.reserved, { start: 0x2e000000n, end: 0x3dffffffn, size: 256n << 20n, param: 'crashkernel=256M' });
  assert.deepEqual(s.problems, ['no capture kernel is loaded: run `kdump-ts load`']);
  assert.equal(s.ready, false);
  assert.equal(s.target.device, 'UUID=0f4c-77aa');
  const loaded = kdumpStatus(facts({ crashLoaded: '1\n', state: '{"kernel":"/boot/k","initrd":"/i","cmdline":"c","syscall":"auto","at":"t"}' }));
  assert.equal(loaded.ready, true);
  assert.equal(loaded.loadedBy?.kernel, '/boot/k');
  assert.equal(kdumpStatus(facts({ crashLoaded: '1\n', state: '{damaged' })).loadedBy, undefined, 'a damaged state file loses only "which one"');
});

test('status facts: unmounted target_device, missing initramfs, unwritable target, unresolvable target each say what to do', () => {
  const config = parseConfig('target_device = UUID=dead-beef\n');
  const unmounted = kdumpStatus(facts({ config, target: { exists: false, writable: false, resolved: { device: 'UUID=dead-beef', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' } } }));
  assert.match(unmounted.target.error ?? '', /^UUID=dead-beef is not mounted now/);
  const files = captureFilesFor(parseConfig(''), RELEASE, '');
  const s = kdumpStatus(
    facts({ crashLoaded: '1\n', capture: { files, kernelExists: true, initrdExists: false }, target: { here: '/var/crash', exists: true, writable: false, resolved: { error: 'cannot read /proc/self/mountinfo' } } }),
  );
  assert.deepEqual(s.problems, [
    `capture initramfs ${files.initrd} does not exist: build it: kdump-ts mkinitrd`,
    'dump target /var/crash is not writable',
    'cannot read /proc/self/mountinfo',
  ]);
});

test('capture initramfs layout: skeleton, the bundle\'s companions (not the other CLIs, nor the S3 worker), wanted modules once, the release marker and /init', () => {
  const a = new CpioArchive();
  addCaptureSkeleton(a);
  const target = { device: 'UUID=0f4c-77aa', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' };
  addCaptureConfig(a, { config: parseConfig('after = poweroff\n'), target, release: RELEASE, modules: ['lib/modules/x/virtio_blk.ko'], mode: { mode: 'initramfs', why: 'test' } });
  const c = initrdContents(
    a.paths().map((name) => {
      const e = a.get(name)!;
      return { name, data: e.type === 'file' ? e.data : new Uint8Array(0) };
    }),
  );
  assert.equal(c.builtFor, RELEASE);
  assert.ok(['proc', 'dev/console', 'etc/kdump-ts.target', 'init'].every((p) => c.paths.has(p)));
  assert.deepEqual(bundleCompanions(['vmcore-ts.mjs', 'kexec-ts.mjs', 'kdump-ts.mjs', 'compress-worker.mjs', 's3-worker.mjs', 'chunk-1.mjs', 'api.mjs', 'ts-hooks.mjs', 'README'], 'vmcore-ts.mjs'), ['compress-worker.mjs', 'chunk-1.mjs']);
  const loaded = new Set(['virtio_blk', 'ext4']);
  assert.deepEqual(wantedModules({ drivers: ['virtio_blk', 'virtio_pci'], fstype: 'ext4' }, (m) => loaded.has(m), parseConfig('modules = ext4 nvme\n')), ['virtio_blk', 'ext4', 'nvme']);
});

test('readiness: modules and firmware inside the initramfs, the target\'s room by dump level', () => {
  const target = { device: '/dev/vda1', fstype: 'ext4', dir: '/', configured: '/var/crash' };
  const inside = initrdContents([{ name: 'lib/modules/r/kernel/virtio_blk.ko.xz', data: new Uint8Array(0) }]);
  assert.equal(modulesCheck(['virtio-blk'], target, undefined, new Map()).result, 'skip');
  assert.equal(modulesCheck(['virtio-blk'], target, inside, new Map()).result, 'ok', 'names compare with - and _ alike');
  assert.match(modulesCheck(['virtio_blk', 'ext4'], target, inside, new Map()).detail, /lacks ext4 \(needed for \/dev\/vda1 ext4\)/);
  assert.match(modulesCheck(['virtio_blk'], target, inside, new Map([['lib/firmware/x.bin', 'virtio_blk']])).detail, /lacks firmware the host has: lib\/firmware\/x.bin \(for virtio_blk\)/);
  const config = parseConfig('dump_level = 16\n');
  const status = kdumpStatus(facts({ config, target: { here: '/var/crash', exists: true, writable: true, freeBytes: 100 << 20, resolved: target } }));
  const mem = parseMeminfo('MemTotal: 1000000 kB\nMemFree: 10000 kB\n');
  assert.equal(dumpTargetCheck(status, config, mem).result, 'FAIL');
  assert.equal(dumpTargetCheck(status, config, parseMeminfo(`MemFree: ${Math.ceil(status.wouldSave.ramBytes / 1024)} kB\n`)).result, 'ok');
});

test('crash facts: kernel text from kcore, /proc/kallsyms read only without it; each source said', () => {
  const base = { iomem: FIXTURE_IOMEM, iomemSource: '/proc/iomem', cpus: [{ cpu: 1, dir: '/sys/devices/system/cpu/cpu1', notes: '3fc1e000\n' }, { cpu: 0, dir: '/sys/devices/system/cpu/cpu0', notes: '0x3fc1d000', size: '368\n' }], acpiRsdp: 0n };
  let asked = 0;
  const kallsyms = () => {
    asked++;
    return 'ffffffff99400000 T _text\nffffffff9bc00000 B _end\n';
  };
  const kcoreLoads = [
    { vaddr: 0xffff888000100000n, paddr: 0x100000n, memsz: 0x3fe00000n },
    { vaddr: 0xffffffff99400000n, paddr: 0xffffffffffffffffn, memsz: 0x2731000n },
  ];
  const f = crashFactsFrom({ ...base, kcoreLoads, kallsyms });
  assert.equal(asked, 0);
  assert.equal(f.kernelText?.vaddr, 0xffffffff99400000n);
  assert.equal(f.kernelText?.size, 0x2731000n);
  assert.equal(f.pageOffset, 0xffff888000000000n);
  assert.deepEqual(f.cpuNotes.map((n) => [n.cpu, n.addr, n.size]), [[0, 0x3fc1d000n, 368n], [1, 0x3fc1e000n, 1024n]]);
  assert.ok(f.sources?.includes('no /sys/kernel/vmcoreinfo: the dump will lack VMCOREINFO (makedumpfile and crash need it)'));
  const g = crashFactsFrom({ ...base, kallsyms });
  assert.equal(asked, 1);
  assert.equal(g.kernelText?.size, 0x2800000n);
  assert.ok(g.sources?.includes('kernel text: /proc/kallsyms _text.._end + "Kernel code" in /proc/iomem'));
  assert.equal(g.pageOffset, undefined);
  assert.throws(() => crashFactsFrom({ ...base, cpus: [{ cpu: 0, dir: '/sys/devices/system/cpu/cpu0', notes: 'zz' }], kallsyms }), /not a hex number/);
});

test('capture initramfs: a native codec library from ldconfig -p, only the x86-64 one on x64; readiness tells an unmounted target_device (skip) from a broken one', () => {
  const listing = '3 libs found in cache\n\tlibdeflate.so.0 (libc6) => /usr/lib/i386-linux-gnu/libdeflate.so.0\n\tlibdeflate.so.0 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libdeflate.so.0\n\tliblzo2.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/liblzo2.so.2\n';
  assert.equal(libraryInLdCache(listing, 'liblzo2.so.2', 'x64'), '/lib/x86_64-linux-gnu/liblzo2.so.2');
  assert.equal(libraryInLdCache(listing, 'libdeflate.so.0', 'x64'), undefined, 'the first match is the i386 one: not taken');
  assert.equal(libraryInLdCache(listing, 'libdeflate.so.0', 'arm64'), '/usr/lib/i386-linux-gnu/libdeflate.so.0');
  assert.equal(libraryInLdCache(listing, 'libzstd.so.1', 'x64'), undefined);
  const config = parseConfig('target_device = UUID=dead-beef\n');
  const unmounted = kdumpStatus(facts({ config, target: { exists: false, writable: false, resolved: { device: 'UUID=dead-beef', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' } } }));
  assert.equal(dumpTargetCheck(unmounted, config, new Map()).result, 'skip');
  const broken = kdumpStatus(facts({ target: { exists: false, writable: false, resolved: { error: 'the dump target /not mounted now is on tmpfs' } } }));
  assert.equal(dumpTargetCheck(broken, parseConfig(''), new Map()).result, 'FAIL');
});

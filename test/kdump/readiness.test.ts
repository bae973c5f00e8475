// kdump-ts test (a readiness self-test that crashes nothing), estimate, and the configuration and
// missing-file errors of every kdump-ts command, on fake --root trees. Every CLI run here has
// test/cli/no-act-guard.mjs preloaded: nothing can start a process or load the syscall layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ParseError } from '../../src/errors.ts';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { parseConfig } from '../../src/kdump/config.ts';
import { formatSize } from '../../src/kdump/crashkernel.ts';
import { INITRAMFS_RELEASE } from '../../src/kdump/capture-initramfs.ts';
import { estimateCapture, readinessChecks } from '../../src/host/kdump-readiness.ts';
import { formatChecks } from '../../src/cli/kdump-print.ts';
import { FIXTURE_KERNEL, fakeBzImage } from '../kexec/synthetic.ts';
import { fakeRoot } from './fake-root.ts';
import { fakeModule } from './fake-module.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const RELEASE = '6.1.0-56-cloud-amd64';
const KERNEL = `/boot/vmlinuz-${RELEASE}`;
const INITRD = `/var/lib/kdump-ts/initrd.img-${RELEASE}`;

function kdumpTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kdump-ts.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A gzip'd newc initramfs as mkinitrd writes it: the release marker and these modules. */
function initramfs(release: string, modules: string[]): Uint8Array {
  const a = new CpioArchive();
  a.file('init', '#!/bin/sh\n', 0o755);
  a.file(INITRAMFS_RELEASE, `${release}\n`);
  for (const m of modules) a.file(`lib/modules/${release}/kernel/drivers/block/${m}.ko.xz`, 'module');
  return gzipSync(Buffer.concat(a.encode()));
}

/** The fixture machine, ready: bzImage, initramfs for its release with virtio_blk, loaded, room on the target. */
function readyMachine(extra: Record<string, string | Uint8Array> = {}): string {
  return fakeRoot({
    [KERNEL]: fakeBzImage(FIXTURE_KERNEL),
    [INITRD]: initramfs(RELEASE, ['virtio_blk']),
    '/etc/kdump-ts.conf': 'modules = virtio-blk\n',
    '/sys/kernel/kexec_crash_loaded': '1\n',
    // 1 GiB guest, mostly free: a dump at level 31 is small.
    '/proc/meminfo': 'MemTotal: 1000000 kB\nMemFree: 700000 kB\nCached: 50000 kB\nAnonPages: 20000 kB\n',
    ...extra,
  });
}

test('kdump-ts test: every check ok on a ready machine (reservation covers the estimate, initramfs for the release, modules, room, loaded), exit 0', () => {
  const root = readyMachine();
  const checks = readinessChecks(root);
  assert.deepEqual(
    checks.map((c) => [c.name, c.result]),
    [['capture kernel', 'ok'], ['capture initramfs', 'ok'], ['capture mode', 'ok'], ['crashkernel', 'ok'], ['modules', 'ok'], ['dump target', 'ok'], ['loaded', 'ok']],
    formatChecks(checks),
  );
  const need = estimateCapture(root).estimate.total;
  assert.ok(need < 256n << 20n);
  assert.equal(checks[3]!.detail, `256 MiB reserved, the capture kernel and initramfs need ${formatSize(need)} (kdump-ts estimate)`);
  assert.equal(checks[1]!.detail, `${INITRD}, built for ${RELEASE}`);
  const r = kdumpTs('test', '--root', root);
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /^ok {4}crashkernel {8}256 MiB reserved/m);
  assert.match(r.out, /^ready: a crash now would be captured$/m);
  assert.equal(existsSync(join(root, 'proc/sysrq-trigger')), false, 'nothing was crashed');
  const j = JSON.parse(kdumpTs('test', '--json', '--root', root).out);
  assert.equal(j.ready, true);
  assert.equal(j.checks.length, 7);
});

test('kdump-ts test: each unready part is a FAIL line with what to do, exit 1, and nothing crashes', () => {
  // Too little reserved (64 MiB), an initramfs for another release without the module, nothing loaded.
  const iomem = '00001000-0009fbff : System RAM\n00100000-3ffdffff : System RAM\n  3a000000-3dffffff : Crash kernel\n';
  const root = readyMachine({
    '/proc/iomem': iomem,
    '/proc/cmdline': 'crashkernel=64M\n',
    [INITRD]: initramfs('6.1.0-55-cloud-amd64', []),
    '/sys/kernel/kexec_crash_loaded': '0\n',
  });
  rmSync(join(root, 'var/crash'), { recursive: true });
  const byName = new Map(readinessChecks(root).map((c) => [c.name, c]));
  assert.equal(byName.get('capture initramfs')!.result, 'FAIL');
  assert.match(byName.get('capture initramfs')!.detail, /was built for 6\.1\.0-55-cloud-amd64, the capture kernel is 6\.1\.0-56-cloud-amd64/);
  assert.equal(byName.get('capture initramfs')!.fix, 'rebuild it: kdump-ts mkinitrd');
  assert.equal(byName.get('modules')!.result, 'FAIL');
  assert.match(byName.get('modules')!.detail, /lacks virtio-blk/);
  assert.equal(byName.get('dump target')!.result, 'FAIL');
  assert.equal(byName.get('dump target')!.fix, 'create it: mkdir -p /var/crash');
  assert.equal(byName.get('loaded')!.fix, 'kdump-ts load');
  // The initramfs is wrong, so the estimate is not trusted: the reservation is reported, not judged.
  assert.equal(byName.get('crashkernel')!.result, 'skip');

  // With a matching initramfs the 64 MiB reservation is judged too small, with the size to ask for.
  const small = readyMachine({ '/proc/iomem': iomem, '/proc/cmdline': 'crashkernel=64M\n' });
  const ck = readinessChecks(small).find((c) => c.name === 'crashkernel')!;
  assert.equal(ck.result, 'FAIL');
  assert.match(ck.fix!, /^reserve more: crashkernel=\d+M on the kernel command line, then reboot$/);

  // No initramfs at all, no kernel: named, with what to do.
  const bare = fakeRoot();
  rmSync(join(bare, KERNEL.slice(1)));
  const r = kdumpTs('test', '--root', bare);
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, new RegExp(`^FAIL  capture kernel +capture kernel ${bare}${KERNEL} does not exist\\n +→ install the kernel of release ${RELEASE} \\(Debian: apt install linux-image-${RELEASE}\\), or set kernel = PATH in /etc/kdump-ts.conf$`, 'm'));
  assert.match(r.out, /^FAIL  capture initramfs .* does not exist\n +→ build it: kdump-ts mkinitrd$/m);
  assert.match(r.out, /^NOT READY: \d+ checks failed$/m);
  assert.equal(r.err, '');
  for (const d of [root, small, bare]) assert.equal(existsSync(join(d, 'proc/sysrq-trigger')), false, 'nothing was crashed');
});

test('kdump-ts test: the firmware the initramfs\'s modules declare and the host has must be inside (FAIL: run kdump-ts mkinitrd); firmware absent on the host is not required', () => {
  const ko = `lib/modules/${RELEASE}/kernel/drivers/block/virtio_blk.ko`;
  const withFirmware = (inside: boolean) => {
    const a = new CpioArchive();
    a.file('init', '#!/bin/sh\n', 0o755);
    a.file(INITRAMFS_RELEASE, `${RELEASE}\n`);
    a.file(ko, fakeModule(['name=virtio_blk', 'firmware=acme/blk.bin.xz', 'firmware=acme/optional.bin']));
    if (inside) a.file('lib/firmware/acme/blk.bin.xz', 'fw');
    return gzipSync(Buffer.concat(a.encode()));
  };
  const modules = (root: string) => readinessChecks(root).find((c) => c.name === 'modules')!;
  const lacking = modules(readyMachine({ [INITRD]: withFirmware(false), '/lib/firmware/acme/blk.bin.xz': 'fw' }));
  assert.equal(lacking.result, 'FAIL');
  assert.equal(lacking.detail, 'the initramfs lacks firmware the host has: lib/firmware/acme/blk.bin.xz (for virtio_blk)');
  assert.equal(lacking.fix, 'run kdump-ts mkinitrd');
  const ok = modules(readyMachine({ [INITRD]: withFirmware(true), '/lib/firmware/acme/blk.bin.xz': 'fw' }));
  assert.deepEqual([ok.result, ok.detail], ['ok', 'virtio-blk; firmware: 1 of 1 present']);
  // The host has none of the declared firmware: nothing to carry, nothing required.
  assert.equal(modules(readyMachine({ [INITRD]: withFirmware(false) })).result, 'ok');
});

test('kdump-ts estimate: a missing capture kernel is named with what to do, never a raw ENOENT', () => {
  const root = fakeRoot();
  rmSync(join(root, KERNEL.slice(1)));
  const r = kdumpTs('estimate', '--root', root);
  assert.equal(r.code, 1);
  assert.equal(r.err, `kdump-ts: capture kernel ${root}${KERNEL} does not exist — install the kernel of release ${RELEASE} (Debian: apt install linux-image-${RELEASE}), or set kernel = PATH in /etc/kdump-ts.conf\n`);
});

test('config: --config FILE must exist (the default path may be missing), errors say FILE:LINE: with "did you mean"', () => {
  const root = fakeRoot();
  for (const cmd of ['status', 'estimate', 'mkinitrd', 'test', 'load']) {
    const r = kdumpTs(cmd, '--root', root, '--config', '/missing.conf');
    assert.equal(r.code, 1, `${cmd}: ${r.err}`);
    assert.equal(r.err, `kdump-ts: config file ${root}/missing.conf does not exist — check the path; without --config, /etc/kdump-ts.conf is read when it exists (defaults otherwise)\n`, cmd);
  }
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/kdump-ts.conf'), '# kdump-ts\ntarget = /var/crash\n\ndumplevel = 31\n');
  const r = kdumpTs('status', '--root', root);
  assert.equal(r.code, 1);
  assert.equal(r.err, `kdump-ts: ${root}/etc/kdump-ts.conf:4: unknown key "dumplevel" (did you mean dump_level?)\n`);
  writeFileSync(join(root, 'etc/kdump-ts.conf'), 'compression = zstdd\n');
  assert.equal(kdumpTs('status', '--root', root).err, `kdump-ts: ${root}/etc/kdump-ts.conf:1: compression = zstdd: expected one of zlib, lzo, snappy, zstd, none (did you mean zstd?)\n`);
  assert.throws(() => parseConfig('a = 1', 'x.conf'), (e: unknown) => e instanceof ParseError && e.line === 1 && /known keys: kernel, initrd/.test(e.hint!));
});

test('every kdump-ts command on a sparse or empty --root: one line naming what is missing, never a raw ENOENT/EACCES or a stack', () => {
  const empty = mkdtempSync(join(tmpdir(), 'kdump-empty-'));
  const sparse = mkdtempSync(join(tmpdir(), 'kdump-sparse-'));
  mkdirSync(join(sparse, 'proc/sys/kernel'), { recursive: true });
  writeFileSync(join(sparse, 'proc/sys/kernel/osrelease'), `${RELEASE}\n`);
  const out = join(sparse, 'out.img');
  for (const root of [empty, sparse]) {
    for (const args of [['status'], ['load'], ['estimate'], ['mkinitrd', '-o', out], ['test'], ['crash', '--yes-crash-this-machine']]) {
      const r = kdumpTs(...args, '--root', root);
      const what = `${args.join(' ')} --root ${root === empty ? 'EMPTY' : 'SPARSE'}`;
      assert.equal(r.code, 1, `${what}: ${r.err}`);
      assert.doesNotMatch(r.err, /\bE(NOENT|ACCES)\b|\n\s+at |internal error/, what);
      if (args[0] !== 'status' && args[0] !== 'test') assert.equal(r.err.split('\n').length, 2, `${what}: one line: ${r.err}`);
    }
  }
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(join(sparse, 'proc/sysrq-trigger')), false);
});

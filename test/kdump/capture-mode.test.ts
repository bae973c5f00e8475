// capture = root | initramfs | auto: where the capture kernel runs Node.js from, the root-mode
// /init and initramfs, what `kdump-ts estimate` and `test` make of it, and mkinitrd's default output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KexecError, UsageError } from '../../src/errors.ts';
import { DEFAULT_CONFIG, parseConfig } from '../../src/kdump/config.ts';
import { chooseCaptureMode, type CaptureMode } from '../../src/kdump/capture-mode.ts';
import { CAPTURE_MODE_FILE, initScript } from '../../src/kdump/capture-initramfs.ts';
import { parseMountinfo } from '../../src/kdump/dump-target.ts';
import { estimateCrashkernel } from '../../src/kdump/estimate.ts';
import { mkinitrdOutput } from '../../src/kdump/status.ts';
import { buildCaptureInitramfs } from '../../src/host/kdump-initramfs.ts';
import { estimateCapture, readinessChecks } from '../../src/host/kdump-readiness.ts';
import { FIXTURE_KERNEL, fakeBzImage } from '../kexec/synthetic.ts';
import { fakeRoot } from './fake-root.ts';

const RELEASE = '6.1.0-56-cloud-amd64';
const mounts = (lines: string[]) => parseMountinfo(lines.join('\n'));
const EXT4_ROOT = '21 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw';
const facts = { node: '/usr/bin/node', bundle: '/usr/lib/kexec-ts/dist/vmcore-ts.mjs' };

test('capture mode: auto picks root on a local ext4 root holding node and the bundle (with its major:minor for the driver modules)', () => {
  const m = chooseCaptureMode(DEFAULT_CONFIG, { ...facts, mounts: mounts([EXT4_ROOT, '22 21 0:21 / /proc rw - proc proc rw']) });
  assert.equal(m.mode, 'root');
  assert.deepEqual(m.mode === 'root' && m.root, { device: '/dev/vda1', fstype: 'ext4', majmin: '254:1' });
});

test('capture mode: auto falls back to the initramfs, saying why, for an NFS or overlay root, a subvolume root, or node on another file system', () => {
  const why = (lines: string[], f = facts) => {
    const m = chooseCaptureMode(DEFAULT_CONFIG, { ...f, mounts: mounts(lines) });
    assert.equal(m.mode, 'initramfs');
    return m.why;
  };
  assert.equal(why(['21 1 0:30 / / rw - nfs4 server:/export/root rw']), 'the root file system is nfs4 (server:/export/root), not a local block device');
  assert.match(why(['21 1 0:30 / / rw - overlay overlay rw']), /overlay \(overlay\), not a local block device/);
  assert.match(why(['21 1 0:31 /@ / rw - btrfs /dev/vda2 rw']), /subdirectory \(\/@\) of \/dev\/vda2/);
  assert.equal(why([EXT4_ROOT, '23 21 254:2 / /usr rw - ext4 /dev/vda2 rw']), 'Node.js (/usr/bin/node) is on /usr, not on the root file system');
  assert.equal(why([EXT4_ROOT, '24 21 254:3 / /opt rw - ext4 /dev/vda3 rw'], { node: '/usr/bin/node', bundle: '/opt/kexec-ts/dist/vmcore-ts.mjs' }), 'the vmcore-ts bundle (/opt/kexec-ts/dist/vmcore-ts.mjs) is on /opt, not on the root file system');
  // Paths given for another machine are not checked against this one's mounts.
  assert.equal(chooseCaptureMode(DEFAULT_CONFIG, { ...facts, pathsGiven: true, mounts: mounts([EXT4_ROOT, '23 21 254:2 / /usr rw - ext4 /dev/vda2 rw']) }).mode, 'root');
});

test('capture mode: capture = initramfs is kept, capture = root that cannot work is an error with a fix, root_device needs no mount table', () => {
  assert.equal(chooseCaptureMode(parseConfig('capture = initramfs\n'), { ...facts, mounts: mounts([EXT4_ROOT]) }).mode, 'initramfs');
  assert.throws(
    () => chooseCaptureMode(parseConfig('capture = root\n'), { ...facts, mounts: mounts(['21 1 0:30 / / rw - nfs4 server:/r rw']) }),
    (e: unknown) => e instanceof KexecError && /^capture = root: the root file system is nfs4/.test(e.message) && /root_device/.test(e.hint ?? ''),
  );
  const m = chooseCaptureMode(parseConfig('capture = root\nroot_device = LABEL=sys\nroot_fstype = xfs\n'), { ...facts, mounts: [] });
  assert.deepEqual(m.mode === 'root' && m.root, { device: 'LABEL=sys', fstype: 'xfs' });
});

const ROOT_MODE: CaptureMode = { mode: 'root', root: { device: 'UUID=11-22', fstype: 'ext4' }, node: '/usr/bin/node', bundle: '/usr/lib/kexec-ts/dist/vmcore-ts.mjs', why: 't' };

test('root-mode /init: valid shell; mounts the root read-only (or uses the target mount when it is the same device) and chroots node into it', () => {
  const script = initScript({ target: { device: '/dev/vdb', fstype: 'ext4', dir: '/crash', configured: '/crash' }, modules: [], saveArgs: ['-c', '-d', '31'], after: 'reboot', mode: ROOT_MODE });
  const r = spawnSync('busybox', ['sh', '-n'], { input: script, encoding: 'utf8' });
  if (!r.error) assert.equal(r.status, 0, r.stderr);
  assert.match(script, /^wait_dev 'UUID=11-22' 'root file system'$/m);
  assert.ok(script.includes(`mount -o ro -t 'ext4' "$d" /mnt/root`));
  assert.ok(script.includes('if [ "$d" = "$tdev" ]; then\n  rootdir=/mnt/target\n  cdir=${dir#/mnt/target}'), 'the root is the target: one read-write mount');
  assert.ok(script.includes('mount -o bind /mnt/target /mnt/root/mnt'));
  assert.ok(script.includes(`run() { chroot "$rootdir" '/usr/bin/node' --max-semi-space-size=1 --no-concurrent-recompilation '/usr/lib/kexec-ts/dist/vmcore-ts.mjs' "$@"; }`));
  assert.ok(script.includes('run save -c -d 31 /proc/vmcore "$cdir/vmcore"'));
  assert.ok(script.indexOf('export NODE_EXTRA_CA_CERTS=\n') > 0);
});

test('root-mode initramfs: busybox with chroot, the modules and /init, no Node.js, bundle or codecs; a few MiB; records its mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-small-'));
  const built = buildCaptureInitramfs({
    config: DEFAULT_CONFIG,
    target: { device: '/dev/vdb', fstype: 'ext4', dir: '/crash', configured: '/crash' },
    release: RELEASE,
    modulesDir: join(dir, 'no-modules'),
    bundle: join(dir, 'absent.mjs'),
    mode: ROOT_MODE,
  });
  const paths = built.archive.paths();
  for (const p of ['init', 'bin/busybox', 'bin/chroot', CAPTURE_MODE_FILE]) assert.ok(paths.includes(p), p);
  assert.ok(!paths.some((p) => p.startsWith('usr/bin/node') || p.startsWith('kdump-ts/') || /ld-linux/.test(p)), 'no node, bundle or libraries');
  assert.deepEqual(built.nativeCodecs, []);
  assert.ok(built.archive.dataSize() < 8 * 1024 * 1024, `${built.archive.dataSize()} bytes`);
  const line = new TextDecoder().decode((built.archive.get(CAPTURE_MODE_FILE) as { data: Uint8Array }).data);
  assert.equal(line, 'root UUID=11-22 ext4 /usr/bin/node /usr/lib/kexec-ts/dist/vmcore-ts.mjs\n');
});

test('estimate: the measured bookworm guest (init_size 51.5 MiB): root mode 112M (smallest working 96M), initramfs mode 320M (smallest working 304M)', () => {
  // The capture initramfs sizes bench/crashkernel-min.ts measured with (gzip, unpacked).
  const kernelInitSize = 0x3378000n;
  const small = estimateCrashkernel({ kernelInitSize, initrdSize: 1192674n, initrdUnpacked: 2306867n, mode: 'root' });
  const full = estimateCrashkernel({ kernelInitSize, initrdSize: 44943751n, initrdUnpacked: 109051904n });
  assert.equal(small.param, 'crashkernel=112M');
  assert.equal(full.param, 'crashkernel=320M');
  assert.match(small.lines[2]!.why, /node's pages from the root file system 8\.0 MiB/);
  assert.doesNotMatch(full.lines[2]!.why, /root file system/);
});

test('kdump-ts estimate and test on a machine with a root-mode initramfs: mode root, its check names the root device', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-small-'));
  const built = buildCaptureInitramfs({
    config: DEFAULT_CONFIG,
    target: { device: '/dev/vda1', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' },
    release: RELEASE,
    modulesDir: join(dir, 'no-modules'),
    bundle: join(dir, 'absent.mjs'),
    mode: ROOT_MODE,
  });
  const root = fakeRoot({
    [`/boot/vmlinuz-${RELEASE}`]: fakeBzImage(FIXTURE_KERNEL),
    [`/var/lib/kdump-ts/initrd.img-${RELEASE}`]: gzipSync(Buffer.concat(built.archive.encode())),
  });
  const e = estimateCapture(root);
  assert.equal(e.mode, 'root');
  assert.match(e.estimate.lines.find((l) => l.what === 'rootfs')!.why, /busybox, modules, \/init/);
  const check = readinessChecks(root).find((c) => c.name === 'capture mode')!;
  assert.equal(check.detail, 'root: Node.js (/usr/bin/node) runs from the root file system UUID=11-22 (ext4), mounted by the capture kernel');
});

test('mkinitrd --release R without -o: the per-release default path; a configured initrd = only for its own release', () => {
  const files = { kernel: `/boot/vmlinuz-${RELEASE}`, initrd: `/var/lib/kdump-ts/initrd.img-${RELEASE}`, cmdline: '', release: RELEASE };
  assert.equal(mkinitrdOutput(DEFAULT_CONFIG, files, '6.12.0-1-amd64'), '/var/lib/kdump-ts/initrd.img-6.12.0-1-amd64');
  const config = parseConfig('initrd = /boot/kdump.img\n');
  assert.equal(mkinitrdOutput(config, { ...files, initrd: '/boot/kdump.img' }, RELEASE), '/boot/kdump.img');
  assert.throws(() => mkinitrdOutput(config, { ...files, initrd: '/boot/kdump.img' }, '6.12.0-1-amd64', '/etc/kdump-ts.conf'), (e: unknown) =>
    e instanceof UsageError && e.message === `initrd = /boot/kdump.img in /etc/kdump-ts.conf is the capture initramfs of ${RELEASE}, not of 6.12.0-1-amd64: give -o FILE`);
});

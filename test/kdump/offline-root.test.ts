// Offline installs (an image built in a chroot, or kdump-ts mkinitrd --root DIR): `capture = auto`
// and the dump target are decided from the image's /etc/fstab, not from the building host's mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KexecError } from '../../src/errors.ts';
import { DEFAULT_CONFIG, parseConfig } from '../../src/kdump/config.ts';
import { chooseCaptureMode } from '../../src/kdump/capture-mode.ts';
import { dumpTargetOnMounts, mountTableSource, parseFstab } from '../../src/kdump/dump-target.ts';
import { readMountTable, resolveCaptureMode, resolveTarget, rootModeBundle } from '../../src/host/kdump-initramfs.ts';
import { fakeModule } from './fake-module.ts';
import { fakeRoot } from './fake-root.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const ROOT_UUID = '2f1c9a4e-5b7d-4e8a-9c1f-0d3e6a7b8c9d';
const FSTAB = [
  '# /etc/fstab: static file system information.',
  `UUID=${ROOT_UUID} / ext4 errors=remount-ro 0 1`,
  'PARTLABEL=EFI\\040system /boot/efi vfat umask=0077 0 1',
  '/swapfile none swap sw 0 0',
  'tmpfs /tmp tmpfs defaults 0 0',
  '',
].join('\n');
const paths = { node: '/usr/bin/node', bundle: '/usr/lib/kexec-ts/dist/vmcore-ts.mjs' };

test('mount table source: the running system\'s mountinfo only when it describes the root; a chroot, --root DIR over a live /proc, or no mountinfo: the root\'s /etc/fstab, saying why', () => {
  const src = (root: string, chroot: boolean, mountinfo: 'live' | 'copy' | 'none', rootMounted = true) => mountTableSource({ root, chroot, mountinfo, rootMounted });
  assert.deepEqual(src('/', false, 'live'), { use: 'mountinfo', from: '/proc/self/mountinfo (the running system)' });
  assert.deepEqual(src('/srv/m', false, 'copy'), { use: 'mountinfo', from: "/srv/m/proc/self/mountinfo (a copy of that machine's)" });
  assert.deepEqual(src('/', true, 'live'), { use: 'fstab', from: "/etc/fstab (in a chroot the running system's mounts are the building host's)" });
  assert.deepEqual(src('/', false, 'live', false), { use: 'fstab', from: "/etc/fstab (/ is not in the running system's mount table: a chroot)" }, 'a chroot where init\'s root cannot be read');
  assert.deepEqual(src('/srv/img', false, 'live'), { use: 'fstab', from: "/srv/img/etc/fstab (the running system's mounts are not those of /srv/img)" });
  assert.deepEqual(src('/srv/img', false, 'none'), { use: 'fstab', from: '/srv/img/etc/fstab (no /proc/self/mountinfo)' });
  assert.deepEqual(src('/', false, 'none', false), { use: 'fstab', from: '/etc/fstab (no /proc/self/mountinfo)' });
});

test('fstab: spec, mount point and type of each entry (\\040 unescaped, trailing / dropped); swap and comments left out', () => {
  assert.deepEqual(parseFstab(FSTAB + '/dev/vdb1  /srv/crash/  xfs defaults\n'), [
    { root: '/', mountPoint: '/', fstype: 'ext4', source: `UUID=${ROOT_UUID}` },
    { root: '/', mountPoint: '/boot/efi', fstype: 'vfat', source: 'PARTLABEL=EFI system' },
    { root: '/', mountPoint: '/tmp', fstype: 'tmpfs', source: 'tmpfs' },
    { root: '/', mountPoint: '/srv/crash', fstype: 'xfs', source: '/dev/vdb1' },
  ]);
});

test('capture = auto from an image\'s fstab: root by its UUID= (or PARTUUID=, lower-cased); no / entry, a udev by-id name, NFS or a separate /usr fall back with the reason', () => {
  const fromFstab = (text: string, f = paths) => chooseCaptureMode(DEFAULT_CONFIG, { ...f, mounts: parseFstab(text), fstab: '/srv/img/etc/fstab' });
  const m = fromFstab(FSTAB);
  assert.deepEqual(m.mode === 'root' && m.root, { device: `UUID=${ROOT_UUID}`, fstype: 'ext4' });
  const p = fromFstab('PARTUUID=ABCDEF01-02 / ext4 defaults 0 1\n');
  assert.equal(p.mode === 'root' && p.root.device, 'PARTUUID=abcdef01-02');
  const why = (text: string) => {
    const r = fromFstab(text);
    return r.mode === 'initramfs' ? r.why : `root: ${JSON.stringify(r)}`;
  };
  assert.equal(why('# UNCONFIGURED FSTAB FOR BASE SYSTEM\n'), '/srv/img/etc/fstab has no entry for /');
  assert.equal(why('/dev/disk/by-id/ata-QEMU_HARDDISK-part1 / ext4 defaults 0 1\n'), '/srv/img/etc/fstab names / by /dev/disk/by-id/ata-QEMU_HARDDISK-part1, a udev link this machine cannot follow: set root_device');
  assert.equal(why('server:/export/root / nfs4 defaults 0 0\n'), 'the root file system is nfs4 (server:/export/root), not a local block device');
  assert.equal(why(`${FSTAB}UUID=1-2 /usr ext4 defaults 0 2\n`), 'Node.js (/usr/bin/node) is on /usr, not on the root file system');
  // The dump target from the same fstab; the reason names the file when it has no entry.
  assert.deepEqual(dumpTargetOnMounts(DEFAULT_CONFIG, { mounts: parseFstab(FSTAB) }), { device: `UUID=${ROOT_UUID}`, fstype: 'ext4', dir: '/var/crash', configured: '/var/crash', majmin: undefined });
  assert.throws(
    () => dumpTargetOnMounts(DEFAULT_CONFIG, { mounts: [], fstab: '/etc/fstab' }),
    (e: unknown) => e instanceof KexecError && e.message === 'the dump target /var/crash is on no filesystem of /etc/fstab, which a capture kernel cannot write to',
  );
});

/** An image being built: a Debian tree with an fstab, no /proc copy. */
function imageTree(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-image-'));
  for (const [p, text] of Object.entries({ '/etc/fstab': FSTAB, ...files })) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

test('mkinitrd --root DIR of an image (no /proc): root and dump target from DIR/etc/fstab; paths under DIR are taken as paths on that root', () => {
  const dir = imageTree();
  const table = readMountTable(dir);
  assert.equal(table.from, `${dir}/etc/fstab (no /proc/self/mountinfo)`);
  const m = resolveCaptureMode(DEFAULT_CONFIG, dir, { node: '/usr/bin/node', bundle: join(dir, 'usr/lib/kexec-ts/dist/vmcore-ts.mjs') });
  assert.equal(m.mode, 'root');
  assert.deepEqual(m.mode === 'root' && [m.root, m.bundle], [{ device: `UUID=${ROOT_UUID}`, fstype: 'ext4' }, '/usr/lib/kexec-ts/dist/vmcore-ts.mjs']);
  assert.equal(resolveTarget(DEFAULT_CONFIG, dir).device, `UUID=${ROOT_UUID}`);
});

test('mkinitrd --root DIR over a live /proc (an image with proc mounted): the building host\'s mounts are not used, the image\'s fstab is', () => {
  const dir = imageTree();
  symlinkSync('/proc', join(dir, 'proc'));
  const table = readMountTable(dir);
  assert.equal(table.from, `${dir}/etc/fstab (the running system's mounts are not those of ${dir})`);
  assert.deepEqual(table.mounts.map((x) => x.mountPoint), ['/', '/boot/efi', '/tmp']);
  // A copied machine (fake tree: a plain mountinfo file) is still read as that machine's.
  assert.equal(readMountTable(fakeRoot()).from.endsWith("/proc/self/mountinfo (a copy of that machine's)"), true);
});

test('kdump-ts mkinitrd --root DIR of an image says the mounts came from its fstab, builds the root-mode initramfs for the fstab\'s UUID, and carries the common disk drivers and the filesystem its kernel has as modules', () => {
  const mod = (name: string) => fakeModule([`name=${name}`]);
  const dir = imageTree({
    '/etc/kdump-ts.conf': 'target = /var/crash\n',
    '/usr/lib/kexec-ts/dist/vmcore-ts.mjs': '// bundle\n',
    '/proc/sys/kernel/osrelease': '6.12.0-1-amd64\n',
    '/boot/vmlinuz-6.12.0-1-amd64': 'kernel',
    '/lib/modules/6.12.0-1-amd64/modules.dep': [
      'kernel/drivers/virtio/virtio.ko:',
      'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/nvme/host/nvme-core.ko:',
      'kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko',
      'kernel/fs/jbd2/jbd2.ko:',
      'kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko',
      'kernel/sound/snd.ko:',
      '',
    ].join('\n'),
    '/lib/modules/6.12.0-1-amd64/modules.builtin': 'kernel/drivers/ata/ahci.ko\n',
  });
  for (const d of ['drivers/virtio', 'drivers/block', 'drivers/nvme/host', 'fs/jbd2', 'fs/ext4', 'sound']) mkdirSync(join(dir, 'lib/modules/6.12.0-1-amd64/kernel', d), { recursive: true });
  for (const m of ['drivers/virtio/virtio', 'drivers/block/virtio_blk', 'drivers/nvme/host/nvme-core', 'drivers/nvme/host/nvme', 'fs/jbd2/jbd2', 'fs/ext4/ext4', 'sound/snd']) {
    writeFileSync(join(dir, `lib/modules/6.12.0-1-amd64/kernel/${m}.ko`), mod(m.replace(/^.*\//, '')));
  }
  const out = join(dir, 'var/lib/kdump-ts/initrd.img-6.12.0-1-amd64');
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'mkinitrd', '--root', dir, '--release', '6.12.0-1-amd64', '--node', '/usr/bin/node', '--bundle', join(dir, 'usr/lib/kexec-ts/dist/vmcore-ts.mjs'), '-o', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^ {2}dump target: UUID=${ROOT_UUID} \\(ext4\\) /var/crash$`, 'm'));
  assert.ok(r.stdout.includes(`\n  mounts read from: ${dir}/etc/fstab (no /proc/self/mountinfo)\n`), r.stdout);
  assert.ok(r.stdout.includes(`\n  capture mode: root: node runs from the root file system UUID=${ROOT_UUID} (ext4); runs /usr/bin/node /usr/lib/kexec-ts/dist/vmcore-ts.mjs\n`), r.stdout);
  // Not what this machine has loaded: the image's disk is unknown, so the usual drivers its kernel has as modules.
  assert.ok(r.stdout.includes('\n  modules: virtio.ko virtio_blk.ko nvme-core.ko nvme.ko jbd2.ko ext4.ko (for virtio_blk, nvme, ext4)\n'), r.stdout);
});

test('kdump-ts mkinitrd --root DIR of an image whose fstab has no /: capture = auto falls back to the initramfs, capture = root is refused naming the fstab', () => {
  const dir = imageTree({ '/etc/fstab': '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n' });
  const m = resolveCaptureMode(DEFAULT_CONFIG, dir, paths);
  assert.deepEqual(m, { mode: 'initramfs', why: `${dir}/etc/fstab has no entry for /` });
  assert.throws(() => resolveCaptureMode(parseConfig('capture = root\n'), dir, paths), (e: unknown) => e instanceof KexecError && e.message === `capture = root: ${dir}/etc/fstab has no entry for /`);
});

test('root mode runs vmcore-ts\'s CommonJS launcher (dist/vmcore-ts.cjs) by default, the ESM bundle only when a build has no launcher', () => {
  const dist = mkdtempSync(join(tmpdir(), 'kdump-dist-'));
  writeFileSync(join(dist, 'vmcore-ts.mjs'), '// bundle\n');
  assert.equal(rootModeBundle(dist), `${dist}/vmcore-ts.mjs`);
  writeFileSync(join(dist, 'vmcore-ts.cjs'), '// launcher\n');
  assert.equal(rootModeBundle(dist), `${dist}/vmcore-ts.cjs`);
});

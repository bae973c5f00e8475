// Root (and dump target) devices named every way root= and fstab name them — PARTUUID= (GPT and
// MBR, /PARTNROFF=), PARTLABEL=, UUID=, LABEL=, /dev/disk/by-*, MAJOR:MINOR — parsed to one form,
// and found by the capture /init's busybox sh on a fake /sys and disk images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KexecError, ParseError } from '../../src/errors.ts';
import { deviceLink, deviceSpecText, parseDeviceSpec } from '../../src/kdump/device-spec.ts';
import { DEFAULT_CONFIG, parseConfig } from '../../src/kdump/config.ts';
import { chooseCaptureMode, captureModeLine, parseCaptureModeLine } from '../../src/kdump/capture-mode.ts';
import { DEVICE_LOOKUP, initScript } from '../../src/kdump/capture-initramfs.ts';
import { cmdlineParam } from '../../src/kdump/capture-cmdline.ts';
import { parseMountinfo, rootMountNamed, targetDeviceLink } from '../../src/kdump/dump-target.ts';
import { resolveCaptureMode, resolveTarget } from '../../src/host/kdump-initramfs.ts';
import { fakeRoot } from './fake-root.ts';

const GPT_ROOT = '4f68bce3-e8cd-4db1-96e7-fbcaf984b709';
const canon = (s: string) => {
  const d = parseDeviceSpec(s);
  return 'error' in d ? `error: ${d.error}` : deviceSpecText(d);
};

test('device names: every root= and fstab form parses to the one form the capture /init resolves', () => {
  assert.equal(canon(`PARTUUID=${GPT_ROOT.toUpperCase()}`), `PARTUUID=${GPT_ROOT}`, 'GPT GUID, compared case-insensitively like the kernel');
  assert.equal(canon('PARTUUID=1234ABCD-05'), 'PARTUUID=1234abcd-05', 'MBR: disk signature and partition number');
  assert.equal(canon(`PARTUUID=${GPT_ROOT}/PARTNROFF=1`), `PARTUUID=${GPT_ROOT}/PARTNROFF=1`);
  assert.equal(canon('PARTLABEL=root'), 'PARTLABEL=root');
  assert.equal(canon('UUID="0f4c-77aa"'), 'UUID=0f4c-77aa', "fstab's quoted TAG=\"value\"");
  assert.equal(canon('LABEL=sys'), 'LABEL=sys');
  assert.equal(canon('/dev/disk/by-uuid/0f4c-77aa'), 'UUID=0f4c-77aa');
  assert.equal(canon('/dev/disk/by-label/my\\x20root'), 'LABEL=my root', "udev's \\x20 escape");
  assert.equal(canon(`/dev/disk/by-partuuid/${GPT_ROOT}`), `PARTUUID=${GPT_ROOT}`);
  assert.equal(canon('/dev/disk/by-partlabel/root'), 'PARTLABEL=root');
  assert.equal(canon('/dev/nvme0n1p2'), '/dev/nvme0n1p2');
  assert.equal(canon('/dev/mapper/vg-root'), '/dev/mapper/vg-root');
  assert.equal(canon('8:1'), '8:1');
  assert.equal(canon('0801'), '8:1', "the kernel's hexadecimal root=0801");
  assert.equal(canon('fe01'), '254:1');
  assert.deepEqual(parseDeviceSpec('/dev/disk/by-id/virtio-abc-part1'), { kind: 'udev-link', path: '/dev/disk/by-id/virtio-abc-part1' });
  assert.match(canon('/dev/root'), /^error: \/dev\/root is the kernel's name/);
  assert.match(canon('PARTUUID=not-a-guid'), /^error: PARTUUID=not-a-guid: expected a GPT partition GUID .* or the MBR form SSSSSSSS-PP/);
  assert.match(canon('UUID='), /^error: UUID=: UUID= names no device/);
  assert.match(canon('server:/export'), /^error: server:\/export: not a block device name/);
  assert.equal(targetDeviceLink(`PARTUUID=${GPT_ROOT}`), `/dev/disk/by-partuuid/${GPT_ROOT}`);
  assert.equal(targetDeviceLink('LABEL=my root'), '/dev/disk/by-label/my\\x20root');
  assert.equal(deviceLink({ kind: 'devnum', major: 8, minor: 1 }), undefined);
});

test('config: root_device and target_device take every form (kept canonical); a bad one is refused with its line', () => {
  const c = parseConfig(`capture = root\nroot_device = PARTUUID=${GPT_ROOT.toUpperCase()}\ntarget_device = /dev/disk/by-partlabel/dumps\n`);
  assert.equal(c.rootDevice, `PARTUUID=${GPT_ROOT}`);
  assert.equal(c.targetDevice, 'PARTLABEL=dumps');
  assert.throws(
    () => parseConfig('\nroot_device = PARTUUID=xyz\n', '/etc/kdump-ts.conf'),
    (e: unknown) => e instanceof ParseError && e.line === 2 && /^root_device = PARTUUID=xyz: expected a GPT partition GUID/.test(e.message),
  );
});

test('capture mode: a root the kernel mounted itself (/dev/root) is named by root= from the command line; none: auto falls back, saying why', () => {
  const mounts = parseMountinfo('21 1 8:2 / / rw - ext4 /dev/root rw\n');
  const facts = { node: '/usr/bin/node', bundle: '/usr/lib/kexec-ts/dist/vmcore-ts.mjs' };
  const m = chooseCaptureMode(DEFAULT_CONFIG, { ...facts, mounts: rootMountNamed(mounts, `PARTUUID=${GPT_ROOT.toUpperCase()}`) });
  assert.deepEqual(m.mode === 'root' && m.root, { device: `PARTUUID=${GPT_ROOT}`, fstype: 'ext4', majmin: '8:2' });
  const none = chooseCaptureMode(DEFAULT_CONFIG, { ...facts, mounts: rootMountNamed(mounts, undefined) });
  assert.deepEqual(none, { mode: 'initramfs', why: 'the root file system is mounted as /dev/root and the kernel command line has no root= naming it' });
  assert.deepEqual(rootMountNamed(mounts, 'nfs'), mounts, 'root= that names no device: kept');
  assert.equal(cmdlineParam('BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro root="PARTLABEL=my root" -- root=x', 'root'), 'PARTLABEL=my root', 'the last root= before --');
  assert.equal(cmdlineParam('console=ttyS0', 'root'), undefined);
});

test('capture mode file: a LABEL with a space survives the round trip', () => {
  const line = captureModeLine({ mode: 'root', root: { device: 'LABEL=my root', fstype: 'ext4' }, node: '/usr/bin/node', bundle: '/b.mjs', why: 't' });
  assert.equal(line, 'root LABEL=my\\x20root ext4 /usr/bin/node /b.mjs\n');
  assert.equal(parseCaptureModeLine(line).detail, 'Node.js (/usr/bin/node) runs from the root file system LABEL=my root (ext4), mounted by the capture kernel');
});

test('mkinitrd on a machine booted with root=PARTUUID= and no initramfs: the root device is that PARTUUID', () => {
  const root = fakeRoot({
    '/proc/cmdline': `console=ttyS0 root=PARTUUID=${GPT_ROOT} ro crashkernel=256M\n`,
    '/proc/self/mountinfo': '21 1 254:1 / / rw,relatime - ext4 /dev/root rw\n',
  });
  const m = resolveCaptureMode(DEFAULT_CONFIG, root, { node: '/usr/bin/node', bundle: '/usr/lib/kexec-ts/dist/vmcore-ts.mjs' });
  assert.deepEqual(m.mode === 'root' && m.root, { device: `PARTUUID=${GPT_ROOT}`, fstype: 'ext4', majmin: '254:1' });
});

test('mkinitrd: a configured /dev/disk/by-id name is taken by the device it links to (by UUID); one that does not exist is an error with a fix', () => {
  const root = fakeRoot();
  mkdirSync(join(root, 'dev/disk/by-id'), { recursive: true });
  symlinkSync('../../vda1', join(root, 'dev/disk/by-id/virtio-root-part1'));
  const config = parseConfig('capture = root\nroot_device = /dev/disk/by-id/virtio-root-part1\ntarget_device = /dev/disk/by-id/virtio-root-part1\n');
  const m = resolveCaptureMode(config, root, { node: '/usr/bin/node', bundle: '/b.mjs' });
  assert.equal(m.mode === 'root' && m.root.device, 'UUID=0f4c-77aa');
  assert.equal(resolveTarget(config, root).device, 'UUID=0f4c-77aa');
  const missing = parseConfig('capture = root\nroot_device = /dev/disk/by-path/pci-0000:00:04.0\n');
  assert.throws(
    () => resolveCaptureMode(missing, root, { node: '/usr/bin/node', bundle: '/b.mjs' }),
    (e: unknown) => e instanceof KexecError && e.message === '/dev/disk/by-path/pci-0000:00:04.0 does not exist on this machine, and the capture initramfs has no udev to make it' && /UUID=, LABEL=, PARTUUID=/.test(e.hint ?? ''),
  );
});

test('/init: waits for the root by its canonical name through wait_dev (busybox sh -n accepts it)', () => {
  const script = initScript({
    target: { device: 'PARTLABEL=dumps', fstype: 'ext4', dir: '/', configured: '/var/crash' },
    modules: [],
    saveArgs: ['-c', '-d', '31'],
    after: 'reboot',
    mode: { mode: 'root', root: { device: `PARTUUID=${GPT_ROOT}`, fstype: 'ext4' }, node: '/usr/bin/node', bundle: '/b.mjs', why: 't' },
  });
  assert.ok(script.includes(DEVICE_LOOKUP));
  assert.ok(script.includes("wait_dev 'PARTLABEL=dumps' 'dump target'"));
  assert.ok(script.includes(`wait_dev 'PARTUUID=${GPT_ROOT}' 'root file system'`));
  assert.match(script, /^sys=\/sys devdir=\/dev wait_s=30$/m);
  const r = spawnSync('busybox', ['sh', '-n'], { input: script, encoding: 'utf8' });
  if (r.error) return;
  assert.equal(r.status, 0, r.stderr);
});

// --- the lookup itself, under busybox sh, on a fake /sys and disk images ---

/** A GUID's 16 on-disk bytes (first three fields little-endian). */
function guidBytes(g: string): Buffer {
  const h = g.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/** A GPT disk image (512-byte sectors): protective MBR, header at LBA 1, 128 entries of 128 bytes at LBA 2. */
function gptImage(partitions: string[]): Buffer {
  const img = Buffer.alloc(34 * 512);
  img.writeUInt16BE(0x55aa, 510);
  img[450] = 0xee;
  img.write('EFI PART', 512, 'latin1');
  img.writeBigUInt64LE(2n, 512 + 72);
  img.writeUInt32LE(128, 512 + 80);
  img.writeUInt32LE(128, 512 + 84);
  partitions.forEach((g, i) => {
    const e = 1024 + i * 128;
    guidBytes('0fc63daf-8483-4772-8e79-3d69d8477de4').copy(img, e); // Linux filesystem
    guidBytes(g).copy(img, e + 16);
  });
  return img;
}

/** An MBR disk image with this disk signature. */
function mbrImage(signature: number): Buffer {
  const img = Buffer.alloc(512);
  img.writeUInt32LE(signature, 440);
  img.writeUInt16BE(0x55aa, 510);
  return img;
}

function fakeMachine(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-rootdev-'));
  const put = (p: string, data: string | Buffer) => {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), data);
  };
  const disk = (name: string, majmin: string, image: Buffer, parts: { n: number; majmin: string; name?: string }[]) => {
    put(`dev/${name}`, image);
    put(`sys/block/${name}/uevent`, `MAJOR=${majmin.split(':')[0]}\nMINOR=${majmin.split(':')[1]}\nDEVNAME=${name}\nDEVTYPE=disk\n`);
    put(`sys/block/${name}/dev`, `${majmin}\n`);
    put(`sys/block/${name}/queue/logical_block_size`, '512\n');
    put(`sys/class/block/${name}/dev`, `${majmin}\n`);
    for (const p of parts) {
      const pn = `${name}${p.n}`;
      put(`dev/${pn}`, '');
      put(`sys/block/${name}/${pn}/partition`, `${p.n}\n`);
      put(`sys/block/${name}/${pn}/dev`, `${p.majmin}\n`);
      put(`sys/block/${name}/${pn}/uevent`, `DEVNAME=${pn}\nDEVTYPE=partition\nPARTN=${p.n}\n${p.name ? `PARTNAME=${p.name}\n` : ''}`);
      put(`sys/class/block/${pn}/dev`, `${p.majmin}\n`);
    }
  };
  disk('vda', '254:0', gptImage(['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', GPT_ROOT]), [
    { n: 1, majmin: '254:1', name: 'EFI system partition' },
    { n: 2, majmin: '254:2', name: 'root' },
  ]);
  disk('vdb', '254:16', mbrImage(0x1234abcd), [
    { n: 1, majmin: '254:17' },
    { n: 5, majmin: '254:21' },
  ]);
  disk('vdc', '254:32', Buffer.alloc(512), []); // no partition table
  return dir;
}

function runLookup(dir: string, commands: string): { status: number | null; stdout: string } {
  const r = spawnSync('busybox', ['sh', '-c', `${DEVICE_LOOKUP}\nlog() { echo "kdump-ts: $*"; }\nsys=${dir}/sys devdir=${dir}/dev wait_s=1\n${commands}`], { encoding: 'utf8' });
  assert.equal(r.stderr, '');
  return { status: r.status, stdout: r.stdout };
}

test('capture /init lookup (busybox sh, fake /sys): PARTUUID= of a GPT and an MBR partition, /PARTNROFF=, PARTLABEL=, MAJOR:MINOR; an unknown one finds nothing', (t) => {
  if (spawnSync('busybox', ['true']).error) return t.skip('busybox is not installed');
  const dir = fakeMachine();
  const find = (spec: string) => runLookup(dir, `resolve_dev '${spec}'`).stdout.trim().replace(dir, '');
  assert.equal(find(`PARTUUID=${GPT_ROOT}`), '/dev/vda2', 'the GPT entry\'s unique GUID');
  assert.equal(find('PARTUUID=1234abcd-05'), '/dev/vdb5', 'MBR: signature 1234abcd, partition 5 (logical)');
  assert.equal(find('PARTUUID=1234abcd-01'), '/dev/vdb1');
  assert.equal(find(`PARTUUID=${GPT_ROOT}/PARTNROFF=-1`), '/dev/vda1', 'the kernel\'s PARTNROFF: the partition before it');
  assert.equal(find('PARTLABEL=root'), '/dev/vda2');
  assert.equal(find('PARTLABEL=EFI system partition'), '/dev/vda1');
  assert.equal(find('254:17'), '/dev/vdb1');
  assert.equal(find('254:32'), '/dev/vdc');
  assert.equal(find('/dev/vdb'), '/dev/vdb', 'a path is itself');
  assert.equal(find('PARTUUID=00000000-0000-0000-0000-000000000001'), '');
  assert.equal(find('PARTUUID=1234abcd-03'), '', 'no partition 3 on the MBR disk');
  assert.equal(find('PARTUUID=deadbeef-01'), '', 'another disk signature');
  assert.equal(find('PARTLABEL=nope'), '');
});

test('capture /init lookup: a device that never appears gives one line naming it and the block devices seen, and exit 1', (t) => {
  if (spawnSync('busybox', ['true']).error) return t.skip('busybox is not installed');
  const dir = fakeMachine();
  const r = runLookup(dir, `wait_dev 'PARTUUID=${GPT_ROOT}' 'root file system'; echo "found $d"`);
  assert.equal(r.status, 1, 'the fake device is a file, not a block device: never found');
  assert.equal(r.stdout, `kdump-ts: root file system PARTUUID=${GPT_ROOT} not found after 1 s (block devices: vda vda1 vda2 vdb vdb1 vdb5 vdc )\n`);
});

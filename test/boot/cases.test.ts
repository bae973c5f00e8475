// The reported failures of other kexec boot loaders, as machine trees (test/fixtures/boot/cases/*/),
// each with the decision its boot loader's documentation gives written in expected.json ("doc").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverBoot } from '../../src/boot/discover.ts';
import { parseMountinfo, readBootMachine } from '../../src/host/boot-files.ts';

const CASES = 'test/fixtures/boot/cases';

interface Expected {
  issue: string;
  doc: string;
  loader: string;
  default: string;
  entries: string[];
  rejected: { id: string; reason: string }[];
  kernel?: string;
  initrds?: string[];
  cmdline?: string;
  notes?: string[];
}

for (const name of readdirSync(CASES).sort()) {
  const x = JSON.parse(readFileSync(join(CASES, name, 'expected.json'), 'utf8')) as Expected;
  test(`boot case ${name}: ${x.issue} -> default ${x.default}, entries and rejections as the documentation says`, () => {
    const l = discoverBoot(readBootMachine({ root: join(CASES, name) }));
    assert.equal(l.loader.name, x.loader);
    assert.equal(l.default?.id, x.default, l.defaultReason);
    assert.deepEqual(l.entries.filter((e) => e.source !== 'debian-links').map((e) => e.id), x.entries);
    assert.deepEqual(l.rejected.map((r) => r.id), x.rejected.map((r) => r.id));
    l.rejected.forEach((r, i) => assert.ok(r.reason.includes(x.rejected[i]!.reason), `${r.id}: ${r.reason}`));
    if (x.kernel) assert.equal(l.default!.kernel, x.kernel);
    if (x.initrds) assert.deepEqual(l.default!.initrds, x.initrds);
    if (x.cmdline) assert.equal(l.default!.cmdline, x.cmdline);
    for (const n of x.notes ?? []) assert.ok(l.notes.some((m) => m.startsWith(n)), `note ${n} in ${l.notes.join(' | ')}`);
  });
}

test('boot case sd-boot without the one-shot variable: loader.conf "default debian-*" picks the first match in menu order (6.12, not the bad 6.1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-sdboot-'));
  try {
    cpSync(join(CASES, 'sd-boot'), dir, { recursive: true });
    rmSync(join(dir, 'sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'));
    const l = discoverBoot(readBootMachine({ root: dir }));
    assert.equal(l.default?.id, 'debian-6.12.conf');
    assert.equal(l.defaultReason, 'loader.conf default debian-* matches it first in menu order');
    assert.equal(l.timeout, '3');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('--boot DIR stands for the /boot partition of a root that has only its /etc/fstab (search --fs-uuid matches fstab\'s /boot row)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-root-'));
  try {
    cpSync(join(CASES, 'blscfg-fedora/etc'), join(dir, 'etc'), { recursive: true });
    const l = discoverBoot(readBootMachine({ root: dir, boot: join(CASES, 'blscfg-fedora/boot') }));
    assert.equal(l.loader.name, 'grub');
    assert.equal(l.default?.id, '8c1a5e0b9f2d4c3e8a7b6c5d4e3f2a1b-6.5.6-300.fc39.x86_64');
    assert.equal(l.default?.kernel, '/boot/vmlinuz-6.5.6-300.fc39.x86_64');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('--esp DIR stands for the ESP: systemd-boot entries and loader.conf are read from it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-root-'));
  try {
    const l = discoverBoot(readBootMachine({ root: dir, esp: join(CASES, 'sd-boot/efi') }));
    assert.equal(l.loader.name, 'systemd-boot');
    assert.equal(l.default?.id, 'debian-6.12.conf');
    assert.equal(l.default?.kernel, '/efi/6a9857a393724b7a981ebb5b8495b9ea/6.12.117+deb13-amd64/linux');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a running guest: /proc/self/mountinfo rows of block devices with udev\'s by-uuid names (octal escapes, btrfs subvolume root), others skipped', () => {
  const text = [
    '22 1 254:3 / / rw,relatime shared:1 - ext4 /dev/vda3 rw,errors=remount-ro',
    '23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw',
    '30 22 254:2 / /boot/efi rw,relatime shared:20 - vfat /dev/vda2 rw,fmask=0077',
    '31 22 0:40 /@home /home\\040dir rw shared:21 - btrfs /dev/vdb1 rw,subvol=/@home',
  ].join('\n');
  const ids = new Map([['/dev/vda3', { uuid: 'fa9c21fb-8289-425f-89dc-9a970f378187' }], ['/dev/vda2', { uuid: '68BD-05C1' }]]);
  assert.deepEqual(parseMountinfo(text, ids), [
    { mountpoint: '/', fstype: 'ext4', uuid: 'fa9c21fb-8289-425f-89dc-9a970f378187', from: '/proc/self/mountinfo' },
    { mountpoint: '/boot/efi', fstype: 'vfat', uuid: '68BD-05C1', from: '/proc/self/mountinfo' },
    { mountpoint: '/home dir', fstype: 'btrfs', subvol: '/@home', from: '/proc/self/mountinfo' },
  ]);
});

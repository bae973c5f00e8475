// Boot Loader Specification Type #1 (src/boot/bls.ts) and systemd-boot's default: every key, boot
// counting from the file name, the specification's sort order, loader.conf globs, the EFI variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blsSource, bootCounter, compareBls, globMatch, parseBlsEntry, parseLoaderConf } from '../../src/boot/bls.ts';
import { efiVariableBytes, efiVariableString } from '../../src/boot/efivars.ts';
import { memMachine } from './machine.ts';

test('BLS entry: every key of the specification, all initrd lines, options lines joined, devicetree-overlay lists', () => {
  const e = parseBlsEntry('/boot/loader/entries/m-6.1+3-1.conf', [
    '# comment', 'title  Fedora 19 (Rawhide)', 'version 3.8.0-2.fc19.x86_64', 'machine-id 6a9857a393724b7a981ebb5b8495b9ea', 'sort-key fedora',
    'linux /6a98/3.8.0/linux', 'initrd /6a98/3.8.0/ucode', 'initrd /6a98/3.8.0/initrd', 'efi /EFI/x.efi', 'options root=/dev/sda1', 'options  quiet',
    'devicetree /6a98/3.8.0/tegra.dtb', 'devicetree-overlay /a.dtbo /b.dtbo', 'architecture x64', 'grub_class fedora', '',
  ].join('\n'));
  assert.equal(e.id, 'm-6.1.conf');
  assert.deepEqual(e.bootCounting, { left: 3, done: 1, bad: false });
  assert.equal(e.title, 'Fedora 19 (Rawhide)');
  assert.equal(e.sortKey, 'fedora');
  assert.equal(e.machineId, '6a9857a393724b7a981ebb5b8495b9ea');
  assert.equal(e.efi, '/EFI/x.efi');
  assert.deepEqual(e.initrd, ['/6a98/3.8.0/ucode', '/6a98/3.8.0/initrd']);
  assert.deepEqual(e.options, ['root=/dev/sda1', 'quiet']);
  assert.equal(e.devicetree, '/6a98/3.8.0/tegra.dtb');
  assert.deepEqual(e.devicetreeOverlay, ['/a.dtbo', '/b.dtbo']);
  assert.equal(e.architecture, 'x64');
  assert.deepEqual(e.unknown, ['grub_class (line 15)']);
});

test('BLS boot counting: +LEFT-DONE and +LEFT parsed from the file name, +0 is "bad"; names without it have none', () => {
  assert.deepEqual(bootCounter('a+3.conf'), { id: 'a.conf', counting: { left: 3, done: 0, bad: false } });
  assert.deepEqual(bootCounter('a+0-5.conf'), { id: 'a.conf', counting: { left: 0, done: 5, bad: true } });
  assert.deepEqual(bootCounter('a+b.conf'), { id: 'a+b.conf' });
});

test('BLS order: bad last, sort-key first (A-Z), then machine-id, version newest first; without sort-key by file name, newest first', () => {
  const e = (fileName: string, f: object = {}) => ({ fileName, ...f });
  const list = [
    e('a-5.conf', { version: '5', machineId: 'dd' }),
    e('a-10.conf', { version: '10', machineId: 'dd' }),
    e('b.conf', { version: '3', machineId: 'b7' }),
    e('c.conf', { sortKey: 'xxxx', version: '5', machineId: '30' }),
    e('cx.conf', { sortKey: 'xxxx', version: '10', machineId: '30' }),
    e('d.conf', { sortKey: 'kkkk', version: '100', machineId: '81' }),
    e('z+0-2.conf', { sortKey: 'aaaa', bootCounting: { left: 0, done: 2, bad: true } }),
  ].sort(compareBls);
  assert.deepEqual(list.map((x) => x.fileName), ['d.conf', 'cx.conf', 'c.conf', 'b.conf', 'a-10.conf', 'a-5.conf', 'z+0-2.conf']);
});

test('loader.conf default is an fnmatch glob; default and timeout are read, other keys ignored', () => {
  assert.deepEqual(parseLoaderConf('timeout 3\ndefault 0123*-*\neditor no\n'), { timeout: '3', default: '0123*-*' });
  assert.ok(globMatch('debian-*', 'debian-6.12.conf'));
  assert.ok(globMatch('deb?an-[0-9]*.conf', 'debian-6.12.conf'));
  assert.ok(!globMatch('debian-[!6]*', 'debian-6.12.conf'));
  assert.ok(!globMatch('fedora-*', 'debian-6.12.conf'));
});

test('EFI variables: efivarfs bytes (4-byte attributes, UTF-16LE, NUL) read back as the string', () => {
  assert.equal(efiVariableString(efiVariableBytes('fedora-6.8.conf')), 'fedora-6.8.conf');
  assert.equal(efiVariableString(new Uint8Array([7, 0, 0, 0])), '');
  assert.equal(efiVariableString(new Uint8Array([1, 2])), undefined);
});

const ENTRIES = {
  '/boot/loader/entries/new.conf': 'title New\nversion 6.12\nsort-key debian\nlinux /vmlinuz-6.12\ninitrd /initrd-6.12\noptions root=/dev/vda1\n',
  '/boot/loader/entries/old.conf': 'title Old\nversion 6.1\nsort-key debian\nlinux /vmlinuz-6.1\noptions root=/dev/vda1\n',
  '/boot/loader/entries/efi.conf': 'title An EFI program\nefi /EFI/tools/shell.efi\n',
  '/boot/vmlinuz-6.12': 'k', '/boot/initrd-6.12': 'i', '/boot/vmlinuz-6.1': 'k',
};

test('BLS on a /boot that is not its own partition: paths are relative to the directory above loader/', () => {
  const r = blsSource.discover(memMachine(ENTRIES));
  assert.deepEqual(r.entries.map((e) => [e.id, e.kernel, e.initrds]), [['new.conf', '/boot/vmlinuz-6.12', ['/boot/initrd-6.12']], ['old.conf', '/boot/vmlinuz-6.1', []]]);
  assert.match(r.rejected[0]!.reason, /^efi \/EFI\/tools\/shell\.efi: an EFI program/);
  assert.equal(r.choice?.index, 0);
  assert.match(r.choice!.reason, /first entry/);
});

test('systemd-boot default: LoaderEntryOneShot beats LoaderEntryDefault beats loader.conf; a name matching no entry is skipped with a note', () => {
  const conf = { '/boot/loader/loader.conf': 'default new*\n' };
  const pick = (vars: object, extra: object = {}) => {
    const r = blsSource.discover(memMachine({ ...ENTRIES, ...extra }, { efiVariables: vars }));
    return { id: r.entries[r.choice!.index]?.id, reason: r.choice!.reason, notes: r.notes };
  };
  assert.equal(pick({ LoaderEntryOneShot: 'old.conf', LoaderEntryDefault: 'new.conf' }).id, 'old.conf');
  assert.equal(pick({ LoaderEntryDefault: 'OLD.conf' }).id, 'old.conf', 'systemd-boot lower-cases ids and variables before comparing');
  assert.match(pick({ LoaderEntryOneShot: 'old.conf' }).reason, /LoaderEntryOneShot=old\.conf \(this boot only\)/);
  assert.equal(pick({ LoaderEntryDefault: 'old.conf' }, conf).id, 'old.conf');
  const gone = pick({ LoaderEntryDefault: 'removed.conf' }, { '/boot/loader/loader.conf': 'default old*\n' });
  assert.equal(gone.id, 'old.conf');
  assert.match(gone.reason, /loader\.conf default old\*/);
  assert.ok(gone.notes.some((n) => /LoaderEntryDefault=removed\.conf names no bootable entry/.test(n)));
});

test('loader.conf default @saved uses the LoaderEntryLastBooted EFI variable', () => {
  const r = blsSource.discover(memMachine({ ...ENTRIES, '/boot/loader/loader.conf': 'default @saved\n' }, { efiVariables: { LoaderEntryLastBooted: 'old.conf' } }));
  assert.equal(r.entries[r.choice!.index]!.id, 'old.conf');
  assert.equal(r.choice!.reason, 'loader.conf default @saved (LoaderEntryLastBooted=old.conf) matches it first in menu order');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError } from '../../src/errors.ts';
import { DEFAULT_CONFIG, defaultConfigText, parseConfig, saveArgs } from '../../src/kdump/config.ts';

test('config: every key parses; comments and blank lines are ignored', () => {
  const c = parseConfig(
    [
      '# kdump-ts',
      'kernel = /boot/vmlinuz-6.1.0-18-amd64',
      'initrd=/var/lib/kdump-ts/initrd.img',
      '',
      'cmdline_append = console=ttyS0,115200 mce=off',
      'cmdline_remove = audit splash',
      'target = /srv/crash',
      'target_device = UUID=1234-abcd',
      'target_fstype = xfs',
      'dump_level = 1',
      'compression = zstd',
      'syscall = kexec_file_load',
      'modules = nvme xfs',
      'after = poweroff',
      'capture = root',
      'root_device = LABEL=system',
      'root_fstype = btrfs',
    ].join('\n'),
  );
  assert.deepEqual(c, {
    kernel: '/boot/vmlinuz-6.1.0-18-amd64',
    initrd: '/var/lib/kdump-ts/initrd.img',
    cmdlineAppend: 'console=ttyS0,115200 mce=off',
    cmdlineRemove: ['audit', 'splash'],
    target: '/srv/crash',
    targetDevice: 'UUID=1234-abcd',
    targetFstype: 'xfs',
    dumpLevel: 1,
    compression: 'zstd',
    syscall: 'kexec_file_load',
    modules: ['nvme', 'xfs'],
    after: 'poweroff',
    capture: 'root',
    rootDevice: 'LABEL=system',
    rootFstype: 'btrfs',
  });
  assert.deepEqual(saveArgs(c), ['-z', '-d', '1']);
});

test('config: the printed default config parses to the defaults', () => {
  assert.deepEqual(parseConfig(defaultConfigText()), DEFAULT_CONFIG);
  assert.deepEqual(saveArgs(DEFAULT_CONFIG), ['-c', '-d', '31']);
});

test('config: typos and bad values are refused with the line number', () => {
  const bad: [string, RegExp][] = [
    ['dumplevel = 31', /unknown key "dumplevel"/],
    ['dump_level = 32', /0 to 31/],
    ['compression = gzip', /zlib, lzo, snappy, zstd, none/],
    ['target = var/crash', /absolute/],
    ['kernel /boot/vmlinuz', /key = value/],
    ['after = reboot\nafter = halt', /set twice/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseConfig(text, 'kdump-ts.conf'), (e: unknown) => e instanceof ParseError && re.test(e.message) && e.line !== undefined, text);
  }
});

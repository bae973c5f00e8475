import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ParseError } from '../../src/errors.ts';
import { parseIomem } from '../../src/kexec/memory-map.ts';
import {
  crashkernelFromCmdline,
  crashkernelSize,
  formatSize,
  parseCrashkernel,
  parseMemSize,
  reservedCrashRegions,
  splitCmdline,
} from '../../src/kdump/crashkernel.ts';

const M = 1n << 20n;
const G = 1n << 30n;

test('crashkernel=: every syntax of kdump.rst parses to size, offset, ranges and suffix', () => {
  const table: [string, object][] = [
    ['256M', { kind: 'fixed', size: 256n * M }],
    ['256M@16M', { kind: 'fixed', size: 256n * M, offset: 16n * M }],
    ['0x10000000', { kind: 'fixed', size: 0x10000000n }],
    ['1G,high', { kind: 'fixed', size: G, suffix: 'high' }],
    ['128M,low', { kind: 'fixed', size: 128n * M, suffix: 'low' }],
    ['256M,cma', { kind: 'fixed', size: 256n * M, suffix: 'cma' }],
    [
      '512M-2G:64M,2G-:128M',
      { kind: 'ranges', ranges: [{ start: 512n * M, end: 2n * G, size: 64n * M }, { start: 2n * G, size: 128n * M }] },
    ],
    ['1G-4G:192M,4G-64G:256M,64G-:512M@16M', { kind: 'ranges', offset: 16n * M }],
    ['auto', { kind: 'auto' }],
  ];
  for (const [text, want] of table) {
    const got = parseCrashkernel(text);
    for (const [k, v] of Object.entries(want)) assert.deepEqual((got as unknown as Record<string, unknown>)[k], v, `${text}: ${k}`);
  }
});

test('crashkernel=: bad values are one-line ParseErrors', () => {
  for (const bad of ['', 'lots', '256Q', '2G-1G:64M', '1G@16M,high', '512M-2G:64M,2G-:128M,high', '512M-:']) {
    assert.throws(() => parseCrashkernel(bad), ParseError, bad);
  }
});

test('crashkernel=: range rules pick the size by total RAM, end exclusive', () => {
  const spec = parseCrashkernel('512M-2G:64M,2G-:128M');
  assert.equal(crashkernelSize(spec, 256n * M), 0n);
  assert.equal(crashkernelSize(spec, 512n * M), 64n * M);
  assert.equal(crashkernelSize(spec, 2n * G - 1n), 64n * M);
  assert.equal(crashkernelSize(spec, 2n * G), 128n * M);
  assert.equal(crashkernelSize(parseCrashkernel('256M'), 64n * G), 256n * M);
  assert.equal(crashkernelSize(parseCrashkernel('auto'), G), undefined);
});

test('crashkernel=: the last of each kind on a command line wins, quoted values stay whole', () => {
  const specs = crashkernelFromCmdline('BOOT_IMAGE=/vmlinuz crashkernel=128M quiet crashkernel=1G,high crashkernel=256M crashkernel=72M,low');
  assert.deepEqual(
    specs.map((s) => s.text),
    ['256M', '1G,high', '72M,low'],
  );
  assert.deepEqual(crashkernelFromCmdline('console=ttyS0'), []);
  assert.deepEqual(splitCmdline(' a  b="c d" e '), ['a', 'b="c d"', 'e']);
});

test('memparse: suffixes K M G T, hex and octal like the kernel', () => {
  assert.equal(parseMemSize('4K'), 4096n);
  assert.equal(parseMemSize('1T'), 1n << 40n);
  assert.equal(parseMemSize('0x1000'), 4096n);
  assert.equal(parseMemSize('010'), 8n);
  assert.equal(parseMemSize('0'), 0n);
});

test('reserved region: found in the fixture machine\'s /proc/iomem, and a ,high + ,low pair', () => {
  const probe = readFileSync('fixtures/x86_64-debian-6.1/guest-probe.txt', 'latin1');
  const iomem = /===IOMEM\n([\s\S]*?)===/.exec(probe)![1]!;
  const r = reservedCrashRegions(parseIomem(iomem));
  assert.deepEqual(r.main, { start: 0x2e000000n, end: 0x3dffffffn, size: 256n * M });
  assert.deepEqual(r.low, []);
  const pair = reservedCrashRegions(
    parseIomem(
      [
        '00100000-bffdffff : System RAM',
        '  b5000000-bcffffff : Crash kernel',
        '100000000-43fffffff : System RAM',
        '  3c0000000-3ffffffff : Crash kernel',
      ].join('\n'),
    ),
  );
  assert.equal(pair.main!.start, 0x3c0000000n);
  assert.equal(pair.low.length, 1);
  assert.equal(pair.low[0]!.size, 128n * M);
  assert.equal(reservedCrashRegions(parseIomem('00100000-bffdffff : System RAM')).main, undefined);
});

test('sizes for people', () => {
  assert.equal(formatSize(256n * M), '256 MiB');
  assert.equal(formatSize(1536n * M), '1.5 GiB');
  assert.equal(formatSize(100n), '100 bytes');
});

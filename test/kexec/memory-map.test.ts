import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  memoryMapFromFirmware,
  memoryMapFromIomem,
  parseIomem,
  parseMemmapListing,
  x86LoaderRanges,
  KEXEC_RANGE_CODE,
  totalRam,
  findIomem,
} from '../../src/kexec/memory-map.ts';
import { ParseError } from '../../src/errors.ts';
import { probeSection } from './fixture.ts';

const fmt = (r: { start: bigint; end: bigint; type: keyof typeof KEXEC_RANGE_CODE }) =>
  `${r.start.toString(16).padStart(16, '0')}-${r.end.toString(16).padStart(16, '0')} (${KEXEC_RANGE_CODE[r.type]})`;

test('iomem parses into a nested tree with the crash kernel region', () => {
  const tree = parseIomem(probeSection('IOMEM'));
  const ram = tree.find((r) => r.start === 0x100000n)!;
  assert.equal(ram.name, 'System RAM');
  assert.deepEqual(ram.children.map((c) => c.name), ['Kernel code', 'Kernel rodata', 'Kernel data', 'Kernel bss', 'Crash kernel']);
  assert.equal(findIomem(tree, 'Kernel code')!.start, 0x18200000n);
  const map = memoryMapFromIomem(probeSection('IOMEM'));
  assert.deepEqual(map.crashKernel, [{ start: 0x2e000000n, end: 0x3dffffffn }]);
  assert.equal(totalRam(map.ranges), 0x9ec00n + 0x3fee0000n);
});

test('firmware memmap gives the same MEMORY RANGES as kexec -d on the fixture machine', () => {
  const map = memoryMapFromFirmware(parseMemmapListing(probeSection('MEMMAP')), probeSection('IOMEM'));
  const kexecD = probeSection('KEXEC_C');
  const expected = kexecD.slice(kexecD.indexOf('MEMORY RANGES\n') + 14).split('\n').filter((l) => /^[0-9a-f]{16}-/.test(l)).slice(0, 7);
  assert.deepEqual(x86LoaderRanges(map).map(fmt), expected);
  assert.equal(map.crashKernel[0]!.start, 0x2e000000n);
});

test('iomem with zeroed addresses (not root) is one clear error', () => {
  assert.throws(() => parseIomem('00000000-00000000 : System RAM\n00000000-00000000 : Reserved\n'), (e: unknown) => e instanceof ParseError && /CAP_SYS_ADMIN/.test(e.hint ?? ''));
});

test('garbage in iomem names its line', () => {
  assert.throws(() => parseIomem('00000000-00000fff : Reserved\nhello\n'), (e: unknown) => e instanceof ParseError && e.offset === 29);
});

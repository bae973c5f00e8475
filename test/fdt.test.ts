import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cloneFdt,
  decodeInt,
  decodeReg,
  decodeString,
  deleteProp,
  encodeCells,
  encodeString,
  encodeU64,
  ensureNode,
  findNode,
  getProp,
  memoryRanges,
  parseFdt,
  reservedMemory,
  serializeFdt,
  setProp,
} from '../src/format/fdt.ts';
import { ParseError } from '../src/errors.ts';
import { recordedFdt } from './arm64-fixture.ts';

const haveDtc = spawnSync('dtc', ['--version']).status === 0;

/** dtc's own reading of a blob, as dts text (the oracle). */
function dtcDts(blob: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdt-'));
  writeFileSync(join(dir, 'in.dtb'), blob);
  return execFileSync('dtc', ['-q', '-I', 'dtb', '-O', 'dts', join(dir, 'in.dtb')], { encoding: 'utf8' });
}

test('fdt: the recorded QEMU virt DTB parses: memory node, /chosen, cells', () => {
  const fdt = parseFdt(recordedFdt());
  assert.deepEqual(memoryRanges(fdt), [{ address: 0x40000000n, size: 0x40000000n }]);
  const chosen = findNode(fdt, '/chosen')!;
  assert.match(decodeString(getProp(chosen, 'bootargs')!), /crashkernel=256M/);
  assert.ok(getProp(chosen, 'linux,initrd-start'), 'QEMU passed the initrd in /chosen');
  assert.equal(findNode(fdt, '/memory')?.name, 'memory@40000000');
});

test('fdt: serialize(parse(x)) is read by dtc exactly as x is', { skip: !haveDtc && 'dtc not installed' }, () => {
  const blob = recordedFdt();
  const again = serializeFdt(parseFdt(blob));
  assert.equal(dtcDts(again), dtcDts(blob));
  assert.ok(again.length < blob.length + 64, `serialized ${again.length} bytes from ${blob.length}`);
});

test('fdt: edits survive a round trip and dtc sees them', { skip: !haveDtc && 'dtc not installed' }, () => {
  const fdt = cloneFdt(parseFdt(recordedFdt()));
  const chosen = ensureNode(fdt, '/chosen');
  setProp(chosen, 'bootargs', encodeString('console=ttyAMA0 root=/dev/vda'));
  setProp(chosen, 'linux,initrd-start', encodeU64(0x48000000n));
  setProp(chosen, 'linux,initrd-end', encodeU64(0x48123456n));
  deleteProp(chosen, 'rng-seed');
  setProp(ensureNode(fdt, '/reserved-memory/kexec@50000000'), 'reg', encodeCells([0x50000000n, 0x1000n], [2, 2], 'reg'));
  fdt.reserved.push({ address: 0x60000000n, size: 0x2000n });
  const back = parseFdt(serializeFdt(fdt));
  const c = findNode(back, '/chosen')!;
  assert.equal(decodeString(getProp(c, 'bootargs')!), 'console=ttyAMA0 root=/dev/vda');
  assert.equal(decodeInt(getProp(c, 'linux,initrd-end')!), 0x48123456n);
  assert.equal(getProp(c, 'rng-seed'), undefined);
  assert.deepEqual(back.reserved, [{ address: 0x60000000n, size: 0x2000n }]);
  const dts = dtcDts(serializeFdt(fdt));
  assert.match(dts, /bootargs = "console=ttyAMA0 root=\/dev\/vda";/);
  assert.match(dts, /linux,initrd-start = <0x00 0x48000000>;/);
  assert.match(dts, /\/memreserve\/\s+0x0*60000000 0x0*2000;/);
});

test('fdt: a tree we build from scratch is read back by dtc', { skip: !haveDtc && 'dtc not installed' }, () => {
  const fdt = { root: { name: '', props: [], children: [] }, reserved: [], bootCpuidPhys: 0 };
  setProp(fdt.root, '#address-cells', encodeCells([2n], [1], 'cells'));
  setProp(fdt.root, '#size-cells', encodeCells([2n], [1], 'cells'));
  const mem = ensureNode(fdt, '/memory@80000000');
  setProp(mem, 'device_type', encodeString('memory'));
  setProp(mem, 'reg', encodeCells([0x80000000n, 0x100000000n], [2, 2], 'reg'));
  assert.deepEqual(memoryRanges(parseFdt(serializeFdt(fdt))), [{ address: 0x80000000n, size: 0x100000000n }]);
  assert.match(dtcDts(serializeFdt(fdt)), /reg = <0x00 0x80000000 0x01 0x00>;/);
});

test('fdt: reg decoding honours cell counts; reserved-memory nodes are listed', () => {
  const v = encodeCells([0x1n, 0x2n, 0x3n, 0x4n], [1, 1], 'reg');
  assert.deepEqual(decodeReg(v, 1, 1), [
    { address: 1n, size: 2n },
    { address: 3n, size: 4n },
  ]);
  assert.throws(() => decodeReg(v, 2, 2).length && decodeReg(v.subarray(0, 12), 2, 2), /not a multiple of 16/);
  assert.throws(() => encodeCells([0x100000000n], [1], 'linux,usable-memory-range'), /does not fit in 1 cell/);
  const fdt = parseFdt(recordedFdt());
  const rm = ensureNode(fdt, '/reserved-memory');
  setProp(rm, '#address-cells', encodeCells([2n], [1], 'c'));
  setProp(rm, '#size-cells', encodeCells([2n], [1], 'c'));
  setProp(ensureNode(fdt, '/reserved-memory/tz@4e000000'), 'reg', encodeCells([0x4e000000n, 0x200000n], [2, 2], 'reg'));
  assert.deepEqual(reservedMemory(parseFdt(serializeFdt(fdt))), [{ name: 'tz@4e000000', address: 0x4e000000n, size: 0x200000n }]);
});

test('fdt: damaged blobs give a ParseError with the offset, never a hang', () => {
  const blob = serializeFdt(parseFdt(recordedFdt()));
  assert.throws(() => parseFdt(new Uint8Array(8)), (e: unknown) => e instanceof ParseError && /shorter than the 40-byte header/.test(e.message));
  const badMagic = blob.slice();
  badMagic[0] = 0;
  assert.throws(() => parseFdt(badMagic), /bad magic/);
  assert.throws(() => parseFdt(blob.subarray(0, blob.length - 100)), (e: unknown) => e instanceof ParseError && /header says \d+ bytes/.test(e.message) && e.hint === 'the DTB is truncated');
  // An unknown token in the middle of the structure block.
  const h = new DataView(blob.buffer, blob.byteOffset);
  const offStruct = h.getUint32(8);
  const badToken = blob.slice();
  new DataView(badToken.buffer).setUint32(offStruct, 0x77);
  assert.throws(() => parseFdt(badToken), (e: unknown) => e instanceof ParseError && e.offset === offStruct && /unknown token 0x77/.test(e.message));
  // A structure block without FDT_END: cut it short in the header.
  const noEnd = blob.slice();
  new DataView(noEnd.buffer).setUint32(0x24, 64);
  assert.throws(() => parseFdt(noEnd), /ends without FDT_END|runs past/);
  // Random corruption never escapes as anything but a ParseError.
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    const b = blob.slice();
    for (let k = 0; k < 4; k++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      b[40 + (seed % (b.length - 40))] = seed & 0xff;
    }
    try {
      parseFdt(b);
    } catch (e) {
      assert.ok(e instanceof ParseError, String(e));
    }
  }
});

test('fdt: the recorded blob is the one in the guest probe', () => {
  // Guards the fixture loader: a gzip+base64 section decoded to a DTB with the FDT magic.
  assert.equal(readFileSync(new URL('../fixtures/arm64/guest-probe.txt', import.meta.url), 'utf8').includes('/sys/firmware/fdt'), true);
  assert.equal(new DataView(recordedFdt().buffer).getUint32(0), 0xd00dfeed);
});

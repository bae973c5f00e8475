import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bzImage64Loader } from '../../src/kexec/arch/x86_64/bzimage64.ts';
import { memoryMapFromFirmware, parseMemmapListing } from '../../src/kexec/memory-map.ts';
import { validatePlan, type PlanInput } from '../../src/kexec/plan.ts';
import { BootParams, parseBzImage } from '../../src/format/bzimage.ts';
import { readStruct } from '../../src/format/struct.ts';
import { ParseError, KexecError } from '../../src/errors.ts';
import { kexecDebugSegments, probeSection, purgatory } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';


const fixtureMap = () => memoryMapFromFirmware(parseMemmapListing(probeSection('MEMMAP')), probeSection('IOMEM'));

function fixtureInput(over: Partial<PlanInput> = {}): PlanInput {
  return {
    image: fakeBzImage(FIXTURE_KERNEL),
    imageName: 'vmlinuz',
    initrd: new Uint8Array(0xddc549),
    cmdline: 'console=ttyS0 stage=second', // 26 bytes, as kexec-tools' setup bufsz 0x505b implies
    kind: 'load',
    memory: fixtureMap(),
    purgatory: purgatory(),
    host: { rngSeed: new Uint8Array(32) },
    ...over,
  };
}

test('bzImage64 plan matches kexec -c -l -d on the fixture machine: same regions, same sizes (purgatory is ours)', () => {
  const plan = bzImage64Loader.plan(fixtureInput());
  validatePlan(plan);
  const theirs = kexecDebugSegments(probeSection('KEXEC_C'));
  const ours = plan.segments;
  assert.deepEqual(ours.map((s) => s.what), ['setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory']);
  // RNG seed setup_data, initrd and kernel: identical placement and sizes.
  for (const i of [0, 1, 2]) {
    assert.equal(ours[i]!.mem, theirs[i]!.mem, `${ours[i]!.what} mem`);
    assert.equal(ours[i]!.memsz, theirs[i]!.memsz, `${ours[i]!.what} memsz`);
    assert.equal(BigInt(ours[i]!.buf.length), theirs[i]!.bufsz, `${ours[i]!.what} bufsz`);
  }
  // Boot params + command line: same size (kexec-tools' layout: setup code size + cmdline + 64), but
  // it sits lower/higher by the difference in purgatory size: kexec-tools' purgatory takes 0x9000
  // bytes (printf, VGA, backup copy code), ours 0x3000 (SHA-256 + serial message + 8 KiB stack).
  assert.equal(BigInt(ours[3]!.buf.length), theirs[3]!.bufsz);
  assert.equal(ours[3]!.memsz, theirs[3]!.memsz);
  assert.equal(ours[3]!.mem, theirs[3]!.mem + (theirs[4]!.memsz - ours[4]!.memsz));
  // Purgatory: top of RAM in both.
  assert.equal(ours[4]!.mem + ours[4]!.memsz, theirs[4]!.mem + theirs[4]!.memsz);
  assert.equal(plan.flags, 0x3e0000n);
  assert.ok(plan.entry >= ours[4]!.mem && plan.entry < ours[4]!.mem + ours[4]!.memsz);
  // E820 lines as kexec-tools printed them.
  const k = probeSection('KEXEC_C');
  const theirE820 = k.slice(k.indexOf('E820 memmap:')).split('\n').slice(1).filter((l) => /^[0-9a-f]{16}-/.test(l));
  assert.deepEqual(plan.debug.slice(plan.debug.indexOf('E820 memmap:') + 1), theirE820);
  for (const line of ['Loaded 64bit kernel at 0x3cc00000', 'Loaded initrd at 0x3be23000 size 0xddc549', 'kernel init_size 0x3378000']) {
    assert.ok(plan.debug.includes(line), line);
  }
});

test('zero page carries cmdline, initrd, e820, loader type and the RNG setup_data', () => {
  const plan = bzImage64Loader.plan(fixtureInput());
  const setup = plan.segments.find((s) => s.what === 'boot params + cmdline')!;
  const bp = readStruct(BootParams, setup.buf);
  assert.equal(bp.type_of_loader, 0xd0);
  assert.equal(BigInt(bp.cmd_line_ptr) + (BigInt(bp.ext_cmd_line_ptr) << 32n), setup.mem + 0x5000n);
  assert.equal(new TextDecoder().decode(setup.buf.subarray(0x5000, 0x5000 + 26)), 'console=ttyS0 stage=second');
  assert.equal(setup.buf[0x5000 + 26], 0);
  assert.equal(bp.ramdisk_image, 0x3be23000);
  assert.equal(bp.ramdisk_size, 0xddc549);
  assert.equal(bp.e820_entries, 7);
  assert.equal(bp.setup_data, 0x100000n);
  assert.equal(bp.init_size, 0x3378000, 'setup header copied from the kernel');
  assert.equal(bp.header, 0x53726448);
});

test('corrupt input: not a kernel, truncated bzImage, too-long cmdline, initrd larger than memory', () => {
  assert.equal(bzImage64Loader.probe(new Uint8Array(4096)), false);
  assert.throws(() => parseBzImage(new TextEncoder().encode('#!/bin/sh\necho hi\n'.padEnd(1000, ' ')), 'script'), (e: unknown) => e instanceof ParseError && /no Linux boot header/.test(e.message));
  const full = fakeBzImage(FIXTURE_KERNEL);
  assert.throws(() => bzImage64Loader.plan(fixtureInput({ image: full.subarray(0, full.length - 100000) })), (e: unknown) => e instanceof ParseError && /truncated bzImage/.test(e.message));
  assert.throws(() => bzImage64Loader.plan(fixtureInput({ cmdline: 'x'.repeat(2047) })), (e: unknown) => e instanceof KexecError && /command line too long: 2048 bytes/.test(e.message));
  assert.throws(() => bzImage64Loader.plan(fixtureInput({ initrd: new Uint8Array(0x3e000000) })), (e: unknown) => e instanceof KexecError && /no room for the initrd/.test(e.message));
  assert.throws(() => bzImage64Loader.plan(fixtureInput({ image: fakeBzImage({ ...FIXTURE_KERNEL, xloadflags: 0 }) })), /64-bit entry/);
  assert.throws(() => bzImage64Loader.plan(fixtureInput({ image: fakeBzImage({ ...FIXTURE_KERNEL, version: 0x020a }) })), /older than 2.12/);
});

test('--mem-max keeps every segment below the limit', () => {
  const plan = bzImage64Loader.plan(fixtureInput({ memMax: 0x1fffffffn }));
  for (const s of plan.segments) assert.ok(s.mem + s.memsz - 1n <= 0x1fffffffn, s.what);
});

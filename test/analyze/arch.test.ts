// src/analyze/arch/: the architecture table is chosen from the dump, and the x86_64 row holds the
// layout constants declared once in src/format/x86_64-layout.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archOf } from '../../src/analyze/arch/arch.ts';
import { x86_64 } from '../../src/analyze/arch/x86_64/arch.ts';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { ParseError } from '../../src/errors.ts';
import type { Dump } from '../../src/format/dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { X86_64_START_KERNEL_MAP } from '../../src/format/x86_64-layout.ts';
import { FileSource } from '../../src/host/file-source.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const withMachine = (machine: string | number | undefined) => ({ header: { machine }, source: { name: 'fake.vmcore' } }) as unknown as Dump;

test("arch: x86_64 is chosen by the dump's machine (kdump header name, ELF e_machine 62, or none named); another architecture is one clear error", () => {
  const kd = new KernelDump(openDump(new FileSource(DUMP)));
  assert.equal(kd.arch, x86_64);
  assert.equal(kd.memory.arch, x86_64);
  assert.equal(archOf(withMachine(62)), x86_64);
  assert.equal(archOf(withMachine(undefined)), x86_64);
  assert.throws(
    () => archOf(withMachine('s390x')),
    (e: unknown) => e instanceof ParseError && /^the dump's kernel is s390x: analysis reads x86_64 and aarch64 kernels only$/.test(e.message),
  );
  assert.throws(() => archOf(withMachine(22)), /kernel is ELF machine 22:/);
});

test('arch: the x86_64 row uses the one __START_KERNEL_map constant; modules and the direct map lie in the kernel half', () => {
  assert.equal(x86_64.kernelMap, X86_64_START_KERNEL_MAP);
  assert.equal(x86_64.kernelText, X86_64_START_KERNEL_MAP + 0x1000000n);
  assert.ok(x86_64.moduleArea[0] > x86_64.kernelMap && x86_64.moduleArea[1] > x86_64.moduleArea[0]);
  for (const levels of [4, 5]) assert.ok(x86_64.directMapRange(levels)[0] < x86_64.directMapRange(levels)[1]);
  assert.ok(x86_64.directMapRange(4)[0] >= x86_64.kernelSpace);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { elfX86_64Loader } from '../../src/kexec/arch/x86_64/elf-x86_64.ts';
import { memoryMapFromFirmware, parseMemmapListing } from '../../src/kexec/memory-map.ts';
import { validatePlan, type PlanInput } from '../../src/kexec/plan.ts';
import { pickLoader } from '../../src/kexec/loaders.ts';
import { BootParams } from '../../src/format/bzimage.ts';
import { readStruct } from '../../src/format/struct.ts';
import { u64le } from '../../src/kexec/purgatory-link.ts';
import { probeSection, purgatory } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage, fakeVmlinux } from './synthetic.ts';


const KBASE = 0xffffffff81000000n;
// text and data as in a vmlinux: virtual at the kernel map, physical from 16 MiB; the second PT_LOAD
// starts inside the first one's last page (they are merged into one segment).
const vmlinux = fakeVmlinux(
  [
    { vaddr: KBASE, paddr: 0x1000000n, filesz: 0x1800, memsz: 0x1800 },
    { vaddr: KBASE + 0x1800n, paddr: 0x1001800n, filesz: 0x800, memsz: 0x5000 },
  ],
  KBASE,
);

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    image: vmlinux,
    imageName: 'vmlinux',
    initrd: new Uint8Array(0x10000),
    cmdline: 'console=ttyS0',
    kind: 'load',
    memory: memoryMapFromFirmware(parseMemmapListing(probeSection('MEMMAP'))),
    purgatory: purgatory(),
    ...over,
  };
}

test('ELF vmlinux: PT_LOADs at their physical addresses (touching ones merged), entry translated to physical', () => {
  const plan = elfX86_64Loader.plan(input());
  validatePlan(plan);
  const k = plan.segments.find((s) => s.what === 'kernel')!;
  assert.equal(k.mem, 0x1000000n);
  assert.equal(k.memsz, 0x7000n);
  assert.equal(k.buf.length, 0x2000);
  assert.equal(k.buf[0], 0x11);
  assert.equal(k.buf[0x1800], 0x22);
  const purg = plan.segments.find((s) => s.what === 'purgatory')!;
  const entryOff = (() => {
    // kexec_ts_kernel_entry holds the physical entry
    const needle = u64le(0x1000000n);
    for (let i = 0; i + 8 <= purg.buf.length; i++) if (needle.every((b, j) => purg.buf[i + j] === b)) return i;
    return -1;
  })();
  assert.ok(entryOff >= 0, 'the purgatory jumps to the physical entry 0x1000000');
  const setup = plan.segments.find((s) => s.what === 'boot params + cmdline')!;
  const bp = readStruct(BootParams, setup.buf);
  assert.equal(bp.header, 0x53726448);
  assert.equal(bp.cmd_line_ptr, Number(setup.mem) + 4096);
  assert.equal(bp.ramdisk_size, 0x10000);
});

test('probe order picks ELF for a vmlinux and bzImage64 for a bzImage; a vmlinux outside the crash region is refused', async () => {
  assert.equal((await pickLoader(vmlinux, { source: 'vmlinux' })).name, 'elf-x86_64');
  assert.equal((await pickLoader(fakeBzImage(FIXTURE_KERNEL), { source: 'bzImage' })).name, 'bzImage64');
  assert.throws(
    () => elfX86_64Loader.plan(input({ kind: 'crash', crash: { region: [{ start: 0x2e000000n, end: 0x3dffffffn }], addSegments: () => ({}) } })),
    /must be loaded at 0x1000000-0x1006fff, which is not free usable memory in the crash kernel region$/,
  );
});

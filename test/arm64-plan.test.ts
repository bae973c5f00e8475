// The arm64 plan for the recorded QEMU virt guest (fixtures/arm64) compared with what Debian's
// arm64 kexec-tools 2.0.25 did on that same machine for the same Image and initrd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arm64ImageLoader, arm64RamRanges } from '../src/kexec/arch/arm64/image.ts';
import { memoryMapFromIomem, parseIomem } from '../src/kexec/memory-map.ts';
import { validatePlan, type KexecPlan, type PlanInput } from '../src/kexec/plan.ts';
import { decodeInt, decodeReg, decodeString, findNode, getProp, parseFdt } from '../src/format/fdt.ts';
import { planCrashLoad } from '../src/kdump/crash-load.ts';
import { arm64PurgatoryObject, kexecToolsSegments, probeSection, recordedFdt, recordedImage, recordedIomem } from './arm64-fixture.ts';

const purgatory = arm64PurgatoryObject();
const skip = !purgatory && 'the arm64 purgatory is not built and llvm-mc is missing';
const initrd = new Uint8Array(1234567).fill(0x69);

function input(kind: 'load' | 'crash', cmdline: string): PlanInput {
  const memory = memoryMapFromIomem(recordedIomem());
  const base: PlanInput = { image: recordedImage(), imageName: 'vmlinuz-6.1.0-50-cloud-arm64', initrd, dtb: recordedFdt(), cmdline, kind, memory, purgatory: purgatory!, host: { rngSeed: Uint8Array.of(1, 2, 3) } };
  if (kind === 'load') return base;
  // The kdump side with the facts kexec-tools printed in the same guest (crash_notes, vmcoreinfo).
  const crash = planCrashLoad({
    iomem: parseIomem(recordedIomem()),
    cpuNotes: [
      { cpu: 0, addr: 0x7fdb8200n, size: 424n },
      { cpu: 1, addr: 0x7fdd6200n, size: 424n },
    ],
    vmcoreinfo: { addr: 0x42356000n, size: 0x1024n },
  });
  return { ...base, crash: crash.hook };
}

const byWhat = (p: KexecPlan, what: string) => p.segments.find((s) => s.what === what)!;

test('arm64 plan: RAM ranges read from /proc/iomem exactly as kexec-tools printed them', () => {
  const ours = arm64RamRanges(memoryMapFromIomem(recordedIomem())).map((r) => `${r.start.toString(16).padStart(16, '0')}-${r.end.toString(16).padStart(16, '0')} (0)`);
  const theirs = probeSection('kexec -d -l').split('\n');
  const at = theirs.indexOf('System RAM ranges;');
  assert.deepEqual(ours, theirs.slice(at + 1, at + 1 + ours.length));
  assert.match(theirs[at + 1 + ours.length]!, /^elf_arm64_probe/);
});

test('arm64 plan: kexec -l puts kernel, initrd, DTB and purgatory where kexec-tools did', { skip }, () => {
  const plan = arm64ImageLoader.plan(input('load', 'console=ttyAMA0 kexec-ts=arm64'));
  const kt = kexecToolsSegments('kexec -d -l');
  assert.equal(plan.flags, kt.flags); // 0xb70000: KEXEC_ARCH_AARCH64
  assert.deepEqual(plan.segments.map((s) => s.what), ['kernel', 'initrd', 'dtb', 'purgatory']);
  // kernel and initrd: identical mem, memsz and bufsz.
  for (const [i, what] of [[0, 'kernel'], [1, 'initrd']] as const) {
    const s = byWhat(plan, what);
    assert.deepEqual({ mem: s.mem, memsz: s.memsz, bufsz: BigInt(s.buf.length) }, kt.segments[i], what);
  }
  // DTB: same address and pages; the bytes differ (we add a 128-byte rng-seed, kexec-tools does not).
  const dtb = byWhat(plan, 'dtb');
  assert.equal(dtb.mem, kt.segments[2]!.mem);
  assert.equal(dtb.memsz, kt.segments[2]!.memsz);
  // Purgatory: same address; ours is one page (kexec-tools' C purgatory takes four).
  const purg = byWhat(plan, 'purgatory');
  assert.equal(purg.mem, kt.segments[3]!.mem);
  assert.equal(purg.memsz, 0x1000n);
  assert.equal(plan.entry, purg.mem); // purgatory_start is the first instruction
  assert.equal(plan.cmdline, 'console=ttyAMA0 kexec-ts=arm64');
  assert.deepEqual(plan.sha256Regions?.map((r) => r.start), [0x41a00000n, 0x434a0000n, 0x435ce000n]);
  validatePlan(plan);
  // The DTB the new kernel gets.
  const fdt = parseFdt(dtb.buf);
  const chosen = findNode(fdt, '/chosen')!;
  assert.equal(decodeString(getProp(chosen, 'bootargs')!), 'console=ttyAMA0 kexec-ts=arm64');
  assert.equal(decodeInt(getProp(chosen, 'linux,initrd-start')!), 0x434a0000n);
  assert.equal(decodeInt(getProp(chosen, 'linux,initrd-end')!), 0x434a0000n + 1234567n); // kexec-tools: "end 1130157703"
  assert.equal(getProp(chosen, 'kaslr-seed')!.length, 8);
  assert.equal(getProp(chosen, 'rng-seed')!.length, 128);
  assert.ok(plan.debug.includes('image_arm64_load: kernel_segment: 0000000041a00000'));
  assert.ok(plan.debug.includes('initrd: base 434a0000, size 12d687h (1234567)'));
});

test('arm64 plan: kexec -p stays in the crash region like kexec-tools; DTB names the core header and usable range', { skip }, () => {
  const plan = arm64ImageLoader.plan(input('crash', 'console=ttyAMA0 kexec-ts=crash'));
  const kt = kexecToolsSegments('kexec -d -p');
  assert.equal(plan.flags, kt.flags); // 0xb70001
  assert.deepEqual(
    plan.segments.map((s) => [s.what, s.mem, s.memsz]),
    [
      ['kernel', 0x6ac00000n, 0x1aa0000n],
      ['initrd', 0x6c6a0000n, 0x12e000n],
      ['dtb', 0x6c7ce000n, 0x2000n],
      ['purgatory', 0x6c7d0000n, 0x1000n],
      ['ELF core header', 0x7abff000n, 0x1000n],
    ],
  );
  assert.deepEqual(
    plan.segments.map((s) => s.mem),
    kt.segments.map((s) => s.mem),
  );
  validatePlan(plan, { crashRegion: [{ start: 0x6ac00000n, end: 0x7abfffffn }] });
  assert.doesNotMatch(plan.cmdline, /elfcorehdr=/); // arm64: only through the DTB, as kexec-tools
  const chosen = findNode(parseFdt(byWhat(plan, 'dtb').buf), '/chosen')!;
  const hdr = byWhat(plan, 'ELF core header');
  assert.deepEqual(decodeReg(getProp(chosen, 'linux,elfcorehdr')!, 2, 2), [{ address: 0x7abff000n, size: BigInt(hdr.buf.length) }]);
  assert.deepEqual(decodeReg(getProp(chosen, 'linux,usable-memory-range')!, 2, 2), [{ address: 0x6ac00000n, size: 0x10000000n }]);
});

test('arm64 plan: bad inputs give one clear error', { skip }, () => {
  const ok = input('load', 'x');
  assert.throws(() => arm64ImageLoader.plan({ ...ok, dtb: undefined }), /arm64 needs a device tree/);
  assert.throws(() => arm64ImageLoader.plan({ ...ok, dtb: new Uint8Array(64) }), /not a flattened device tree/);
  assert.throws(() => arm64ImageLoader.plan({ ...ok, image: new Uint8Array(100) }), /not an arm64 kernel/);
  assert.throws(() => arm64ImageLoader.plan({ ...ok, initrd: new Uint8Array(0x40000000) }), /no room for the initrd/);
  assert.throws(() => arm64ImageLoader.plan({ ...ok, purgatory: undefined }), /arm64 purgatory object is missing/);
  assert.throws(() => arm64ImageLoader.plan({ ...input('crash', 'x'), crash: undefined }), /no crash kernel region/);
  assert.equal(arm64ImageLoader.probe(recordedImage()), true);
  assert.equal(arm64ImageLoader.probe(new Uint8Array(4096)), false);
});

test('arm64 plan: without a command line the DTB keeps the old bootargs (kexec-tools behaviour) and the plan says so', { skip }, () => {
  const plan = arm64ImageLoader.plan(input('load', ''));
  assert.equal(plan.cmdline, 'console=ttyAMA0 crashkernel=256M panic=-1');
  assert.ok(plan.notes.some((n) => n.includes('bootargs kept from the DTB')));
});

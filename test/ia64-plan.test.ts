// IA-64 plans (plan only) on the constructed machine fixtures in test/fixtures/ia64. Expected
// addresses are worked out by hand from kexec-tools' IA-64 rules (see the comments), not copied
// from our output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ia64MemoryRanges, makeIa64Loader } from '../src/kexec/arch/ia64/elf-ia64.ts';
import { iomemNameOf, patchEfiMemmap, descEnd, EFI_LOADER_DATA, EFI_CONVENTIONAL_MEMORY } from '../src/kexec/arch/ia64/efi-memmap.ts';
import { decodeEfiMemmap, encodeEfiMemmap } from '../src/format/efi.ts';
import { decodeBootParam, encodeBootParam, ia64BootParam, newBootParam } from '../src/kexec/arch/ia64/boot-param.ts';
import { memoryMapFromIomem, parseIomem, walkIomem } from '../src/kexec/memory-map.ts';
import { validatePlan, type CrashHook, type KexecPlan, type PlanInput } from '../src/kexec/plan.ts';
import { ia64Machine, ia64Vmlinux, IA64_VMLINUX_ENTRY } from './ia64-fixture.ts';

const M = 1n << 20n;
const initrd = new Uint8Array(0x300000).fill(7);

/** A kdump side that places a 1 KiB ELF core header like kexec-tools' IA-64 crashdump code (EFI page aligned, top-down). */
const crashHook: CrashHook = {
  region: [],
  addSegments(alloc) {
    const s = alloc.place({ buf: new Uint8Array(0x400), align: 0x4000n, what: 'ELF core header' });
    return { cmdlineAppend: `elfcorehdr=${s.mem / 1024n}K` };
  },
};

function plan(name: 'hp-zx1-2g' | 'sgi-altix-2node', kind: 'load' | 'crash', extra: Partial<PlanInput> = {}): KexecPlan {
  const m = ia64Machine(name);
  return makeIa64Loader({ efiMemmap: m.efi }).plan({
    image: ia64Vmlinux(),
    imageName: 'vmlinux',
    initrd,
    cmdline: 'root=/dev/sda2 console=ttyS0',
    kind,
    memory: memoryMapFromIomem(m.iomem),
    ...(kind === 'crash' ? { crash: crashHook } : {}),
    ...extra,
  });
}

const layout = (p: KexecPlan) => p.segments.map((s) => [s.what, s.mem, s.memsz]);

test('ia64 fixtures: each /proc/iomem agrees with its EFI memory map under the kernel\'s rules', () => {
  for (const name of ['hp-zx1-2g', 'sgi-altix-2node'] as const) {
    const m = ia64Machine(name);
    const tree = parseIomem(m.iomem);
    const fromEfi = m.efi.filter((d) => iomemNameOf(d)).map((d) => `${d.physAddr.toString(16)}-${(descEnd(d) - 1n).toString(16)} ${iomemNameOf(d)}`);
    const top = tree.map((r) => `${r.start.toString(16)}-${r.end.toString(16)} ${r.name}`);
    assert.deepEqual(top, fromEfi, name);
    const all = walkIomem(tree);
    const efiMap = all.find((r) => r.name === 'EFI Memory Map')!;
    assert.equal(efiMap.end - efiMap.start + 1n, BigInt(m.efi.length * 48), `${name}: EFI Memory Map = descriptors × 48`);
    const bp = all.find((r) => r.name === 'Boot parameter')!;
    assert.equal(Number(bp.end - bp.start + 1n), ia64BootParam.size);
    const crash = all.find((r) => r.name === 'Crash kernel')!;
    assert.equal(crash.start % (64n * M), 0n, `${name}: crashkernel is 64 MiB aligned`);
  }
});

test('ia64 memory ranges: RAM/reserved/uncached coalesced, boot parameters and EFI map cut out (kexec-tools get_memory_ranges)', () => {
  const mm = ia64MemoryRanges(parseIomem(ia64Machine('hp-zx1-2g').iomem));
  assert.deepEqual(
    mm.ranges.map((r) => [r.start, r.end, r.type]),
    [
      [0x0n, 0x9efffn, 'ram'],
      [0x9f000n, 0x9ffffn, 'reserved'],
      [0xc0000n, 0xfffffn, 'reserved'],
      [0x100000n, 0x3bffffffn, 'ram'], // 4 System RAM lines merged, up to the boot parameters
      [0x3c000000n, 0x3c000fffn, 'reserved'], // Boot parameter, rounded out to an EFI page
      [0x3c001000n, 0x3c001fffn, 'reserved'], // EFI Memory Map
      [0x3c002000n, 0x3f1fffffn, 'ram'],
      [0x3f200000n, 0x3f7fffffn, 'reserved'], // runtime data + code merged
      [0x3fa00000n, 0x3fffffffn, 'reserved'], // PAL code (ACPI lines are not kexec-tools types)
      [0x4040000000n, 0x407fffffffn, 'ram'],
    ],
  );
  assert.deepEqual(mm.crash, { start: 0x10000000n, end: 0x2fffffffn });
  assert.equal(mm.efiMemmapSize, 0x360n);
  const altix = ia64MemoryRanges(parseIomem(ia64Machine('sgi-altix-2node').iomem));
  assert.ok(altix.ranges.some((r) => r.type === 'uncached' && r.start === 0x3040000000n && r.end === 0x3043ffffffn));
});

test('ia64 plan: kexec -l on the zx1 machine keeps the kernel at 64 MiB and packs the rest top-down in high RAM', () => {
  const p = plan('hp-zx1-2g', 'load');
  // Top of RAM is 0x407fffffff; 16 KiB pages; order of placement: purgatory, table, boot_param, EFI map, cmdline, initrd.
  assert.deepEqual(layout(p), [
    ['kernel PT_LOAD 0', 0x4000000n, 0x6a0000n],
    ['kernel PT_LOAD 1', 0x46a0000n, 0x10000n],
    ['kernel PT_LOAD 2', 0x46b0000n, 0x550000n],
    ['initrd', 0x407fce0000n, 0x300000n], // 0x4080000000 - 64K purgatory - 4 × 16K - 3 MiB
    ['command line', 0x407ffe0000n, 0x4000n],
    ['EFI memory map', 0x407ffe4000n, 0x4000n],
    ['boot_param', 0x407ffe8000n, 0x4000n],
    ['loaded-segments table', 0x407ffec000n, 0x4000n],
    ['purgatory', 0x407fff0000n, 0x10000n],
  ]);
  assert.equal(p.flags, 50n << 16n); // KEXEC_ARCH_IA_64
  assert.equal(p.cmdline, 'root=/dev/sda2 console=ttyS0');
  assert.ok(p.notes[0]!.includes(`kernel entry 0x${IA64_VMLINUX_ENTRY.toString(16)}`));
  const cmd = p.segments.find((s) => s.what === 'command line')!;
  assert.equal(cmd.buf.length, 32); // 28 characters + NUL, rounded to 16
  assert.ok(p.debug.some((l) => l.includes('"mov r8=r0; br.ret" (16 bytes) at 0x407ffe0020')));
  validatePlan(p);
  // The EFI map the new kernel sees: both old LoaderData descriptors freed, the new kernel marked.
  const efi = p.debug.slice(p.debug.findIndex((l) => l.startsWith('EFI memory map the new kernel will see')) + 1);
  assert.match(efi.find((l) => l.includes('0000000004000000-'))!, /^LoaderData\s+0000000004000000-0000000004bfffff/);
  assert.match(efi.find((l) => l.includes('000000003c000000-'))!, /^ConventionalMemory/);
});

test('ia64 plan: kexec -p stays in "Crash kernel", adds max_addr=/min_addr= and marks the core header in the EFI map', () => {
  const p = plan('hp-zx1-2g', 'crash');
  assert.deepEqual(layout(p), [
    ['kernel PT_LOAD 0', 0x10000000n, 0x6a0000n], // moved to mem_min
    ['kernel PT_LOAD 1', 0x106a0000n, 0x10000n],
    ['kernel PT_LOAD 2', 0x106b0000n, 0x550000n],
    ['initrd', 0x2fcdc000n, 0x300000n],
    ['command line', 0x2ffdc000n, 0x4000n],
    ['EFI memory map', 0x2ffe0000n, 0x4000n],
    ['boot_param', 0x2ffe4000n, 0x4000n],
    ['loaded-segments table', 0x2ffe8000n, 0x4000n],
    ['ELF core header', 0x2ffec000n, 0x4000n], // 16 KiB-aligned by the hook, rounded to a 16 KiB page
    ['purgatory', 0x2fff0000n, 0x10000n], // top of [256M, 768M)
  ]);
  // 0x2ffec000 / 1024 = 786352; the region is [256M, 768M).
  assert.equal(p.cmdline, 'root=/dev/sda2 console=ttyS0 elfcorehdr=786352K max_addr=768M min_addr=256M');
  assert.equal(p.flags, (50n << 16n) | 1n);
  assert.ok(p.notes.some((n) => n.includes('kernel moved from its link address 0x4000000 to 0x10000000 (entry 0x10008000)')));
  validatePlan(p, { crashRegion: [{ start: 0x10000000n, end: 0x2fffffffn }] });
  const efi = p.debug.slice(p.debug.findIndex((l) => l.startsWith('EFI memory map the new kernel will see')) + 1);
  assert.ok(efi.some((l) => /^LoaderData\s+000000002ffec000-000000002ffecfff/.test(l)));
  assert.ok(efi.some((l) => /^LoaderData\s+0000000010000000-0000000010bfffff/.test(l)));
  assert.ok(efi.some((l) => /^ConventionalMemory\s+0000000004000000-0000000004bfffff/.test(l))); // the old kernel
});

test('ia64 plan: on the Altix the kernel is not RAM at its link address and moves to the first 64 MiB-aligned RAM', () => {
  const p = plan('sgi-altix-2node', 'load');
  // RAM starts at 0x3000c00000 (after PAL and runtime code); rounded up to 64 MiB: 0x3004000000.
  assert.deepEqual(p.segments.slice(0, 3).map((s) => s.mem), [0x3004000000n, 0x30046a0000n, 0x30046b0000n]);
  assert.ok(p.notes[0]!.includes('kernel entry 0x3004008000'));
  // Everything else at the top of node 2 (0xb000000000 + 4 GiB).
  assert.equal(p.segments.find((s) => s.what === 'purgatory')!.mem, 0xb100000000n - 0x10000n);
  const crash = plan('sgi-altix-2node', 'crash');
  assert.equal(crash.segments[0]!.mem, 0x3010000000n);
  assert.match(crash.cmdline, / max_addr=197376M min_addr=196864M$/); // 0x3030000000 and 0x3010000000 in MiB
});

test('ia64 plan: bad inputs are refused with one line', () => {
  assert.throws(() => plan('hp-zx1-2g', 'load', { image: new Uint8Array(64) }), /not an IA-64 ELF vmlinux/);
  const iomem = ia64Machine('hp-zx1-2g').iomem.replace('10000000-2fffffff : Crash kernel', '12000000-2fffffff : Crash kernel');
  assert.throws(() => plan('hp-zx1-2g', 'crash', { memory: memoryMapFromIomem(iomem) }), /not 64 MiB aligned/);
  const noCrash = ia64Machine('hp-zx1-2g').iomem.replace(/.*Crash kernel\n/, '');
  assert.throws(() => plan('hp-zx1-2g', 'crash', { memory: memoryMapFromIomem(noCrash) }), /no crash kernel region/);
  assert.throws(() => plan('hp-zx1-2g', 'load', { memMin: 0x4040000000n, memMax: 0x4040007fffn }), /no room for the purgatory/);
});

test('ia64 EFI memory map patch: splits descriptors around loaded ranges, spans neighbours, frees old loader data', () => {
  const m = ia64Machine('hp-zx1-2g');
  // A range crossing from ConventionalMemory into LoaderData at 0x4000000.
  const out = patchEfiMemmap(m.efi, [{ start: 0x3ff0000n, end: 0x4010000n }]);
  const around = out.filter((d) => d.physAddr >= 0x100000n && d.physAddr < 0x4c00000n).map((d) => [d.type, d.physAddr, descEnd(d)]);
  assert.deepEqual(around, [
    [EFI_CONVENTIONAL_MEMORY, 0x100000n, 0x3ff0000n],
    [EFI_LOADER_DATA, 0x3ff0000n, 0x4000000n],
    [EFI_LOADER_DATA, 0x4000000n, 0x4010000n],
    [EFI_CONVENTIONAL_MEMORY, 0x4010000n, 0x4c00000n], // the rest of the old kernel is free now
  ]);
  // Total pages are unchanged and the binary form round-trips at 48-byte descriptors.
  const pages = (ds: typeof out) => ds.reduce((n, d) => n + d.numPages, 0n);
  assert.equal(pages(out), pages(m.efi));
  assert.deepEqual(decodeEfiMemmap(encodeEfiMemmap(out, 48), 48), out);
});

test('ia64_boot_param: 96 bytes as the kernel declares it; the purgatory\'s rewrite keeps firmware fields', () => {
  assert.equal(ia64BootParam.size, 96);
  const old = decodeBootParam(encodeBootParam({ command_line: 0x3c000200n, efi_systab: 0x3f2f0000n, efi_memmap: 0x3c001000n, efi_memmap_size: 0x360n, efi_memdesc_size: 48n, efi_memdesc_version: 1, console_num_cols: 80, console_num_rows: 25, console_orig_x: 0, console_orig_y: 24, fpswa: 0x3f6a0000n, initrd_start: 0x3c100000n, initrd_size: 0x200000n }));
  const nb = newBootParam(old, { vmcode_base: 0n, vmcode_size: 0n, ramdisk_base: 0x407fce0000n, ramdisk_size: 0x300000n, command_line: 0x407ffe0000n, command_line_len: 32n, efi_memmap_base: 0x407ffe4000n, efi_memmap_size: 0x360n, boot_param_base: 0x407ffe8000n, loaded_segments: 0x407ffec000n, loaded_segments_num: 1n }, 0x360n);
  assert.equal(nb.efi_systab, 0x3f2f0000n);
  assert.equal(nb.fpswa, 0x3f6a0000n);
  assert.equal(nb.console_orig_y, 0);
  assert.equal(nb.initrd_start, 0x407fce0000n);
  assert.equal(nb.efi_memmap, 0x407ffe4000n);
});

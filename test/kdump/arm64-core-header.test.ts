// The arm64 ELF core header of a crash load (issue 15) on the recorded QEMU virt guest
// (fixtures/arm64: Debian 6.1 arm64, 1 GiB at 0x40000000, crashkernel=256M at 0x6ac00000): the
// notes and RAM ranges kexec-tools 2.0.25 printed for `kexec -d -p` there, EM_AARCH64, the linear-map
// p_vaddr (PAGE_OFFSET - PHYS_OFFSET from /proc/kcore, modulo 2^64) and the kernel text PT_LOAD,
// and the arm64 rules chosen from the kernel image, never from the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { arm64FromKcore, crashFactsFrom, type CrashFactFiles, type KcoreLoad } from '../../src/kdump/crash-facts.ts';
import { planCrashLoad, arm64CrashRangeDebugLines, coreHeaderDebugLines } from '../../src/kdump/crash-load.ts';
import { buildCoreHeader, dumpRamRanges } from '../../src/kdump/elfcorehdr.ts';
import { EM_AARCH64, Elf64Ehdr, PT_LOAD, PT_NOTE } from '../../src/format/elf.ts';
import { readStruct } from '../../src/format/struct.ts';
import { SegmentAllocator } from '../../src/kexec/plan.ts';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { dryRunText } from '../../src/kexec/load.ts';
import { decodeReg, findNode, getProp, parseFdt } from '../../src/format/fdt.ts';
import { arm64PurgatoryObject, probeSection, recordedFdt, recordedImage, recordedIomem } from '../arm64-fixture.ts';

const NO_PADDR = 0xffffffffffffffffn;
const kexecP = probeSection('kexec -d -p');
const theirs = (prefix: string) => kexecP.split('\n').filter((l) => l.startsWith(prefix));
/** What the guest's kexec-tools read: crash_notes of both CPUs, /sys/kernel/vmcoreinfo. */
const CPUS = [
  { cpu: 0, dir: '/sys/devices/system/cpu/cpu0', notes: '7fdb8200\n', size: '424\n' },
  { cpu: 1, dir: '/sys/devices/system/cpu/cpu1', notes: '7fdd6200\n', size: '424\n' },
];
const VMCOREINFO = '42356000 1024\n';
// The guest's layout: 48-bit VA (PAGE_OFFSET 0xffff000000000000), PHYS_OFFSET 0x40000000, _text at
// the KASLR address kallsyms gave kexec-tools (_stext - 64 KiB), image_size 0x1aa0000.
const PAGE_OFFSET = 0xffff000000000000n;
const PHYS_OFFSET = 0x40000000n;
const TEXT = 0xffffbb2217000000n;
const STEXT = 0xffffbb2217010000n;
const IMAGE_SIZE = 0x1aa0000n;
const KCORE: KcoreLoad[] = [
  { vaddr: 0xffff800080000000n, paddr: NO_PADDR, memsz: 0x7bff7fff0000n }, // vmalloc
  { vaddr: TEXT, paddr: 0x40200000n, memsz: IMAGE_SIZE }, // KCORE_TEXT: __pa_symbol(_text)
  { vaddr: PAGE_OFFSET, paddr: PHYS_OFFSET, memsz: 0x40000000n }, // the linear map of System RAM
  { vaddr: 0xfffffc0000000000n, paddr: NO_PADDR, memsz: 0x1000000n }, // vmemmap
];

function files(o: Partial<CrashFactFiles> = {}): CrashFactFiles {
  return { iomem: recordedIomem(), iomemSource: 'fixtures/arm64/iomem', cpus: CPUS, vmcoreinfo: VMCOREINFO, kallsyms: () => undefined, acpiRsdp: 0n, ...o };
}

/** Runs the hook as the arm64 loader would (its allocator limited to the crash region). */
function placedHeader(facts = crashFactsFrom(files({ kcoreLoads: KCORE }), 'arm64')) {
  const load = planCrashLoad(facts, 'arm64');
  const alloc = new SegmentAllocator(load.hook.region.map((r) => ({ ...r, type: 'ram' as const })));
  const out = load.hook.addSegments(alloc);
  return { load, out, placed: load.placed! };
}

test('arm64 core header: kcore gives the linear offset (PAGE_OFFSET - PHYS_OFFSET) and the kernel text (_text, __pa_symbol(_text), _end - _text); vmalloc/vmemmap entries (no p_paddr) ignored', () => {
  const k = arm64FromKcore(KCORE, { start: 0x40210000n });
  assert.equal(k.linear, PAGE_OFFSET - PHYS_OFFSET);
  assert.deepEqual(k.text, KCORE[1]);
  const f = crashFactsFrom(files({ kcoreLoads: KCORE }), 'arm64');
  assert.equal(f.pageOffset, 0xfffeffffc0000000n);
  assert.deepEqual(f.kernelText, { vaddr: TEXT, paddr: 0x40200000n, size: IMAGE_SIZE });
  assert.equal(f.acpiRsdp, undefined);
  assert.ok(f.sources!.includes('linear map (PAGE_OFFSET - PHYS_OFFSET): /proc/kcore'));
});

test('arm64 core header: without kcore, the text from kallsyms _text/_stext/_end and "Kernel code" (which starts at _stext)', () => {
  const kallsyms = `${TEXT.toString(16)} T _text\n${STEXT.toString(16)} T _stext\n${(TEXT + IMAGE_SIZE).toString(16)} B _end\n`;
  const f = crashFactsFrom(files({ kallsyms: () => kallsyms }), 'arm64');
  assert.deepEqual(f.kernelText, { vaddr: TEXT, paddr: 0x40200000n, size: IMAGE_SIZE });
  assert.equal(f.pageOffset, undefined);
  // The header then assumes a 48-bit PAGE_OFFSET at the lowest RAM, and says so.
  const { out, placed } = placedHeader(f);
  assert.match(out.notes!.join('\n'), /arm64 linear map unknown \(no \/proc\/kcore\)/);
  assert.equal(placed.header.phdrs.find((p) => p.what === 'RAM')!.vaddr, PAGE_OFFSET);
});

test('arm64 core header: EM_AARCH64; the PT_NOTE and VMCOREINFO lines = kexec-tools -d -p; RAM = its "Coredump memory ranges" (no low 1 MiB cut); p_vaddr = __va()', () => {
  const { load, out, placed } = placedHeader();
  const eh = readStruct(Elf64Ehdr, placed.header.bytes);
  assert.equal(eh.machine, EM_AARCH64);
  assert.equal(eh.phnum, placed.header.phdrs.length);
  const lines = coreHeaderDebugLines(placed.header);
  assert.deepEqual(lines.filter((l) => l.startsWith('Elf header: p_type = 4')), theirs('Elf header: p_type = 4'));
  assert.deepEqual(lines.filter((l) => l.startsWith('vmcoreinfo header')), theirs('vmcoreinfo header'));
  // RAM: kexec-tools' ranges and sizes; its p_vaddr were paddr - PHYS_OFFSET (page_offset 0: no _text in that guest's kallsyms)
  const ram = placed.header.phdrs.filter((p) => p.type === PT_LOAD && p.what === 'RAM');
  const kt = theirs('Elf header: p_type = 1').map((l) => /p_offset = (0x[0-9a-f]+) .*p_vaddr = (0x[0-9a-f]+) p_filesz = (0x[0-9a-f]+)/.exec(l)!);
  assert.deepEqual(ram.map((p) => [p.offset, p.filesz]), kt.map((m) => [BigInt(m[1]!), BigInt(m[3]!)]));
  assert.deepEqual(ram.map((p) => p.vaddr - PAGE_OFFSET), kt.map((m) => BigInt(m[2]!)), 'the same offsets into the linear map');
  assert.deepEqual(ram.map((p) => p.vaddr), [0xffff000000000000n, 0xffff00003ac00000n]);
  const text = placed.header.phdrs.find((p) => p.what === 'kernel text')!;
  assert.deepEqual([text.vaddr, text.paddr, text.filesz], [TEXT, 0x40200000n, IMAGE_SIZE]);
  // kexec-tools' lines before the header, the same ranges
  const want = kexecP.split('\n');
  const at = want.indexOf('Reserved memory range');
  assert.deepEqual(arm64CrashRangeDebugLines(load, load.hook.region), want.slice(at, at + 5));
  // no command line, no e820: the loader names the header in the DTB
  assert.equal(out.cmdlineAppend, undefined);
  assert.equal(out.e820, undefined);
  // at the top of the crash region, as kexec-tools placed it (0x7abff000)
  assert.equal(placed.addr, 0x7abff000n);
  assert.equal(placed.header.phdrs.filter((p) => p.type === PT_NOTE).length, 3);
});

test('arm64 core header: a 52-bit kernel on a 48-bit CPU (PHYS_OFFSET shifted below 0) gives the same linear p_vaddr, wrapped modulo 2^64', () => {
  const physOffset = (PHYS_OFFSET - 0xf000000000000n) & ((1n << 64n) - 1n); // memstart_addr -= _PAGE_OFFSET(48) - _PAGE_OFFSET(52)
  const pageOffset52 = (1n << 64n) - (1n << 52n);
  const delta = (pageOffset52 - physOffset) & ((1n << 64n) - 1n);
  assert.equal(delta, PAGE_OFFSET - PHYS_OFFSET);
  const h = buildCoreHeader({ machine: EM_AARCH64, cpuNotes: [], ram: [{ start: 0x7ac00000n, end: 0x7fffffffn }], pageOffset: (pageOffset52 - physOffset) & ((1n << 64n) - 1n) });
  assert.equal(h.phdrs[0]!.vaddr, 0xffff00003ac00000n);
  // a delta that wraps past 2^64 stays a 64-bit address
  const wrap = buildCoreHeader({ machine: EM_AARCH64, cpuNotes: [], ram: [{ start: 0x80000000n, end: 0x80000fffn }], pageOffset: 0xffffffffc0000000n });
  assert.equal(wrap.phdrs[0]!.vaddr, 0x40000000n);
});

test('arm64 core header: dump RAM keeps [0, 1 MiB) on arm64 (x86_64 leaves it out)', () => {
  const ram = [{ start: 0n, end: 0x3fffffffn }];
  const crash = [{ start: 0x20000000n, end: 0x2fffffffn }];
  assert.deepEqual(dumpRamRanges(ram, crash, 'arm64'), [{ start: 0n, end: 0x1fffffffn }, { start: 0x30000000n, end: 0x3fffffffn }]);
  assert.equal(dumpRamRanges(ram, crash, 'x86_64')[0]!.start, 0x100000n);
});

const purgatory = arm64PurgatoryObject();

test('kexec-ts -p -d --dry-run --root (arm64 Image, arm64 machine tree, any host): the core header is arm64\'s, named by linux,elfcorehdr in the DTB with linux,usable-memory-range; without --dtb the machine\'s sys/firmware/fdt', { skip: !purgatory && 'no arm64 purgatory (build or llvm-mc)' }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'arm64-root-'));
  try {
    const put = (p: string, data: string | Uint8Array) => {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), data);
    };
    put('proc/iomem', recordedIomem());
    put('sys/kernel/vmcoreinfo', VMCOREINFO);
    for (const c of CPUS) {
      put(`${c.dir.slice(1)}/crash_notes`, c.notes);
      put(`${c.dir.slice(1)}/crash_notes_size`, c.size);
    }
    put('proc/kallsyms', `${TEXT.toString(16)} T _text\n${STEXT.toString(16)} T _stext\n${(TEXT + IMAGE_SIZE).toString(16)} B _end\n`);
    put('kexec/Image', recordedImage());
    put('kexec/virt.dtb', recordedFdt());
    // Without --dtb the dry run takes the machine's own tree (--root's sys/firmware/fdt), as the load would.
    const noDtb = { kernel: join(root, 'kexec/Image'), kind: 'crash' as const, syscall: 'load' as const, cmdline: 'console=ttyAMA0 kexec-ts=crash', dryRun: true, machine: { root } };
    await assert.rejects(planKernelLoad(noDtb), /arm64 needs a device tree and none was found/);
    put('sys/firmware/fdt', recordedFdt());
    const fromFirmware = await planKernelLoad(noDtb);
    assert.ok(getProp(findNode(parseFdt(fromFirmware.plan.segments.find((s) => s.what === 'dtb')!.buf), '/chosen')!, 'linux,elfcorehdr'), 'the firmware tree, with the capture properties added');
    const p = await planKernelLoad({ ...noDtb, dtb: join(root, 'kexec/virt.dtb') });
    assert.equal(p.plan.arch, 'arm64');
    const text = await dryRunText(p, { debug: true });
    assert.deepEqual(text.split('\n').filter((l) => l.startsWith('Elf header: p_type = 4')), theirs('Elf header: p_type = 4'));
    assert.match(text, /^load_crashdump_segments: elfcorehdr 0x7abff000-0x7abff\w+$/m);
    assert.doesNotMatch(text, /elfcorehdr=/, 'arm64: no elfcorehdr= on the command line');
    const hdr = p.plan.segments.find((s) => s.what === 'ELF core header')!;
    assert.equal(readStruct(Elf64Ehdr, hdr.buf).machine, EM_AARCH64);
    const dtb = parseFdt(p.plan.segments.find((s) => s.what === 'dtb')!.buf);
    const chosen = findNode(dtb, '/chosen')!;
    assert.deepEqual(decodeReg(getProp(chosen, 'linux,elfcorehdr')!, 2, 2, 'elfcorehdr').map((r) => [r.address, r.size]), [[hdr.mem, BigInt(hdr.buf.length)]]);
    assert.deepEqual(decodeReg(getProp(chosen, 'linux,usable-memory-range')!, 2, 2, 'usable').map((r) => [r.address, r.size]), [[0x6ac00000n, 0x10000000n]]);
    assert.equal(p.plan.cmdline, 'console=ttyAMA0 kexec-ts=crash');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('kdump-ts estimate on arm64: the kernel line is the Image header\'s text_offset + image_size (bzImage: init_size); anything else is a ParseError', async () => {
  const { kernelMemorySize } = await import('../../src/kdump/estimate.ts');
  assert.equal(kernelMemorySize(recordedImage()), IMAGE_SIZE); // text_offset 0, image_size 0x1aa0000
  const { gzipSync } = await import('node:zlib');
  assert.equal(kernelMemorySize(new Uint8Array(gzipSync(recordedImage().subarray(0, 0x10000)))), IMAGE_SIZE, 'a gzip-compressed Image');
  assert.throws(() => kernelMemorySize(new Uint8Array(4096), 'vmlinuz'), /neither an x86 bzImage nor an arm64 Image/);
});

test('kdump-ts status: an arm64 capture kernel (Image) makes the core header arm64\'s: linear offset from kcore rules, RAM with the low 1 MiB, printed as the linear map', async () => {
  const { fakeRoot } = await import('./fake-root.ts');
  const { readStatus } = await import('../../src/host/kdump-service.ts');
  const iomem = recordedIomem();
  const root = fakeRoot({
    '/proc/iomem': iomem,
    '/proc/sys/kernel/osrelease': '6.1.0-50-cloud-arm64\n',
    '/boot/vmlinuz-6.1.0-50-cloud-arm64': recordedImage(),
    '/sys/kernel/vmcoreinfo': VMCOREINFO,
    ...Object.fromEntries(CPUS.flatMap((c) => [[`${c.dir}/crash_notes`, c.notes], [`${c.dir}/crash_notes_size`, c.size]])),
  });
  try {
    const s = readStatus(root);
    assert.equal(s.coreHeader.arch, 'arm64');
    assert.equal(s.coreHeader.cpuNotes, 2);
    // 1 GiB of RAM at 0x40000000 minus the 256 MiB crash region: nothing cut below 1 MiB of it
    assert.equal(s.wouldSave.ramBytes, 0x30000000);
    const { formatStatus } = await import('../../src/cli/kdump-print.ts');
    assert.match(formatStatus(s), /core header: +2 CPU notes, VMCOREINFO, .*linear map pa \+ /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

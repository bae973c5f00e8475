// The crash load planned for the fixture machine (fixtures/x86_64-debian-6.1/guest-probe.txt), checked
// against what kexec-tools 2.0.25 did on the same machine (`kexec -d -c -p`, recorded in the probe).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferSource } from '../../src/io/source.ts';
import { readElfHeader, readProgramHeaders, ET_CORE, EM_X86_64, PT_LOAD, PT_NOTE } from '../../src/format/elf.ts';
import { parseIomem, E820_TYPE } from '../../src/kexec/memory-map.ts';
import { SegmentAllocator } from '../../src/kexec/plan.ts';
import { planCrashLoad, coreHeaderDebugLines } from '../../src/kdump/crash-load.ts';
import type { CrashFacts } from '../../src/kdump/crash-load.ts';
import { readCrashFacts } from '../../src/host/crash-facts.ts';
import { parseVmcoreinfoFile } from '../../src/kdump/crash-facts.ts';

const probe = readFileSync('fixtures/x86_64-debian-6.1/guest-probe.txt', 'latin1');
function section(name: string): string {
  const m = new RegExp(`^===${name}\\n([\\s\\S]*?)^===`, 'm').exec(probe);
  assert.ok(m, `section ${name} in guest-probe.txt`);
  return m[1]!;
}
const kexecP = section('KEXEC_P');
/** kexec-tools' lines for one kind of program header. */
const kexecLines = (prefix: string) => kexecP.split('\n').filter((l) => l.startsWith(prefix));

function fixtureFacts(): CrashFacts {
  const cpuNotes = section('CRASHNOTES')
    .trim()
    .split('\n')
    .map((l) => {
      const [dir, addr, size] = l.split(' ');
      return { cpu: Number(/cpu(\d+)$/.exec(dir!)![1]), addr: BigInt('0x' + addr), size: BigInt(size!) };
    });
  // kexec-tools read these two from /proc/kcore in the guest and printed them; the probe has no kcore.
  const text = /kernel vaddr = (0x[0-9a-f]+) size = (0x[0-9a-f]+)/.exec(kexecP)!;
  const ramVaddr = /p_offset = 0x100000 p_paddr = 0x100000 p_vaddr = (0x[0-9a-f]+)/.exec(kexecP)!;
  return {
    iomem: parseIomem(section('IOMEM')),
    cpuNotes,
    vmcoreinfo: parseVmcoreinfoFile(section('VMCOREINFO')),
    kernelText: { vaddr: BigInt(text[1]!), paddr: 0x18200000n, size: BigInt(text[2]!) },
    pageOffset: BigInt(ramVaddr[1]!) - 0x100000n,
    acpiRsdp: 0xf59d0n, // the guest's boot_params.acpi_rsdp_addr (kexec-tools appended acpi_rsdp=0xf59d0)
  };
}

function planFixture() {
  const load = planCrashLoad(fixtureFacts());
  const alloc = new SegmentAllocator(load.hook.region);
  const added = load.hook.addSegments(alloc);
  return { load, alloc, added };
}

test('crash load on the fixture machine: region is the "Crash kernel" reservation kexec-tools used', () => {
  const { load } = planFixture();
  assert.deepEqual(load.hook.region, [{ start: 0x2e000000n, end: 0x3dffffffn }]);
});

test('crash load on the fixture machine: PT_NOTEs equal kexec-tools (per-CPU crash_notes, VMCOREINFO)', () => {
  const { load } = planFixture();
  const ours = coreHeaderDebugLines(load.placed!.header);
  const theirsCpu = kexecLines('Elf header: p_type = 4');
  assert.equal(theirsCpu.length, 2);
  assert.deepEqual(ours.filter((l) => l.startsWith('Elf header: p_type = 4')), theirsCpu);
  assert.deepEqual(ours.filter((l) => l.startsWith('vmcoreinfo header')), kexecLines('vmcoreinfo header'));
  assert.deepEqual(ours.filter((l) => l.startsWith('Kernel text')), kexecLines('Kernel text Elf header'));
});

test('crash load on the fixture machine: RAM PT_LOADs are kexec-tools\' minus the low 640 KiB backup range', () => {
  const { load } = planFixture();
  const ours = coreHeaderDebugLines(load.placed!.header).filter((l) => l.startsWith('Elf header: p_type = 1'));
  const theirs = kexecLines('Elf header: p_type = 1');
  // kexec-tools 2.0.25 dumps 0x1000-0x9fbff from a 640 KiB backup segment its purgatory fills at crash
  // time (p_offset = backup segment). We follow the kernel's own kexec_file path instead: Linux >= 5.7
  // reserves the low 1 MiB when crashkernel= is given, so [0, 1 MiB) holds nothing of the crashed
  // kernel; it is left out of the dump and handed to the capture kernel as RAM. Same regions otherwise.
  assert.equal(theirs.length, 3);
  assert.match(theirs[0]!, /p_paddr = 0x1000 /);
  assert.deepEqual(ours, theirs.slice(1));
  assert.deepEqual(load.dumpRam, [
    { start: 0x100000n, end: 0x2dffffffn },
    { start: 0x3e000000n, end: 0x3ffdffffn },
  ]);
});

test('crash load on the fixture machine: the header parses back with src/format/elf.ts', () => {
  const { load } = planFixture();
  const src = new BufferSource(load.placed!.header.bytes, 'elfcorehdr');
  const eh = readElfHeader(src);
  assert.equal(eh.class, 64);
  assert.equal(eh.type, ET_CORE);
  assert.equal(eh.machine, EM_X86_64);
  const ph = readProgramHeaders(src, eh);
  assert.deepEqual(
    ph.map((p) => p.type),
    [PT_NOTE, PT_NOTE, PT_NOTE, PT_LOAD, PT_LOAD, PT_LOAD],
  );
  assert.equal(ph[0]!.paddr, 0x3e039400n);
  assert.equal(ph[0]!.filesz, 0x170);
  assert.equal(ph[5]!.vaddr, 0xff1718ae7e000000n); // same p_vaddr kexec-tools wrote for 0x3e000000
  assert.equal(load.placed!.header.bytes.length, 64 + 6 * 56);
});

test('crash load on the fixture machine: header segment inside the crash region, cmdline additions like kexec-tools', () => {
  const { alloc, added } = planFixture();
  const segs = alloc.segments;
  assert.equal(segs.length, 1);
  const seg = segs[0]!;
  // kexec-tools put its backup segment at the top (0x3df61000) and the header below it, 16 KiB
  // (0x3df5d000); with no backup segment and a page-rounded header ours is the top page.
  assert.equal(seg.mem, 0x3dfff000n);
  assert.equal(seg.memsz, 0x1000n);
  assert.match(kexecP, /Created elf header segment at 0x3df5d000/);
  // kexec-tools: "... acpi_rsdp=0xf59d0 elfcorehdr=1015156K" (0x3df5d000 / 1024).
  assert.match(kexecP, / acpi_rsdp=0xf59d0 elfcorehdr=1015156K\n/);
  assert.equal(added.cmdlineAppend, `acpi_rsdp=0xf59d0 elfcorehdr=${0x3dfff000 / 1024}K`);
});

test('crash load on the fixture machine: capture e820 equals kexec-tools\' except around its own segments', () => {
  const { added } = planFixture();
  const e820Block = /E820 memmap:\n((?:[0-9a-f]{16}-[0-9a-f]{16} \(\d+\)\n)+)/.exec(kexecP)![1]!;
  const theirs = e820Block.trim().split('\n');
  const ours = added.e820!.map(
    (r) => `${r.start.toString(16).padStart(16, '0')}-${r.end.toString(16).padStart(16, '0')} (${E820_TYPE[r.type]})`,
  );
  // kexec-tools cut its backup segment (0x3df61000-0x3dfffbff) and its 16 KiB header
  // (0x3df5d000-0x3df60fff) out of the crash region; we cut only our header page (0x3dfff000-0x3dffffff).
  const crashTheirs = ['000000002e000000-000000003df5cfff (1)', '000000003dfffc00-000000003dffffff (1)'];
  const crashOurs = ['000000002e000000-000000003dffefff (1)'];
  assert.deepEqual(
    ours.filter((l) => !crashOurs.includes(l)),
    theirs.filter((l) => !crashTheirs.includes(l)),
  );
  for (const l of crashOurs) assert.ok(ours.includes(l), l);
});

test('crash load through the bzImage64 loader on the fixture machine: kexec-tools\' segments minus the backup, all in the crash region', async (t) => {
  const { bzImage64Loader } = await import('../../src/kexec/arch/x86_64/bzimage64.ts');
  const { memoryMapFromFirmware, parseMemmapListing } = await import('../../src/kexec/memory-map.ts');
  const { validatePlan } = await import('../../src/kexec/plan.ts');
  const { readPurgatoryObject } = await import('../../src/host/purgatory-file.ts');
  const { fakeBzImage, FIXTURE_KERNEL } = await import('../kexec/synthetic.ts');
  const { kexecDebugSegments } = await import('../kexec/fixture.ts');
  const purgatory = readPurgatoryObject();
  if (!purgatory) return t.skip('no purgatory object: run node scripts/build.mjs');
  const load = planCrashLoad(fixtureFacts());
  const plan = bzImage64Loader.plan({
    image: fakeBzImage(FIXTURE_KERNEL),
    imageName: 'vmlinuz',
    initrd: new Uint8Array(0xddc549),
    cmdline: 'console=ttyS0 stage=capture irqpoll nr_cpus=1 reset_devices',
    kind: 'crash',
    memory: memoryMapFromFirmware(parseMemmapListing(section('MEMMAP')), section('IOMEM')),
    purgatory,
    host: { rngSeed: new Uint8Array(32) },
    crash: load.hook,
  });
  validatePlan(plan, { crashRegion: load.hook.region });
  assert.equal(plan.flags, 0x3e0001n); // KEXEC_ARCH_X86_64 | KEXEC_ON_CRASH, as kexec-tools
  const theirs = kexecDebugSegments(kexecP);
  assert.equal(theirs.length, 7);
  const ours = plan.segments;
  assert.deepEqual(ours.map((s) => s.what), ['setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory', 'ELF core header']);
  // Same bottom-up RNG seed at the start of the crash region; same sizes for initrd, kernel, boot params.
  assert.equal(ours[0]!.mem, theirs[0]!.mem);
  for (const i of [1, 2, 3]) {
    assert.equal(ours[i]!.memsz, theirs[i]!.memsz, ours[i]!.what);
    assert.equal(BigInt(ours[i]!.buf.length), theirs[i]!.bufsz, ours[i]!.what);
  }
  // Everything else sits higher by what we do not use: no 0x9f000 backup segment, a 0x1000 header
  // instead of kexec-tools' 16 KiB, and a 0x3000 purgatory instead of 0x9000 (see test/kexec).
  const saved = theirs[6]!.memsz + (theirs[5]!.memsz - ours[5]!.memsz) + (theirs[4]!.memsz - ours[4]!.memsz);
  assert.equal(ours[3]!.mem, theirs[3]!.mem + saved);
  assert.equal(ours[5]!.mem + ours[5]!.memsz, 0x3e000000n);
  // The kernel and initrd: top-down under the boot params, kernel 2 MiB aligned.
  assert.equal(ours[2]!.mem, ((ours[3]!.mem - ours[2]!.memsz) / 0x200000n) * 0x200000n);
  assert.equal(ours[1]!.mem, ours[2]!.mem - ours[1]!.memsz);
  for (const s of ours) assert.ok(s.mem >= 0x2e000000n && s.mem + s.memsz <= 0x3e000000n, s.what);
  assert.ok(plan.entry >= ours[4]!.mem && plan.entry < ours[4]!.mem + ours[4]!.memsz);
  // Command line: the user's, then what the crash hook adds — as kexec-tools.
  assert.equal(plan.cmdline, `console=ttyS0 stage=capture irqpoll nr_cpus=1 reset_devices acpi_rsdp=0xf59d0 elfcorehdr=${0x3dfff000 / 1024}K`);
  // The zero page's e820 is the capture map (printed like kexec-tools' "E820 memmap:").
  const e820 = plan.debug.slice(plan.debug.indexOf('E820 memmap:') + 1).filter((l) => /^[0-9a-f]{16}-/.test(l));
  assert.ok(e820.includes('000000002e000000-000000003dffefff (1)'), e820.join('\n'));
  assert.ok(!e820.some((l) => l.startsWith('0000000000100000')), 'the crashed kernel\'s RAM is not in the capture map');
});

test('crash load with crashkernel=,high and ,low: segments in the high region, the low part is capture RAM and not dumped', () => {
  const iomem = parseIomem(
    [
      '00000000-00000fff : Reserved',
      '00001000-0009efff : System RAM',
      '000f0000-000fffff : Reserved',
      '00100000-7ffdffff : System RAM',
      '  01000000-01ffffff : Kernel code',
      '  70000000-77ffffff : Crash kernel',
      '7ffe0000-7fffffff : ACPI Tables',
      '100000000-47fffffff : System RAM',
      '  440000000-47fffffff : Crash kernel',
    ].join('\n'),
  );
  const load = planCrashLoad({ iomem, cpuNotes: [{ cpu: 0, addr: 0x43e000000n, size: 0x170n }], pageOffset: 0xffff888000000000n });
  assert.deepEqual(load.hook.region, [{ start: 0x440000000n, end: 0x47fffffffn }]);
  assert.deepEqual(load.dumpRam, [
    { start: 0x100000n, end: 0x6fffffffn },
    { start: 0x78000000n, end: 0x7ffdffffn },
    { start: 0x100000000n, end: 0x43fffffffn },
  ]);
  const added = load.hook.addSegments(new SegmentAllocator(load.hook.region));
  assert.equal(load.placed!.addr, 0x47ffff000n);
  assert.deepEqual(
    added.e820!.map((r) => [r.start, r.end, r.type]),
    [
      [0x0n, 0xfffn, 'reserved'],
      [0x1000n, 0x9efffn, 'ram'],
      [0xf0000n, 0xfffffn, 'reserved'],
      [0x70000000n, 0x77ffffffn, 'ram'],
      [0x7ffe0000n, 0x7fffffffn, 'acpi'],
      [0x440000000n, 0x47fffefffn, 'ram'],
    ],
  );
  assert.equal(added.cmdlineAppend, `elfcorehdr=${0x47ffff000n / 1024n}K`);
  // No VMCOREINFO or kernel text facts: the header still has the CPU note and the RAM.
  assert.equal(load.placed!.header.phdrs.length, 1 + 3);
});

test('crash load refuses without a reservation or without CPU notes, in one line with what to do', () => {
  const noCrash = parseIomem('00100000-7ffdffff : System RAM\n');
  assert.throws(() => planCrashLoad({ iomem: noCrash, cpuNotes: [{ cpu: 0, addr: 0x1000n, size: 0x170n }] }), /no memory is reserved for a crash kernel/);
  const iomem = parseIomem('00100000-7ffdffff : System RAM\n  70000000-77ffffff : Crash kernel\n');
  assert.throws(() => planCrashLoad({ iomem, cpuNotes: [] }), /no CPU crash notes/);
});

test('crash facts on a UEFI machine: the RSDP for acpi_rsdp= comes from the EFI systab when boot_params has none', () => {
  // The recorded OVMF guest (fixtures/x86_64-debian-6.1-uefi): a 6.1 kernel started through the EFI
  // stub leaves boot_params.acpi_rsdp_addr 0; kexec-tools then takes systab's ACPI20=.
  const rec = 'fixtures/x86_64-debian-6.1-uefi/first';
  const root = mkdtempSync(join(tmpdir(), 'kdump-root-'));
  try {
    mkdirSync(join(root, 'proc'), { recursive: true });
    mkdirSync(join(root, 'sys/kernel/boot_params'), { recursive: true });
    mkdirSync(join(root, 'sys/firmware'), { recursive: true });
    cpSync(join(rec, 'iomem.txt'), join(root, 'proc/iomem'));
    cpSync(join(rec, 'boot_params.bin'), join(root, 'sys/kernel/boot_params/data'));
    cpSync(join(rec, 'efi'), join(root, 'sys/firmware/efi'), { recursive: true });
    assert.equal(readCrashFacts(root).acpiRsdp, 0x3fb7e014n);
    rmSync(join(root, 'sys/firmware/efi'), { recursive: true });
    assert.equal(readCrashFacts(root).acpiRsdp, undefined, 'no EFI tree and no boot_params RSDP: no acpi_rsdp=');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

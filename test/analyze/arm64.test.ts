// src/analyze/arch/arm64/: the arm64 row of the architecture table, on real data where it is small
// (fixtures/arm64/vmcore/: the notes and the pages `info`, `dmesg` and `regs` read of QEMU dumps of
// Debian's bookworm 6.1 (48-bit VA) and trixie 6.12 (52-bit VA, LPA2) arm64 kernels, with drgn's
// kernel log as the oracle) and on synthetic page tables and stacks for the walks' rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { archOf } from '../../src/analyze/arch/arch.ts';
import { arm64 } from '../../src/analyze/arch/arm64/arch.ts';
import { Arm64PageTables, arm64Levels } from '../../src/analyze/arch/arm64/paging.ts';
import { callSite, frameRecordSet, isExceptionEntry, stripPac, unwindArm64 } from '../../src/analyze/arch/arm64/unwind.ts';
import { ARM64_REGS } from '../../src/analyze/arch/arm64/regs.ts';
import { x86_64 } from '../../src/analyze/arch/x86_64/arch.ts';
import type { Symbolizer } from '../../src/analyze/arch/arch.ts';
import { findBtfHeader } from '../../src/analyze/btf.ts';
import { dumpIdentity } from '../../src/analyze/dump-identity.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { formatLog } from '../../src/analyze/printk.ts';
import { systemInfo } from '../../src/analyze/system-info.ts';
import { NotInDumpError, ParseError } from '../../src/errors.ts';
import type { Dump } from '../../src/format/dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSource } from '../../src/io/source.ts';

const DIR = new URL('../../fixtures/arm64/vmcore/', import.meta.url).pathname;
const fixture = (suite: string) => openDump(new BufferSource(gunzipSync(readFileSync(`${DIR}${suite}.elf.gz`)), `${suite}.elf`));

// trixie-cortex-a72: the 52-bit kernel on a CPU without LPA2 runs with 48-bit VA; the kernel shifts
// PHYS_OFFSET (memstart_addr) so that its VA_BITS=52 PAGE_OFFSET still gives the linear map.
const REAL = [
  { suite: 'bookworm', release: '6.1.0-50-cloud-arm64', levels: 4, vaBits: 48, kaslr: 0x50bb53200000n, physOffset: 0x40000000n, directMap: 0xfffeffffc0000000n, crashCpu: 1 },
  { suite: 'trixie', release: '6.12.117+deb13-cloud-arm64', levels: 5, vaBits: 52, kaslr: 0x1e5957a00000n, physOffset: 0x40000000n, directMap: 0xffefffffc0000000n, crashCpu: 0 },
  { suite: 'trixie-cortex-a72', release: '6.12.117+deb13-cloud-arm64', levels: 4, vaBits: 48, kaslr: 0x4df1ee600000n, physOffset: 0xfff0c88e00000000n, directMap: 0xffff377200000000n, crashCpu: 1 },
];

for (const r of REAL) {
  test(`arm64 ${r.suite} (QEMU dump, ${r.vaBits}-bit VA): chosen by ELF machine 183; info reads utsname, ${r.levels} page-table levels, KASLR and the linear map from VMCOREINFO; dmesg equals drgn's get_dmesg`, () => {
    const kd = new KernelDump(fixture(r.suite));
    assert.equal(kd.arch, arm64);
    const s = systemInfo(kd);
    assert.equal(s.release, r.release);
    assert.equal(s.machine, 'aarch64');
    assert.equal(s.kernel.pagingLevels, r.levels);
    assert.equal(BigInt(s.kernel.kaslrOffset ?? 0), r.kaslr);
    assert.equal(s.kernel.physBase, r.physOffset);
    assert.equal(kd.memory.directMap()?.base, r.directMap);
    assert.equal(kd.memory.directMap()?.source, 'VMCOREINFO');
    // The linear map by PHYS_OFFSET agrees with the kernel's page tables (utsname's page, read by both).
    const uts = kd.info.symbol('init_uts_ns')!;
    const pa = kd.memory.virtToPhys(uts);
    assert.equal(kd.memory.pageTables.translate(r.directMap + pa).paddr, pa, 'linear-map walk = PHYS_OFFSET arithmetic');
    assert.equal(s.panicMessage, 'Kernel panic - not syncing: sysrq triggered crash');
    assert.equal(s.crashingCpu, r.crashCpu);
    assert.equal(s.pid, 1, 'the panic line\'s pid, not QEMU\'s per-CPU pr_pid');
    assert.equal(formatLog(kd.log), readFileSync(`${DIR}${r.suite}-drgn-dmesg.txt`, 'latin1'));
  });

  test(`arm64 ${r.suite}: NT_PRSTATUS gives both CPUs' x0-x30, sp, pc, pstate (EL1h), pc/sp as the arch-neutral fields; the register block prints PC, LR, SP, PSTATE, X29..X0`, () => {
    const kd = new KernelDump(fixture(r.suite));
    assert.equal(kd.cpus.length, 2);
    for (const c of kd.cpus) {
      assert.deepEqual(Object.keys(c.regs), [...ARM64_REGS]);
      assert.equal(c.pc, c.regs.pc);
      assert.equal(c.sp, c.regs.sp);
      assert.equal(c.regs.pstate! & 0xfn, 5n, 'EL1h');
      assert.equal(arm64.isUserMode(c.regs), false);
      assert.ok(c.pc >= arm64.kernelMap, 'pc in the kernel image');
    }
    const lines = arm64.formatRegs(kd.cpus[0]!.regs, '    ');
    assert.equal(lines.length, 11);
    assert.match(lines[0]!, /^ {5}PC: [0-9a-f]{16} {3}LR: [0-9a-f]{16} {3}SP: [0-9a-f]{16} {2}PSTATE: [0-9a-f]{8}$/);
    assert.match(lines[1]!, /^ {4}X29: [0-9a-f]{16} {2}X28: [0-9a-f]{16} {2}X27: /);
    assert.match(lines[10]!, /^ {5}X2: [0-9a-f]{16} {3}X1: [0-9a-f]{16} {3}X0: [0-9a-f]{16}$/);
  });
}

const dumpWith = (machine: string | number | undefined, vmcoreinfo?: string) => ({ header: { machine }, vmcoreinfo, source: { name: 'fake.vmcore' } }) as unknown as Dump;

test("arm64: archOf takes aarch64/arm64 names and ELF machine 183; QEMU's kdump header machine 'Unknown' by VMCOREINFO's kimage_voffset; other machines stay one clear error", () => {
  assert.equal(archOf(dumpWith('aarch64')), arm64);
  assert.equal(archOf(dumpWith('arm64')), arm64);
  assert.equal(archOf(dumpWith(183)), arm64);
  assert.equal(archOf(dumpWith('Unknown', 'OSRELEASE=6.1\nNUMBER(kimage_voffset)=0xffffd0bb1b000000\n')), arm64);
  assert.equal(archOf(dumpWith('Unknown', 'OSRELEASE=6.1\nSYMBOL(init_top_pgt)=ffffffff8c00a000\n')), x86_64);
  assert.throws(() => archOf(dumpWith('ppc64le')), (e: unknown) => e instanceof ParseError && /^the dump's kernel is ppc64le: analysis reads x86_64 and aarch64 kernels only$/.test(e.message));
});

test('arm64: imageLayout needs kimage_voffset, PHYS_OFFSET and VA_BITS (named when missing); 16/64 KiB pages are refused by name', async () => {
  const { VmcoreInfo } = await import('../../src/analyze/vmcoreinfo.ts');
  const info = (t: string) => new VmcoreInfo(t);
  const ok = info('PAGESIZE=4096\nNUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffffd0bb1b000000\nNUMBER(PHYS_OFFSET)=0x40000000\n');
  const l = arm64.imageLayout(ok, {});
  assert.equal(l.imageToPhys(0xffffd0bb5c57b000n), 0x4157b000n, 'swapper_pg_dir: va - kimage_voffset');
  assert.equal(l.directMapBase, 0xffff000000000000n - 0x40000000n);
  assert.equal(l.imageFastPath, undefined);
  assert.throws(() => arm64.imageLayout(info('PAGESIZE=4096\nNUMBER(VA_BITS)=48\nNUMBER(PHYS_OFFSET)=0x40000000\n'), {}), /NUMBER\(kimage_voffset\)/);
  assert.throws(() => arm64.imageLayout(info('PAGESIZE=65536\nNUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0x1\nNUMBER(PHYS_OFFSET)=0x0\n'), {}), /64 KiB pages: analysis reads the 4 KiB granule only/);
});

/** Physical memory of 4 KiB tables: table(pa) sets entries. */
function physTables() {
  const pages = new Map<bigint, BigUint64Array>();
  return {
    set(pa: bigint, index: number, entry: bigint) {
      let t = pages.get(pa);
      if (!t) pages.set(pa, (t = new BigUint64Array(512)));
      t[index] = entry;
    },
    readPhys(pa: bigint, length: number): Uint8Array {
      const t = pages.get(pa & ~0xfffn);
      if (!t) throw new NotInDumpError(pa, true, 'hole');
      return new Uint8Array(t.buffer).slice(Number(pa & 0xfffn), Number(pa & 0xfffn) + length);
    },
  };
}

test('arm64 paging: levels by VA size (39: 3, 48: 4, 52: 5); a 48-bit walk through PGD/PUD/PMD/PTE, a 2 MiB block, an invalid entry (unmapped, named) and a user-half address', () => {
  assert.deepEqual([39, 42, 48, 52].map(arm64Levels), [3, 4, 4, 5]);
  const m = physTables();
  const va = 0xffff800012345678n;
  const idx = (shift: bigint, bits = 9n) => Number((va >> shift) & ((1n << bits) - 1n));
  m.set(0x1000n, idx(39n), 0x2000n | 3n);
  m.set(0x2000n, idx(30n), 0x3000n | 3n);
  m.set(0x3000n, idx(21n), 0x4000n | 3n);
  m.set(0x4000n, idx(12n), 0x0000_0000_8765_4000n | 0x700n | 3n); // AF, SH bits 9:8 = 3: not address bits without LPA2
  const block = va + (1n << 21n); // next PMD entry: a 2 MiB block
  m.set(0x3000n, idx(21n) + 1, 0x0000_0000_4020_0000n | 0x701n);
  const pt = new Arm64PageTables(m, 0x1000n, 48, false); // reads (and caches) whole tables
  assert.equal(pt.levels, 4);
  assert.deepEqual(pt.translate(va), { paddr: 0x87654678n, pageSize: 4096n });
  assert.deepEqual(pt.translate(block + 0x1234n), { paddr: 0x40200000n + ((block + 0x1234n) & 0x1fffffn), pageSize: 0x200000n });
  assert.throws(() => pt.translate(va + (2n << 21n)), (e: unknown) => e instanceof NotInDumpError && e.reason === 'unmapped' && /PMD entry 0x0 not valid/.test(e.message));
  assert.throws(() => pt.translate(0x0000800012345678n), /user-half address for a 48-bit kernel/);
  assert.deepEqual(pt.lowestMapped(0xffff800000000000n, 0xffffffffffffffffn), { vaddr: va & ~0xfffn, paddr: 0x87654000n });
});

test('arm64 paging: 52-bit VA with LPA2 walks 5 levels (a 16-entry top table) and takes output-address bits 51:50 from descriptor bits 9:8', () => {
  const m = physTables();
  const va = 0xfff0123456789abcn;
  const idx = (shift: bigint, bits = 9n) => Number((va >> shift) & ((1n << bits) - 1n));
  m.set(0x10000n, idx(48n, 4n), 0x11000n | 3n);
  m.set(0x11000n, idx(39n), 0x12000n | 3n);
  m.set(0x12000n, idx(30n), 0x13000n | 3n);
  m.set(0x13000n, idx(21n), 0x14000n | 3n);
  m.set(0x14000n, idx(12n), 0x0003_0000_0040_0000n | (2n << 8n) | 0x403n); // OA[49:12] + OA[51:50] = 0b10
  const pt = new Arm64PageTables(m, 0x10000n, 52, true);
  assert.equal(pt.levels, 5);
  assert.equal(pt.translate(va).paddr, 0x000b_0000_0040_0000n | (va & 0xfffn));
  assert.ok(pt.isKernelAddress(0xfff0000000000000n) && !pt.isKernelAddress(0xffe0000000000000n));
});

test('arm64: PAC bits stripped from return addresses (kernel: top bits set back, by bit 55; user: cleared); call sites name a return address by pc - 1', () => {
  const mask = 0xffff000000000000n;
  assert.equal(stripPac(0x12b5d0bb5b9d4804n, mask), 0xffffd0bb5b9d4804n);
  assert.equal(stripPac(0xffffd0bb5b9d4804n, mask), 0xffffd0bb5b9d4804n);
  assert.equal(stripPac(0x003000000041e5e0n, mask), 0x41e5e0n);
  assert.equal(stripPac(0x12b5d0bb5b9d4804n, 0n), 0x12b5d0bb5b9d4804n);
  const sym: Symbolizer = { symbolize: (a) => (a < 0x2000n ? { name: 'sysrq_handle_crash', offset: a - 0x1000n } : { name: 'next_function', offset: a - 0x2000n }) };
  assert.deepEqual(callSite(sym, 0x2000n), { name: 'sysrq_handle_crash', offset: 0x1000n }, 'a noreturn call at the end of a function');
  assert.ok(isExceptionEntry('el1h_64_irq') && isExceptionEntry('el0t_64_sync') && isExceptionEntry('el1_irq') && !isExceptionEntry('el1_interrupt') && !isExceptionEntry(undefined));
});

/** Sparse kernel memory: u64 words and 32-bit instructions. */
function fakeMemory() {
  const bytes = new Map<bigint, Uint8Array>();
  const page = (a: bigint, create: boolean) => {
    let p = bytes.get(a & ~0xfffn);
    if (!p && create) bytes.set(a & ~0xfffn, (p = new Uint8Array(4096)));
    return p;
  };
  return {
    u64(a: bigint, v: bigint) {
      new DataView(page(a, true)!.buffer).setBigUint64(Number(a & 0xfffn), v, true);
    },
    u32(a: bigint, v: number) {
      new DataView(page(a, true)!.buffer).setUint32(Number(a & 0xfffn), v, true);
    },
    readVirt(a: bigint, n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const p = page(a + BigInt(i), false);
        if (!p) throw new NotInDumpError(a + BigInt(i), false, 'unmapped');
        out[i] = p[Number((a + BigInt(i)) & 0xfffn)]!;
      }
      return out;
    },
  };
}

const NOP = 0xd503201f;
const PACIASP = 0xd503233f;
const STP_FP_LR = 0xa9bf7bfd; // stp x29, x30, [sp, #-16]!
const MOV_FP_SP = 0x910003fd; // mov x29, sp

test('arm64 unwinder: a leaf at frame 0 continues through x30, frame records through x29 (PAC stripped), an EL1 exception through its pt_regs, the EL0 entry ends in user mode with the user registers', () => {
  const mem = fakeMemory();
  const K = 0xffff800080000000n;
  // functions: [start, name]; each 0x100 long
  const funcs: [bigint, string][] = [[K + 0x000n, 'leaf'], [K + 0x100n, 'caller'], [K + 0x200n, 'handler'], [K + 0x300n, 'el1h_64_irq'], [K + 0x400n, 'interrupted'], [K + 0x500n, 'syscall'], [K + 0x600n, 'el0t_64_sync']];
  const sym: Symbolizer = {
    symbolize: (a) => {
      const f = funcs.find(([s]) => a >= s && a < s + 0x100n);
      return f && { name: f[1], offset: a - f[0] };
    },
  };
  for (const [s, name] of funcs) {
    const code = name === 'leaf' ? [PACIASP, NOP, NOP, NOP] : [PACIASP, STP_FP_LR, MOV_FP_SP, NOP];
    code.forEach((w, i) => mem.u32(s + BigInt(i * 4), w));
  }
  const STACK = 0xffff800088000000n;
  const pac = (a: bigint) => (a & 0x0000ffffffffffffn) | 0x5a00000000000000n | (1n << 55n); // signed, bit 55 kept
  const STACKFRAME = 304; // offsetof(struct pt_regs, stackframe)
  // leaf (pc leaf+0x8, lr -> caller+0x20), fp -> caller's record
  mem.u64(STACK + 0x100n, STACK + 0x200n); // caller's record: prev fp = handler's
  mem.u64(STACK + 0x108n, pac(K + 0x224n)); // return into handler
  mem.u64(STACK + 0x200n, STACK + 0x1000n + BigInt(STACKFRAME)); // handler's record: prev fp = pt_regs.stackframe
  mem.u64(STACK + 0x208n, K + 0x364n); // return into el1h_64_irq
  // EL1 pt_regs at STACK + 0x1000: interrupted at interrupted+0x40 with its own frame record
  const regs1 = STACK + 0x1000n;
  mem.u64(regs1 + 29n * 8n, STACK + 0x2000n); // x29
  mem.u64(regs1 + 30n * 8n, K + 0x510n); // x30
  mem.u64(regs1 + 31n * 8n, STACK + 0x1f00n); // sp
  mem.u64(regs1 + 32n * 8n, K + 0x440n); // pc
  mem.u64(regs1 + 33n * 8n, 0x60000005n); // pstate EL1h
  mem.u64(STACK + 0x2000n, STACK + 0x2100n);
  mem.u64(STACK + 0x2008n, K + 0x5a0n); // return into syscall
  mem.u64(STACK + 0x2100n, STACK + 0x3000n + BigInt(STACKFRAME));
  mem.u64(STACK + 0x2108n, K + 0x618n); // return into el0t_64_sync
  const regs0 = STACK + 0x3000n; // EL0 pt_regs
  mem.u64(regs0 + 31n * 8n, 0xffffc000n);
  mem.u64(regs0 + 32n * 8n, 0x41e5c0n);
  mem.u64(regs0 + 33n * 8n, 0x80001000n); // EL0t
  const bt = unwindArm64({ mem, sym, pacMask: 0xffff000000000000n, ptRegsStackframe: STACKFRAME }, { pc: K + 0x8n, sp: STACK + 0xf0n, fp: STACK + 0x100n, lr: pac(K + 0x120n) });
  assert.deepEqual(bt.frames.map((f) => `${f.symbol?.name}+${f.symbol?.offset.toString(16)} ${f.method}`), [
    'leaf+8 registers',
    'caller+20 registers',
    'handler+24 frame pointer',
    'el1h_64_irq+64 frame pointer',
    'interrupted+40 registers',
    'syscall+a0 frame pointer',
    'el0t_64_sync+18 frame pointer',
  ]);
  assert.equal(bt.frames[3]!.regs?.pc, K + 0x440n, 'the exception frame carries its pt_regs');
  assert.equal(bt.stop, 'user mode');
  assert.equal(bt.error, false);
  assert.equal(bt.userRegs?.pc, 0x41e5c0n);
  // Without the pt_regs layout the walk stops at the exception, marked.
  const noBtf = unwindArm64({ mem, sym, pacMask: 0xffff000000000000n, ptRegsStackframe: undefined }, { pc: K + 0x8n, sp: STACK, fp: STACK + 0x100n, lr: K + 0x120n });
  assert.equal(noBtf.frames.length, 4);
  assert.match(noBtf.stop, /no struct pt_regs layout/);
  assert.equal(noBtf.error, true);
});

test('arm64 unwinder: the final frame record (fp 0) ends the walk; a looping record, a misaligned fp and a stack not in the dump stop it, marked', () => {
  const mem = fakeMemory();
  const K = 0xffff800080000000n;
  const sym: Symbolizer = { symbolize: (a) => ({ name: 'f', offset: a - K }) };
  [PACIASP, STP_FP_LR, MOV_FP_SP, NOP].forEach((w, i) => mem.u32(K + BigInt(i * 4), w));
  const S = 0xffff800088000000n;
  mem.u64(S, 0n);
  mem.u64(S + 8n, K + 0x10n);
  const ctx = { mem, sym, pacMask: 0n, ptRegsStackframe: 304 };
  const end = unwindArm64(ctx, { pc: K + 0x10n, sp: S, fp: S, lr: K });
  assert.equal(end.stop, 'end of stack');
  assert.equal(end.frames.length, 2);
  mem.u64(S + 0x20n, S + 0x20n);
  mem.u64(S + 0x28n, K + 0x10n);
  assert.match(unwindArm64(ctx, { pc: K + 0x10n, sp: S, fp: S + 0x20n }).stop, /loops/);
  assert.match(unwindArm64(ctx, { pc: K + 0x10n, sp: S, fp: S + 4n }).stop, /not 8-byte aligned/);
  const lost = unwindArm64(ctx, { pc: K + 0x10n, sp: S, fp: 0xffff800099000000n });
  assert.equal(lost.error, true);
  assert.equal(lost.notInDump, 'unmapped');
  assert.equal(frameRecordSet(mem, sym, K + 0xcn), true, 'after mov x29, sp');
  assert.equal(frameRecordSet(mem, sym, K + 0x4n), false, 'before it: the caller is in x30');
});

test('BTF: findBtfHeader finds a 4-byte-aligned vmlinux BTF header in kernel memory (magic, version 1, hdr_len 24, types then strings) and skips look-alikes', () => {
  const buf = new Uint8Array(4096);
  const dv = new DataView(buf.buffer);
  const put = (off: number, typeLen: number, strOff: number, strLen: number) => {
    dv.setUint16(off, 0xeb9f, true);
    buf[off + 2] = 1;
    dv.setUint32(off + 4, 24, true);
    dv.setUint32(off + 8, 0, true);
    dv.setUint32(off + 12, typeLen, true);
    dv.setUint32(off + 16, strOff, true);
    dv.setUint32(off + 20, strLen, true);
  };
  put(100, 64, 32, 16); // strings do not follow the types: not BTF
  put(400, 64, 64, 16);
  buf[400 + 24 + 64] = 0; // the string section starts with ""
  assert.deepEqual(findBtfHeader(buf), { offset: 400, size: 24 + 64 + 16 });
  assert.equal(findBtfHeader(buf.subarray(0, 300)), undefined);
});

test("arm64 save: what a saved dump records keeps the input's architecture (ELF e_machine 183 for an ELF output, utsname machine aarch64), x86_64's stays 62", () => {
  const arm = fixture('bookworm');
  const kd = new KernelDump(arm);
  const id = dumpIdentity(arm, kd.info, (va, n) => kd.memory.readVirt(va, n));
  assert.equal(id.elfMachine, 183);
  assert.equal(id.utsname.machine, 'aarch64');
  assert.equal(dumpIdentity(arm, undefined, undefined).utsname.machine, 'aarch64', 'without utsname: by the architecture');
  assert.equal(dumpIdentity(openDump(new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump')), undefined, undefined).elfMachine, 62);
});

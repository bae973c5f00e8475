import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readKallsyms } from '../../src/analyze/kallsyms.ts';
import { parseVmcoreinfo, VmcoreInfo } from '../../src/analyze/vmcoreinfo.ts';
import { parsePrstatus } from '../../src/analyze/arch/x86_64/prstatus.ts';
import { X86_64_REGS } from '../../src/analyze/arch/x86_64/regs.ts';
import { ParseError } from '../../src/errors.ts';
import { SparseMemory } from './synthetic-kernel.ts';
import { SortedSymbolTable, vmlinuxSymbols } from '../../src/analyze/symbols.ts';
import { formatDate, formatMemory, formatUptime, panicMessage } from '../../src/analyze/system-info.ts';
import { Elf64Ehdr, Elf64Shdr, Elf64Sym, openElf } from '../../src/format/elf.ts';
import { encodeStruct } from '../../src/format/struct.ts';
import { BufferSource } from '../../src/io/source.ts';
import { decodeOrcEntry, ORC_ENTRY_SIZE, ORC_REG, orcVersionOf } from '../../src/analyze/arch/x86_64/orc.ts';

test('vmcoreinfo: radix per key kind, signed NUMBER, 0x NUMBER, last value of a repeated key wins', () => {
  const vi = parseVmcoreinfo(
    [
      'OSRELEASE=6.1.0-56-cloud-amd64',
      'PAGESIZE=4096',
      'SYMBOL(init_uts_ns)=ffffffff853f9b60',
      'OFFSET(uts_namespace.name)=0',
      'SIZE(page)=64',
      'LENGTH(zone.free_area)=11',
      'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129',
      'NUMBER(VMALLOC_START)=0xffa0000000000000',
      'NUMBER(phys_base)=746586112',
      'KERNELOFFSET=2800000',
      'CRASHTIME=1795728945',
      'CRASHTIME=1795728946',
      '',
    ].join('\n') + '\0\0',
  );
  assert.equal(vi.osrelease, '6.1.0-56-cloud-amd64');
  assert.equal(vi.pageSize, 4096);
  assert.equal(vi.symbol('init_uts_ns'), 0xffffffff853f9b60n);
  assert.equal(vi.offset('uts_namespace.name'), 0);
  assert.equal(vi.size('page'), 64);
  assert.equal(vi.length('zone.free_area'), 11);
  assert.equal(vi.number('PAGE_BUDDY_MAPCOUNT_VALUE'), -129n);
  assert.equal(vi.number('VMALLOC_START'), 0xffa0000000000000n);
  assert.equal(vi.number('phys_base'), 746586112n);
  assert.equal(vi.kernelOffset, 0x2800000n);
  assert.equal(vi.crashTime, 1795728946n);
  assert.equal(vi.symbol('nothing'), undefined);
  assert.throws(() => vi.requireSymbol('prb', 'the kernel log'), (e: unknown) => e instanceof ParseError && e.message === 'VMCOREINFO has no SYMBOL(prb), needed for the kernel log');
  assert.throws(() => new VmcoreInfo('SIZE(page)=0x40zz\n').size('page'), /SIZE\(page\)=0x40zz: not a hex number/);
});

// Token table: token i expands to TOKENS[i]; names are sequences of token indexes after a length.
function buildKallsyms(symbols: { name: string; type: string; offset: number }[], bigLength = false) {
  const tokens = new Map<string, number>();
  const tokenList: string[] = [];
  const tokenOf = (s: string) => {
    if (!tokens.has(s)) {
      tokens.set(s, tokenList.length);
      tokenList.push(s);
    }
    return tokens.get(s)!;
  };
  // Compress "T" + name into single characters plus one shared multi-char token "_sys_".
  tokenOf('_sys_');
  const names: number[] = [];
  for (const s of symbols) {
    const full = s.type + s.name;
    const idx: number[] = [];
    for (let i = 0; i < full.length; ) {
      if (full.startsWith('_sys_', i)) {
        idx.push(tokenOf('_sys_'));
        i += 5;
      } else idx.push(tokenOf(full[i++]!));
    }
    if (idx.length >= 128 || bigLength) names.push(0x80 | (idx.length & 0x7f), idx.length >> 7);
    else names.push(idx.length);
    names.push(...idx);
  }
  const table: number[] = [];
  const index = new Uint8Array(512);
  for (let i = 0; i < 256; i++) {
    new DataView(index.buffer).setUint16(i * 2, table.length, true);
    for (const c of tokenList[i] ?? '') table.push(c.charCodeAt(0));
    table.push(0);
  }
  const mem = new SparseMemory();
  const base = 0xffffffff81000000n;
  const offsets = new Uint8Array(symbols.length * 4);
  symbols.forEach((s, i) => new DataView(offsets.buffer).setInt32(i * 4, s.offset, true));
  mem.add(0xffffffff82000000n, offsets);
  mem.u64(0xffffffff82100000n, base);
  mem.u32(0xffffffff82100008n, symbols.length);
  mem.add(0xffffffff82100010n, new Uint8Array([...names, ...new Array(64).fill(0)])); // then kallsyms_markers
  const tokenTableAddr = 0xffffffff82100010n + BigInt(names.length) + 64n;
  mem.add(tokenTableAddr, new Uint8Array([...table, ...new Array(256).fill(0)]));
  mem.add(0xffffffff82200000n, index);
  const info = new VmcoreInfo(
    [
      'SYMBOL(kallsyms_offsets)=ffffffff82000000',
      'SYMBOL(kallsyms_relative_base)=ffffffff82100000',
      'SYMBOL(kallsyms_num_syms)=ffffffff82100008',
      'SYMBOL(kallsyms_names)=ffffffff82100010',
      `SYMBOL(kallsyms_token_table)=${tokenTableAddr.toString(16)}`,
      'SYMBOL(kallsyms_token_index)=ffffffff82200000',
    ].join('\n'),
  );
  return { mem, info };
}

test('kallsyms: token-compressed names, relative offsets, lookup by name and by address', () => {
  const { mem, info } = buildKallsyms([
    { name: '_text', type: 'T', offset: 0 },
    { name: '__x64_sys_write', type: 'T', offset: 0x1000 },
    { name: 'helper', type: 't', offset: 0x1040 },
    { name: 'jiffies', type: 'D', offset: 0x200000 },
  ]);
  const t = readKallsyms(mem, info);
  assert.equal(t.count, 4);
  assert.deepEqual(t.byName('__x64_sys_write'), { name: '__x64_sys_write', type: 'T', address: 0xffffffff81001000n });
  assert.deepEqual(t.byAddress(0xffffffff81001050n), { symbol: { name: 'helper', type: 't', address: 0xffffffff81001040n }, offset: 0x10n });
  assert.equal(t.byAddress(0xffffffff81000000n)!.symbol.name, '_text');
  assert.equal(t.byAddress(0xffffffff80000000n), undefined);
});

test('kallsyms: absolute per-CPU mode (negative offsets) and two-byte name lengths (6.1+ big symbols)', () => {
  const long = 'a_very_long_rust_symbol_'.repeat(6); // > 127 tokens
  const { mem, info } = buildKallsyms(
    [
      { name: 'fixed_percpu_data', type: 'A', offset: 0x40 }, // absolute
      { name: '_text', type: 'T', offset: -1 }, // base - 1 - (-1) = base
      { name: long, type: 'T', offset: -1 - 0x2000 },
    ],
    false,
  );
  const t = readKallsyms(mem, info);
  assert.equal(t.byName('fixed_percpu_data')!.address, 0x40n);
  assert.equal(t.byName('_text')!.address, 0xffffffff81000000n);
  assert.equal(t.byName(long)!.address, 0xffffffff81002000n);
  const t2 = readKallsyms(...Object.values(buildKallsyms([{ name: 'x', type: 'T', offset: 5 }], true)) as [SparseMemory, VmcoreInfo]);
  assert.equal(t2.byName('x')!.address, 0xffffffff81000005n);
});

test('kallsyms: PC-relative offsets (newer kernels, no kallsyms_relative_base): each counts from its own slot', () => {
  const offsetsAt = 0xffffffff82000000n;
  const pcRelative = (i: number, target: bigint) => Number(target - (offsetsAt + BigInt(i * 4)));
  const { mem, info } = buildKallsyms([
    { name: '_stext', type: 'T', offset: pcRelative(0, 0xffffffff81000000n) },
    { name: 'panic', type: 'T', offset: pcRelative(1, 0xffffffff81234560n) },
    { name: 'init_task', type: 'D', offset: pcRelative(2, 0xffffffff83000040n) },
  ]);
  const noBase = new VmcoreInfo(info.raw.split('\n').filter((l) => !l.startsWith('SYMBOL(kallsyms_relative_base)')).join('\n'));
  const t = readKallsyms(mem, noBase);
  assert.equal(t.byName('_stext')!.address, 0xffffffff81000000n);
  assert.equal(t.byName('panic')!.address, 0xffffffff81234560n);
  assert.equal(t.byName('init_task')!.address, 0xffffffff83000040n);
});

test('kallsyms: addresses out of order or zero, aliases and a local and a global of one name are answered as a sorted table does', () => {
  const { mem, info } = buildKallsyms([
    { name: 'late', type: 'T', offset: 0x3000 },
    { name: 'dup', type: 't', offset: 0x1000 }, // local, lower address
    { name: 'wrapped', type: 'T', offset: 0x7fffffff }, // base + offset carries into the high half and wraps at 2^64
    { name: 'dup', type: 'T', offset: 0x2000 }, // the global wins over the local
    { name: 'alias_local', type: 't', offset: 0x2000 },
    { name: 'early', type: 'T', offset: 0 },
    { name: 'only_local', type: 'd', offset: 0x4000 },
    { name: 'only_local', type: 'd', offset: 0x5000 },
  ]);
  const t = readKallsyms(mem, info);
  const all = t.all();
  const sorted = new SortedSymbolTable('sorted', [...all]);
  assert.deepEqual(all.map((s) => s.name), sorted.all().map((s) => s.name));
  assert.deepEqual(all.map((s) => s.name), ['wrapped', 'early', 'dup', 'dup', 'alias_local', 'late', 'only_local', 'only_local']);
  assert.equal(all[0]!.address, 0xffffffn); // 0xffffffff81000000 + 0x7fffffff, modulo 2^64
  assert.deepEqual(t.byName('dup'), { name: 'dup', type: 'T', address: 0xffffffff81002000n });
  assert.equal(t.byName('only_local')!.address, 0xffffffff81004000n);
  assert.equal(t.byAddress(0xffffffff81002004n)!.symbol.name, 'dup'); // the global among aliases
  for (const s of all) assert.equal(t.byName(s.name), sorted.byName(s.name));
  assert.equal(t.byName('nothing'), undefined);
  // Symbols at address 0 are left out, as a sorted table does.
  const z = buildKallsyms([
    { name: 'a', type: 'T', offset: 0x10 },
    { name: 'nul', type: 'A', offset: 0 },
  ]);
  z.mem.u64(0xffffffff82100000n, 0n); // relative base 0: 'nul' is at address 0
  const tz = readKallsyms(z.mem, z.info);
  assert.equal(tz.count, 1);
  assert.equal(tz.byName('nul'), undefined);
  assert.equal(tz.byName('a')!.address, 0x10n);
});

test('kallsyms: a damaged name table is one clear error', () => {
  const { mem, info } = buildKallsyms([{ name: 'x', type: 'T', offset: 5 }]);
  mem.u32(0xffffffff82100008n, 4000); // num_syms larger than the names array
  assert.throws(() => readKallsyms(mem, info), (e: unknown) => e instanceof ParseError && /kallsyms_names (ends|entry)/.test(e.message));
});

test('prstatus: pid and the 27 registers at their x86_64 elf_prstatus offsets', () => {
  const desc = new Uint8Array(336);
  const dv = new DataView(desc.buffer);
  dv.setInt32(32, 1234, true);
  X86_64_REGS.forEach((_, i) => dv.setBigUint64(112 + i * 8, 0x1000n + BigInt(i), true));
  const p = parsePrstatus({ name: 'CORE', type: 1, desc, offset: 0 }, 3);
  assert.equal(p.pid, 1234);
  assert.equal(p.cpu, 3);
  assert.equal(p.regs.r15, 0x1000n);
  assert.equal(p.regs.rip, 0x1000n + 16n);
  assert.equal(p.regs.rsp, 0x1000n + 19n);
  assert.equal(p.regs.gs, 0x1000n + 26n);
  assert.throws(() => parsePrstatus({ name: 'CORE', type: 1, desc: desc.subarray(0, 200), offset: 96 }, 0), /has 200 bytes/);
});

test('vmlinux symtab: nm type letters from sections and binding, KASLR offset added, file/section symbols skipped', () => {
  const names = ['', '_text', 'panic', 'local_helper', 'jiffies', 'some_bss', 'abs_sym', 'init.c', ''];
  const strtab: number[] = [0];
  const nameOff = names.map((n) => {
    if (!n) return 0;
    const at = strtab.length;
    strtab.push(...Buffer.from(n), 0);
    return at;
  });
  const T = 0xffffffff81000000n;
  //            name idx, bind<<4|type, shndx, value
  const syms: [number, number, number, bigint][] = [
    [0, 0, 0, 0n],
    [1, 0x10, 1, T], // GLOBAL NOTYPE in .text
    [2, 0x12, 1, T + 0x100n], // GLOBAL FUNC
    [3, 0x02, 1, T + 0x200n], // LOCAL FUNC
    [4, 0x11, 2, T + 0x1000000n], // GLOBAL OBJECT in .data
    [5, 0x01, 3, T + 0x2000000n], // LOCAL OBJECT in .bss
    [6, 0x10, 0xfff1, 0x1234n], // ABS
    [7, 0x04, 0xfff1, 0n], // FILE
    [0, 0x03, 1, T], // SECTION
  ];
  const symtab = new Uint8Array(syms.length * 24);
  syms.forEach(([n, info, shndx, value], i) => symtab.set(encodeStruct(Elf64Sym, { name: nameOff[n]!, info, shndx, value }), i * 24));
  const shstr = Buffer.from('\0.text\0.data\0.bss\0.symtab\0.strtab\0.shstrtab\0');
  const sh = (s: string) => shstr.indexOf(Buffer.from(s + '\0'));
  const strOff = 64;
  const symOff = strOff + strtab.length + ((8 - ((strOff + strtab.length) % 8)) % 8);
  const shstrOff = symOff + symtab.length;
  const shOff = shstrOff + shstr.length + ((8 - ((shstrOff + shstr.length) % 8)) % 8);
  const shdrs = [
    {},
    { name: sh('.text'), type: 1, flags: 6n, addr: T },
    { name: sh('.data'), type: 1, flags: 3n, addr: T + 0x1000000n },
    { name: sh('.bss'), type: 8, flags: 3n, addr: T + 0x2000000n },
    { name: sh('.symtab'), type: 2, offset: BigInt(symOff), size: BigInt(symtab.length), link: 5, info: 6, entsize: 24n },
    { name: sh('.strtab'), type: 3, offset: BigInt(strOff), size: BigInt(strtab.length) },
    { name: sh('.shstrtab'), type: 3, offset: BigInt(shstrOff), size: BigInt(shstr.length) },
  ];
  const file = new Uint8Array(shOff + shdrs.length * 64);
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  file.set(encodeStruct(Elf64Ehdr, { ident, type: 2, machine: 62, version: 1, shoff: BigInt(shOff), ehsize: 64, shentsize: 64, shnum: shdrs.length, shstrndx: 6 }));
  file.set(strtab, strOff);
  file.set(symtab, symOff);
  file.set(shstr, shstrOff);
  shdrs.forEach((h, i) => file.set(encodeStruct(Elf64Shdr, h), shOff + i * 64));

  const t = vmlinuxSymbols(openElf(new BufferSource(file, 'vmlinux')), 'vmlinux', 0x2800000n);
  assert.equal(t.source, 'vmlinux vmlinux');
  const got = Object.fromEntries(t.all().map((s) => [s.name, `${s.type} ${s.address.toString(16)}`]));
  assert.deepEqual(got, {
    _text: 'T ffffffff83800000',
    panic: 'T ffffffff83800100',
    local_helper: 't ffffffff83800200',
    jiffies: 'D ffffffff84800000',
    some_bss: 'b ffffffff85800000',
    abs_sym: 'A 1234',
  });
  assert.equal(t.byAddress(0xffffffff83800105n)!.symbol.name, 'panic');
});

test('info formatting: dates like crash (UTC), uptime with days, memory rounded like crash', () => {
  assert.equal(formatDate(1795728945n), 'Thu Nov 26 21:35:45 UTC 2026');
  assert.equal(formatDate(1796506556n), 'Sat Dec  5 21:35:56 UTC 2026'); // the day space-padded, as crash's sys and date(1)
  assert.equal(formatUptime(5_674_087_000n), '00:00:05');
  assert.equal(formatUptime(3n * 86400n * 1_000_000_000n + 3723n * 1_000_000_000n), '3 days, 01:02:03');
  assert.equal(formatMemory(262109n * 4096n), '1 GB');
  assert.equal(formatMemory(1536n << 20n), '1.5 GB');
  assert.equal(formatMemory(512n << 20n), '512 MB');
});

test('panicMessage: the last "Kernel panic - not syncing", else the last oops line', () => {
  const rec = (t: string) => ({ seq: 0n, tsNsec: 0n, level: 0, facility: 0, flags: 0, callerId: undefined, text: new TextEncoder().encode(t), dict: [] });
  assert.equal(panicMessage([rec('BUG: kernel NULL pointer dereference, address: 0000000000000000'), rec('Kernel panic - not syncing: Fatal exception')]), 'Kernel panic - not syncing: Fatal exception');
  assert.equal(panicMessage([rec('hello'), rec('BUG: unable to handle page fault for address: ffff\nmore')]), 'BUG: unable to handle page fault for address: ffff');
  assert.equal(panicMessage([rec('all fine')]), undefined);
});

test('orc: the layout comes from the .orc_header hash; v4 (7.2) registers are renumbered to the classic ones', () => {
  const hash = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
  const entry = (spReg: number, bpReg: number, type: number) => {
    const b = new Uint8Array(ORC_ENTRY_SIZE);
    const dv = new DataView(b.buffer);
    dv.setInt16(0, 48, true);
    dv.setInt16(2, -40, true);
    dv.setUint16(4, spReg | (bpReg << 4) | (type << 8), true);
    return b;
  };
  const none = () => new Uint8Array(0);
  assert.equal(orcVersionOf(hash('fe5d32bf581bd63b2ca9a5c65ba5a625eab3fe24'), '6.12.117+deb13-cloud-amd64', none), 3);
  assert.equal(orcVersionOf(hash('137c36ad7627c4dd55932176bb0ecdbd5041fc82'), '7.2.13+deb14-cloud-amd64', none), 4);
  assert.equal(orcVersionOf(undefined, '6.1.0-56-cloud-amd64', none), 1);
  // An unknown hash: told apart by the register most entries use as the stack base.
  const table = (sp: number) => Uint8Array.from(Array.from({ length: 10 }, () => [...entry(sp, 0, 2)]).flat());
  assert.equal(orcVersionOf(new Uint8Array(20), '8.0', () => table(3)), 4);
  assert.equal(orcVersionOf(new Uint8Array(20), '8.0', () => table(5)), 3);
  // A plain `push` frame of vpanic on 7.2: sp_reg 3 / bp_reg 8 mean SP / PREV_SP.
  const v4 = decodeOrcEntry(entry(3, 8, 2), 0, 4);
  assert.deepEqual([v4.spReg, v4.bpReg, v4.type, v4.spOffset, v4.bpOffset], [ORC_REG.SP, ORC_REG.PREV_SP, 'call', 48, -40]);
  assert.equal(decodeOrcEntry(entry(10, 4, 2), 0, 4).spReg, ORC_REG.BP_INDIRECT);
  const v3 = decodeOrcEntry(entry(5, 1, 2), 0, 3);
  assert.deepEqual([v3.spReg, v3.bpReg], [ORC_REG.SP, ORC_REG.PREV_SP]);
});

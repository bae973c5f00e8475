import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FileSource } from '../src/host/file-source.ts';
import { BufferSource } from '../src/io/source.ts';
import { ParseError } from '../src/errors.ts';
import {
  ELFCLASS32,
  ELFDATA2MSB,
  Elf32Ehdr,
  Elf32Phdr,
  ET_EXEC,
  EM_386,
  PT_NOTE,
  openElf,
  parseNotes,
} from '../src/format/elf.ts';
import { encodeStruct } from '../src/format/struct.ts';

const BIN = '/usr/bin/makedumpfile';
const hasReadelf = spawnSync('readelf', ['--version']).status === 0;

test('elf: program headers, sections, dynamic symbols and notes of a real binary match readelf', { skip: !hasReadelf || !existsSync(BIN) ? 'readelf or makedumpfile not installed' : false }, () => {
  const elf = openElf(new FileSource(BIN));
  const re = spawnSync('readelf', ['-h', '-l', '-S', '-W', BIN], { encoding: 'utf8' }).stdout;
  assert.equal(elf.header.class, 64);
  assert.equal(elf.header.phnum, Number(/Number of program headers:\s+(\d+)/.exec(re)![1]));
  assert.equal(elf.header.shnum, Number(/Number of section headers:\s+(\d+)/.exec(re)![1]));
  assert.equal(elf.header.entry, BigInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(re)![1]!));
  for (const m of re.matchAll(/^\s+\[\s*(\d+)\] (\S+)\s+\S+\s+([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+)/gm)) {
    const sh = elf.sections[Number(m[1])]!;
    assert.equal(sh.name, m[2]);
    assert.equal(sh.addr, BigInt('0x' + m[3]));
    assert.equal(sh.offset, parseInt(m[4]!, 16));
    assert.equal(sh.size, parseInt(m[5]!, 16));
  }
  const syms = spawnSync('readelf', ['--dyn-syms', '-W', BIN], { encoding: 'utf8' }).stdout;
  const count = Number(/contains (\d+) entries/.exec(syms)![1]);
  const mine = elf.symbols();
  assert.equal(mine.length, count);
  for (const m of syms.matchAll(/^\s+(\d+): ([0-9a-f]+)\s+(\d+) \w+\s+\w+\s+\w+\s+\S+ (\S+)$/gm)) {
    const s = mine[Number(m[1])]!;
    assert.equal(s.value, BigInt('0x' + m[2]));
    assert.equal(s.size, BigInt(m[3]!));
    assert.equal(s.name.split('@')[0], m[4]!.split('@')[0]);
  }
  const notes = spawnSync('readelf', ['-n', '-W', BIN], { encoding: 'utf8' }).stdout;
  const buildId = /Build ID: ([0-9a-f]+)/.exec(notes)![1];
  const note = elf.notes().find((n) => n.name === 'GNU' && n.type === 3)!;
  assert.equal(Buffer.from(note.desc).toString('hex'), buildId);
});

function note(name: string, type: number, desc: Uint8Array, le = true): Uint8Array {
  const nameBytes = new TextEncoder().encode(name + '\0');
  const pad = (n: number) => (n + 3) & ~3;
  const out = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nameBytes.length, le);
  dv.setUint32(4, desc.length, le);
  dv.setUint32(8, type, le);
  out.set(nameBytes, 12);
  out.set(desc, 12 + pad(nameBytes.length));
  return out;
}

test('elf: parseNotes walks 4-byte aligned notes, stops at the zero terminator, rejects overruns', () => {
  const a = note('CORE', 1, new Uint8Array([1, 2, 3, 4, 5]));
  const b = note('VMCOREINFO', 0, new TextEncoder().encode('OSRELEASE=6.1\n'));
  const bytes = new Uint8Array(a.length + b.length + 24);
  bytes.set(a);
  bytes.set(b, a.length);
  const notes = parseNotes(bytes, true, 100);
  assert.deepEqual(notes.map((n) => [n.name, n.type, n.desc.length, n.offset]), [
    ['CORE', 1, 5, 100],
    ['VMCOREINFO', 0, 14, 100 + a.length],
  ]);
  const bad = note('CORE', 1, new Uint8Array(40)).subarray(0, 30);
  assert.throws(() => parseNotes(bad, true, 7), (e: unknown) => e instanceof ParseError && e.offset === 7);
});

test('elf: a big-endian ELF32 header, program header and note parse', () => {
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS32, ELFDATA2MSB, 1]);
  const n = note('Linux', 6, new Uint8Array([9, 9, 9, 9]), false);
  const file = new Uint8Array(52 + 32 + n.length);
  file.set(encodeStruct(Elf32Ehdr, { ident, type: ET_EXEC, machine: EM_386, version: 1, entry: 0x8048000, phoff: 52, ehsize: 52, phentsize: 32, phnum: 1 }, false));
  file.set(encodeStruct(Elf32Phdr, { type: PT_NOTE, offset: 84, filesz: n.length, memsz: n.length, vaddr: 0xc0000000, paddr: 0x1000 }, false), 52);
  file.set(n, 84);
  const elf = openElf(new BufferSource(file));
  assert.equal(elf.header.class, 32);
  assert.equal(elf.header.littleEndian, false);
  assert.equal(elf.header.entry, 0x8048000n);
  assert.equal(elf.programHeaders[0]!.vaddr, 0xc0000000n);
  assert.deepEqual(elf.notes().map((x) => [x.name, x.type, [...x.desc]]), [['Linux', 6, [9, 9, 9, 9]]]);
});

test('elf: a truncated program header table and a non-ELF file give ParseErrors', () => {
  assert.throws(() => openElf(new BufferSource(new Uint8Array(64))), ParseError);
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS32, 1, 1]);
  const file = encodeStruct(Elf32Ehdr, { ident, phoff: 52, phentsize: 32, phnum: 3 });
  assert.throws(() => openElf(new BufferSource(file)), /program header table/);
});

test('elf: an ELF32 core (i386 /proc/vmcore shape) opens as a dump: notes, VMCOREINFO, PT_LOAD memory', async () => {
  const { openDump } = await import('../src/format/open-dump.ts');
  const { ET_CORE, PT_LOAD } = await import('../src/format/elf.ts');
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS32, 1, 1]);
  const notes = new Uint8Array([...note('CORE', 1, new Uint8Array(144)), ...note('VMCOREINFO', 0, new TextEncoder().encode('PAGESIZE=4096\n'))]);
  const dataAt = 4096;
  const file = new Uint8Array(dataAt + 8192);
  file.set(encodeStruct(Elf32Ehdr, { ident, type: ET_CORE, machine: EM_386, version: 1, phoff: 52, ehsize: 52, phentsize: 32, phnum: 2 }));
  file.set(encodeStruct(Elf32Phdr, { type: PT_NOTE, offset: 116, filesz: notes.length, memsz: notes.length }), 52);
  file.set(encodeStruct(Elf32Phdr, { type: PT_LOAD, offset: dataAt, filesz: 8192, memsz: 8192, vaddr: 0xc0100000, paddr: 0x100000 }), 84);
  file.set(notes, 116);
  file.set(new TextEncoder().encode('hello'), dataAt + 4096 + 10);
  const d = openDump(new BufferSource(file));
  assert.equal(d.format, 'ELF32 core');
  assert.deepEqual(d.notes.map((n) => n.name), ['CORE', 'VMCOREINFO']);
  assert.equal(d.vmcoreinfo, 'PAGESIZE=4096\n');
  assert.equal(new TextDecoder().decode(d.readPhys(0x10100an, 5)), 'hello');
  assert.equal(d.loadSegments![0]!.vaddr, 0xc0100000n);
});

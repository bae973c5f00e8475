import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { layoutRelocatable, linkRelocatable, openRelocatable, u64le } from '../../src/kexec/purgatory-link.ts';
import { finishPurgatory, placePurgatory, serialPortFor } from '../../src/kexec/arch/x86_64/purgatory.ts';
import { PURGATORY_REGION_SIZE } from '../../src/kexec/purgatory-regions.ts';
import { SegmentAllocator } from '../../src/kexec/plan.ts';
import { sha256 } from '../../src/sha256.ts';
import { ParseError } from '../../src/errors.ts';
import { purgatory } from './fixture.ts';


const hasBinutils = spawnSync('ld', ['--version']).status === 0 && spawnSync('objcopy', ['--version']).status === 0;

test('our relocations give the same bytes as GNU ld linking the purgatory at the same address', { skip: hasBinutils ? false : 'ld/objcopy not installed' }, () => {
  const obj = purgatory();
  const elf = openRelocatable(obj);
  const base = 0x3ffdd000n;
  const ours = linkRelocatable(elf, base);
  assert.ok(ours.relocations.some((r) => r.type === 'R_X86_64_64'));
  assert.ok(ours.relocations.some((r) => r.type === 'R_X86_64_PC32'));
  assert.ok(ours.relocations.some((r) => r.type === 'R_X86_64_PLT32'));
  // Same section order and alignments as layoutRelocatable: one output section per input section.
  const layout = layoutRelocatable(elf);
  const names = elf.sections.filter((s) => layout.offsets.has(s.index)).map((s) => s.name);
  const dir = mkdtempSync(join(tmpdir(), 'purg-'));
  const script = `SECTIONS { . = 0x${base.toString(16)}; ${names.map((n) => `${n} : { *(${n}) }`).join(' ')} /DISCARD/ : { *(.comment) *(.note.*) } }`;
  writeFileSync(join(dir, 'p.ro'), obj);
  writeFileSync(join(dir, 'link.ld'), script);
  execFileSync('ld', ['-m', 'elf_x86_64', '-T', join(dir, 'link.ld'), '-e', 'purgatory_start', '-o', join(dir, 'p.elf'), join(dir, 'p.ro')]);
  execFileSync('objcopy', ['-O', 'binary', '--remove-section=.bss', join(dir, 'p.elf'), join(dir, 'p.bin')]);
  const gnu = readFileSync(join(dir, 'p.bin'));
  assert.equal(ours.bytes.length, gnu.length);
  const diff = ours.bytes.findIndex((b, i) => b !== gnu[i]);
  assert.equal(diff, -1, `relocated image differs from GNU ld output at offset 0x${diff.toString(16)}`);
  const nm = execFileSync('nm', [join(dir, 'p.elf')], { encoding: 'utf8' });
  const addr = (sym: string) => BigInt('0x' + nm.split('\n').find((l) => l.endsWith(` ${sym}`))!.split(' ')[0]);
  assert.equal(ours.entry, addr('purgatory_start'));
  assert.equal(ours.symbolAddress('stack_end'), addr('stack_end'));
  assert.equal(ours.symbolAddress('kexec_ts_regions'), addr('kexec_ts_regions'));
});

test('relocation arithmetic: R_X86_64_64 is absolute, PC32/PLT32 relative to the patched place', () => {
  const elf = openRelocatable(purgatory());
  const a = linkRelocatable(elf, 0x100000n);
  const b = linkRelocatable(elf, 0x200000n);
  for (let i = 0; i < a.relocations.length; i++) {
    const ra = a.relocations[i]!;
    const rb = b.relocations[i]!;
    if (ra.type === 'R_X86_64_64') assert.equal(rb.value - ra.value, 0x100000n, `${ra.symbol} moves with the base`);
    else assert.equal(rb.value, ra.value, `${ra.type} ${ra.symbol} is position independent`);
  }
  assert.equal(b.entry - a.entry, 0x100000n);
});

test('symbols are patched in place with exact sizes; wrong sizes and unknown names are refused', () => {
  const l = linkRelocatable(openRelocatable(purgatory()), 0x100000n);
  l.setSymbol('kexec_ts_kernel_entry', u64le(0x1234567800n));
  assert.deepEqual(l.getSymbol('kexec_ts_kernel_entry'), u64le(0x1234567800n));
  const off = Number(l.symbolAddress('kexec_ts_kernel_entry') - l.base);
  assert.equal(new DataView(l.bytes.buffer).getBigUint64(off, true), 0x1234567800n);
  assert.throws(() => l.setSymbol('kexec_ts_kernel_entry', new Uint8Array(4)), (e: unknown) => e instanceof ParseError && /8 bytes, not 4/.test(e.message));
  assert.throws(() => l.setSymbol('no_such_symbol', new Uint8Array(8)), /no global symbol no_such_symbol/);
  assert.throws(() => l.setSymbol('stack_end', new Uint8Array(0)), /\.bss/);
});

test('SHA-256 region list: one region per non-purgatory segment, buffer bytes, digests match', () => {
  const alloc = new SegmentAllocator([{ start: 0x100000n, end: 0x3fffffffn }]);
  const p = placePurgatory(alloc, purgatory());
  const k = alloc.place({ buf: new Uint8Array(10000).fill(7), memsz: 0x100000n, what: 'kernel' });
  const i = alloc.place({ buf: new Uint8Array(5000).fill(9), what: 'initrd' });
  const regions = finishPurgatory(p, alloc.segments, { kernelEntry: k.mem + 0x200n, bootParams: 0x5000n, cmdline: 'console=ttyS0 x', skipChecks: false });
  assert.deepEqual(regions, [
    { start: i.mem, len: 5000n },
    { start: k.mem, len: 10000n },
  ]);
  const table = p.linked.getSymbol('kexec_ts_regions');
  const dv = new DataView(table.buffer);
  assert.equal(dv.getBigUint64(0, true), i.mem);
  assert.equal(dv.getBigUint64(8, true), 5000n);
  assert.equal(Buffer.from(table.subarray(16, 48)).toString('hex'), createHash('sha256').update(i.buf).digest('hex'));
  assert.equal(Buffer.from(table.subarray(PURGATORY_REGION_SIZE + 16, PURGATORY_REGION_SIZE + 48)).toString('hex'), createHash('sha256').update(k.buf).digest('hex'));
  assert.equal(dv.getBigUint64(2 * PURGATORY_REGION_SIZE + 8, true), 0n, 'list ends with len 0');
  assert.deepEqual(p.linked.getSymbol('kexec_ts_boot_params'), u64le(0x5000n));
  assert.deepEqual(p.linked.getSymbol('kexec_ts_kernel_entry'), u64le(k.mem + 0x200n));
  assert.deepEqual(p.linked.getSymbol('kexec_ts_serial_port'), Uint8Array.of(0xf8, 0x03));
  assert.deepEqual(p.linked.getSymbol('kexec_ts_skip_checks'), Uint8Array.of(0));
  assert.equal(p.segment.buf, p.linked.bytes, 'the segment carries the patched bytes');
});

test('corrupting a segment after hashing changes its bytes but not the recorded digest', () => {
  const alloc = new SegmentAllocator([{ start: 0x100000n, end: 0x3fffffffn }]);
  const p = placePurgatory(alloc, purgatory());
  const original = alloc.place({ buf: new Uint8Array(5000).fill(9), what: 'initrd' }).buf;
  finishPurgatory(p, alloc.segments, { kernelEntry: 0n, bootParams: 0n, cmdline: '', skipChecks: false, corruptSegment: 'initrd' });
  const digest = p.linked.getSymbol('kexec_ts_regions').subarray(16, 48);
  const now = alloc.segments.find((s) => s.what === 'initrd')!.buf;
  assert.notDeepEqual(sha256(now), digest);
  assert.deepEqual(sha256(original), digest);
});

test('serial port comes from the last console=ttySn', () => {
  assert.equal(serialPortFor('console=tty0 console=ttyS1,115200'), 0x2f8);
  assert.equal(serialPortFor('console=tty0 quiet'), 0);
  assert.equal(serialPortFor('console=ttyS0'), 0x3f8);
});

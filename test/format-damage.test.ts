// Damaged and partial dumps: each gives a clear ParseError or NotInDumpError, and whatever is still
// in the file stays readable.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FileSource } from '../src/host/file-source.ts';
import { BufferSource } from '../src/io/source.ts';
import { NotInDumpError, ParseError } from '../src/errors.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { Dump } from '../src/format/dump.ts';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { EM_AARCH64, encodeNotes, Elf64Phdr } from '../src/format/elf.ts';
import { ElfCoreWriter } from '../src/format/elf-core-writer.ts';
import { FlattenedWriter } from '../src/format/flattened.ts';
import type { ElfCoreDump } from '../src/format/elf-core.ts';
import { KdumpCompressedDump, PageDesc } from '../src/format/kdump-compressed.ts';
import { BufferSink } from '../src/format/sink.ts';
import { FIXTURE, every, presentPfns, writeKdump } from './format-helpers.ts';
import * as writerModule from '../src/format/kdump-compressed-writer.ts';

let fixture: Dump;
let sample: bigint[];
let good: Uint8Array; // a small kdump-compressed file (lzo) with `sample` pages

before(() => {
  fixture = openDump(new FileSource(FIXTURE));
  sample = every(presentPfns(fixture), 97);
  const sink = new BufferSink();
  writeKdump(fixture, sink, sample, { codec: 'lzo', compress: purePageCompressor('lzo') });
  good = sink.bytes().slice();
});

const open = (b: Uint8Array) => openDump(new BufferSource(b)) as KdumpCompressedDump;
const notInDump = (re: RegExp) => (e: unknown) => e instanceof NotInDumpError && re.test(e.message);

test('damage: a file cut inside the kdump header is a ParseError naming the offset', () => {
  assert.throws(() => open(good.subarray(0, 300)), (e: unknown) => e instanceof ParseError && /file ends at 300/.test(e.message));
});

test('damage: a file cut inside the page descriptors opens, says how many are left, reads the early pages', () => {
  const d0 = open(good);
  const cut = d0.dataOffset + 10 * PageDesc.size + 5;
  const d = open(good.subarray(0, cut));
  assert.match(d.warnings.join('\n'), /truncated .* holds 10 of \d+ page descriptors/);
  assert.throws(() => d.readPage(sample[0]!), notInDump(/truncated/)); // descriptor there, data is not
  assert.equal(d.hasPage(sample[50]!), false);
  assert.throws(() => d.readPage(sample[50]!), notInDump(/truncated .* descriptor/));
});

test('damage: a file cut inside the page data reads every page before the cut', () => {
  const cut = Math.floor(good.length * 0.6);
  const d = open(good.subarray(0, cut));
  assert.match(d.warnings.join('\n'), /truncated at \d+ bytes: the last page's data ends/);
  let ok = 0;
  let lost = 0;
  for (const pfn of sample) {
    try {
      assert.deepEqual(d.readPage(pfn), fixture.readPage!(pfn));
      ok++;
    } catch (e) {
      assert.ok(e instanceof NotInDumpError && /truncated/.test(e.message), String(e));
      lost++;
    }
  }
  assert.ok(ok > 0 && lost > 0, `${ok} read, ${lost} lost`);
});

test('damage: an incomplete dump (writer stopped early) is flagged; unwritten pages are lost, written ones read', () => {
  const sink = new BufferSink();
  const res = writeKdump(fixture, sink, sample, { codec: 'zlib', compress: purePageCompressor('zlib'), stopAfter: 40 });
  assert.equal(res.pagesWritten, 40);
  const d = open(sink.bytes().slice());
  assert.equal(d.incomplete, true);
  assert.match(d.warnings.join('\n'), /incomplete/);
  assert.deepEqual(d.readPage(sample[39]!), fixture.readPage!(sample[39]!));
  assert.throws(() => d.readPage(sample[40]!), notInDump(/incomplete/));
});

test('damage: a bitmap that lies past the end of the file leaves the header and notes readable, no pages', () => {
  const d0 = open(good);
  const d = open(good.subarray(0, d0.bitmap1Offset + 100));
  assert.equal(d.vmcoreinfo, fixture.vmcoreinfo);
  assert.match(d.warnings.join('\n'), /page bitmap .* past the end of the file/);
  assert.equal(d.pagesPresent(), 0n);
  assert.throws(() => d.readPhys(sample[0]! * 4096n, 16), notInDump(/bitmap/));
  // An absurd bitmap_blocks (too small for max_mapnr) is a ParseError at its header offset.
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(436, 1, true);
  assert.throws(() => open(bad), (e: unknown) => e instanceof ParseError && e.offset === 436);
});

test('damage: a page descriptor with an absurd size is a ParseError with the descriptor offset', () => {
  const d0 = open(good);
  const bad = good.slice();
  const descAt = d0.dataOffset + 3 * PageDesc.size;
  new DataView(bad.buffer).setUint32(descAt + 8, 0x7fffffff, true);
  const d = open(bad);
  assert.throws(() => d.readPage(sample[3]!), (e: unknown) => e instanceof ParseError && e.offset === descAt && /absurd size/.test(e.message));
  assert.deepEqual(d.readPage(sample[4]!), fixture.readPage!(sample[4]!));
});

test('damage: a corrupt compressed page is a ParseError, not a crash', () => {
  const d0 = open(good);
  const bad = good.slice();
  const dv = new DataView(bad.buffer);
  const descAt = d0.dataOffset + 5 * PageDesc.size;
  const off = Number(dv.getBigInt64(descAt, true));
  const size = dv.getUint32(descAt + 8, true);
  bad.fill(0xff, off, off + size);
  assert.throws(() => open(bad).readPage(sample[5]!), (e: unknown) => e instanceof ParseError && /lzo data .* does not decompress/.test(e.message));
});

test('damage: random bytes, and a bad header version, are ParseErrors', () => {
  let seed = 1;
  const rnd = new Uint8Array(8192).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  assert.throws(() => openDump(new BufferSource(rnd)), ParseError);
  const bad = good.slice();
  new DataView(bad.buffer).setInt32(8, 77, true);
  assert.throws(() => open(bad), (e: unknown) => e instanceof ParseError && e.offset === 8);
});

const notes = () => encodeNotes(fixture.notes);

test('ELF: overlapping PT_LOAD segments are a ParseError naming both; the x86_64 kernel-text view is not an overlap', () => {
  const sink = new BufferSink();
  new ElfCoreWriter(sink, {
    notes: notes(),
    segments: [
      { paddr: 0x100000n, vaddr: 0xff11000000100000n, memSize: 0x4000 },
      { paddr: 0x102000n, vaddr: 0xff11000000102000n, memSize: 0x4000 },
    ],
  }).finish();
  assert.throws(() => openDump(new BufferSource(sink.bytes().slice())), (e: unknown) => e instanceof ParseError && /PT_LOAD 1 .* PT_LOAD 2 .* overlap/.test(e.message));

  const ok = new BufferSink();
  const w = new ElfCoreWriter(ok, {
    notes: notes(),
    segments: [
      { paddr: 0x1000000n, vaddr: 0xffffffff81000000n, memSize: 0x2000 }, // kernel text view
      { paddr: 0x0n, vaddr: 0xff11000000000000n, memSize: 0x2000000 },
    ],
  });
  w.writePhys(0x1000000n, new Uint8Array(16).fill(7));
  w.finish();
  const d = openDump(new BufferSource(ok.bytes().slice()));
  assert.equal(d.loadSegments!.length, 2);
  assert.deepEqual([...d.readPhys(0x1000000n, 4)], [7, 7, 7, 7]);
  const e = d as ElfCoreDump;
  assert.equal(e.virtToPhys(0xffffffff81000010n), 0x1000010n);
  assert.equal(e.virtToPhys(0xff11000000000100n), 0x100n);
  assert.equal(e.virtToPhys(0xffffc90000000000n), undefined);
});

test('ELF: arm64 kernel-text PT_LOAD (kimage mapping inside a linear-map PT_LOAD, as kexec-ts -p and the kernel write it) is not an overlap; two linear PT_LOADs that overlap still are', () => {
  const ok = new BufferSink();
  const w = new ElfCoreWriter(ok, {
    notes: notes(),
    machine: EM_AARCH64,
    segments: [
      { paddr: 0x40200000n, vaddr: 0xffffae57c9c00000n, memSize: 0x2000 }, // _text.._end at kimage_voffset
      { paddr: 0x40000000n, vaddr: 0xffff5ff280000000n, memSize: 0x400000 }, // the linear map of RAM
    ],
  });
  w.writePhys(0x40200000n, new Uint8Array(16).fill(9));
  w.finish();
  const d = openDump(new BufferSource(ok.bytes().slice()));
  assert.equal(d.loadSegments!.length, 2);
  assert.deepEqual([...d.readPhys(0x40200000n, 4)], [9, 9, 9, 9]);
  const bad = new BufferSink();
  new ElfCoreWriter(bad, {
    notes: notes(),
    machine: EM_AARCH64,
    segments: [
      { paddr: 0x40000000n, vaddr: 0xffff000000000000n, memSize: 0x4000 },
      { paddr: 0x40002000n, vaddr: 0xffff000000002000n, memSize: 0x4000 },
    ],
  }).finish();
  assert.throws(() => openDump(new BufferSource(bad.bytes().slice())), (e: unknown) => e instanceof ParseError && /overlap/.test(e.message));
});

test('ELF: bytes past p_filesz read as zeros; a truncated ELF core warns and loses only the cut pages', () => {
  const sink = new BufferSink();
  const w = new ElfCoreWriter(sink, { notes: notes(), segments: [{ paddr: 0n, vaddr: 0n, memSize: 0x10000, fileSize: 0x4000 }] });
  w.writePhys(0x3000n, new Uint8Array(0x1000).fill(1));
  w.finish();
  const file = sink.bytes().slice();
  const d = openDump(new BufferSource(file));
  assert.equal(d.hasPage(3n), true);
  assert.equal(d.hasPage(5n), false);
  assert.ok(d.readPhys(0x5000n, 0x100).every((b) => b === 0));
  assert.equal(d.pagesPresent(), 4n);
  const cut = openDump(new BufferSource(file.subarray(0, file.length - 0x1800)));
  assert.equal(cut.incomplete, true);
  assert.match(cut.warnings.join('\n'), /truncated/);
  assert.ok(cut.readPhys(0x1000n, 16).every((b) => b === 0));
  assert.throws(() => cut.readPhys(0x3000n, 16), notInDump(/truncated/));
  assert.throws(() => cut.readPhys(0x20000n, 16), notInDump(/not in any PT_LOAD/));
});

test('ELF: a program header table past the end of the file is a ParseError', () => {
  const sink = new BufferSink();
  new ElfCoreWriter(sink, { notes: notes(), segments: [{ paddr: 0n, vaddr: 0n, memSize: 0x1000 }] }).finish();
  assert.throws(() => openDump(new BufferSource(sink.bytes().slice(0, 64 + Elf64Phdr.size))), /program header table/);
});

test('flattened: a stream cut in the middle opens with a warning and reads the pages it still holds', () => {
  const chunks: Uint8Array[] = [];
  const flat = new FlattenedWriter((c) => chunks.push(c.slice()));
  const many = every(presentPfns(fixture), 10); // enough pages that descriptor batches go out early
  writeKdump(fixture, flat, many, { codec: 'zlib', compress: purePageCompressor('zlib') });
  flat.end();
  const stream = Buffer.concat(chunks);
  const d = openDump(new BufferSource(stream.subarray(0, Math.floor(stream.length * 0.7))));
  assert.equal(d.format, 'flattened kdump-compressed');
  assert.match(d.warnings.join('\n'), /flattened stream .*truncated/);
  assert.equal(d.vmcoreinfo, fixture.vmcoreinfo);
  assert.deepEqual(d.readPage!(many[0]!), fixture.readPage!(many[0]!));
  assert.throws(() => d.readPage!(many[many.length - 1]!), notInDump(/lost/));
});

test('writer: zero pages share one stored copy, lost pages read as lost in a dump marked incomplete', () => {
  const sink = new BufferSink();
  const { KdumpCompressedWriter } = writerModule;
  const pfns = [1n, 2n, 3n, 9n];
  const bitmap = new Uint8Array(2);
  for (const p of pfns) bitmap[Number(p) >> 3]! |= 1 << Number(p & 7n);
  const w = new KdumpCompressedWriter(sink, {
    pageSize: 4096,
    maxPfn: 16n,
    dumpBitmap: bitmap,
    ramBitmap: new Uint8Array([0xff, 0x7f]),
    utsname: { sysname: 'Linux', nodename: 'n', release: 'r', version: 'v', machine: 'x86_64', domainname: '' },
    codec: 'lzo',
    compress: purePageCompressor('lzo'),
  });
  w.writePage(1n, new Uint8Array(4096).fill(5));
  w.writeZeroPage(2n);
  w.writePage(3n, new Uint8Array(4096));
  w.writeLostPage(9n);
  assert.throws(() => w.writePage(10n, new Uint8Array(4096)), RangeError);
  const res = w.finish();
  assert.deepEqual([res.pagesWritten, res.zeroPages, res.lostPages], [4, 2, 1]);
  const d = open(sink.bytes().slice());
  assert.equal(d.incomplete, true);
  assert.deepEqual(d.readPage(1n), new Uint8Array(4096).fill(5));
  assert.deepEqual(d.readPage(2n), new Uint8Array(4096));
  assert.deepEqual(d.readPage(3n), new Uint8Array(4096));
  assert.throws(() => d.readPage(9n), notInDump(/never written/));
  assert.throws(() => d.readPage(4n), notInDump(/excluded/));
  assert.throws(() => d.readPage(15n), notInDump(/not RAM/));
  assert.deepEqual([...d.presentRuns()], [{ startPfn: 1n, endPfn: 4n }, { startPfn: 9n, endPfn: 10n }]);
});

// Every format × codec, checked against the reference tool where it is installed: dumps made by
// makedumpfile from the real fixture, and dumps made by our writers and then read by makedumpfile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileSource } from '../src/host/file-source.ts';
import { FileSink } from '../src/host/file-sink.ts';
import { BufferSource } from '../src/io/source.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { Dump } from '../src/format/dump.ts';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { loadZstdPageCompressor } from '../src/format/codecs/zstd-compress.ts';
import { FlattenedWriter } from '../src/format/flattened.ts';
import { BufferSink } from '../src/format/sink.ts';
import type { ElfCoreDump } from '../src/format/elf-core.ts';
import type { KdumpCompressedDump } from '../src/format/kdump-compressed.ts';
import { KdumpCompressedWriter } from '../src/format/kdump-compressed-writer.ts';
import { newBitmap, setBit } from '../src/format/bitmap.ts';
import {
  FIXTURE,
  ORACLE_DMESG,
  every,
  hasMakedumpfile,
  hasTool,
  nodeZlibCompressor,
  presentPfns,
  run,
  samePages,
  tempDir,
  utsnameOf,
  writeElf,
  writeKdump,
} from './format-helpers.ts';

const noMdf = hasMakedumpfile ? false : 'makedumpfile is not installed';
let tmp: ReturnType<typeof tempDir>;
let fixture: Dump;
let pfns: bigint[];

before(() => {
  tmp = tempDir();
  const raw = openDump(new FileSource(FIXTURE));
  // Decompress the fixture once; the tests below copy and compare its pages many times.
  const pages = new Map<bigint, Uint8Array>();
  pfns = presentPfns(raw);
  for (const p of pfns) pages.set(p, raw.readPage!(p));
  fixture = Object.assign(Object.create(raw) as Dump, { readPage: (p: bigint) => pages.get(p) ?? raw.readPage!(p) });
});
after(() => tmp.cleanup());

const p = (name: string) => join(tmp.dir, name);
const oracleDmesg = () => readFileSync(ORACLE_DMESG, 'utf8');

function dmesgOf(path: string): string {
  const out = p(`dmesg-${Math.random().toString(36).slice(2)}.txt`);
  const r = run('makedumpfile', ['--dump-dmesg', path, out]);
  assert.equal(r.status, 0, `makedumpfile --dump-dmesg ${path}: ${r.stderr}`);
  return readFileSync(out, 'utf8');
}

test('makedumpfile -l (LZO) re-filter of the fixture reads page-identical to the zlib original', { skip: noMdf }, () => {
  const r = run('makedumpfile', ['-l', '-d', '31', FIXTURE, p('lzo.kdump')]);
  assert.equal(r.status, 0, r.stderr);
  const d = openDump(new FileSource(p('lzo.kdump')));
  assert.deepEqual(d.compression, ['lzo']);
  assert.equal(d.pagesPresent(), fixture.pagesPresent());
  assert.equal(samePages(fixture, d, pfns), pfns.length);
});

test('makedumpfile -F (flattened) output is read directly, page-identical, without rebuilding it', { skip: noMdf }, () => {
  const r = run('makedumpfile', ['-F', '-c', '-d', '31', FIXTURE]);
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(p('flat.kdump'), r.stdout);
  const d = openDump(new FileSource(p('flat.kdump')));
  assert.equal(d.format, 'flattened kdump-compressed');
  assert.deepEqual(d.warnings, []);
  assert.equal(d.vmcoreinfo, fixture.vmcoreinfo);
  samePages(fixture, d, every(pfns, 3));
});

test('our ELF core writer: makedumpfile reads the file (dmesg equals the oracle) and our ELF reader reads it back', { skip: noMdf }, () => {
  ensureOursElf();
  const d = openDump(new FileSource(p('ours.elf'))) as ElfCoreDump;
  assert.equal(d.format, 'ELF64 core');
  assert.equal(d.vmcoreinfo, fixture.vmcoreinfo);
  assert.equal(d.notes.filter((n) => n.name === 'CORE').length, 2);
  assert.equal(d.pagesPresent(), fixture.pagesPresent());
  samePages(fixture, d, pfns);
  assert.equal(dmesgOf(p('ours.elf')), oracleDmesg());
});

test('makedumpfile -E output and its flattened form (-F -E) read page-identical to the original', { skip: noMdf }, () => {
  ensureOursElf();
  const r = run('makedumpfile', ['-E', '-d', '1', p('ours.elf'), p('mdf.elf')]);
  assert.equal(r.status, 0, r.stderr);
  const e = openDump(new FileSource(p('mdf.elf'))) as ElfCoreDump;
  assert.equal(e.format, 'ELF64 core');
  assert.ok(e.loadSegments.length > 0);
  // -d 1 drops zero pages: compare every page makedumpfile kept, and check dropped ones are zero.
  let kept = 0;
  for (const pfn of pfns) {
    const page = fixture.readPage!(pfn);
    if (e.hasPage(pfn)) {
      kept++;
      assert.deepEqual(e.readPage(pfn), page);
    } else {
      assert.ok(page.every((b) => b === 0), `pfn 0x${pfn.toString(16)} dropped by -d 1 but not zero`);
    }
  }
  assert.ok(kept > pfns.length / 2);
  const f = run('makedumpfile', ['-F', '-E', '-d', '1', p('ours.elf')]);
  assert.equal(f.status, 0, f.stderr);
  const fe = openDump(new BufferSource(f.stdout));
  assert.equal(fe.format, 'flattened ELF64 core');
  samePages(e, fe, every(pfns.filter((x) => e.hasPage(x)), 4));
});

let oursElf = false;
function ensureOursElf(): void {
  if (oursElf) return;
  const sink = new FileSink(p('ours.elf'));
  writeElf(fixture, sink).finish();
  sink.close();
  oursElf = true;
}

for (const codec of ['zlib', 'lzo'] as const) {
  test(`our kdump-compressed writer with ${codec}: makedumpfile --dump-dmesg equals the oracle, pages read back identical`, { skip: noMdf }, () => {
    const sink = new FileSink(p(`ours-${codec}.kdump`));
    // Native zlib for the whole dump (fflate's compressor is covered on samples below).
    const compress = codec === 'zlib' ? nodeZlibCompressor : purePageCompressor(codec);
    const res = writeKdump(fixture, sink, pfns, { codec, compress });
    sink.close();
    assert.equal(res.pagesWritten, pfns.length);
    const d = openDump(new FileSource(p(`ours-${codec}.kdump`)));
    assert.deepEqual(d.compression, [codec]);
    assert.equal(d.header.headerVersion, 6);
    assert.equal(d.pagesPresent(), BigInt(pfns.length));
    samePages(fixture, d, every(pfns, 2));
    assert.equal(dmesgOf(p(`ours-${codec}.kdump`)), oracleDmesg());
    // makedumpfile decompresses every page of our file (zlib / liblzo) to re-save it: compare all.
    const r = run('makedumpfile', ['-c', '-d', '0', p(`ours-${codec}.kdump`), p(`resaved-${codec}.kdump`)]);
    assert.equal(r.status, 0, r.stderr);
    const back = openDump(new FileSource(p(`resaved-${codec}.kdump`)));
    assert.equal(back.pagesPresent(), BigInt(pfns.length));
    samePages(fixture, back, every(pfns, 2));
  });
}

test('our kdump-compressed writer with snappy and zstd: pages read back identical', async () => {
  const sample = every(pfns, 20);
  const compressors = { snappy: purePageCompressor('snappy'), zstd: await loadZstdPageCompressor() };
  for (const [codec, compress] of Object.entries(compressors)) {
    const sink = new BufferSink();
    writeKdump(fixture, sink, sample, { codec: codec as 'snappy' | 'zstd', compress });
    const d = openDump(new BufferSource(sink.bytes().slice()));
    assert.deepEqual(d.compression, [codec]);
    assert.equal(samePages(fixture, d, sample), sample.length);
  }
});

test('our flattened writer: read directly, and makedumpfile -R rebuilds the same file our plain writer makes', () => {
  const sample = every(pfns, 10);
  const plain = new BufferSink();
  writeKdump(fixture, plain, sample, { codec: 'lzo', compress: purePageCompressor('lzo') });
  const chunks: Uint8Array[] = [];
  const flat = new FlattenedWriter((c) => chunks.push(c.slice()));
  writeKdump(fixture, flat, sample, { codec: 'lzo', compress: purePageCompressor('lzo') });
  flat.end();
  const stream = Buffer.concat(chunks);
  const d = openDump(new BufferSource(stream));
  assert.equal(d.format, 'flattened kdump-compressed');
  samePages(fixture, d, sample);
  assert.deepEqual((d.source as { read(o: number, n: number): Uint8Array }).read(0, plain.length), plain.bytes());
  if (hasMakedumpfile) {
    const r = run('makedumpfile', ['-R', p('rebuilt.kdump')], stream);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(p('rebuilt.kdump'))), plain.bytes());
  }
});

test('header versions 1-6: the same pages read from files written with each version', () => {
  const sample = every(pfns, 50);
  for (let v = 1; v <= 6; v++) {
    const sink = new BufferSink();
    writeKdump(fixture, sink, sample, { codec: 'zlib', compress: purePageCompressor('zlib'), headerVersion: v });
    const d = openDump(new BufferSource(sink.bytes().slice()));
    assert.equal(d.header.headerVersion, v);
    assert.equal(d.maxPfn, fixture.maxPfn);
    assert.equal(d.dumpLevel, 31);
    // Notes exist from v4 on; VMCOREINFO from v3 on.
    assert.equal(d.notes.length > 0, v >= 4, `v${v} notes`);
    assert.equal(d.vmcoreinfo === fixture.vmcoreinfo, v >= 3, `v${v} vmcoreinfo`);
    samePages(fixture, d, sample);
  }
});

test('a big-endian kdump-compressed file (s390x, ppc64 byte order) reads the same pages and notes', () => {
  const sample = every(pfns, 50);
  const sink = new BufferSink();
  writeKdump(fixture, sink, sample, { codec: 'snappy', compress: purePageCompressor('snappy'), bigEndian: true });
  const d = openDump(new BufferSource(sink.bytes().slice())) as KdumpCompressedDump;
  assert.equal(d.littleEndian, false);
  assert.equal(d.maxPfn, fixture.maxPfn);
  assert.equal(d.vmcoreinfo, fixture.vmcoreinfo);
  assert.deepEqual(d.notes.map((n) => [n.name, n.type, n.desc.length]), fixture.notes.map((n) => [n.name, n.type, n.desc.length]));
  samePages(fixture, d, sample);
});

test('stored pages copy into a new file without recompressing (storedPage + writeStoredPage)', () => {
  const src = openDump(new FileSource(FIXTURE)) as KdumpCompressedDump;
  const sample = every(pfns, 25);
  const bitmap = newBitmap(Number(src.maxPfn));
  for (const x of sample) setBit(bitmap, Number(x));
  const sink = new BufferSink();
  const w = new KdumpCompressedWriter(sink, { pageSize: 4096, maxPfn: src.maxPfn, dumpBitmap: bitmap, utsname: utsnameOf(src), codec: 'zlib', compress: purePageCompressor('zlib') });
  for (const x of sample) {
    const { flags, data } = src.storedPage(x);
    w.writeStoredPage(x, flags, data);
  }
  w.finish();
  const d = openDump(new BufferSource(sink.bytes().slice()));
  samePages(fixture, d, sample);
});

test('single-bitmap kdump-compressed files (old makedumpfile/diskdump) read: the one bitmap says what is dumped', () => {
  const sample = every(pfns, 50);
  const sink = new BufferSink();
  writeKdump(fixture, sink, sample, { codec: 'zlib', compress: purePageCompressor('zlib'), singleBitmap: true, headerVersion: 2 });
  const d = openDump(new BufferSource(sink.bytes().slice())) as KdumpCompressedDump;
  assert.equal(d.twoBitmaps, false);
  assert.equal(d.pagesPresent(), BigInt(sample.length));
  samePages(fixture, d, sample);
  assert.throws(() => d.readPage(sample[0]! + 1n), /excluded/);
});

const hasQemu = hasTool('qemu-system-x86_64');

test('QEMU dump-guest-memory: its ELF core and its kdump-compressed (-z, flattened) of one guest read page-identical', { skip: hasQemu ? false : 'qemu-system-x86_64 is not installed' }, () => {
  const monitor = `stop\ndump-guest-memory ${p('qemu.elf')}\ndump-guest-memory -z ${p('qemu.kdump')}\nquit\n`;
  const r = run('qemu-system-x86_64', ['-m', '32', '-display', 'none', '-monitor', 'stdio', '-serial', 'none', '-accel', 'tcg', '-no-reboot'], new TextEncoder().encode(monitor));
  assert.equal(r.status, 0, r.stderr);
  const e = openDump(new FileSource(p('qemu.elf'))) as ElfCoreDump;
  const z = openDump(new FileSource(p('qemu.kdump')));
  assert.equal(e.format, 'ELF64 core');
  assert.equal(z.format, 'flattened kdump-compressed');
  assert.deepEqual(e.notes.map((n) => n.name), ['CORE', 'QEMU']);
  assert.deepEqual(z.notes.map((n) => n.name), ['CORE', 'QEMU']);
  assert.deepEqual(e.notes[0]!.desc, z.notes[0]!.desc); // the same NT_PRSTATUS
  assert.equal(e.pagesPresent(), z.pagesPresent());
  const all = presentPfns(e);
  for (const pfn of all) assert.equal(z.hasPage(pfn), true);
  samePages(e, z, all);
});

const hasCrash = hasTool('crash', '--version');

test('crash --osrelease opens the files our writers make (kdump-compressed, flattened, ELF)', { skip: hasCrash ? false : 'crash is not installed' }, () => {
  const sample = every(pfns, 40);
  const files: [string, (sink: FileSink) => void][] = [
    ['crash.kdump', (s) => writeKdump(fixture, s, sample, { codec: 'lzo', compress: purePageCompressor('lzo') })],
    ['crash.elf', (s) => writeElf(fixture, s).finish()],
  ];
  for (const [name, write] of files) {
    const sink = new FileSink(p(name));
    write(sink);
    sink.close();
  }
  const chunks: Uint8Array[] = [];
  const flat = new FlattenedWriter((c) => chunks.push(c.slice()));
  writeKdump(fixture, flat, sample, { codec: 'zlib', compress: purePageCompressor('zlib') });
  flat.end();
  writeFileSync(p('crash.flat'), Buffer.concat(chunks));
  for (const name of ['crash.kdump', 'crash.elf', 'crash.flat']) {
    const r = run('crash', ['--osrelease', p(name)]);
    assert.equal(r.stdout.toString().trim(), String(fixture.header.release), `crash --osrelease ${name}: ${r.stderr}`);
  }
});

// Page codecs: our LZO1X against liblzo2 (through koffi: src/host/native-codecs.ts; tests skip without
// Debian's liblzo2-2), round trips of every codec, and damaged input giving errors, never hangs or
// wrong lengths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lzo1xCompress, lzo1xCompressInto, lzo1xDecompress, lzo1xMaxCompressedLength, LzoError } from '../src/format/codecs/lzo1x.ts';
import { FileSource } from '../src/host/file-source.ts';
import { openDump } from '../src/format/open-dump.ts';
import { presentPfns } from './format-helpers.ts';
import { decoderFor, codecFlag, pageDecoders, type CodecName } from '../src/format/codecs/index.ts';
import { FlattenedWriter } from '../src/format/flattened.ts';
import { BufferSource } from '../src/io/source.ts';
import { readFileSync } from 'node:fs';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { loadZstdPageCompressor } from '../src/format/codecs/zstd-compress.ts';

import { liblzo2 } from '../src/host/native-codecs.ts';

const liblzo = liblzo2();
const NO_LIBLZO = 'liblzo2 is not installed (apt install liblzo2-2) or koffi cannot load it';

function rng(seed: number) {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
}

/** Inputs that exercise every LZO instruction: literal runs of all lengths, near/far matches, zero runs. */
function samples(): Uint8Array[] {
  const r = rng(42);
  const out: Uint8Array[] = [new Uint8Array(0), new Uint8Array(4096)];
  for (const n of [1, 2, 3, 4, 5, 17, 18, 19, 238, 239, 240, 300, 1000, 4096]) out.push(new Uint8Array(n).map(r));
  out.push(new Uint8Array(4096).map((_, i) => (i % 7 === 0 ? r() : 0x41)));
  out.push(new TextEncoder().encode('the quick brown fox jumps over the lazy dog. '.repeat(100)));
  const zeros = new Uint8Array(70000);
  zeros.set(new Uint8Array(50).map(r), 30000);
  out.push(zeros);
  // Repeats at distances in each match class: <=2 KiB, 2-16 KiB, 16-48 KiB, and beyond.
  for (const dist of [100, 3000, 20000, 45000, 60000]) {
    const b = new Uint8Array(dist + 3000).map(r);
    b.copyWithin(dist, 0, 2500);
    out.push(b);
  }
  // Short repeats with 1-3 literals between them.
  out.push(new Uint8Array(4096).map((_, i) => [1, 2, 3, 4, 9, 1, 2, 3, 4, 8, 7][i % 11]! ^ (i % 97 === 0 ? r() : 0)));
  return out;
}

test('lzo1x: our compressor round-trips every sample through our decompressor', () => {
  for (const s of samples()) assert.deepEqual(lzo1xDecompress(lzo1xCompress(s), s.length), s);
});

test('lzo1x: liblzo decodes our output, and we decode liblzo output (lzo1x_1_compress)', { skip: liblzo ? false : NO_LIBLZO }, () => {
  for (const s of samples()) {
    if (s.length === 0) continue;
    assert.deepEqual(new Uint8Array(liblzo!.decompress(lzo1xCompress(s), s.length)), s);
    assert.deepEqual(lzo1xDecompress(liblzo!.compress(s), s.length), s);
  }
});

test('lzo1x: on real kernel pages liblzo decodes every page we compress, the output is within 2 % of lzo1x_1_compress\'s, and does not depend on earlier calls', { skip: liblzo ? false : NO_LIBLZO }, () => {
  const dump = openDump(new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'));
  const pages = presentPfns(dump, 3000).map((p) => dump.readPage!(p));
  const out = new Uint8Array(lzo1xMaxCompressedLength(4096));
  let ours = 0;
  let theirs = 0;
  for (const p of pages) {
    const n = lzo1xCompressInto(p, out);
    assert.deepEqual(new Uint8Array(liblzo!.decompress(out.subarray(0, n), 4096)), p);
    ours += Math.min(n, 4096);
    theirs += Math.min(liblzo!.compress(p).length, 4096);
  }
  assert.ok(ours <= theirs * 1.02, `ours ${ours} bytes, liblzo ${theirs}`);
  // The hash table is shared across calls: the same page gives the same bytes whatever came before.
  const again = pages.map((p) => lzo1xCompress(p));
  for (let i = pages.length - 1; i >= 0; i -= 97) assert.deepEqual(lzo1xCompress(pages[i]!), again[i]);
  assert.throws(() => lzo1xCompressInto(pages[0]!, new Uint8Array(4096)), RangeError);
});

test('lzo1x: damaged streams throw LzoError (never hang, never overrun)', () => {
  const r = rng(7);
  const good = lzo1xCompress(new TextEncoder().encode('abcdefgh'.repeat(512)));
  for (let i = 0; i < 3000; i++) {
    const bad = good.slice(0, 1 + (r() * good.length >> 8));
    for (let k = 0; k < 3; k++) bad[(r() * bad.length) >> 8] = r();
    try {
      const out = lzo1xDecompress(bad, 4096);
      assert.equal(out.length, 4096);
    } catch (e) {
      assert.ok(e instanceof LzoError, String(e));
    }
  }
  assert.throws(() => lzo1xDecompress(good, 4095), LzoError);
  assert.throws(() => lzo1xDecompress(new Uint8Array([0x00, 0x00, 0x00, 0x00]), 4096), LzoError);
});

test('codecs: each page codec decodes what its compressor wrote, chosen by the descriptor flag', async () => {
  const page = new Uint8Array(4096).map((_, i) => (i * 31) % 251 & (i & 64 ? 0xff : 0x0f));
  const out = new Uint8Array(4096 + 1024);
  const compressors: Record<CodecName, (p: Uint8Array, o: Uint8Array) => number> = {
    zlib: purePageCompressor('zlib'),
    lzo: purePageCompressor('lzo'),
    snappy: purePageCompressor('snappy'),
    zstd: await loadZstdPageCompressor(),
  };
  for (const [name, compress] of Object.entries(compressors) as [CodecName, typeof compressors.zlib][]) {
    const n = compress(page, out);
    assert.ok(n < 4096, `${name} shrinks the page`);
    const codec = decoderFor(codecFlag(name))!;
    assert.equal(codec.name, name);
    assert.deepEqual(codec.decompress(out.slice(0, n), 4096), page);
  }
  // Random data does not shrink: the compressors say so, and the writer stores it raw.
  const noise = new Uint8Array(4096).map(rng(3));
  for (const c of Object.values(compressors)) assert.ok(c(noise, out) >= 4096);
});

test('codecs: the Node zlib decoder (nodePageDecoders) decodes pages like fflate and rejects oversized ones; the pure table is left as it was', async () => {
  const { nodePageDecoders } = await import('../src/host/node-codecs.ts');
  const { zlibSync } = await import('fflate');
  const page = new Uint8Array(4096).map((_, i) => i & 0x3f);
  const before = decoderFor(codecFlag('zlib'))!.decompress;
  const codec = decoderFor(codecFlag('zlib'), nodePageDecoders)!;
  assert.notEqual(codec.decompress, before);
  assert.equal(decoderFor(codecFlag('zlib'))!.decompress, before, 'no global is replaced');
  assert.deepEqual(new Uint8Array(codec.decompress(zlibSync(page, { level: 1 }), 4096)), page);
  assert.throws(() => codec.decompress(zlibSync(new Uint8Array(9000), { level: 1 }), 4096));
  assert.throws(() => codec.decompress(new Uint8Array([1, 2, 3]), 4096));
});

test('codecs: the Node zlib decoder gives the page or the error zlib.inflateSync gives, on clean, damaged, cut, padded, short and oversized pages, and a clean page again after each', async () => {
  const { nodePageDecoders } = await import('../src/host/node-codecs.ts');
  const zlib = await import('node:zlib');
  const decode = decoderFor(codecFlag('zlib'), nodePageDecoders)!.decompress;
  const reference = (d: Uint8Array, n: number) => zlib.inflateSync(d, { maxOutputLength: n + 1 });
  const page = new Uint8Array(4096).map((_, i) => (i * 31) & 0x7f);
  const good = zlib.deflateSync(page, { level: 1 });
  const cases: [string, Uint8Array][] = [
    ['clean', good],
    ['not zlib', new Uint8Array([1, 2, 3, 4, 5, 6])],
    ['cut short', good.subarray(0, good.length - 10)],
    ['bytes after the stream', Buffer.concat([good, Buffer.from([9, 9, 9])])],
    ['two pages of data', zlib.deflateSync(Buffer.alloc(8192, 1))],
    ['a page and a byte', zlib.deflateSync(Buffer.alloc(4097, 1))],
    ['100 bytes', zlib.deflateSync(Buffer.alloc(100, 1))],
    ['empty', new Uint8Array(0)],
    ['raw deflate (no zlib header)', zlib.deflateRawSync(page)],
  ];
  const outcome = (f: (d: Uint8Array, n: number) => Uint8Array, d: Uint8Array) => {
    try {
      return Buffer.from(f(d, 4096)).toString('hex');
    } catch (e) {
      return `error: ${(e as Error).message}`;
    }
  };
  for (const [name, d] of cases) {
    assert.equal(outcome(decode, d), outcome(reference, d), name);
    assert.deepEqual(new Uint8Array(decode(good, 4096)), page, `a clean page after: ${name}`);
  }
});

test('codecs: openDump reads compressed pages with the decoders it is given (plain and flattened), the pure ones by default', () => {
  const calls: string[] = [];
  const counting = pageDecoders.map((c) => ({ ...c, decompress: (d: Uint8Array, n: number) => (calls.push(c.name), c.decompress(d, n)) }));
  const path = new URL('../fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump', import.meta.url).pathname;
  const plain = openDump(new FileSource(path));
  const pfns = presentPfns(plain, 256);
  const want = pfns.map((p) => plain.readPage!(p));
  assert.deepEqual(calls, [], 'the default table is the pure one');
  const counted = openDump(new FileSource(path), { decoders: counting });
  assert.deepEqual(pfns.map((p) => counted.readPage!(p)), want);
  const used = calls.length;
  assert.ok(used > 0 && calls.every((c) => c === 'zlib'), `${used} zlib pages decoded by the given table`);
  // The same file as a flattened stream (makedumpfile -F): the inner reader gets the table too.
  const chunks: Uint8Array[] = [];
  const flat = new FlattenedWriter((c) => chunks.push(c.slice()));
  flat.write(0, readFileSync(path));
  flat.end();
  const fd = openDump(new BufferSource(new Uint8Array(Buffer.concat(chunks))), { decoders: counting });
  assert.match(fd.format, /flattened/);
  assert.deepEqual(pfns.map((p) => fd.readPage!(p)), want);
  assert.equal(calls.length, 2 * used);
});

test('codecs: the zstd CLI decodes our zstd pages, and our decoder reads zstd CLI frames', { skip: spawnSync('zstd', ['--version']).error ? 'zstd is not installed' : false }, async () => {
  const compress = await loadZstdPageCompressor();
  const r = rng(11);
  const pages = Array.from({ length: 24 }, (_, k) => new Uint8Array(4096).map((_, i) => (i % (k + 3) === 0 ? r() : k)));
  const out = new Uint8Array(5000);
  const frames = pages.map((p) => out.slice(0, compress(p, out)));
  // Concatenated frames decode to the concatenated pages.
  const dec = spawnSync('zstd', ['-d', '-c', '-q'], { input: Buffer.concat(frames) });
  assert.equal(dec.status, 0, dec.stderr?.toString());
  assert.deepEqual(new Uint8Array(dec.stdout), new Uint8Array(Buffer.concat(pages)));
  const zstd = decoderFor(codecFlag('zstd'))!;
  for (const p of pages.slice(0, 6)) {
    const enc = spawnSync('zstd', ['-1', '-c', '-q'], { input: p });
    assert.deepEqual(zstd.decompress(new Uint8Array(enc.stdout), 4096), p);
  }
});

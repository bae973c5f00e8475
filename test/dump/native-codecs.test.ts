// The native page compressors (libdeflate, liblzo2 through koffi) on the real Debian 6.1 dump's
// pages: every page decodes back with our decoders (and LZO ones with liblzo's own decoder), the
// sizes stay within 2 % of makedumpfile's compressors; and the fallbacks when they are switched off.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { lzo1xDecompress } from '../../src/format/codecs/lzo1x.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { libdeflateCompressor, liblzoCompressor } from '../../src/host/native-codecs.ts';
import { presentPfns } from '../format-helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const dump = openDump(new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'));
const pages = presentPfns(dump, 2000).map((p) => dump.readPage!(p));
const out = new Uint8Array(4096 + 64);

test('libdeflate: zlib pages every zlib reads; on a -d 31 dump\'s kernel pages level 2 is smaller than zlib level 1 (makedumpfile -c), level 1 within 2 % of it', { skip: libdeflateCompressor(2) ? false : 'libdeflate.so.0 or koffi is not installed' }, () => {
  let level1 = 0;
  for (const p of pages) level1 += Math.min(zlib.deflateSync(p, { level: 1 }).length, p.length);
  for (const [level, bound] of [[2, 1], [1, 1.02]] as const) {
    const compress = libdeflateCompressor(level)!;
    let ours = 0;
    for (const p of pages) {
      const n = compress(p, out);
      if (n < p.length) assert.deepEqual(new Uint8Array(zlib.inflateSync(out.subarray(0, n))), p);
      ours += Math.min(n, p.length);
    }
    assert.ok(ours <= level1 * bound, `libdeflate level ${level}: ${ours} bytes, zlib level 1 ${level1}`);
    // A page that does not shrink is reported so (stored raw by the writer).
    const noise = new Uint8Array(4096).map(() => Math.floor(Math.random() * 256));
    assert.ok(compress(noise, out) >= 4096);
  }
});

test('liblzo2: LZO pages our decoder and liblzo read, the same bytes as lzo1x_1_compress', { skip: liblzoCompressor() ? false : 'liblzo2.so.2 or koffi is not installed' }, () => {
  const compress = liblzoCompressor()!;
  let lzo: { compress(b: Uint8Array): Buffer } | undefined;
  try {
    lzo = createRequire(import.meta.url)('lzo');
  } catch {
    lzo = undefined;
  }
  for (const p of pages) {
    const n = compress(p, out);
    if (n >= p.length) continue;
    assert.deepEqual(lzo1xDecompress(out.subarray(0, n), p.length), p);
    if (lzo) assert.deepEqual(out.subarray(0, n), new Uint8Array(lzo.compress(p)), 'same stream as minilzo');
  }
  // A small output buffer: compressed through the scratch buffer, or reported as not shrinking.
  const small = new Uint8Array(600);
  for (const p of pages.slice(0, 50)) {
    const n = compress(p, small);
    if (n < p.length) assert.deepEqual(lzo1xDecompress(small.subarray(0, n), p.length), p);
  }
});

test('VMCORE_TS_NATIVE_CODECS=0 switches the native compressors off', () => {
  const r = spawnSync(
    process.execPath,
    [...NODE_ARGS, '--import', 'tsx', '-e', "import('./src/host/native-codecs.ts').then((m) => console.log(String(m.libdeflateCompressor(2)) + ' ' + String(m.liblzoCompressor())))"],
    { encoding: 'utf8', env: { ...process.env, VMCORE_TS_NATIVE_CODECS: '0' } },
  );
  assert.equal(r.stdout.trim(), 'undefined undefined', r.stderr);
});

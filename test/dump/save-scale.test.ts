// Issue 16's save changes for large dumps: the classifier's struct page reads into one reused
// buffer (same bytes as the allocating reader, from the page tables of the fixture's kernel), and
// the default number of compression workers by codec, input size and CPUs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelMemory } from '../../src/analyze/kernel-memory.ts';
import { findMemMap, PageClassifier, pageLayout, structPageReader, structPageScratchReader, emptyCounts } from '../../src/analyze/page-class.ts';
import { VmcoreInfo } from '../../src/analyze/vmcoreinfo.ts';
import type { PageCompressor } from '../../src/format/codecs/compress.ts';
import type { Dump } from '../../src/format/dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { defaultThreads, LZO_WORKERS_FROM } from '../../src/cli/vmcore/save.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');

/** The fixture with a readPhysInto (an ELF core has one; the kdump reader copies), counting its calls. */
function withInto(d: Dump): { dump: Dump; calls: () => number } {
  let n = 0;
  const dump = Object.create(d) as Dump & { readPhysInto: Dump['readPhysInto'] };
  dump.readPhysInto = (paddr, dst, off, length) => {
    n++;
    dst.set(d.readPhys(paddr, length), off);
  };
  return { dump, calls: () => n };
}

test('struct page scratch reader: the same bytes as the allocating reader, read in place into one buffer', () => {
  const { dump, calls } = withInto(openDump(new FileSource(FIXTURE)));
  const vi = new VmcoreInfo(dump.vmcoreinfo!);
  const km = new KernelMemory(dump, vi);
  const plain = structPageReader(km);
  const scratch = structPageScratchReader(km);
  const ranges = findMemMap(vi, plain, Number(dump.maxPfn));
  let compared = 0;
  let firstBuffer: ArrayBufferLike | undefined;
  for (const r of ranges) {
    for (let pfn = r.startPfn; pfn + 512 <= r.endPfn; pfn += 512 * 37) {
      const va = r.vaddr + BigInt((pfn - r.startPfn) * 64);
      let want: Uint8Array;
      try {
        want = plain(va, 512 * 64);
      } catch {
        continue; // struct pages the -d 31 fixture does not hold
      }
      const got = scratch(va, 512 * 64);
      assert.deepEqual(Buffer.from(got), Buffer.from(want), `struct pages of pfn ${pfn}`);
      firstBuffer ??= got.buffer;
      assert.equal(got.buffer, firstBuffer, 'one buffer reused');
      compared++;
    }
  }
  assert.ok(compared > 5, `compared ${compared} chunks`);
  assert.ok(calls() >= compared, 'read in place (readPhysInto)');
});

test('struct page scratch reader: the classifier excludes the same pages as with the allocating reader', () => {
  const dump = withInto(openDump(new FileSource(FIXTURE))).dump;
  const vi = new VmcoreInfo(dump.vmcoreinfo!);
  const km = new KernelMemory(dump, vi);
  const layout = pageLayout(vi);
  const max = Number(dump.maxPfn);
  const ranges = findMemMap(vi, structPageReader(km), max);
  const run = (reader: ReturnType<typeof structPageReader>) => {
    const keep = new Uint8Array(Math.ceil(max / 8)).fill(0xff);
    const counts = emptyCounts();
    new PageClassifier(layout, ranges, reader).exclude(0, max, 31, keep, counts);
    return { keep: Buffer.from(keep).toString('base64'), counts };
  };
  const a = run(structPageReader(km));
  const b = run(structPageScratchReader(km));
  assert.deepEqual(b, a);
  assert.ok(a.counts.free > 0);
});

test('default compression workers: one per CPU; none on one CPU; liblzo2 and libzstd in-thread below 16 GiB of input, in workers (one per CPU) from there', () => {
  assert.equal(defaultThreads('zlib', 2 ** 30, 2, true), 2);
  assert.equal(defaultThreads('zlib', undefined, 1, true), 0);
  assert.equal(defaultThreads('lzo', 2 ** 30, 2, true), 0);
  assert.equal(defaultThreads('lzo', undefined, 4, true), 0);
  assert.equal(defaultThreads('lzo', LZO_WORKERS_FROM - 1, 2, true), 0);
  assert.equal(defaultThreads('lzo', LZO_WORKERS_FROM, 2, true), 2);
  assert.equal(defaultThreads('lzo', LZO_WORKERS_FROM, 8, true), 8);
  assert.equal(defaultThreads('lzo', 64 * 2 ** 30, 1, true), 0);
  // Our LZO1X in TypeScript (no liblzo2) is slower per page: workers whatever the size.
  assert.equal(defaultThreads('lzo', 2 ** 30, 2, false), 2);
  // libzstd likewise; the WebAssembly zstd (no libzstd) in workers.
  assert.equal(defaultThreads('zstd', 2 ** 30, 4, true), 0);
  assert.equal(defaultThreads('zstd', LZO_WORKERS_FROM, 4, true), 4);
  assert.equal(defaultThreads('zstd', 2 ** 30, 4, false), 4);
});

/**
 * Compresses fixture pages (every `step`-th present frame) with both compressors and asserts the
 * same size and, where a page shrank, the same bytes. Stops after `maxCompared` pages that shrank
 * under either, or `maxVisited` pages.
 */
function sameFrames(x: PageCompressor, y: PageCompressor, opts: { step: number; maxCompared?: number; maxVisited?: number }): { compared: number; visited: number } {
  const d = openDump(new FileSource(FIXTURE));
  const a = new Uint8Array(4096 + 64);
  const b = new Uint8Array(4096 + 64);
  let compared = 0;
  let visited = 0;
  for (const r of d.presentRuns()) {
    for (let p = Number(r.startPfn); p < Number(r.endPfn); p += opts.step) {
      if (compared >= (opts.maxCompared ?? Infinity) || visited >= (opts.maxVisited ?? Infinity)) return { compared, visited };
      const page = d.readPhys(BigInt(p * 4096), 4096);
      const n = x(page, a);
      const m = y(page, b);
      visited++;
      assert.equal(n, m, `pfn ${p}`);
      if (n >= 4096) continue; // stored raw by both
      assert.ok(Buffer.from(a.subarray(0, n)).equals(b.subarray(0, m)), `pfn ${p}`);
      compared++;
    }
  }
  return { compared, visited };
}

test('libzstd pages: the same frames as the WebAssembly zstd, byte for byte, on the fixture kernel memory; taken by pageCompressor', async (t) => {
  const { libzstdCompressor } = await import('../../src/host/native-codecs.ts');
  const { loadZstdPageCompressor } = await import('../../src/format/codecs/zstd-compress.ts');
  const { pageCompressor, pageCompressorName } = await import('../../src/host/page-compress.ts');
  const native = libzstdCompressor(1);
  if (!native) return t.skip('libzstd (Debian libzstd1) or koffi is not installed');
  const { compared } = sameFrames(native, await loadZstdPageCompressor(1), { step: 5, maxCompared: 3000 });
  assert.ok(compared > 500, `compared ${compared} pages`);
  await pageCompressor('zstd');
  assert.equal(pageCompressorName('zstd'), 'libzstd level 1');
});

test('zstd in a worker whose parent checked libzstd (zstdChecked): the same frames, without the WebAssembly build', async (t) => {
  const { libzstdCompressor } = await import('../../src/host/native-codecs.ts');
  const { loadZstdPageCompressor } = await import('../../src/format/codecs/zstd-compress.ts');
  const { pageCompressor } = await import('../../src/host/page-compress.ts');
  if (!libzstdCompressor(1)) return t.skip('libzstd (Debian libzstd1) or koffi is not installed');
  const trusted = await pageCompressor('zstd', { zstdChecked: true });
  const { visited } = sameFrames(trusted, await loadZstdPageCompressor(1), { step: 41, maxVisited: 300 });
  assert.ok(visited >= 300);
});

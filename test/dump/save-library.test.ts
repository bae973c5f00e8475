// The save as a library (src/dump/save.ts saveDump, what vmcore-ts save only calls): ELF inputs are
// read straight into the save's buffers (ByteSource.readInto, Dump.readPhysInto, no second fd), the
// compressors and workers it uses are the ones it is given, and a full disk retries at the next
// dump level only on a sink that can start over.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compressBatch, pureCompression, type BatchWorkers, type InputReader, type PageCompression } from '../../src/dump/batch.ts';
import { hostCompression, leastLoaded } from '../../src/host/worker-pool.ts';
import { kernelPagesOnly } from '../../src/analyze/page-class.ts';
import { libdeflateCompressor } from '../../src/host/native-codecs.ts';
import { readBack } from '../../src/dump/output.ts';
import { saveDump, type SaveReporter, type SaveSink } from '../../src/dump/save.ts';
import { pageDecoders } from '../../src/format/codecs/index.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSink } from '../../src/format/sink.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { nodePageDecoders } from '../../src/host/node-codecs.ts';
import { BufferSource, type ByteSource } from '../../src/io/source.ts';
import { presentPfns, writeElf } from '../format-helpers.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const dir = mkdtempSync(join(tmpdir(), 'save-library-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture as an ELF core file (one PT_LOAD per run of pages). */
const elfPath = (() => {
  const sink = new BufferSink();
  writeElf(openDump(new FileSource(FIXTURE)), sink).finish();
  const p = join(dir, 'fixture.elf');
  writeFileSync(p, sink.bytes());
  return p;
})();

const quiet: SaveReporter = { warn: () => undefined, progress: () => ({ update: () => undefined, done: () => undefined }), retry: () => assert.fail('no retry') };

test('FileSource.readInto reads into the given buffer at the given offset, short only at the end of the file', () => {
  const src = new FileSource(elfPath);
  try {
    const dst = new Uint8Array(32).fill(0xaa);
    assert.equal(src.readInto(0, dst, 8, 16), 16);
    assert.deepEqual(dst.subarray(8, 24), src.read(0, 16));
    assert.equal(dst[7], 0xaa);
    assert.equal(dst[24], 0xaa);
    assert.equal(src.readInto(src.size - 4, dst, 0, 16), 4);
    assert.equal(src.readInto(src.size, dst, 0, 16), 0);
  } finally {
    src.close();
  }
});

test('ELF core readPhysInto: one readInto of the source inside a PT_LOAD, the same bytes as readPhys; across segments and holes it reads as readPhys does', () => {
  const src = new FileSource(elfPath);
  let intos = 0;
  const counted: ByteSource = { name: src.name, size: src.size, read: (o, n) => src.read(o, n), readInto: (o, d, at, n) => (intos++, src.readInto(o, d, at, n)) };
  try {
    const dump = openDump(counted);
    const pfn = presentPfns(dump, 1)[0]!;
    const dst = new Uint8Array(3 * 4096);
    dump.readPhysInto!(pfn * 4096n, dst, 4096, 8192);
    assert.equal(intos, 1);
    assert.deepEqual(dst.subarray(4096), dump.readPhys(pfn * 4096n, 8192));
    // A range starting in a hole throws as readPhys does.
    const hole = [...dump.presentRuns()][0]!.endPfn;
    assert.throws(() => dump.readPhysInto!(hole * 4096n, dst, 0, 4096), (e: Error) => e.name === 'NotInDumpError');
    // A source without readInto (a buffer) reads the same through readPhys.
    const buffered = openDump(new BufferSource(new Uint8Array(src.read(0, src.size))));
    const dst2 = new Uint8Array(8192);
    buffered.readPhysInto!(pfn * 4096n, dst2, 0, 8192);
    assert.deepEqual(dst2, dst.subarray(4096));
  } finally {
    src.close();
  }
});

test('saveDump from an ELF file reads its pages with readInto (no second descriptor), and the output equals the one from a buffer', async () => {
  const src = new FileSource(elfPath);
  const fds = readdirSync('/proc/self/fd').length;
  let intos = 0;
  let reads = 0;
  const counted: ByteSource = {
    name: src.name,
    size: src.size,
    read: (o, n) => (reads++, src.read(o, n)),
    readInto: (o, d, at, n) => {
      intos++;
      assert.equal(readdirSync('/proc/self/fd').length, fds, 'no descriptor opened since the input');
      return src.readInto(o, d, at, n);
    },
  };
  const save = async (input: ByteSource) => {
    const out = new BufferSink();
    const { report } = await saveDump(openDump(input), { levels: [1], elf: false, codec: undefined, threads: 0 }, out, quiet);
    assert.equal(report.incomplete, false);
    return out.bytes().slice();
  };
  try {
    const fromFile = await save(counted);
    assert.ok(intos > 10, `${intos} readInto calls`);
    const fromBuffer = await save(new BufferSource(new Uint8Array(src.read(0, src.size))));
    assert.ok(Buffer.compare(fromFile, fromBuffer) === 0, 'the same output bytes');
  } finally {
    src.close();
  }
});

test('saveDump compresses with the compression it is given (its compressor, its workers), the pure one by default', async () => {
  const input = openDump(new FileSource(FIXTURE, undefined), { decoders: nodePageDecoders });
  const asked: string[] = [];
  const given: PageCompression = {
    compressor: async (codec) => (asked.push(`compressor ${codec}`), (page) => page.length),
    workers: (size, codec) => (asked.push(`workers ${size} ${codec}`), undefined),
  };
  const out = new BufferSink();
  const { report } = await saveDump(input, { levels: [31], elf: false, codec: 'lzo', threads: 3, compression: given }, out, quiet);
  assert.deepEqual(asked, ['compressor lzo', 'workers 3 lzo']);
  assert.equal(report.incomplete, false);
  // Every page "did not shrink": stored raw, whatever codec the header names.
  const saved = openDump(new BufferSource(out.bytes().slice()), { decoders: pageDecoders });
  const pfns = presentPfns(saved, 64);
  for (const p of pfns) assert.ok(Buffer.compare(saved.readPage!(p), input.readPage!(p)) === 0, `pfn ${p}`);
  const pure = new BufferSink();
  await saveDump(input, { levels: [31], elf: false, codec: 'lzo', threads: 0 }, pure, quiet);
  assert.ok(pure.length < out.length / 2, `pure LZO output ${pure.length} bytes, raw ${out.length}`);
});

test('saveDump retries at the next level on ENOSPC only when the sink can start over; a stream gets its end written', async () => {
  const input = openDump(new FileSource(FIXTURE), { decoders: nodePageDecoders });
  class Disk extends BufferSink implements SaveSink {
    truncates = 0;
    private readonly capacity: number;
    constructor(capacity: number) {
      super();
      this.capacity = capacity;
    }
    override write(offset: number, bytes: Uint8Array): void {
      if (offset + bytes.length > this.capacity) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      super.write(offset, bytes);
    }
    truncate(): void {
      this.truncates++;
      this.length = 0;
    }
  }
  const retries: string[] = [];
  const reporter: SaveReporter = { ...quiet, retry: (stop, level, next) => retries.push(`${stop.code} ${level} -> ${next}`) };
  // Raw pages: level 0 keeps the zero pages level 31 stores once; the disk holds only the smaller.
  const size = async (level: number) => {
    const s = new BufferSink();
    await saveDump(input, { levels: [level], elf: false, codec: undefined, threads: 0 }, s, quiet);
    return s.length;
  };
  const [at0, at31] = [await size(0), await size(31)];
  assert.ok(at0 > at31 + (1 << 20), `${at0} > ${at31}`);
  const capacity = at31 + 4096;
  const disk = new Disk(capacity);
  const { report, level } = await saveDump(input, { levels: [0, 31], elf: false, codec: undefined, threads: 0 }, disk, reporter);
  assert.deepEqual(retries, ['ENOSPC 0 -> 31']);
  assert.equal(disk.truncates, 1);
  assert.equal(level, 31);
  assert.equal(report.stop, undefined);

  // A stream (no truncate) stops at the first level and still writes its end.
  let ended = 0;
  const full = new Disk(capacity);
  const stream: SaveSink = { write: (o, b) => full.write(o, b), end: () => void ended++ };
  retries.length = 0;
  const r2 = await saveDump(input, { levels: [0, 31], elf: false, codec: undefined, threads: 0 }, stream, reporter);
  assert.deepEqual(retries, []);
  assert.equal(r2.level, 0);
  assert.equal(r2.report.stop?.code, 'ENOSPC');
  assert.equal(ended, 1);
});

test('readBack: a saved dump read back counts the pages that do not read; a file that does not open, or holds no readable page, is unusable', async () => {
  const input = openDump(new FileSource(FIXTURE), { decoders: nodePageDecoders });
  const out = new BufferSink();
  const { report } = await saveDump(input, { levels: [31], elf: false, codec: 'zlib', threads: 0 }, out, quiet);
  const whole = out.bytes().slice();
  const back = readBack(new BufferSource(whole), report.scan.pagesKept, nodePageDecoders);
  assert.deepEqual([back.unusable, back.incomplete, back.missing?.count, back.missing?.total], [undefined, false, 0, report.scan.pagesKept]);
  assert.match(readBack(new BufferSource(new Uint8Array(4096)), 1).unusable ?? '', /^it does not open/);
  // Cut right after the bitmaps: it opens, but none of its pages reads.
  const cut = openDump(new BufferSource(whole)) as { bitmap2Offset?: number };
  const noPages = readBack(new BufferSource(whole.subarray(0, cut.bitmap2Offset! + 2 * 4096)), 1);
  assert.match(noPages.unusable ?? '', /^no page of it reads/);
});

test('saveDump with workers: batches answered out of order and at uneven speeds come out as the in-thread save\'s bytes; four batches a worker are out at once', async () => {
  const input = openDump(new FileSource(FIXTURE), { decoders: nodePageDecoders });
  const compressor = await pureCompression.compressor('lzo');
  let out = 0;
  let most = 0;
  let n = 0;
  const workers: BatchWorkers = {
    size: 2,
    run: (req) => {
      most = Math.max(most, ++out);
      // Every third batch is slow: later ones overtake it.
      const delay = n++ % 3 === 0 ? 8 : 1;
      return new Promise((resolve) => setTimeout(() => (out--, resolve(compressBatch(req, compressor))), delay));
    },
    close: async () => undefined,
  };
  const given: PageCompression = { compressor: async () => compressor, workers: () => workers };
  const withWorkers = new BufferSink();
  await saveDump(input, { levels: [31], elf: false, codec: 'lzo', threads: 2, compression: given }, withWorkers, quiet);
  const inThread = new BufferSink();
  await saveDump(input, { levels: [31], elf: false, codec: 'lzo', threads: 0 }, inThread, quiet);
  assert.ok(n > 20, `${n} batches`);
  assert.equal(most, 2 * 4 + 1);
  assert.ok(Buffer.compare(withWorkers.bytes(), inThread.bytes()) === 0, 'the same bytes');
});

/** The fixture's ELF core with some pages of one PT_LOAD zeroed (in and across batches), for `-d 1`. */
const zeroedElfPath = (() => {
  const bytes = readFileSync(elfPath);
  const seg = openDump(new BufferSource(bytes)).loadSegments!.filter((s) => s.paddr > 0n).sort((a, b) => b.fileSize - a.fileSize)[0]!;
  assert.ok(seg.fileSize >= 300 * 4096, `largest PT_LOAD ${seg.fileSize} bytes`);
  for (const k of [5, 6, 7, 127, 128, 200]) bytes.fill(0, seg.fileOffset + k * 4096, seg.fileOffset + (k + 1) * 4096);
  const p = join(dir, 'zeroed.elf');
  writeFileSync(p, bytes);
  return p;
})();

test('compressBatch reads the pages a batch names, finds their zero pages and marks those that did not read; the pages read by the sender are compressed as they are', async () => {
  const compressor = await pureCompression.compressor('lzo');
  const ps = 4096;
  const file = new Uint8Array(4 * ps);
  for (let i = 0; i < ps; i++) file[ps + i] = i & 0x7f; // page 1 has data, pages 0, 2 and 3 are zero
  const read: InputReader = (offset, dst, at, length) => {
    if (offset >= 3 * ps) throw new Error('EIO');
    dst.set(file.subarray(offset, offset + length), at);
    return length;
  };
  const input = new ArrayBuffer(5 * ps);
  new Uint8Array(input).fill(7, 0, ps); // slot 0: read by the sender, never zero-checked here
  const req = { seq: 1, input, out: new ArrayBuffer(5 * ps), count: 5, pageSize: ps, codecFlag: 4, zeroCheck: true, reads: [1, 0, 3, 4, 3 * ps, 1] };
  const r = compressBatch(req, compressor, read);
  assert.deepEqual([...r.sizes].map((n) => (n > 0 ? 'stored' : n)), ['stored', 0, 'stored', 0, -1]);
  const alone = compressBatch({ seq: 2, input: file.slice(ps, 2 * ps).buffer, out: new ArrayBuffer(ps), count: 1, pageSize: ps, codecFlag: 4 }, compressor);
  assert.equal(r.sizes[2], alone.sizes[0]);
  assert.deepEqual(new Uint8Array(r.out, r.sizes[0]!, r.sizes[2]!), new Uint8Array(alone.out, 0, alone.outLength));
  // Without the zero check, a zero page read here is compressed like any other.
  const kept = compressBatch({ ...req, input: new ArrayBuffer(5 * ps), out: new ArrayBuffer(5 * ps), zeroCheck: false }, compressor, read);
  assert.ok(kept.sizes[1]! > 0 && kept.sizes[3]! > 0);
  assert.equal(kept.sizes[4], -1);
});

test('saveDump with workers that read the input themselves: the in-thread save\'s bytes and zero-page count, also when some of their reads fail or come back short', async () => {
  const compressor = await pureCompression.compressor('lzo');
  const file = new FileSource(zeroedElfPath);
  try {
    const input = openDump(file);
    let reads = 0;
    let failures = 0;
    const save = async (reader: InputReader) => {
      const workers: BatchWorkers = {
        size: 2,
        readsInput: true,
        run: async (req) => compressBatch(req, compressor, reader),
        close: async () => undefined,
      };
      const out = new BufferSink();
      const { report } = await saveDump(input, { levels: [1], elf: false, codec: 'lzo', threads: 2, compression: { compressor: async () => compressor, workers: () => workers } }, out, quiet);
      return { bytes: out.bytes().slice(), zeroPages: report.zeroPages };
    };
    const inThread = new BufferSink();
    const { report } = await saveDump(input, { levels: [1], elf: false, codec: 'lzo', threads: 0 }, inThread, quiet);
    assert.ok(report.zeroPages >= 6, `${report.zeroPages} zero pages`);
    const good = await save((o, d, at, n) => (reads++, file.readInto(o, d, at, n)));
    assert.ok(reads > 10, `${reads} reads in the workers`);
    assert.ok(Buffer.compare(good.bytes, inThread.bytes()) === 0, 'the same bytes');
    assert.equal(good.zeroPages, report.zeroPages);
    // Every third read fails, every fifth comes back short: those pages are read again by the save itself.
    let k = 0;
    const flaky = await save((o, d, at, n) => {
      k++;
      if (k % 3 === 0) throw (failures++, new Error('EIO'));
      if (k % 5 === 0) return (failures++, file.readInto(o, d, at, n - 4096));
      return file.readInto(o, d, at, n);
    });
    assert.ok(failures > 3, `${failures} failed reads`);
    assert.ok(Buffer.compare(flaky.bytes, inThread.bytes()) === 0, 'the same bytes after failed reads');
    assert.equal(flaky.zeroPages, report.zeroPages);
  } finally {
    file.close();
  }
});

test('the host\'s worker pool reads a file input in its workers, and the save is byte for byte the in-thread one', async () => {
  const file = new FileSource(zeroedElfPath);
  try {
    const input = openDump(file);
    let pool: BatchWorkers | undefined;
    const spy: PageCompression = { compressor: hostCompression.compressor, workers: (size, codec, src) => (pool = hostCompression.workers!(size, codec, src)) };
    const withWorkers = new BufferSink();
    await saveDump(input, { levels: [1], elf: false, codec: 'zlib', threads: 2, compression: spy }, withWorkers, quiet);
    assert.equal(pool?.readsInput, true);
    const inThread = new BufferSink();
    await saveDump(input, { levels: [1], elf: false, codec: 'zlib', threads: 0, compression: hostCompression }, inThread, quiet);
    assert.ok(Buffer.compare(withWorkers.bytes(), inThread.bytes()) === 0, 'the same bytes');
    // A source that is not a file: the workers only compress.
    const fromBuffer = openDump(new BufferSource(readFileSync(zeroedElfPath)));
    await saveDump(fromBuffer, { levels: [1], elf: false, codec: 'zlib', threads: 1, compression: spy }, new BufferSink(), quiet);
    assert.equal(pool?.readsInput, false);
  } finally {
    file.close();
  }
});

test('zlib pages of a dump level that keeps only kernel pages (-d 31) are libdeflate level 1 in the workers and in this thread alike; -d 1 level 2', { skip: libdeflateCompressor(1) ? false : 'libdeflate.so.0 or koffi is not installed' }, async () => {
  const input = openDump(new FileSource(zeroedElfPath));
  for (const [dumpLevel, libdeflate] of [[31, 1], [1, 2]] as const) {
    const asked: (boolean | undefined)[] = [];
    const spy: PageCompression = {
      compressor: (codec, opts) => (asked.push(opts?.kernelPagesOnly), hostCompression.compressor(codec, opts)),
      workers: (size, codec, src, opts) => (asked.push(opts?.kernelPagesOnly), hostCompression.workers!(size, codec, src, opts)),
    };
    const withWorkers = new BufferSink();
    await saveDump(input, { levels: [dumpLevel], elf: false, codec: 'zlib', threads: 2, compression: spy }, withWorkers, quiet);
    assert.deepEqual(asked, [dumpLevel === 31, dumpLevel === 31]);
    const level = libdeflateCompressor(libdeflate)!;
    const inThread = new BufferSink();
    await saveDump(input, { levels: [dumpLevel], elf: false, codec: 'zlib', threads: 0, compression: { compressor: async () => level } }, inThread, quiet);
    assert.ok(Buffer.compare(withWorkers.bytes(), inThread.bytes()) === 0, `-d ${dumpLevel}: the bytes of libdeflate level ${libdeflate}`);
  }
  assert.equal(kernelPagesOnly(31), true);
  assert.equal(kernelPagesOnly(14), true);
  assert.equal(kernelPagesOnly(1 | 2 | 8 | 16), false, 'private page cache kept');
});

test('a batch goes to the worker with the fewest batches out, round robin among equals', () => {
  assert.equal(leastLoaded([0, 0], 0), 0);
  assert.equal(leastLoaded([0, 0], 1), 1);
  assert.equal(leastLoaded([0, 0], 2), 0);
  assert.equal(leastLoaded([3, 1], 0), 1);
  assert.equal(leastLoaded([1, 1, 0], 0), 2);
  assert.equal(leastLoaded([2, 0, 0], 2), 2);
  assert.equal(leastLoaded([2, 0, 0], 0), 1);
});

// Bounded memory in vmcore-ts save: the page bitmaps are computed and written a window of page
// frames at a time (makedumpfile's cyclic mode), so what the saver holds does not grow with the
// physical address range. The output is the same bytes whatever the window size, and the same as
// the kdump-compressed writer given whole bitmaps.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { filterFor, scanDump } from '../../src/dump/scan.ts';
import { writeElfCore } from '../../src/dump/elf-pipeline.ts';
import { writeKdumpCompressed } from '../../src/dump/kdump-pipeline.ts';
import { hostCompression } from '../../src/host/worker-pool.ts';
import { dumpIdentity, type DumpIdentity } from '../../src/analyze/dump-identity.ts';
import { newBitmap, setBit } from '../../src/format/bitmap.ts';
import type { Dump } from '../../src/format/dump.ts';
import { encodeNotes } from '../../src/format/elf.ts';
import { ElfCoreWriter } from '../../src/format/elf-core-writer.ts';
import { KdumpCompressedWriter } from '../../src/format/kdump-compressed-writer.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSink, type ByteSink } from '../../src/format/sink.ts';
import { FileSource } from '../../src/host/file-source.ts';
import type { ByteSource } from '../../src/io/source.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const MiB = 1 << 20;
const GiB = 2 ** 30;
const ZERO_BLOCK = Buffer.alloc(4096);

/** A sink and source that stores only 4 KiB blocks holding a non-zero byte (a sparse file in memory). */
class SparseFile implements ByteSink, ByteSource {
  readonly name = '<sparse>';
  size = 0;
  private readonly blocks = new Map<number, Uint8Array>();
  write(offset: number, bytes: Uint8Array): void {
    for (let pos = 0; pos < bytes.length; ) {
      const at = offset + pos;
      const blk = Math.floor(at / 4096);
      const n = Math.min(bytes.length - pos, 4096 - (at % 4096));
      const piece = bytes.subarray(pos, pos + n);
      let b = this.blocks.get(blk);
      if (!b && !Buffer.from(piece.buffer, piece.byteOffset, n).equals(ZERO_BLOCK.subarray(0, n))) this.blocks.set(blk, (b = new Uint8Array(4096)));
      b?.set(piece, at % 4096);
      pos += n;
    }
    this.size = Math.max(this.size, offset + bytes.length);
  }
  read(offset: number, length: number): Uint8Array {
    const end = Math.min(this.size, offset + length);
    const out = new Uint8Array(Math.max(0, end - offset));
    for (let at = offset; at < end; ) {
      const n = Math.min(end - at, 4096 - (at % 4096));
      const b = this.blocks.get(Math.floor(at / 4096));
      if (b) out.set(b.subarray(at % 4096, (at % 4096) + n), at - offset);
      at += n;
    }
    return out;
  }
  /** Bytes held. */
  get stored(): number {
    return this.blocks.size * 4096;
  }
}

/**
 * An ELF vmcore over `span` bytes of physical address space with RAM only in a few small ranges:
 * at 1 MiB, across the 32 GiB boundary (runs crossing windows), and just below the top. Pages hold
 * a counter pattern; every 5th is zero.
 */
function sparseVmcore(span: number): Dump {
  const ranges: [number, number][] = [
    [MiB, 3 * MiB],
    [32 * GiB - MiB, 32 * GiB + MiB],
    [span - 2 * MiB, span - MiB],
  ];
  const fixture = openDump(new FileSource(FIXTURE));
  const sink = new BufferSink();
  const w = new ElfCoreWriter(sink, {
    notes: encodeNotes(fixture.notes),
    segments: ranges.map(([s, e]) => ({ paddr: BigInt(s), vaddr: 0xffff888000000000n + BigInt(s), memSize: e - s })),
  });
  const page = new Uint8Array(4096);
  let n = 0;
  for (const [s, e] of ranges) {
    for (let p = s; p < e; p += 4096, n++) {
      if (n % 5 === 0) continue;
      new DataView(page.buffer).setUint32(0, n, true);
      page.fill(n & 0xff, 4);
      w.writePhys(BigInt(p), page);
    }
  }
  return openDump(new BufferSinkSource(sink));
}

class BufferSinkSource implements ByteSource {
  readonly name = '<synthetic vmcore>';
  private readonly bytes: Uint8Array;
  constructor(sink: BufferSink) {
    this.bytes = sink.bytes().slice();
  }
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(Math.min(offset, this.bytes.length), Math.min(this.bytes.length, offset + length));
  }
}

/** Every page the output holds equals the input's; returns how many. */
function samePages(input: Dump, out: Dump): number {
  let n = 0;
  for (const r of out.presentRuns()) {
    for (let p = r.startPfn; p < r.endPfn; p++, n++) {
      assert.ok(Buffer.compare(out.readPhys(p * 4096n, 4096), input.readPhys(p * 4096n, 4096)) === 0, `page 0x${p.toString(16)} differs`);
    }
  }
  return n;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('save over 4 TiB of sparse physical address space: bitmap buffers stay one window, memory does not grow with the range', async () => {
  const span = 4 * 1024 * GiB;
  const input = sparseVmcore(span);
  const maxPfn = Number(input.maxPfn);
  assert.equal(maxPfn, span / 4096 - 256);
  const identity = dumpIdentity(input, undefined, undefined);
  const W = 1 << 23; // 1 MiB of each bitmap per window; a whole bitmap is 128 MiB here
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  };

  const kd = new SparseFile();
  const r = await writeKdumpCompressed(input, undefined, kd, { dumpLevel: 1, codec: undefined, threads: 0, identity, windowPfns: W, progress: sample });
  assert.equal(r.incomplete, false);
  assert.equal(r.scan.bitmapBytes, W / 8, 'the scan holds window-sized bitmaps');
  assert.ok(Math.ceil(maxPfn / 8) > 127 * r.scan.bitmapBytes);
  assert.equal(r.scan.pagesPresent, 1280);
  assert.equal(r.zeroPages, 256);
  assert.ok(kd.size > 256 * MiB && kd.stored < 8 * MiB, `${kd.stored} bytes stored: the all-zero stretches of the 2 x 128 MiB bitmaps are holes`);
  const elf = new SparseFile();
  const re = writeElfCore(input, undefined, elf, { dumpLevel: 1, identity, windowPfns: W, progress: sample });
  assert.equal(re.scan.bitmapBytes, W / 8);
  sample();
  // The whole-bitmap saver held two 128 MiB bitmaps; this one a few window buffers, the outputs'
  // stored blocks and its batches.
  assert.ok(peak < 48 * MiB, `array buffers grew by ${(peak / MiB).toFixed(1)} MiB during the saves`);

  const outKd = openDump(kd);
  assert.equal(outKd.maxPfn, input.maxPfn);
  assert.equal(samePages(input, outKd), 1280);
  const outElf = openDump(elf);
  assert.equal(samePages(input, outElf), 1280, 'zero pages inside a PT_LOAD are stored (makedumpfile -E splits only at 256 excluded pages)');
});

test('the output is the same bytes for any window size, and as the writer given whole bitmaps', async () => {
  const input = sparseVmcore(64 * GiB);
  const identity: DumpIdentity = dumpIdentity(input, undefined, undefined);
  const maxPfn = Number(input.maxPfn);

  // The whole-bitmap path: every present page, zero pages shared.
  const ram = newBitmap(maxPfn);
  for (const run of input.presentRuns()) for (let p = Number(run.startPfn); p < Number(run.endPfn); p++) setBit(ram, p);
  const ref = new BufferSink();
  const w = new KdumpCompressedWriter(ref, {
    pageSize: 4096,
    maxPfn: input.maxPfn,
    dumpBitmap: ram,
    ramBitmap: ram,
    utsname: identity.utsname,
    timestamp: identity.timestamp,
    notes: identity.notes,
    physBase: identity.physBase,
    dumpLevel: 1,
    nrCpus: identity.nrCpus,
  });
  for (const run of input.presentRuns()) for (let p = run.startPfn; p < run.endPfn; p++) w.writePage(p, input.readPhys(p * 4096n, 4096));
  w.finish();
  const want = sha(ref.bytes());

  for (const windowPfns of [4096, 1 << 16, 1 << 23, undefined]) {
    const out = new BufferSink();
    const r = await writeKdumpCompressed(input, undefined, out, { dumpLevel: 1, codec: undefined, threads: 0, identity, windowPfns });
    assert.equal(r.incomplete, false);
    assert.equal(sha(out.bytes()), want, `kdump-compressed, window ${windowPfns ?? 'default'}`);
  }
  const elf = (windowPfns: number | undefined) => {
    const out = new BufferSink();
    writeElfCore(input, undefined, out, { dumpLevel: 1, identity, windowPfns });
    return sha(out.bytes());
  };
  assert.equal(elf(4096), elf(undefined), 'ELF');
});

test('the real 6.1 dump filtered at level 31: the same bytes with 8192-page windows (classification resumed across windows) as with one', async () => {
  const input = openDump(new FileSource(FIXTURE));
  const { filter, vi, readVirt } = filterFor(input, 31, (s) => assert.fail(s));
  assert.ok(filter, 'the fixture has the page structures');
  const identity = dumpIdentity(input, vi, readVirt);
  const save = async (windowPfns: number | undefined) => {
    const out = new BufferSink();
    const r = await writeKdumpCompressed(input, filter, out, { dumpLevel: 31, codec: undefined, threads: 0, identity, windowPfns });
    assert.equal(r.incomplete, false);
    return { sha: sha(out.bytes()), kept: r.scan.pagesKept, windows: Math.ceil(r.scan.maxPfn / r.scan.windowPfns) };
  };
  const one = await save(undefined);
  const many = await save(8192);
  assert.equal(one.windows, 1);
  assert.ok(many.windows >= 32, `${many.windows} windows`);
  assert.equal(many.kept, one.kept);
  assert.equal(many.sha, one.sha);
});

test('the second pass replays the scan\'s kept runs instead of reading the struct pages again; past its run budget it walks them again, the same bits either way', () => {
  const input = openDump(new FileSource(FIXTURE));
  const { filter } = filterFor(input, 31, (s) => assert.fail(s));
  assert.ok(filter);
  let structReads = 0;
  const counted = { ...filter, readVirt: ((...a: Parameters<typeof filter.readVirt>) => (structReads++, filter.readVirt(...a))) as typeof filter.readVirt };
  const secondPass = (keptRunsMax: number | undefined) => {
    const scan = scanDump(input, counted, { dumpLevel: 31, windowPfns: 8192, keptRunsMax });
    assert.ok(structReads > 0);
    structReads = 0;
    const bits = [...scan.windows()].map((w) => `${w.start}-${w.end} ${sha(w.present)} ${sha(w.ram)} ${sha(w.kept)}`);
    assert.ok(bits.length >= 32);
    return { bits, structReads };
  };
  const replayed = secondPass(undefined);
  assert.equal(replayed.structReads, 0, 'no struct page read in the second pass');
  const walked = secondPass(0);
  assert.ok(walked.structReads > 0);
  assert.deepEqual(replayed.bits, walked.bits);
  // A budget the fixture's runs overflow part way: the scan drops them and the second pass walks.
  const overflowed = secondPass(1);
  assert.ok(overflowed.structReads > 0);
  assert.deepEqual(overflowed.bits, walked.bits);
});

/** A disk of `capacity` bytes: writes reaching past it fail with ENOSPC. */
class FullDisk implements ByteSink {
  readonly inner = new BufferSink();
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  write(offset: number, bytes: Uint8Array): void {
    if (offset + bytes.length > this.capacity) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    this.inner.write(offset, bytes);
  }
}

test('ENOSPC with many windows: every bitmap is out before the first page, so pages never written read as lost', async () => {
  const input = openDump(new FileSource(FIXTURE));
  const identity = dumpIdentity(input, undefined, undefined);
  const disk = new FullDisk(6 << 20);
  const r = await writeKdumpCompressed(input, undefined, disk, { dumpLevel: 1, codec: 'zlib', threads: 0, compression: hostCompression, identity, windowPfns: 8192 });
  assert.equal(r.stop?.code, 'ENOSPC');
  const out = openDump(new BufferSinkSource(disk.inner));
  assert.equal(out.incomplete, true);
  let read = 0;
  let lost = 0;
  for (const run of out.presentRuns()) {
    for (let p = run.startPfn; p < run.endPfn; p++) {
      if (out.whyMissing?.(p)) lost++;
      else read++;
    }
  }
  assert.equal(read + lost, r.scan.pagesKept, 'the 2nd bitmap is whole');
  // The report counts pages handed to the writer; the last of them may have sat in its buffers.
  assert.ok(lost >= r.unwrittenPages && lost - r.unwrittenPages <= 2048, `lost ${lost}, reported ${r.unwrittenPages}`);
  assert.ok(read > 1000 && lost > 1000, `read ${read}, lost ${lost}`);

  // Full before the bitmaps are out: the header still says incomplete and the file opens.
  const tiny = new FullDisk(16 << 10);
  const r2 = await writeKdumpCompressed(input, undefined, tiny, { dumpLevel: 1, codec: undefined, threads: 0, identity, windowPfns: 8192 });
  assert.equal(r2.stop?.code, 'ENOSPC');
  assert.equal(r2.unwrittenPages, r2.scan.pagesKept);
  assert.equal(openDump(new BufferSinkSource(tiny.inner)).incomplete, true);
});

// Faults while saving: the disk fills (a sink that runs out of space, and a real 4 MiB tmpfs), the
// input is truncated, the saver is killed. Each time the result is a dump that says it is
// incomplete and still opens, or a clear error — never a partial file posing as complete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BufferSource } from '../../src/io/source.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSink, type ByteSink } from '../../src/format/sink.ts';
import { writeElfCore } from '../../src/dump/elf-pipeline.ts';
import { writeKdumpCompressed } from '../../src/dump/kdump-pipeline.ts';
import { hostCompression } from '../../src/host/worker-pool.ts';
import { dumpIdentity } from '../../src/analyze/dump-identity.ts';
import { NotInDumpError } from '../../src/errors.ts';
import type { Dump } from '../../src/format/dump.ts';
import { encodeNotes } from '../../src/format/elf.ts';
import { ElfCoreWriter } from '../../src/format/elf-core-writer.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const dir = mkdtempSync(join(tmpdir(), 'vmcore-faults-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file system of `capacity` bytes: writes reaching past it fail with ENOSPC, others succeed. */
class FullDisk implements ByteSink {
  readonly inner = new BufferSink();
  failures = 0;
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  write(offset: number, bytes: Uint8Array): void {
    if (offset + bytes.length > this.capacity) {
      this.failures++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    }
    this.inner.write(offset, bytes);
  }
}

/** Pages of `out` read back equal to the input's; lost ones throw NotInDumpError. Returns [read, lost]. */
function readBack(input: Dump, out: Dump): [number, number] {
  let read = 0;
  let lost = 0;
  for (const r of out.presentRuns()) {
    for (let p = r.startPfn; p < r.endPfn; p++) {
      try {
        const a = out.readPhys(p * 4096n, 4096);
        assert.ok(Buffer.compare(a, input.readPhys(p * 4096n, 4096)) === 0, `page 0x${p.toString(16)} differs`);
        read++;
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
        lost++;
      }
    }
  }
  return [read, lost];
}

test('ENOSPC in the middle of a kdump-compressed save: a dump marked incomplete that opens, with the pages written before', async () => {
  const input = openDump(new FileSource(FIXTURE));
  const disk = new FullDisk(6 << 20);
  const report = await writeKdumpCompressed(input, undefined, disk, { dumpLevel: 1, codec: 'zlib', threads: 0, compression: hostCompression, identity: dumpIdentity(input, undefined, undefined) });
  assert.equal(report.stop?.code, 'ENOSPC');
  assert.equal(report.incomplete, true);
  assert.ok(report.unwrittenPages > 1000, `pages not written: ${report.unwrittenPages}`);
  const out = openDump(new BufferSource(disk.inner.bytes().slice(), 'full-disk.kdump'));
  assert.equal(out.incomplete, true, 'the header says INCOMPLETE');
  const [read, lost] = readBack(input, out);
  assert.ok(read > 1000 && lost > 1000, `read ${read}, lost ${lost}`);
});

test('ENOSPC during an ELF save: e_flags says incomplete, the file opens', () => {
  const input = openDump(new FileSource(FIXTURE));
  const disk = new FullDisk(8 << 20);
  const report = writeElfCore(input, undefined, disk, { dumpLevel: 0, identity: dumpIdentity(input, undefined, undefined) });
  assert.equal(report.stop?.code, 'ENOSPC');
  const out = openDump(new BufferSource(disk.inner.bytes().slice(), 'full-disk.elf'));
  assert.equal(out.incomplete, true);
});

const isRoot = process.getuid?.() === 0;
const needsRoot = { skip: isRoot ? false : 'needs root to mount a tmpfs' };

/** Runs `body` with a fresh tmpfs of `size` mounted at DIR/name (a real disk that fills), unmounted after. */
function withTmpfs(t: { skip(why: string): void }, name: string, size: string, body: (mnt: string) => void): void {
  const mnt = join(dir, name);
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]);
  if (m.status !== 0) return t.skip(`mount tmpfs failed: ${m.stderr}`);
  try {
    body(mnt);
  } finally {
    spawnSync('umount', [mnt]);
  }
}
test('ENOSPC on a real 4 MiB tmpfs: exit 1 naming what was lost, the file says INCOMPLETE and opens', needsRoot, (t) => {
  withTmpfs(t, 'small', '4m', (mnt) => {
    const out = join(mnt, 'vmcore');
    const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-c', '-d', '1', '--message-level', '4', FIXTURE, out], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /INCOMPLETE.*ENOSPC.*pages not written/);
    const src = new FileSource(out);
    try {
      const d = openDump(src);
      assert.equal(d.incomplete, true);
      const [read] = readBack(openDump(new FileSource(FIXTURE)), d);
      assert.ok(read > 100, `pages readable: ${read}`);
    } finally {
      src.close();
    }
  });
});

test('a truncated kdump-compressed input: the pages past the end are recorded lost, the save goes on, exit 1', () => {
  const cut = join(dir, 'truncated.kdump');
  copyFileSync(FIXTURE, cut);
  truncateSync(cut, Math.floor(statSync(FIXTURE).size * 0.6));
  const out = join(dir, 'from-truncated.kdump');
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-l', '-d', '31', '--message-level', '4', cut, out], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /INCOMPLETE.*pages could not be read/);
  const d = openDump(new FileSource(out));
  assert.equal(d.incomplete, true);
  const [read, lost] = readBack(openDump(new FileSource(FIXTURE)), d);
  assert.ok(read > 5000 && lost > 1000, `read ${read}, lost ${lost}`);
});

test('ELF save of a truncated input to a full disk: the pages not written are counted apart from the lost ones (ELF leaves lost pages out of its PT_LOADs: not subtracted twice)', needsRoot, (t) => {
  const cut = join(dir, 'truncated-for-elf.kdump');
  copyFileSync(FIXTURE, cut);
  truncateSync(cut, Math.floor(statSync(FIXTURE).size * 0.6));
  withTmpfs(t, 'small-elf', '8m', (mnt) => {
    const out = join(mnt, 'vmcore.elf');
    const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-E', '-d', '31', '--message-level', '4', cut, out], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    const stop = /(\d+) of (\d+) pages not written/.exec(r.stderr);
    const lostMsg = /(\d+) pages could not be read/.exec(r.stderr);
    assert.ok(stop && lostMsg, r.stderr);
    const [notWritten, kept, lost] = [Number(stop[1]), Number(stop[2]), Number(lostMsg[1])];
    const src = new FileSource(out);
    let read: number;
    try {
      const d = openDump(src);
      assert.equal(d.incomplete, true);
      [read] = readBack(openDump(new FileSource(FIXTURE)), d);
    } finally {
      src.close();
    }
    // kept counts the pages to write (lost ones are not among them): each is readable or counted
    // as not written (the kernel-text PT_LOAD repeats some pages, so the sum may exceed kept).
    assert.ok(lost > 0 && notWritten > 0 && notWritten <= kept, r.stderr);
    assert.ok(read + notWritten >= kept, `read ${read} + not written ${notWritten} < kept ${kept}: ${r.stderr}`);
  });
});

test('--dump-dmesg from a dump whose log cannot be read: exit 1, no LOGFILE left (a rerun is not blocked)', () => {
  const d = openDump(new FileSource(FIXTURE)) as unknown as { bitmap2Offset: number };
  const cut = join(dir, 'cut-for-dmesg.kdump');
  copyFileSync(FIXTURE, cut);
  truncateSync(cut, d.bitmap2Offset + 100);
  const log = join(dir, 'dmesg-from-cut.txt');
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '--dump-dmesg', cut, log], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.throws(() => statSync(log), /ENOENT/, 'no empty LOGFILE');
  const again = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '--dump-dmesg', FIXTURE, log], { cwd: REPO, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
});

test('convert -R of a flattened stream cut short: the rebuilt dump is put in place with the exact count of pages that do not read', () => {
  const flat = join(dir, 'full.flat');
  const f = spawnSync('sh', ['-c', `node --import tsx src/cli/vmcore-ts.ts save -F -l -d 31 --num-threads 0 --message-level 0 '${FIXTURE}' > '${flat}'`], { cwd: REPO, encoding: 'utf8' });
  assert.equal(f.status, 0, f.stderr);
  const cutFlat = join(dir, 'cut.flat');
  copyFileSync(flat, cutFlat);
  truncateSync(cutFlat, Math.floor(statSync(flat).size * 0.7));
  const out = join(dir, 'rebuilt-from-cut.kdump');
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'convert', '-R', out, cutFlat], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  const m = /INCOMPLETE \(marked so in its header\): .*without the end marker; (\d+) of (\d+) pages do not read/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const d = openDump(new FileSource(out));
  assert.equal(d.incomplete, true);
  const [read, lost] = readBack(openDump(new FileSource(FIXTURE)), d);
  assert.equal(Number(m[1]), lost, 'the count said is the pages that do not read');
  assert.equal(Number(m[2]), read + lost);
});

test('save -F to a full disk: the message counts the pages not written (and says convert -R counts exactly)', needsRoot, (t) => {
  withTmpfs(t, 'flat-small', '6m', (mnt) => {
    const r = spawnSync('sh', ['-c', `node --import tsx src/cli/vmcore-ts.ts save -F -l -d 31 --num-threads 0 --message-level 4 '${FIXTURE}' > '${mnt}/x.flat'`], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /stdout \(flattened\) is INCOMPLETE.*writing stopped: ENOSPC.*; \d+ of 19479 pages not written \(counted as handed to the writer.*convert -R counts exactly\)/);
  });
});

/** A one-segment ELF core of `pages` pages (page i holds i), written, then `drop` taken out of every PT_LOAD. */
function elfWithout(pages: number, drop: number[], append: boolean): { bytes: Uint8Array; ok: boolean } {
  const notes = encodeNotes(openDump(new FileSource(FIXTURE)).notes);
  const sink = new BufferSink();
  const w = new ElfCoreWriter(sink, { notes, segments: [{ paddr: 0x100000n, vaddr: 0xffff888000100000n, memSize: pages * 4096 }], sequential: true });
  for (let i = 0; i < pages; i++) w.writeSegment(0, i * 4096, new Uint8Array(4096).fill(i + 1));
  const ok = w.dropPages(drop.map((i) => 0x100000 + i * 4096), append ? sink.length : undefined);
  return { bytes: sink.bytes().slice(), ok };
}

function checkDropped(bytes: Uint8Array, pages: number, drop: number[]): number {
  const out = openDump(new BufferSource(bytes, 'dropped.elf'));
  assert.ok(out.vmcoreinfo?.includes('OSRELEASE='), 'the notes still read');
  for (let i = 0; i < pages; i++) {
    const addr = BigInt(0x100000 + i * 4096);
    if (drop.includes(i)) assert.throws(() => out.readPhys(addr, 4096), (e) => e instanceof NotInDumpError && e.reason === 'hole', `page ${i} is in no PT_LOAD`);
    else assert.ok(out.readPhys(addr, 4096).every((b) => b === i + 1), `page ${i} keeps its bytes`);
  }
  return Number((out as unknown as { elfHeader: { phoff: number } }).elfHeader.phoff);
}

test('ELF writer dropPages: a few pages split the PT_LOAD in a table rewritten at the front (notes moved behind it, for crash); every other page keeps its bytes', () => {
  const drop = [0, 5, 6, 7, 40, 63];
  const { bytes, ok } = elfWithout(64, drop, false);
  assert.ok(ok);
  assert.equal(checkDropped(bytes, 64, drop), 64, 'the table stays right after the ELF header');
});

test('ELF writer dropPages: a table too big for the front goes at the end of the file, or, with nowhere to append, nothing changes and it says so', () => {
  const drop = Array.from({ length: 100 }, (_, i) => 2 * i + 1);
  const { bytes, ok } = elfWithout(200, drop, true);
  assert.ok(ok);
  assert.ok(checkDropped(bytes, 200, drop) >= 200 * 4096, 'the table is past the data');
  const none = elfWithout(200, drop, false);
  assert.equal(none.ok, false);
  const out = openDump(new BufferSource(none.bytes, 'unchanged.elf'));
  assert.equal(out.readPhys(0x101000n, 4096)[0], 2, 'the layout is the one written');
});

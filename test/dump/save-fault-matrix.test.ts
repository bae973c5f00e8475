// The save/convert fault-injection matrix (issue 10): the disk fills at random offsets (a real
// tmpfs of a random size), reads fail with EIO, the saver is killed at random points, the input is
// cut at random offsets. Every resulting dump opens in vmcore-ts, is marked incomplete when it is,
// reads back no invented data (every page equals the input's or is "not in dump"), and the count
// of unwritten pages in the message is exact; makedumpfile --dump-dmesg and crash (with the
// fixture's vmlinux, a sample) open it or fail cleanly, never by a signal. Seeded and bounded; the
// outcome counts are printed (the matrix).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NotInDumpError, ParseError } from '../../src/errors.ts';
import type { Dump } from '../../src/format/dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import type { ByteSource } from '../../src/io/source.ts';
import { missingPages } from '../../src/dump/output.ts';
import { writeElfCore } from '../../src/dump/elf-pipeline.ts';
import { writeKdumpCompressed } from '../../src/dump/kdump-pipeline.ts';
import { hostCompression } from '../../src/host/worker-pool.ts';
import { dumpIdentity } from '../../src/analyze/dump-identity.ts';
import { FdSink } from '../../src/host/file-sink.ts';
import { OutputFile } from '../../src/host/output-file.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const VMLINUX = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kexec-ts', 'dbg', '6.1.0-56-cloud-amd64', 'vmlinux');
const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
const haveCrash = spawnSync('crash', ['--version']).status === 0 && existsSync(VMLINUX);
const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'vmcore-matrix-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** mulberry32: the same cases on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(10);
const between = (a: number, b: number) => a + Math.floor(random() * (b - a));

const matrix = new Map<string, number>();
const count = (kind: string, outcome: string) => matrix.set(`${kind} → ${outcome}`, (matrix.get(`${kind} → ${outcome}`) ?? 0) + 1);
after(() => {
  const rows = [...matrix].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`);
  process.stdout.write(`# save/convert fault matrix (case → outcome: count)\n${rows.map((r) => `# ${r}`).join('\n')}\n`);
});

function vmcoreTs(args: string[]) {
  return spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { cwd: REPO, encoding: 'utf8' });
}

const input = openDump(new FileSource(FIXTURE));

/**
 * Every page the output holds reads equal to the input's, or throws NotInDumpError; returns the
 * pages that do not read and the first and last of them.
 */
function noInventedData(out: Dump): { unreadable: number; first: number; last: number } {
  let unreadable = 0;
  let first = -1;
  let last = -1;
  const m = missingPages(out);
  for (const r of out.presentRuns()) {
    for (let p = r.startPfn; p < r.endPfn; p++) {
      let page: Uint8Array;
      try {
        page = out.readPhys(p * 4096n, 4096);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
        continue;
      }
      let want: Uint8Array | undefined;
      try {
        want = input.readPhys(p * 4096n, 4096);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
      assert.ok(want, `pfn 0x${p.toString(16)} reads from the output but the input does not hold it: invented`);
      assert.ok(Buffer.from(page).equals(Buffer.from(want)), `pfn 0x${p.toString(16)} differs from the input`);
    }
  }
  unreadable = m.count;
  first = m.first;
  last = m.last;
  return { unreadable, first, last };
}

let crashRuns = 0;
/** makedumpfile --dump-dmesg and (a few times) crash on `path`: a clean answer either way, never a signal. */
function otherTools(kind: string, path: string): void {
  if (haveMakedumpfile) {
    const log = join(dir, `mdf-${Math.random().toString(36).slice(2)}.txt`);
    const r = spawnSync('makedumpfile', ['--dump-dmesg', path, log], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `makedumpfile --dump-dmesg ${path} died of ${r.signal}`);
    count(kind, `makedumpfile --dump-dmesg ${r.status === 0 ? 'ok' : 'refuses cleanly'}`);
    rmSync(log, { force: true });
  }
  if (haveCrash && crashRuns < 3) {
    crashRuns++;
    const r = spawnSync('crash', ['-s', VMLINUX, path], { input: 'sys\nquit\n', encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.signal, null, `crash on ${path} died of ${r.signal}`);
    count(kind, `crash ${r.status === 0 && /PANIC/.test(r.stdout) ? 'ok' : 'refuses cleanly'}`);
  }
}

/** The checks for a dump a faulty run left: opens, incomplete as said, nothing invented. */
function checkOutput(kind: string, path: string, incomplete: boolean, stderr: string): void {
  const src = new FileSource(path);
  try {
    const out = openDump(src);
    assert.equal(out.incomplete, incomplete, `${kind}: incomplete flag of ${path}`);
    const { unreadable, first, last } = noInventedData(out);
    const said = /; (\d+) of \d+ pages not written(?: \(pfn 0x([0-9a-f]+)-0x([0-9a-f]+))?/.exec(stderr);
    if (said) {
      // The count said is exact: every page that does not read, no more, no fewer (nothing was lost reading).
      assert.equal(Number(said[1]), unreadable, `${kind}: unwritten pages said vs pages that do not read (${stderr})`);
      if (unreadable) assert.deepEqual([parseInt(said[2]!, 16), parseInt(said[3]!, 16)], [first, last]);
    }
    count(kind, `output opens, ${incomplete ? 'INCOMPLETE' : 'complete'}, nothing invented`);
  } finally {
    src.close();
  }
  otherTools(kind, path);
}

test('ENOSPC at random offsets (a tmpfs of random size): exact counts, incomplete outputs that open, or nothing written', { skip: isRoot ? false : 'needs root to mount a tmpfs' }, (t) => {
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const cases: [string, string[]][] = [['-l', ['-l']], ['-l', ['-l']], ['-c', ['-c']], ['-E', ['-E']], ['-E', ['-E']]];
  for (const [name, flags] of cases) {
    // Sizes from a few pages (nothing usable) to most of the dump.
    const size = between(2, 1200) * 16 * 1024;
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]);
    if (m.status !== 0) return t.skip(`mount tmpfs failed: ${m.stderr}`);
    try {
      const out = join(mnt, 'dump');
      const r = vmcoreTs(['save', ...flags, '-d', '31', '--num-threads', '0', '--message-level', '4', FIXTURE, out]);
      const kind = `ENOSPC save ${name}`;
      assert.equal(r.status, 1, `${kind} in ${size} bytes: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /still opens/);
      assert.deepEqual(readdirSync(mnt).filter((f) => f !== 'dump'), [], 'no temporary file or lock left');
      if (!existsSync(out)) {
        assert.match(r.stderr, /nothing usable was written to .*dump was not created/);
        count(kind, 'nothing usable: no file, said so');
        continue;
      }
      assert.match(r.stderr, /INCOMPLETE \(marked so in its header; it opens, \d+ of \d+ pages readable\): writing stopped: ENOSPC.*; \d+ of \d+ pages not written \(pfn 0x/);
      checkOutput(kind, out, true, r.stderr);
    } finally {
      spawnSync('umount', [mnt]);
    }
  }
});

/** A source whose reads of [from, to) fail with EIO (a bad sector). */
class BadSectors implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly inner: FileSource;
  private readonly from: number;
  private readonly to: number;
  constructor(path: string, from: number, to: number) {
    this.inner = new FileSource(path);
    this.name = path;
    this.size = this.inner.size;
    this.from = from;
    this.to = to;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < this.to && offset + length > this.from) throw Object.assign(new Error(`EIO: i/o error, read`), { code: 'EIO', syscall: 'read' });
    return this.inner.read(offset, length);
  }
}

test('EIO reading the input at random places: the pages are recorded lost, the output says INCOMPLETE and nothing is invented', async () => {
  const size = statSync(FIXTURE).size;
  const kept = openDump(new FileSource(FIXTURE));
  for (let i = 0; i < 3; i++) {
    // Bad sectors inside the page data (the header and bitmaps read).
    const from = between(4 << 20, size - (1 << 20));
    const bad = openDump(new BadSectors(FIXTURE, from, from + between(4096, 512 << 10)));
    const path = join(dir, `eio-${i}.kdump`);
    const file = OutputFile.create(path, { force: true });
    const report = await writeKdumpCompressed(bad, undefined, new FdSink(file.fd), { dumpLevel: 31, codec: 'lzo', threads: 0, compression: hostCompression, identity: dumpIdentity(kept, undefined, undefined) });
    file.commit();
    const kind = 'EIO on read';
    assert.ok(report.lostPages > 0, 'some pages lost');
    assert.equal(report.incomplete, true);
    assert.ok(report.lostExamples[0]!.includes('EIO'), report.lostExamples[0]);
    checkOutput(kind, path, true, '');
    const out = openDump(new FileSource(path));
    assert.equal(missingPages(out).count, report.lostPages, 'exactly the lost pages do not read');
  }
  // ELF output (-d 31: the scan reads every kept page for the zero test): unreadable pages are
  // kept out of every PT_LOAD, so they read as missing, never as zeros.
  const from = between(4 << 20, size - (1 << 20));
  const bad = openDump(new BadSectors(FIXTURE, from, from + (256 << 10)));
  const path = join(dir, 'eio.elf');
  const file = OutputFile.create(path, { force: true });
  const report = writeElfCore(bad, undefined, new FdSink(file.fd), { dumpLevel: 31, identity: dumpIdentity(kept, undefined, undefined) });
  file.commit();
  assert.ok(report.lostPages > 0 && report.incomplete);
  checkOutput('EIO on read, ELF output', path, true, '');
});

test('EIO during the ELF write pass at -d 0 (no zero test reads the pages first): the failed pages lie in no PT_LOAD (the table rewritten at the front: makedumpfile and crash read it), every other page equals the input, INCOMPLETE, exact count', () => {
  const size = statSync(FIXTURE).size;
  const kept = openDump(new FileSource(FIXTURE));
  for (const level of [0, 30]) {
    const from = between(4 << 20, size - (1 << 20));
    const bad = openDump(new BadSectors(FIXTURE, from, from + (128 << 10)));
    // The pages the bad input cannot give (the input itself holds them all).
    const failed: number[] = [];
    for (const r of kept.presentRuns()) {
      for (let p = r.startPfn; p < r.endPfn; p++) {
        try {
          bad.readPhys(p * 4096n, 4096);
        } catch (e) {
          if (!(e instanceof Error && (e as NodeJS.ErrnoException).code === 'EIO')) throw e;
          failed.push(Number(p));
        }
      }
    }
    assert.ok(failed.length > 0, 'the bad sectors hold pages');
    const path = join(dir, `eio-write-d${level}.elf`);
    const file = OutputFile.create(path, { force: true });
    const report = writeElfCore(bad, undefined, new FdSink(file.fd), { dumpLevel: level, identity: dumpIdentity(kept, undefined, undefined) });
    file.commit();
    assert.equal(report.lostPages, failed.length, 'each failed page counted once (the kernel-text view too)');
    assert.equal(report.incomplete, true);
    assert.ok(report.lostExamples[0]!.includes('EIO'), report.lostExamples[0]);
    const src = new FileSource(path);
    try {
      const out = openDump(src);
      assert.equal(out.incomplete, true);
      assert.equal(Number((out as unknown as { elfHeader: { phoff: number } }).elfHeader.phoff), 64, 'the split table is at the front, where crash reads it');
      for (const p of failed) {
        assert.throws(() => out.readPhys(BigInt(p) * 4096n, 4096), (e) => e instanceof NotInDumpError && e.reason === 'hole', `pfn 0x${p.toString(16)} reads as not in the dump`);
      }
      // Every other page reads, equal to the input's.
      assert.equal(missingPages(out).count, 0);
      noInventedData(out);
    } finally {
      src.close();
    }
    if (haveMakedumpfile) {
      const log = join(dir, `eio-write-d${level}.dmesg`);
      const r = spawnSync('makedumpfile', ['--dump-dmesg', path, log], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `makedumpfile --dump-dmesg reads the split program headers: ${r.stderr}`);
    }
    if (haveCrash && level === 0) {
      const r = spawnSync('crash', ['-s', VMLINUX, path], { input: 'sys\nquit\n', encoding: 'utf8', timeout: 120_000 });
      assert.ok(r.status === 0 && /PANIC/.test(r.stdout), `crash opens it: ${r.stderr}`);
    }
    count('EIO during the ELF write pass', `-d ${level}: failed pages in no PT_LOAD, INCOMPLETE, count exact`);
  }
});

test('SIGKILL at random points of save -f: the earlier dump stays whole; a temporary file left opens INCOMPLETE or is refused cleanly', async () => {
  const d = join(dir, 'kill');
  mkdirSync(d);
  const out = join(d, 'dump');
  copyFileSync(FIXTURE, out);
  const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
  for (let i = 0; i < 3; i++) {
    const flags = i % 2 ? ['-E'] : ['-l'];
    const child = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'save', '-f', ...flags, '-d', '31', '--num-threads', '0', '--message-level', '0', FIXTURE, out], { cwd: REPO, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise((r) => setTimeout(r, between(300, 2500)));
    child.kill('SIGKILL');
    await exited;
    const kind = `SIGKILL save ${flags[0]}`;
    const now = createHash('sha256').update(readFileSync(out)).digest('hex');
    const temps = readdirSync(d).filter((f) => f.startsWith('.dump.part-'));
    if (now !== sha) {
      // It finished before the kill: the new dump is complete.
      assert.equal(temps.length, 0);
      assert.equal(openDump(new FileSource(out)).incomplete, false);
      count(kind, 'finished before the kill: complete dump in place');
      copyFileSync(FIXTURE, out);
      continue;
    }
    count(kind, 'earlier dump untouched');
    for (const t of temps) {
      const p = join(d, t);
      let incomplete: boolean;
      try {
        const src = new FileSource(p);
        incomplete = openDump(src).incomplete;
        src.close();
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        count(kind, 'temporary file: refused cleanly (killed before its header)');
        rmSync(p);
        continue;
      }
      // Killed between the header's completion and the rename: a complete temporary file (then the
      // whole dump must read as one); otherwise it says INCOMPLETE.
      if (!incomplete) count(kind, 'temporary file: complete (killed between the final header and the rename)');
      checkOutput(kind, p, incomplete, '');
      rmSync(p);
    }
  }
});

test('the input cut at random offsets: an error when no page is readable, else an INCOMPLETE output with the pages past the cut lost', () => {
  const bytes = readFileSync(FIXTURE);
  for (let i = 0; i < 5; i++) {
    const at = i === 0 ? between(4096, 20_000) : between(64 << 10, bytes.length);
    const cut = join(dir, `cut-${i}.kdump`);
    writeFileSync(cut, bytes.subarray(0, at));
    const out = join(dir, `from-cut-${i}`);
    const flags = i % 2 ? ['-E'] : ['-l'];
    const r = vmcoreTs(['save', ...flags, '-d', '31', '--num-threads', '0', '--message-level', '4', cut, out]);
    const kind = `truncated input, save ${flags[0]}`;
    assert.equal(r.status, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /internal error|at .*\.ts:\d+/);
    if (!existsSync(out)) {
      assert.match(r.stderr, /no page of the dump is readable|nothing to save|truncated/);
      count(kind, 'clean error, no file');
      continue;
    }
    assert.match(r.stderr, /INCOMPLETE.*(pages could not be read|the input is incomplete)/);
    checkOutput(kind, out, true, '');
  }
});

// Re-saving a dump keeps what it had: the RAM map (1st bitmap) of a filtered kdump-compressed input,
// the dump level (input's | asked, as makedumpfile records it re-filtering its own output), the page
// compression on convert (as makedumpfile -R keeps it), VMCOREINFO and the notes — and an input that
// holds no page is an error, never an empty dump marked complete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KdumpCompressedDump } from '../../src/format/kdump-compressed.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSink } from '../../src/format/sink.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { presentPfns, writeKdump } from '../format-helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(REPO, 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
const dir = mkdtempSync(join(tmpdir(), 'vmcore-refilter-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
const noMakedumpfile = haveMakedumpfile ? false : 'makedumpfile is not installed (scripts/install-test-deps.sh)';

function vmcoreTs(args: string[]) {
  return spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
}
function makedumpfile(args: string[], stdout?: string) {
  const r = spawnSync('makedumpfile', args, { encoding: stdout ? 'buffer' : 'utf8', maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `makedumpfile ${args.join(' ')}: ${r.stderr}`);
  if (stdout) writeFileSync(stdout, r.stdout as Buffer);
}
/** The two bitmaps (ceil(max_mapnr/8) bytes each) and the header facts of a kdump-compressed file. */
function facts(path: string) {
  const d = openDump(new FileSource(path)) as KdumpCompressedDump;
  const n = Math.ceil(Number(d.maxPfn) / 8);
  const ones = (b: Uint8Array) => b.reduce((s, x) => s + ((x.toString(2).match(/1/g) ?? []).length), 0);
  const ram = d.source.read(d.bitmap1Offset, n);
  const dumped = d.source.read(d.bitmap2Offset, n);
  return { d, ram, dumped, ramPages: ones(ram), dumpedPages: ones(dumped), level: d.dumpLevel, incomplete: d.incomplete, codec: d.compression };
}

test('re-filtering a filtered kdump-compressed dump keeps its RAM map and records input|asked level, as makedumpfile does, for every codec', { skip: noMakedumpfile }, () => {
  const input = facts(FIXTURE);
  assert.equal(input.ramPages, 196475);
  assert.equal(input.dumpedPages, 19479);
  // makedumpfile here stores -p/-z pages raw (built without snappy/zstd): bitmaps and level compare, not the codec.
  for (const [flag, codec] of [['-c', 'zlib'], ['-l', 'lzo'], ['-p', 'snappy'], ['-z', 'zstd'], ['', undefined]] as const) {
    const theirs = join(dir, `mdf${flag || '-none'}`);
    const ours = join(dir, `ours${flag || '-none'}`);
    makedumpfile([...(flag ? [flag] : []), '-d', '1', FIXTURE, theirs]);
    const r = vmcoreTs(['save', ...(flag ? [flag] : []), '-d', '1', '--message-level', '2', FIXTURE, ours]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /dump level 31: 1 asked, the input's 31/);
    const m = facts(theirs);
    const o = facts(ours);
    assert.equal(o.ramPages, 196475, `${flag}: RAM pages`);
    assert.ok(Buffer.from(o.ram).equals(Buffer.from(m.ram)), `${flag}: 1st bitmap equals makedumpfile's`);
    assert.ok(Buffer.from(o.dumped).equals(Buffer.from(m.dumped)), `${flag}: 2nd bitmap equals makedumpfile's`);
    assert.equal(o.level, m.level, `${flag}: dump level`);
    assert.equal(o.level, 31);
    assert.deepEqual(o.codec, codec ? [codec] : []);
    // Excluded RAM reads as excluded, not as a hole.
    let p = 0;
    while (!(o.ram[p >> 3]! & (1 << (p & 7))) || o.dumped[p >> 3]! & (1 << (p & 7))) p++;
    assert.throws(() => o.d.readPhys(BigInt(p) * 4096n, 8), (e: unknown) => (e as { reason?: string }).reason === 'excluded');
  }
});

test('re-filtering a flattened input (makedumpfile -F): the same bitmaps and level as makedumpfile re-filtering the file', { skip: noMakedumpfile }, () => {
  const flat = join(dir, 'fixture.flat');
  makedumpfile(['-F', '-c', '-d', '31', FIXTURE], flat);
  const theirs = join(dir, 'mdf-from-file');
  makedumpfile(['-c', '-d', '17', FIXTURE, theirs]);
  const ours = join(dir, 'ours-from-flat');
  const r = vmcoreTs(['save', '-c', '-d', '17', '--message-level', '0', flat, ours]);
  assert.equal(r.status, 0, r.stderr);
  const m = facts(theirs);
  const o = facts(ours);
  assert.ok(Buffer.from(o.ram).equals(Buffer.from(m.ram)), '1st bitmap');
  assert.ok(Buffer.from(o.dumped).equals(Buffer.from(m.dumped)), '2nd bitmap');
  assert.equal(o.level, m.level);
  assert.equal(o.ramPages, 196475);
});

test('convert keeps the input codec (as makedumpfile -R keeps it); --uncompressed or -l say otherwise', { skip: noMakedumpfile }, () => {
  const kept = join(dir, 'conv-kept');
  const r = vmcoreTs(['convert', '--message-level', '2', FIXTURE, kept]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /keeping the input's zlib compression/);
  assert.deepEqual(facts(kept).codec, ['zlib']);
  assert.ok(statSync(kept).size < statSync(FIXTURE).size * 1.2, `${statSync(kept).size} bytes`);
  // makedumpfile -R of a -F -c stream keeps zlib too.
  const flat = join(dir, 'c.flat');
  makedumpfile(['-F', '-c', '-d', '31', FIXTURE], flat);
  const rebuilt = join(dir, 'rebuilt');
  const mr = spawnSync('sh', ['-c', `makedumpfile -R '${rebuilt}' < '${flat}'`], { encoding: 'utf8' });
  assert.equal(mr.status, 0, mr.stderr);
  assert.deepEqual(facts(rebuilt).codec, facts(kept).codec);
  const none = join(dir, 'conv-none');
  assert.equal(vmcoreTs(['convert', '--uncompressed', '--message-level', '0', FIXTURE, none]).status, 0);
  assert.deepEqual(facts(none).codec, []);
  const lzo = join(dir, 'conv-lzo');
  assert.equal(vmcoreTs(['convert', '-l', '--message-level', '0', FIXTURE, lzo]).status, 0);
  assert.deepEqual(facts(lzo).codec, ['lzo']);
});

test('an input cut off inside its bitmaps: save exits 1 saying no page is readable, and writes nothing', () => {
  const input = facts(FIXTURE);
  const cut = join(dir, 'cut-in-bitmap.kdump');
  writeFileSync(cut, readFileSync(FIXTURE).subarray(0, input.d.bitmap2Offset + 100));
  const out = join(dir, 'from-cut');
  const r = vmcoreTs(['save', '-c', '-d', '31', cut, out]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no page of the dump is readable .*bitmap.*nothing to save/);
  assert.throws(() => statSync(out), /ENOENT/);
});

test('a header-version-3 input (VMCOREINFO apart from the notes): the output carries VMCOREINFO as a note; makedumpfile reads its log', () => {
  const d = openDump(new FileSource(FIXTURE));
  const sink = new BufferSink();
  writeKdump(d, sink, presentPfns(d), { headerVersion: 3 });
  const v3 = join(dir, 'v3.kdump');
  writeFileSync(v3, sink.bytes());
  const inV3 = openDump(new FileSource(v3));
  assert.equal(inV3.notes.length, 0);
  assert.ok(inV3.vmcoreinfo);
  const out = join(dir, 'from-v3');
  const r = vmcoreTs(['save', '-l', '-d', '31', '--message-level', '0', v3, out]);
  assert.equal(r.status, 0, r.stderr);
  const o = openDump(new FileSource(out));
  assert.equal(o.vmcoreinfo, inV3.vmcoreinfo);
  assert.ok(o.notes.some((n) => n.name === 'VMCOREINFO'));
  assert.equal(o.header.nrCpus, 2, 'nr_cpus from the input header');
  if (haveMakedumpfile) makedumpfile(['--dump-dmesg', out, join(dir, 'v3-dmesg.txt')]);
});

test('a damaged note area: the notes before the damage and VMCOREINFO are carried over, and the save exits 3 saying what is missing', () => {
  const d = openDump(new FileSource(FIXTURE)) as KdumpCompressedDump;
  const bytes = Buffer.from(readFileSync(FIXTURE));
  // The 2nd note's namesz set absurd: the 1st CPU note still reads, the rest does not.
  const second = d.notes[1]!.offset;
  bytes.writeUInt32LE(0x7fffffff, second);
  const damaged = join(dir, 'damaged-notes.kdump');
  writeFileSync(damaged, bytes);
  const inDamaged = openDump(new FileSource(damaged));
  assert.equal(inDamaged.notes.length, 1);
  assert.ok(inDamaged.notesError);
  const out = join(dir, 'from-damaged');
  const r = vmcoreTs(['save', '-c', '-d', '31', '--message-level', '0', damaged, out]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /lacks part of the input's ELF notes: .*the 1 notes before it and VMCOREINFO are carried over/);
  const o = openDump(new FileSource(out));
  assert.deepEqual(o.notes.map((n) => n.name), ['CORE', 'VMCOREINFO']);
  assert.equal(o.vmcoreinfo, d.vmcoreinfo);
  assert.ok(Buffer.from(o.notes[0]!.desc).equals(Buffer.from(d.notes[0]!.desc)), 'the CPU note as it was');
});

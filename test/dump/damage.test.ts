// Naming the pages behind damaged or missing chunks (src/dump/damage.ts, vmcore-ts verify), on the
// bundled dump saved with `save --to DIR --chunk-mib 1` (17 chunks). The expected pages are found
// the other way round: from each page's descriptor and data in the intact dump to the records of
// the stream that wrote them, and the chunks those records lie in.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseManifest } from '../../src/dump/chunked.ts';
import { damageInDump } from '../../src/dump/damage.ts';
import { KdumpCompressedDump, PageDesc } from '../../src/format/kdump-compressed.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { BufferSource } from '../../src/io/source.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const work = mkdtempSync(join(tmpdir(), 'damage-'));
after(() => rmSync(work, { recursive: true, force: true }));
const vmcoreTs = (args: string[]) => spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'utf8' });

const dir = join(work, 'd');
const saved = vmcoreTs(['save', '--to', dir, '--chunk-mib', '1', '--state-dir', join(work, 'st'), '--message-level', '0', '-c', '-d', '31', FIXTURE]);
assert.equal(saved.status, 0, saved.stderr);
const m = parseManifest(readFileSync(join(dir, 'vmcore.manifest.json'), 'utf8'), 'manifest');
const chunks = m.chunks.map((c) => new Uint8Array(readFileSync(join(dir, c.file))));
const stream = new Uint8Array(Buffer.concat(chunks));
const chunkOf = (streamOffset: number) => Math.floor(streamOffset / m.chunkBytes);

/** The stream's records in order: header position, and where the data goes in the file. */
const records: { pos: number; off: number; size: number }[] = [];
for (let pos = 4096; ; ) {
  const dv = new DataView(stream.buffer, pos, 16);
  if (dv.getBigInt64(0) === -1n) break;
  records.push({ pos, off: Number(dv.getBigInt64(0)), size: Number(dv.getBigInt64(8)) });
  pos += 16 + Number(dv.getBigInt64(8));
}

/** Chunks that wrote any of the file's bytes [s, e) as they are in the file (a later record wins): its header's or its data's. */
function chunksWriting(s: number, e: number): Set<number> {
  const out = new Set<number>();
  for (let x = s; x < e; ) {
    let w: (typeof records)[number] | undefined;
    for (const r of records) if (r.off <= x && x < r.off + r.size) w = r; // the last one wins
    assert.ok(w, `file byte ${x} is written by a record`);
    const end = Math.min(e, w.off + w.size);
    const data = w.pos + 16 + (x - w.off);
    out.add(chunkOf(w.pos)).add(chunkOf(w.pos + 15));
    for (let c = chunkOf(data); c <= chunkOf(data + (end - x) - 1); c++) out.add(c);
    x = end;
  }
  return out;
}

const dump = openDump(new BufferSource(stream)) as KdumpCompressedDump;
/** Every present page frame → the chunks that hold its descriptor or its data. */
const holders = new Map<number, Set<number>>();
{
  let index = 0;
  for (const run of dump.presentRuns()) {
    for (let pfn = Number(run.startPfn); pfn < Number(run.endPfn); pfn++, index++) {
      const at = dump.dataOffset + index * PageDesc.size;
      const b = dump.source.read(at, PageDesc.size);
      const d = new DataView(b.buffer, b.byteOffset, b.length);
      const off = Number(d.getBigInt64(0, true));
      const size = d.getUint32(8, true);
      holders.set(pfn, new Set([...chunksWriting(at, at + PageDesc.size), ...chunksWriting(off, off + size)]));
    }
  }
}
const expected = (chunk: number) => [...holders].filter(([, cs]) => cs.has(chunk)).map(([pfn]) => pfn);
const named = (runs: { startPfn: bigint; endPfn: bigint }[] | undefined) =>
  (runs ?? []).flatMap((r) => Array.from({ length: Number(r.endPfn - r.startPfn) }, (_, i) => Number(r.startPfn) + i));

const damaged = (i: number) => {
  const b = Uint8Array.from(chunks[i]!);
  b[b.length >> 1]! ^= 0xff;
  return b;
};

test('damaged chunks are named by the page frames whose descriptor or data they held: exactly those, found from the pages back to the stream', () => {
  assert.ok(m.chunks.length >= 16, `${m.chunks.length} chunks`);
  const bad = [3, 7, m.chunks.length - 1];
  const got = damageInDump(m, (i) => (bad.includes(i) ? damaged(i) : chunks[i]), bad, (src) => openDump(src));
  for (const d of got) {
    const want = expected(d.chunk);
    assert.ok(want.length > 0);
    assert.deepEqual(named(d.pages), want, `chunk ${d.chunk}`);
    assert.equal(d.pageCount, want.length);
  }
  assert.match(got[2]!.text, /^the header's status word \(compression flags\) and pages 0x/, 'the last chunk holds the status word rewritten at the end');
});

test('a missing chunk is named too: the records are followed again after it, and what they lost is the uncovered part of the page table and data', () => {
  const bad = [5, 11];
  const got = damageInDump(m, (i) => (i === 11 ? undefined : i === 5 ? damaged(5) : chunks[i]), bad, (src) => openDump(src));
  for (const d of got) assert.deepEqual(named(d.pages), expected(d.chunk), `chunk ${d.chunk}`);
});

test('a damaged first chunk holds the headers: no page is named, and the other chunks say why', () => {
  const got = damageInDump(m, (i) => (i === 0 || i === 9 ? damaged(i) : chunks[i]), [0, 9], (src) => openDump(src));
  assert.equal(got[0]!.text, "the dump's headers, without which no page can be placed");
  assert.equal(got[1]!.text, "its pages cannot be named: the dump's headers are damaged too (vmcore.part-00000)");
  assert.equal(got[1]!.pages, undefined);
});

test('vmcore-ts verify prints the pages of each damaged chunk under its byte range, and --json gives them as pfn ranges', () => {
  const d2 = join(work, 'cli');
  const r = vmcoreTs(['save', '--to', d2, '--chunk-mib', '1', '--state-dir', join(work, 'st2'), '--message-level', '0', '-c', '-d', '31', FIXTURE]);
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(d2, 'vmcore.part-00007'), damaged(7));
  unlinkSync(join(d2, 'vmcore.part-00011'));
  const v = vmcoreTs(['verify', d2]);
  assert.equal(v.status, 1);
  const lines = v.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^vmcore\.part-00007: bytes 7340032-8388607 of the stream: SHA-256 /);
  assert.equal(lines[1], `  in the dump: pages 0x${expected(7)[0]!.toString(16)}-0x${expected(7).at(-1)!.toString(16)} (${expected(7).length} pages)`);
  assert.match(lines[2]!, /^vmcore\.part-00011: bytes 11534336-12582911 of the stream: missing$/);
  assert.match(lines[3]!, new RegExp(`^  in the dump: pages 0x${expected(11)[0]!.toString(16)}-.* \\(${expected(11).length} pages\\)$`));
  const j = JSON.parse(vmcoreTs(['verify', '--json', d2]).stdout);
  assert.deepEqual(j.problems.map((p: { pageCount: number }) => p.pageCount), [expected(7).length, expected(11).length]);
  assert.deepEqual(j.problems[0].pages[0], [`0x${expected(7)[0]!.toString(16)}`, `0x${expected(7).at(-1)!.toString(16)}`]);
});

test('ELF dumps (save -E --to): a damaged chunk is named by the pages of memory it held: the page changed by the damage is among them, and they fill at least the chunk', () => {
  const d3 = join(work, 'elf');
  const r = vmcoreTs(['save', '--to', d3, '--chunk-mib', '1', '--state-dir', join(work, 'st3'), '--message-level', '0', '-E', '-d', '31', FIXTURE]);
  assert.equal(r.status, 0, r.stderr);
  const em = parseManifest(readFileSync(join(d3, 'vmcore.manifest.json'), 'utf8'), 'manifest');
  const parts = em.chunks.map((c) => new Uint8Array(readFileSync(join(d3, c.file))));
  const k = 9;
  const bad = Uint8Array.from(parts[k]!);
  bad[12345]! ^= 0x5a;
  const [d] = damageInDump(em, (i) => (i === k ? bad : parts[i]), [k], (src) => openDump(src));
  const pages = named(d!.pages);
  // 1 MiB of 4 KiB pages, plus the rest of a record whose header is in the chunk.
  assert.ok(pages.length >= 256 && pages.length < 1024, `${pages.length} pages`);
  const intact = openDump(new BufferSource(new Uint8Array(Buffer.concat(parts))));
  const broken = openDump(new BufferSource(new Uint8Array(Buffer.concat(parts.map((p, i) => (i === k ? bad : p))))));
  const changed = pages.filter((pfn) => !Buffer.from(intact.readPage!(BigInt(pfn))).equals(broken.readPage!(BigInt(pfn))));
  assert.equal(changed.length, 1);
  assert.match(d!.text, new RegExp(`^pages 0x[0-9a-f]+.* \\(${pages.length} pages\\)$`));
});

// Names the pages behind damaged chunks of a chunked dump (save --to): `verify` knows a chunk's byte
// range in the flattened stream; this follows the stream's records to the rebuilt file's byte
// ranges, and those to the page frames whose descriptor or data they hold (kdump-compressed) or
// whose memory they are (ELF). The damaged bytes are used only to follow the records (a record
// header inside a damaged chunk makes its whole record damaged), never as page data. Pure: the
// chunks' plain bytes come from the caller.
import { ParseError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { Dump, PfnRun } from '../format/dump.ts';
import { ElfCoreDump } from '../format/elf-core.ts';
import { FLAT_HEADER_SIZE, FlatDataHeader, FlattenedSource, isFlattened } from '../format/flattened.ts';
import { KdumpCompressedDump, PageDesc } from '../format/kdump-compressed.ts';
import { readStruct } from '../format/struct.ts';
import type { Manifest } from './chunked.ts';

export interface ChunkDamage {
  /** Index of the chunk in the manifest. */
  chunk: number;
  /** What the damaged bytes held, for people: "pages of 0x1a000-0x1a3ff (1024 pages)", "the dump's headers: …". */
  text: string;
  /** The page frames whose stored bytes are in the chunk (when they could be named). */
  pages?: PfnRun[];
  pageCount?: number;
}

/** The stream the chunks make, each chunk read when first needed (2 kept); missing ones read as zeros. */
class ChunkStream implements ByteSource {
  readonly name = 'the chunked stream';
  readonly size: number;
  readonly starts: number[] = [];
  readonly sizes: number[];
  private readonly plain: (index: number) => Uint8Array | undefined;
  private readonly cache = new Map<number, Uint8Array | undefined>();
  constructor(sizes: number[], plain: (index: number) => Uint8Array | undefined) {
    this.sizes = sizes;
    this.plain = plain;
    let at = 0;
    for (const s of sizes) {
      this.starts.push(at);
      at += s;
    }
    this.size = at;
  }
  chunkAt(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  bytes(i: number): Uint8Array | undefined {
    if (!this.cache.has(i)) {
      if (this.cache.size >= 2) this.cache.delete(this.cache.keys().next().value!);
      const b = this.plain(i);
      this.cache.set(i, b && b.length === this.sizes[i] ? b : undefined);
    }
    return this.cache.get(i);
  }
  read(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    for (let got = 0; got < n; ) {
      const i = this.chunkAt(offset + got);
      const rel = offset + got - this.starts[i]!;
      const take = Math.min(n - got, this.sizes[i]! - rel);
      const b = this.bytes(i);
      if (b) out.set(b.subarray(rel, rel + take), got);
      got += take;
    }
    return out;
  }
}

/** A record header at `pos`: its file offset and size, the end marker, or undefined when it cannot be one. */
function header(stream: ChunkStream, pos: number): { off: number; size: number } | 'end' | undefined {
  if (pos + FlatDataHeader.size > stream.size) return undefined;
  const h = readStruct(FlatDataHeader, stream.read(pos, FlatDataHeader.size), 0, false);
  const off = h.offset;
  const size = h.buf_size;
  if (off === -1n && size === -1n) return pos + FlatDataHeader.size === stream.size ? 'end' : undefined;
  if (off < 0n || size < 0n || off > BigInt(Number.MAX_SAFE_INTEGER) || size > BigInt(stream.size - pos - FlatDataHeader.size)) return undefined;
  return { off: Number(off), size: Number(size) };
}

const present = (stream: ChunkStream, s: number, e: number) => {
  for (let i = stream.chunkAt(s); i < stream.sizes.length && stream.starts[i]! < e; i++) if (stream.bytes(i) === undefined) return false;
  return true;
};

/**
 * Where the records go on after a missing chunk: the first position in the next present chunks from
 * which headers chain, through present bytes, to the end marker at the stream's end. A wrong start
 * reads random numbers and fails within a record or two.
 */
function resync(stream: ChunkStream, from: number): number | undefined {
  let first = stream.chunkAt(from);
  while (first < stream.sizes.length && stream.bytes(first) === undefined) first++;
  if (first >= stream.sizes.length) return undefined;
  const start = Math.max(from, stream.starts[first]!);
  const end = stream.starts[first]! + stream.sizes[first]!;
  for (let p = start; p < end; p++) {
    let q = p;
    for (;;) {
      if (!present(stream, q, q + FlatDataHeader.size)) break;
      const h = header(stream, q);
      if (h === 'end') return p;
      if (!h) break;
      q += FlatDataHeader.size + h.size;
    }
  }
  return undefined;
}

/** [start, end) of the rebuilt file, per damaged chunk: from the stream's records. Throws ParseError when the records cannot be followed. */
function fileRangesOf(
  stream: ChunkStream,
  bad: readonly number[],
): { ranges: Map<number, [number, number][]>; records: { off: number; end: number; flat: number }[]; known: [number, number][]; lost: number[] } {
  if (!isFlattened(stream)) throw new ParseError("the stream does not start with the flattened format's header", { offset: 0 });
  const out = new Map<number, [number, number][]>(bad.map((i) => [i, []]));
  const badRange = (s: number, e: number): number[] => bad.filter((i) => stream.starts[i]! < e && s < stream.starts[i]! + stream.sizes[i]!);
  const known: [number, number][] = [];
  const records: { off: number; end: number; flat: number }[] = [];
  const lost = new Set<number>();
  for (let pos = FLAT_HEADER_SIZE; ; ) {
    if (!present(stream, pos, pos + FlatDataHeader.size)) {
      // The header is in a missing chunk: the records from here to where they can be followed again
      // are lost, and with them their place in the file (see damageInDump).
      for (let i = stream.chunkAt(pos); i < stream.sizes.length && stream.bytes(i) === undefined; i++) lost.add(i);
      const next = resync(stream, pos + FlatDataHeader.size);
      if (next === undefined) break;
      pos = next;
      continue;
    }
    const h = header(stream, pos);
    if (h === 'end') break;
    if (!h) throw new ParseError('a record header is damaged', { offset: pos });
    const data = pos + FlatDataHeader.size;
    known.push([h.off, h.off + h.size]);
    if (h.size > 0) records.push({ off: h.off, end: h.off + h.size, flat: data });
    for (const i of badRange(pos, data)) out.get(i)!.push([h.off, h.off + h.size]);
    for (const i of badRange(data, data + h.size)) {
      const s = Math.max(data, stream.starts[i]!);
      const e = Math.min(data + h.size, stream.starts[i]! + stream.sizes[i]!);
      out.get(i)!.push([h.off + (s - data), h.off + (e - data)]);
    }
    pos = data + h.size;
  }
  return { ranges: out, records, known, lost: [...lost] };
}

/** The stretches of [from, ∞) of the file no followed record wrote. */
function uncovered(known: [number, number][], from: number): [number, number][] {
  const gaps: [number, number][] = [];
  let at = from;
  for (const [s, e] of [...known].sort((a, b) => a[0] - b[0])) {
    if (s > at) gaps.push([at, s]);
    at = Math.max(at, e);
  }
  gaps.push([at, Number.MAX_SAFE_INTEGER]);
  return gaps;
}

const hex = (n: bigint) => `0x${n.toString(16)}`;
const count = (runs: readonly PfnRun[]) => runs.reduce((a, r) => a + Number(r.endPfn - r.startPfn), 0);

/** "0x1a000-0x1a3ff, 0x1b000 (1025 pages)", at most `max` runs named. */
export function describePfnRuns(runs: readonly PfnRun[], max = 6): string {
  const named = runs.slice(0, max).map((r) => (r.endPfn - r.startPfn === 1n ? hex(r.startPfn) : `${hex(r.startPfn)}-${hex(r.endPfn - 1n)}`));
  const more = runs.length > max ? `, and ${runs.length - max} more runs` : '';
  const n = count(runs);
  return `${named.join(', ')}${more} (${n} page${n === 1 ? '' : 's'})`;
}

/** Merges runs that touch; input in any order. */
function merged(runs: PfnRun[]): PfnRun[] {
  const out: PfnRun[] = [];
  for (const r of [...runs].sort((a, b) => (a.startPfn < b.startPfn ? -1 : a.startPfn > b.startPfn ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last && r.startPfn <= last.endPfn) last.endPfn = r.endPfn > last.endPfn ? r.endPfn : last.endPfn;
    else out.push({ ...r });
  }
  return out;
}

/**
 * What each damaged chunk held in the dump. `plain(i)` gives chunk i's plain bytes (a damaged one as
 * stored, when it is not encrypted; undefined when missing or unopenable); `open` opens the stream
 * as a dump (the format readers).
 */
export function damageInDump(m: Manifest, plain: (index: number) => Uint8Array | undefined, bad: readonly number[], open: (src: ByteSource) => Dump): ChunkDamage[] {
  const sizes = m.chunks.map((c, i) => (m.encryption ? (i < m.chunks.length - 1 ? m.chunkBytes : m.size - m.chunkBytes * (m.chunks.length - 1)) : c.size));
  const stream = new ChunkStream(sizes, plain);
  const unnamed = (why: string): ChunkDamage[] => bad.map((chunk) => ({ chunk, text: `its pages cannot be named: ${why}` }));
  let followed: ReturnType<typeof fileRangesOf>;
  let dump: Dump;
  try {
    followed = fileRangesOf(stream, bad);
    dump = open(new FlattenedSource(stream, followed.records));
  } catch (e) {
    if (e instanceof ParseError) return unnamed(e.message);
    throw e;
  }
  const order = [...bad];
  const lists = order.map((i) => followed.ranges.get(i)!);
  if (followed.lost.length > 0) {
    // Records whose headers were in missing chunks wrote where no followed record did. Only the page
    // descriptors and data are contiguous (the headers and bitmaps have padding and unwritten zero
    // stretches), so only there is an uncovered stretch known to be theirs — and only if no set bit
    // of the bitmaps was lost with them: the table must then hold as many descriptors as the 2nd
    // bitmap has set bits, i.e. the first page's data must start right after it.
    if (!(dump instanceof KdumpCompressedDump)) return unnamed('record headers were in the missing chunks');
    const d0 = dump.source.read(dump.dataOffset, PageDesc.size);
    const covered = followed.known.some(([s, e]) => s <= dump.dataOffset && dump.dataOffset + PageDesc.size <= e);
    const first = covered && d0.length === PageDesc.size ? readStruct(PageDesc, d0, 0, dump.littleEndian).offset : -1n;
    if (first !== BigInt(dump.dataOffset) + dump.pagesPresent() * BigInt(PageDesc.size)) {
      return unnamed('record headers were in the missing chunks, and the bitmaps left do not match the page descriptors: bitmap bytes may have been lost with them');
    }
    const gaps = uncovered(followed.known, dump.dataOffset);
    for (const i of followed.lost) followed.ranges.get(i)?.push(...gaps);
  }
  if (dump instanceof KdumpCompressedDump) {
    const flat = lists.flatMap((l, k) => l.map((r) => ({ r, k })));
    const got = dump.pagesStoredIn(flat.map((x) => x.r));
    const ofChunk = (k: number) => got.filter((_, j) => flat[j]!.k === k);
    // Without intact headers and bitmaps no page can be placed: say which chunk holds what.
    const meta = order.filter((_, k) => ofChunk(k).some((g) => g.headers || g.bitmapPfns.length > 0)).map((i) => m.chunks[i]!.file);
    if (meta.length > 0) {
      const what = got.some((g) => g.headers) ? "the dump's headers" : `the dump's bitmaps of page frames ${describePfnRuns(merged(got.flatMap((g) => g.bitmapPfns)))}`;
      return order.map((chunk) =>
        meta.includes(m.chunks[chunk]!.file)
          ? { chunk, text: `${what}, without which no page can be placed` }
          : { chunk, text: `its pages cannot be named: ${what} are damaged too (${meta.join(', ')})` },
      );
    }
    return order.map((chunk, k) => {
      const mine = ofChunk(k);
      const runs = merged(mine.flatMap((g) => g.pages));
      const status = mine.some((g) => g.status) ? "the header's status word (compression flags) and " : '';
      return runs.length
        ? { chunk, text: `${status}pages ${describePfnRuns(runs)}`, pages: runs, pageCount: count(runs) }
        : { chunk, text: status ? "the header's status word (compression flags), no page" : 'no page (padding)', pages: [], pageCount: 0 };
    });
  }
  if (dump instanceof ElfCoreDump) {
    const first = Math.min(...dump.loadSegments.map((s) => s.fileOffset));
    const meta = order.filter((_, k) => lists[k]!.some(([a]) => a < first)).map((i) => m.chunks[i]!.file);
    if (meta.length > 0) {
      return order.map((chunk) =>
        meta.includes(m.chunks[chunk]!.file)
          ? { chunk, text: 'the ELF headers and notes, without which no page can be placed' }
          : { chunk, text: `its pages cannot be named: the ELF headers are damaged too (${meta.join(', ')})` },
      );
    }
    return order.map((chunk, k) => {
      const runs: PfnRun[] = [];
      for (const [a, b] of lists[k]!) {
        for (const s of dump.loadSegments) {
          const st = Math.max(a, s.fileOffset);
          const en = Math.min(b, s.fileOffset + s.fileSize);
          if (st >= en) continue;
          const p0 = (s.paddr + BigInt(st - s.fileOffset)) / BigInt(dump.pageSize);
          const p1 = (s.paddr + BigInt(en - s.fileOffset) + BigInt(dump.pageSize) - 1n) / BigInt(dump.pageSize);
          runs.push({ startPfn: p0, endPfn: p1 });
        }
      }
      const all = merged(runs);
      return { chunk, text: all.length ? `pages ${describePfnRuns(all)}` : 'no page (padding)', pages: all, pageCount: count(all) };
    });
  }
  return unnamed(`the stream holds a ${dump.format} dump`);
}

// The flattened format (`makedumpfile -F`, for sending a dump through a pipe or ssh):
//   0x0000  makedumpfile_header { char signature[16] "makedumpfile"; i64 type = 1; i64 version = 1 },
//           zero padded to 4096 bytes
//   0x1000  records: { i64 offset; i64 buf_size } + buf_size bytes, meaning "these bytes go at
//           `offset` of the real file"; in any order; later records win where they overlap
//   end     { -1, -1 }
// All header integers are big-endian. The reader indexes the records once and serves the real
// file's bytes by binary search (no rearranging); the writer is a ByteSink that emits records.
import { ParseError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { DumpReader } from './dump.ts';
import type { ByteSink } from './sink.ts';
import { encodeStruct, readStruct, struct } from './struct.ts';

export const FLAT_SIGNATURE = 'makedumpfile';
export const FLAT_HEADER_SIZE = 4096;
export const TYPE_FLAT_HEADER = 1n;

export const FlatHeader = struct('makedumpfile_header', 32, {
  signature: { off: 0, type: 'cstr:16' },
  type: { off: 16, type: 'i64' },
  version: { off: 24, type: 'i64' },
});

export const FlatDataHeader = struct('makedumpfile_data_header', 16, {
  offset: { off: 0, type: 'i64' },
  buf_size: { off: 8, type: 'i64' },
});

const BE = false;
// Record headers are read through a small window: records of kilobytes are the norm, so a large
// window would read the whole stream just to index it.
const SCAN_CHUNK = 8192;

interface Piece {
  off: number; // offset in the rebuilt file
  end: number;
  flat: number; // offset in the flattened file of byte `off`
  seq: number; // record number; a later record wins where two overlap
}

/** Pieces in four growable Float64Array columns: 32 bytes per record, however many there are. */
class PieceTable {
  length = 0;
  private cols = [new Float64Array(64), new Float64Array(64), new Float64Array(64), new Float64Array(64)];
  push(p: Piece): void {
    if (this.length === this.cols[0]!.length) {
      this.cols = this.cols.map((c) => {
        const n = new Float64Array(c.length * 2);
        n.set(c);
        return n;
      });
    }
    const [o, e, f, q] = this.cols as [Float64Array, Float64Array, Float64Array, Float64Array];
    o[this.length] = p.off;
    e[this.length] = p.end;
    f[this.length] = p.flat;
    q[this.length] = p.seq;
    this.length++;
  }
  off(i: number): number {
    return this.cols[0]![i]!;
  }
  end(i: number): number {
    return this.cols[1]![i]!;
  }
  setEnd(i: number, v: number): void {
    this.cols[1]![i] = v;
  }
  get(i: number): Piece {
    return { off: this.cols[0]![i]!, end: this.cols[1]![i]!, flat: this.cols[2]![i]!, seq: this.cols[3]![i]! };
  }
  pop(): Piece {
    this.length--;
    return this.get(this.length);
  }
}

export function isFlattened(src: ByteSource): boolean {
  const b = src.read(0, FlatHeader.size);
  if (b.length < FlatHeader.size) return false;
  const h = readStruct(FlatHeader, b, 0, BE);
  return h.signature === FLAT_SIGNATURE && h.type === TYPE_FLAT_HEADER;
}

/** The real (rearranged) file a flattened stream describes, as a ByteSource. Gaps read as zeros. */
export class FlattenedSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly records: number;
  readonly warnings: string[] = [];
  private readonly inner: ByteSource;
  private readonly pieces: PieceTable;

  /**
   * `records`: the stream's records when the caller has followed them itself (in stream order:
   * where each one's data goes in the file and where it is in the stream), e.g. around a missing
   * stretch of the stream; without it the stream is read from its start.
   */
  constructor(inner: ByteSource, records?: readonly { off: number; end: number; flat: number }[]) {
    this.inner = inner;
    this.name = inner.name;
    if (!isFlattened(inner)) {
      throw new ParseError('not a flattened makedumpfile stream (no "makedumpfile" header)', { offset: 0, source: inner.name });
    }
    const recs = new PieceTable();
    if (records) {
      for (const r of records) recs.push({ ...r, seq: recs.length });
      this.records = recs.length;
      this.pieces = resolveOverlaps(recs);
      this.size = this.pieces.length > 0 ? this.pieces.end(this.pieces.length - 1) : 0;
      return;
    }
    let pos = FLAT_HEADER_SIZE;
    let ended = false;
    let chunk: Uint8Array = new Uint8Array(0);
    let chunkAt = 0;
    // Every iteration moves forward at least 16 bytes.
    while (pos + FlatDataHeader.size <= inner.size) {
      if (pos < chunkAt || pos + FlatDataHeader.size > chunkAt + chunk.length) {
        chunkAt = pos;
        chunk = inner.read(pos, SCAN_CHUNK);
      }
      const h = readStruct(FlatDataHeader, chunk, pos - chunkAt, BE);
      if (h.offset === -1n && h.buf_size === -1n) {
        ended = true;
        break;
      }
      if (h.offset < 0n || h.buf_size < 0n || h.offset > BigInt(Number.MAX_SAFE_INTEGER) || h.buf_size > BigInt(inner.size)) {
        throw new ParseError(`flattened record at offset ${pos} is damaged (offset ${h.offset}, size ${h.buf_size})`, {
          offset: pos,
          source: inner.name,
        });
      }
      const off = Number(h.offset);
      const size = Number(h.buf_size);
      const data = pos + FlatDataHeader.size;
      const have = Math.min(size, inner.size - data);
      if (have < size) {
        this.warnings.push(
          `the flattened stream is truncated: its last record (offset ${off}, ${size} bytes) has only ${have} bytes`,
        );
      }
      if (have > 0) recs.push({ off, end: off + have, flat: data, seq: recs.length });
      pos = data + size;
    }
    if (!ended) {
      this.warnings.push(`the flattened stream ends at ${inner.size} bytes without its end marker: it is truncated`);
    }
    this.records = recs.length;
    this.pieces = resolveOverlaps(recs);
    this.size = this.pieces.length > 0 ? this.pieces.end(this.pieces.length - 1) : 0;
  }

  private find(offset: number): number {
    // Index of the last piece starting at or before offset, or -1.
    let lo = 0;
    let hi = this.pieces.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.pieces.off(mid) <= offset) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const n = Math.min(length, this.size - offset);
    let i = this.find(offset);
    const p0 = i >= 0 ? this.pieces.get(i) : undefined;
    // Fast path: one piece holds it all.
    if (p0 && offset + n <= p0.end) return this.readPiece(p0, offset, n);
    const out = new Uint8Array(n);
    if (i < 0) i = 0;
    for (; i < this.pieces.length; i++) {
      const p = this.pieces.get(i);
      if (p.off >= offset + n) break;
      const s = Math.max(p.off, offset);
      const e = Math.min(p.end, offset + n);
      if (e > s) out.set(this.readPiece(p, s, e - s), s - offset);
    }
    return out;
  }

  private readPiece(p: Piece, offset: number, n: number): Uint8Array {
    const b = this.inner.read(p.flat + (offset - p.off), n);
    if (b.length === n) return b;
    const out = new Uint8Array(n);
    out.set(b);
    return out;
  }
}

/** Sorted, non-overlapping pieces; where records overlap the later one wins. */
function resolveOverlaps(recs: PieceTable): PieceTable {
  const order = new Uint32Array(recs.length).map((_, i) => i);
  order.sort((a, b) => recs.off(a) - recs.off(b) || a - b);
  const out = new PieceTable();
  for (const i of order) {
    const r = recs.get(i);
    if (out.length === 0 || out.end(out.length - 1) <= r.off) {
      out.push(r);
      continue;
    }
    // Overlap (rare: a header rewritten at the end). Repaint the overlapping tail.
    const group: Piece[] = [r];
    while (out.length > 0 && out.end(out.length - 1) > r.off) group.push(out.pop());
    const cuts = [...new Set(group.flatMap((p) => [p.off, p.end]))].sort((a, b) => a - b);
    for (let k = 0; k + 1 < cuts.length; k++) {
      const s = cuts[k]!;
      const e = cuts[k + 1]!;
      let best: Piece | undefined;
      for (const p of group) if (p.off <= s && p.end >= e && (!best || p.seq > best.seq)) best = p;
      if (!best) continue;
      const last = out.length > 0 ? out.get(out.length - 1) : undefined;
      if (last && last.seq === best.seq && last.end === s) out.setEnd(out.length - 1, e);
      else out.push({ off: s, end: e, flat: best.flat + (s - best.off), seq: best.seq });
    }
  }
  return out;
}

/** A ByteSink writing the flattened format to a sequential output (stdout, a pipe, ssh). */
export class FlattenedWriter implements ByteSink {
  private readonly out: (chunk: Uint8Array) => void;
  private ended = false;
  constructor(out: (chunk: Uint8Array) => void) {
    this.out = out;
    const header = new Uint8Array(FLAT_HEADER_SIZE);
    header.set(encodeStruct(FlatHeader, { signature: FLAT_SIGNATURE, type: TYPE_FLAT_HEADER, version: 1n }, BE));
    out(header);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.ended) throw new Error('the flattened stream is already ended');
    if (bytes.length === 0) return;
    this.out(encodeStruct(FlatDataHeader, { offset: BigInt(offset), buf_size: BigInt(bytes.length) }, BE));
    this.out(bytes);
  }
  /** Writes the end marker. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.out(encodeStruct(FlatDataHeader, { offset: -1n, buf_size: -1n }, BE));
  }
}

/** Opens the dump inside a flattened stream; `inner` are the readers for the rebuilt file. */
export function flattenedReader(inner: readonly DumpReader[]): DumpReader {
  return {
    name: 'flattened (makedumpfile -F)',
    probe: isFlattened,
    open(src, opts) {
      const flat = new FlattenedSource(src);
      for (const r of inner) if (r.probe(flat)) return r.open(flat, { decoders: opts?.decoders, container: 'flattened', warnings: flat.warnings });
      const head = Array.from(flat.read(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new ParseError(`flattened stream holds no dump this tool reads (its file starts ${head || 'empty'})`, {
        offset: FLAT_HEADER_SIZE,
        source: src.name,
      });
    },
  };
}

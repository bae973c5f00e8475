// Several sources read as one (a chunked dump's chunk files, in order: the flattened stream).
import type { ByteSource } from './source.ts';

export class ConcatSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly parts: readonly ByteSource[];
  private readonly starts: number[] = [];
  constructor(parts: readonly ByteSource[], name: string) {
    this.parts = parts;
    this.name = name;
    let at = 0;
    for (const p of parts) {
      this.starts.push(at);
      at += p.size;
    }
    this.size = at;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const want = Math.min(length, this.size - offset);
    const out = new Uint8Array(want);
    let got = 0;
    // The last part that starts at or before the offset.
    let i = this.starts.findLastIndex((s) => s <= offset);
    while (got < want && i < this.parts.length) {
      const p = this.parts[i]!;
      const at = offset + got - this.starts[i]!;
      const b = p.read(at, Math.min(want - got, p.size - at));
      out.set(b, got);
      got += b.length;
      if (at + b.length >= p.size) i++;
      else if (b.length === 0) break;
    }
    return out.subarray(0, got);
  }
}

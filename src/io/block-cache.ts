// A block cache in front of a slow ByteSource (HTTP range requests, a browser File): readers ask
// for many small pieces, so whole aligned blocks are read and the most recent ones kept.
import type { ByteSource } from './source.ts';

/** Reads whole aligned blocks from `inner` and keeps the most recent ones. */
export class BlockCacheSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly inner: ByteSource;
  private readonly blockSize: number;
  private readonly maxBlocks: number;
  private readonly blocks = new Map<number, Uint8Array>();
  constructor(inner: ByteSource, blockSize = 1 << 18, maxBlocks = 256) {
    this.inner = inner;
    this.name = inner.name;
    this.size = inner.size;
    this.blockSize = blockSize;
    this.maxBlocks = maxBlocks;
  }
  private block(i: number): Uint8Array {
    let b = this.blocks.get(i);
    if (b) {
      this.blocks.delete(i);
      this.blocks.set(i, b);
      return b;
    }
    b = this.inner.read(i * this.blockSize, this.blockSize);
    this.blocks.set(i, b);
    if (this.blocks.size > this.maxBlocks) this.blocks.delete(this.blocks.keys().next().value!);
    return b;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    length = Math.min(length, this.size - offset);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    if (first === last) {
      const start = offset - first * this.blockSize;
      return this.block(first).subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    for (let i = first, done = 0; i <= last; i++) {
      const b = this.block(i);
      const start = i === first ? offset - i * this.blockSize : 0;
      const n = Math.min(b.length - start, length - done);
      out.set(b.subarray(start, start + n), done);
      done += n;
    }
    return out;
  }
}

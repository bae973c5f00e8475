import { ParseError } from '../errors.ts';

// The one random-access interface the core reads through. Synchronous on purpose: a Node file
// (fs.readSync), /proc/vmcore, an in-memory buffer and a browser File in a worker (FileReaderSync)
// all support it, and synchronous reads keep page-table walks and unwinders simple.

/** Random-access, synchronous bytes: a file, /proc/vmcore, a buffer, a browser File in a worker. */
export interface ByteSource {
  /** A name for messages (a path, or "<buffer>"). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** Reads up to `length` bytes at `offset`; returns fewer only at the end of the source. */
  read(offset: number, length: number): Uint8Array;
  /**
   * Reads up to `length` bytes at `offset` straight into `dst` at `dstOffset` (no copy, no new
   * buffer: a file's pread); returns how many, fewer only at the end of the source. Optional.
   */
  readInto?(offset: number, dst: Uint8Array, dstOffset: number, length: number): number;
}

export class BufferSource implements ByteSource {
  readonly name: string;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array, name = '<buffer>') {
    this.bytes = bytes;
    this.name = name;
  }
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.bytes.length || length <= 0) return new Uint8Array(0);
    return this.bytes.subarray(offset, Math.min(this.bytes.length, offset + length));
  }
}

/** A window [start, start+size) of another source, addressed from 0. */
export class SliceSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly inner: ByteSource;
  private readonly start: number;
  constructor(inner: ByteSource, start: number, size: number) {
    this.inner = inner;
    this.start = start;
    this.size = Math.max(0, Math.min(size, inner.size - start));
    this.name = inner.name;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size) return new Uint8Array(0);
    return this.inner.read(this.start + offset, Math.min(length, this.size - offset));
  }
}

/** Reads exactly `length` bytes or throws a ParseError naming what was being read. */
export function readExactly(src: ByteSource, offset: number, length: number, what: string): Uint8Array {
  const b = src.read(offset, length);
  if (b.length < length) {
    throw new ParseError(`${what}: file ends at ${src.size}, needs ${length} bytes at offset ${offset}`, {
      offset,
      source: src.name,
      hint: 'the file is truncated',
    });
  }
  return b;
}


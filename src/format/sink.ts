// Where the dump writers put their bytes: a positioned write, so one writer serves a file
// (pwrite), a flattened stream (records of offset+bytes) and an in-memory buffer alike.

export interface ByteSink {
  /**
   * Writes `bytes` at `offset`. Ranges never written read back as zeros. The caller may reuse
   * `bytes` once this returns: a sink that keeps them copies.
   */
  write(offset: number, bytes: Uint8Array): void;
}

/** A growable in-memory sink (tests, small dumps, browsers). */
export class BufferSink implements ByteSink {
  private buf = new Uint8Array(1 << 16);
  /** One past the highest byte written. */
  length = 0;
  write(offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length;
    if (end > this.buf.length) {
      const n = new Uint8Array(Math.max(end, this.buf.length * 2));
      n.set(this.buf.subarray(0, this.length));
      this.buf = n;
    }
    this.buf.set(bytes, offset);
    if (end > this.length) this.length = end;
  }
  /** The bytes written so far (a view; copy it before writing more). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Collects consecutive writes into larger ones (fewer syscalls, fewer flattened records). */
export class CoalescingSink implements ByteSink {
  private readonly inner: ByteSink;
  private readonly buf: Uint8Array;
  private start = -1;
  private used = 0;
  constructor(inner: ByteSink, bufferBytes = 1 << 20) {
    this.inner = inner;
    this.buf = new Uint8Array(bufferBytes);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.start >= 0 && offset === this.start + this.used && this.used + bytes.length <= this.buf.length) {
      this.buf.set(bytes, this.used);
      this.used += bytes.length;
      return;
    }
    this.flush();
    if (bytes.length >= this.buf.length) {
      this.inner.write(offset, bytes);
      return;
    }
    this.start = offset;
    this.buf.set(bytes, 0);
    this.used = bytes.length;
  }
  flush(): void {
    if (this.start >= 0 && this.used > 0) this.inner.write(this.start, this.buf.subarray(0, this.used));
    this.start = -1;
    this.used = 0;
  }
}

// Node edge: a ByteSource over a file descriptor (a dump file, /proc/vmcore, a block device).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ReadError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';

export class FileSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private fd: number;
  constructor(path: string, size?: number) {
    this.name = path;
    this.fd = openSync(path, 'r');
    // /proc/vmcore reports its size in st_size; block devices report 0 (callers pass a size).
    this.size = size ?? fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    const done = this.readInto(offset, buf, 0, buf.length);
    return done === buf.length ? buf : buf.subarray(0, done);
  }
  /** pread into the caller's buffer (the save reads /proc/vmcore this way, without copies). */
  readInto(offset: number, dst: Uint8Array, dstOffset: number, length: number): number {
    const n = Math.max(0, Math.min(length, this.size - offset));
    let done = 0;
    while (done < n) {
      let got: number;
      try {
        got = readSync(this.fd, dst, dstOffset + done, n - done, offset + done);
      } catch (e) {
        throw new ReadError(this.name, offset + done, n - done, e);
      }
      if (got === 0) break;
      done += got;
    }
    return done;
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

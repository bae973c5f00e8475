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
  /** The open file's descriptor (-1 once closed): the save's workers read it too (threads share it). */
  get descriptor(): number {
    return this.fd;
  }
  /** pread into the caller's buffer (the save reads /proc/vmcore this way, without copies). */
  readInto(offset: number, dst: Uint8Array, dstOffset: number, length: number): number {
    return preadFully(this.fd, this.name, offset, dst, dstOffset, Math.max(0, Math.min(length, this.size - offset)));
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * pread of `length` bytes of file `name` (open as `fd`) at `offset` into `dst` at `dstOffset`, again
 * after short reads; returns how many, fewer only at the end of the file. Throws ReadError.
 */
export function preadFully(fd: number, name: string, offset: number, dst: Uint8Array, dstOffset: number, length: number): number {
  let done = 0;
  while (done < length) {
    let got: number;
    try {
      got = readSync(fd, dst, dstOffset + done, length - done, offset + done);
    } catch (e) {
      throw new ReadError(name, offset + done, length - done, e);
    }
    if (got === 0) break;
    done += got;
  }
  return done;
}

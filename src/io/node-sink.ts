// Node edge: a ByteSink over a file (positioned writes, pwrite). Holes never written read as zeros.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';

export class FileSink implements ByteSink {
  private fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(offset: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

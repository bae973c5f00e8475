// Node edge of the save pipeline: the output file (created 0600, never over an existing one unless
// asked) and sequential writes to stdout for the flattened format.
import { closeSync, constants, fsyncSync, openSync, writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';

/** A ByteSink over a file descriptor: positioned writes (pwrite). */
export class FdSink implements ByteSink {
  readonly fd: number;
  constructor(fd: number) {
    this.fd = fd;
  }
  write(offset: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
  }
}

/** Creates DUMPFILE for writing: mode 0600; refuses an existing file unless `force` (then truncates). */
export function createDumpFile(path: string, force: boolean): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | (force ? constants.O_TRUNC : constants.O_EXCL);
  return openSync(path, flags, 0o600);
}

export function closeDumpFile(fd: number): void {
  try {
    fsyncSync(fd);
  } catch {
    // fsync can fail on pipes and some filesystems; the data is written either way
  }
  closeSync(fd);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to a sequential fd (stdout may be a non-blocking pipe: EAGAIN waits). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(sleeper, 0, 0, 5);
    }
  }
}

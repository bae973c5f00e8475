// The file sinks: positioned writes to an output file (src/host/output-file.ts creates it), a file
// created as every output is (for tests and benches), sequential writes to stdout for the flattened
// format.
import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';
import { OutputFile } from './output-file.ts';

/** A ByteSink over a file descriptor: positioned writes (pwrite). */
export class FdSink implements ByteSink {
  readonly fd: number;
  constructor(fd: number) {
    this.fd = fd;
  }
  write(offset: number, bytes: Uint8Array): void {
    pwriteAll(this.fd, offset, bytes);
  }
  /** Empties the file (a save starting over at the next dump level). */
  truncate(): void {
    ftruncateSync(this.fd, 0);
  }
}

function pwriteAll(fd: number, offset: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
}

/**
 * A ByteSink over a new file, for tests and benches that write dumps. Created as every output is
 * (fresh, 0600, under a temporary name); close() puts it in place, replacing an existing file.
 * Holes never written read as zeros.
 */
export class FileSink implements ByteSink {
  private file: OutputFile | undefined;
  constructor(path: string) {
    this.file = OutputFile.create(path, { force: true });
  }
  write(offset: number, bytes: Uint8Array): void {
    if (!this.file) throw new Error('the file is closed');
    pwriteAll(this.file.fd, offset, bytes);
  }
  close(): void {
    this.file?.commit();
    this.file = undefined;
  }
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

/** `bytes` written to `tmp` (mode 0600), synced, then renamed to `dest`: a reader sees the whole file or none. */
export function writeFileDurably(tmp: string, dest: string, bytes: Uint8Array): void {
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeAllSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, dest);
}

// The file sinks: positioned writes to an output file (src/host/output-file.ts creates it), a file
// created as every output is (for tests and benches), sequential writes to stdout for the flattened
// format, direct reads of an ELF input for the save pipeline.
import { openSync, readSync, writeSync } from 'node:fs';
import type { PhysReadInto } from '../dump/save.ts';
import type { Dump, LoadSegment } from '../format/dump.ts';
import type { ByteSink } from '../format/sink.ts';
import { FileSource } from './file-source.ts';
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

/**
 * For an ELF core read straight from a file (/proc/vmcore): reads pages from the file into the
 * caller's buffer with one pread, no intermediate copies. Anything not inside one file-backed
 * PT_LOAD returns false and takes the dump's own readPhys path.
 */
export function directElfReader(dump: Dump): PhysReadInto | undefined {
  const segs = (dump as { physSegments?: readonly LoadSegment[] }).physSegments;
  if (!segs || !(dump.source instanceof FileSource)) return undefined;
  const fd = openSync(dump.source.name, 'r');
  const size = dump.source.size;
  const table = segs.map((s) => ({ start: Number(s.paddr), end: Number(s.paddr) + Math.min(s.fileSize, Math.max(0, size - s.fileOffset)), fileOffset: s.fileOffset }));
  let last: (typeof table)[number] | undefined = table[0];
  return (paddr, dst, off, length) => {
    if (!last || paddr < last.start || paddr + length > last.end) {
      last = table.find((s) => paddr >= s.start && paddr + length <= s.end);
      if (!last) return false;
    }
    const pos = last.fileOffset + (paddr - last.start);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, dst, off + done, length - done, pos + done);
      if (n === 0) return false;
      done += n;
    }
    return true;
  };
}

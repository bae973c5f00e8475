// The file sinks: positioned writes to an output file (src/host/output-file.ts creates it), a file
// created as every output is (for tests and benches), sequential writes to stdout for the flattened
// format.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';
import { loadKoffi } from './koffi.ts';
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
// fcntl commands and flags (the same on x86_64 and arm64)
const F_GETFL = 3;
const F_SETFL = 4;
const F_SETPIPE_SZ = 1031;
const O_NONBLOCK = 0o4000;

type Fcntl = (fd: number, cmd: number, ...args: unknown[]) => number;
let fcntlFn: Fcntl | null | undefined;
function fcntl(): Fcntl | undefined {
  if (fcntlFn === undefined) {
    try {
      fcntlFn = loadKoffi().load('libc.so.6').func('int fcntl(int fd, int cmd, ...)') as Fcntl;
    } catch {
      fcntlFn = null;
    }
  }
  return fcntlFn ?? undefined;
}

/**
 * Puts `fd` back in blocking mode (fcntl through koffi); false without the FFI. Someone else made it
 * non-blocking: in Node, creating process.stdout for a pipe does (a Worker forwarding its output did).
 */
function makeBlocking(fd: number): boolean {
  const f = fcntl();
  if (!f) return false;
  const flags = f(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) !== 0 && f(fd, F_SETFL, 'int', flags & ~O_NONBLOCK) === 0;
}

/**
 * Readies a stream output (`save -F` to stdout): a pipe gets a 1 MiB buffer where the system allows
 * it (/proc/sys/fs/pipe-max-size), so a 1 MiB write is one copy and one wake-up of the reader
 * instead of sixteen. Best effort: nothing changes without the FFI or the permission.
 */
export function prepareStreamOutput(fd: number): void {
  try {
    if (!fstatSync(fd).isFIFO()) return;
    fcntl()?.(fd, F_SETPIPE_SZ, 'int', 1 << 20);
  } catch {
    // not a pipe we may resize: the default buffer works, only slower
  }
}

/**
 * Writes all of `bytes` to a sequential fd. A non-blocking pipe (EAGAIN) is made blocking, so the
 * write waits in the kernel for the reader, as makedumpfile's does; without the FFI it sleeps 1 ms
 * per EAGAIN.
 */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let done = 0;
  let triedBlocking = false;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      if (!triedBlocking) {
        triedBlocking = true;
        if (makeBlocking(fd)) continue;
      }
      Atomics.wait(sleeper, 0, 0, 1);
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

// The file sinks: positioned writes to an output file (src/host/output-file.ts creates it), a file
// created as every output is (for tests and benches), sequential writes to stdout for the flattened
// format.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import type { ByteSink } from '../format/sink.ts';
import { libcFunction } from './koffi.ts';
import { OutputFile } from './output-file.ts';

/**
 * A ByteSink over a file descriptor: positioned writes (pwrite). Each further 16 MiB written is handed
 * to the kernel's writeback at once (write-behind), so the dirty pages of a large dump do not pile up
 * until the kernel throttles the writer (64 GiB, -l -d 31 to a file: 9.3 → 8.4 s; BENCHMARKS.md) and
 * the final fsync has little left to do.
 */
export class FdSink implements ByteSink {
  readonly fd: number;
  private readonly startWriteback: StartWriteback | undefined;
  /** Bytes [0, handed) went to writeback; `high`: the end of the furthest write. */
  private handed = 0;
  private high = 0;
  constructor(fd: number, startWriteback: StartWriteback | undefined = syncFileRangeWrite()) {
    this.fd = fd;
    this.startWriteback = startWriteback;
  }
  write(offset: number, bytes: Uint8Array): void {
    pwriteAll(this.fd, offset, bytes);
    this.high = Math.max(this.high, offset + bytes.length);
    if (this.high - this.handed >= WRITE_BEHIND) {
      this.startWriteback?.(this.fd, this.handed, this.high - this.handed);
      this.handed = this.high;
    }
  }
  /** Empties the file (a save starting over at the next dump level). */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.handed = this.high = 0;
  }
}

/** Starts the writeback of a file's dirty pages in [offset, offset + length); does not wait. */
export type StartWriteback = (fd: number, offset: number, length: number) => void;
const WRITE_BEHIND = 16 << 20;
const SYNC_FILE_RANGE_WRITE = 2;

/**
 * sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) through koffi, or undefined without the
 * FFI. Only WRITE: the WAIT flags would take a writeback error (file_fdatawait_range advances the
 * file's error cursor) that the fsync closing the output must report. Its own failures (a file system
 * without it) are ignored: the writes and the fsync are what count.
 */
export function syncFileRangeWrite(): StartWriteback | undefined {
  const f = libcFunction('int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags)');
  return f && ((fd, offset, length) => void f(fd, offset, length, SYNC_FILE_RANGE_WRITE));
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
const fcntl = () => libcFunction('int fcntl(int fd, int cmd, ...)') as Fcntl | undefined;

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

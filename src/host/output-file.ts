// Node edge: every file a command writes (dumps, kernel logs, SVG plans, initramfs images).
//
//   - Never the input: an output that is the same file as an input (same path, a symlink, a hard
//     link, /proc/self/fd/N: the same device and inode) is refused before anything is opened.
//   - Never over an existing file unless asked (makedumpfile's rule: -f).
//   - Created fresh under a temporary name in the target directory (O_CREAT|O_EXCL|O_NOFOLLOW,
//     mode 0600: dumps hold secrets) and put in place at the end: rename() with `force` (a symlink
//     at the destination is replaced, never followed), link() without (fails if a file appeared
//     meanwhile). A writer killed half-way leaves its temporary file and never the final name.
//   - One writer per output: a lock file created with O_EXCL beside it holds the writer's pid; a
//     second writer fails with a clear message (also while the lock is still empty: just created,
//     its pid not yet written); a lock left by a dead process is taken over.
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OutputError } from '../errors.ts';

export interface OutputOptions {
  /** Replace an existing file (atomically, by rename). */
  force: boolean;
  /** The inputs (paths, or open file descriptors such as 0): the output may be none of them. */
  inputs?: (string | number)[];
  /** How to ask for replacing an existing file, in the refusal ("give -f to replace it"). */
  forceHint?: string;
}

function statOrUndefined(f: () => Stats): Stats | undefined {
  try {
    return f();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * A fresh temporary name for `path`: hidden, beside it (the same file system, for rename). It is
 * created with O_EXCL|O_NOFOLLOW, so the suffix need not be unguessable: Math.random, not
 * node:crypto, whose loading is 2.6 ms of every save's start here and 0.2 s in an emulated capture kernel.
 */
function tempNameOf(path: string): string {
  const suffix = Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return join(dirname(path), `.${basename(path)}.part-${process.pid}-${suffix}`);
}

function lockNameOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file without a pid this young is one a writer is creating (it writes its pid right after). */
const LOCK_BEING_CREATED_MS = 10_000;

/** How long ago the lock file was last changed; Infinity when it is gone. */
function lockAgeMs(lock: string): number {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** Takes the lock of `path`; throws OutputError when a live process holds it, or is creating it. */
function takeLock(path: string): string {
  const lock = lockNameOf(path);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try {
        holder = Number(readFileSync(lock, 'utf8').trim());
      } catch {
        // removed meanwhile, or unreadable: try again
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new OutputError(`${path} is being written by another process (pid ${holder}, lock ${lock})`, {
          path,
          hint: 'wait for it to finish, or write to another file',
        });
      }
      // No pid in it yet: a writer has just created it (between its open and its write), unless
      // that was long ago and it died in between.
      if (!(holder > 0) && lockAgeMs(lock) < LOCK_BEING_CREATED_MS) {
        throw new OutputError(`${path} is being written by another process (its lock ${lock} was created just now and has no pid yet)`, {
          path,
          hint: 'wait for it to finish, or write to another file',
        });
      }
      // A lock left by a writer that died.
      try {
        unlinkSync(lock);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') throw e2;
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return lock;
  }
  throw new OutputError(`${path}: cannot take its lock ${lock} (another writer keeps creating it)`, { path, hint: 'write to another file' });
}

function releaseLock(lock: string): void {
  try {
    if (Number(readFileSync(lock, 'utf8').trim()) === process.pid) unlinkSync(lock);
  } catch {
    // already gone
  }
}

/**
 * Refuses an output that is one of the inputs or, without `force`, exists. Called before anything
 * is opened for writing.
 */
export function checkOutput(path: string, opts: OutputOptions): void {
  const out = statOrUndefined(() => statSync(path));
  const link = statOrUndefined(() => lstatSync(path));
  if (out) {
    for (const input of opts.inputs ?? []) {
      const st = typeof input === 'number' ? fstatSync(input) : statOrUndefined(() => statSync(input));
      if (st && st.dev === out.dev && st.ino === out.ino) {
        throw new OutputError(`${path} is the input${typeof input === 'string' && input !== path ? ` ${input}` : ''} itself: writing it would destroy the dump`, {
          path,
          hint: 'give another output file',
        });
      }
    }
    if (out.isDirectory()) throw new OutputError(`${path} is a directory`, { path, hint: 'give a file name' });
  }
  if (link && !opts.force) {
    throw new OutputError(`${path} exists`, { path, hint: `${opts.forceHint ?? 'give -f'} to replace it, or choose another name` });
  }
}

/** An output being written under its temporary name; `commit()` puts it in place. */
export class OutputFile {
  readonly path: string;
  readonly tempPath: string;
  readonly fd: number;
  private readonly force: boolean;
  private readonly lock: string;
  private open = true;

  private constructor(path: string, tempPath: string, fd: number, force: boolean, lock: string) {
    this.path = path;
    this.tempPath = tempPath;
    this.fd = fd;
    this.force = force;
    this.lock = lock;
  }

  /** Checks (checkOutput), locks, and creates the temporary file. */
  static create(path: string, opts: OutputOptions): OutputFile {
    checkOutput(path, opts);
    const lock = takeLock(path);
    try {
      const temp = tempNameOf(path);
      const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      fchmodSync(fd, 0o600);
      return new OutputFile(path, temp, fd, opts.force, lock);
    } catch (e) {
      releaseLock(lock);
      throw e;
    }
  }

  /** Flushes the data, and puts the file at its name (replacing an existing one only with `force`). */
  commit(): void {
    // A write the file system could not keep (a full NFS export, an I/O error) is often only
    // reported here, by fsync or close: then the file is not what was written, and it is not put
    // at its name (a dump that looks whole but lacks pages would be invented data).
    let lost: NodeJS.ErrnoException | undefined;
    try {
      fsyncSync(this.fd);
    } catch (e) {
      // Some file systems cannot sync at all (EINVAL, ENOTSUP): the data is written either way.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') lost = e as NodeJS.ErrnoException;
    }
    try {
      closeSync(this.fd);
    } catch (e) {
      lost ??= e as NodeJS.ErrnoException;
    }
    this.open = false;
    if (lost) {
      try {
        unlinkSync(this.tempPath);
      } catch {
        // it may be gone with the file system
      } finally {
        releaseLock(this.lock);
      }
      throw new OutputError(`${this.path}: the file system did not keep what was written (${lost.code ?? lost.message} when flushing it): nothing was put at ${this.path}`, {
        path: this.path,
        hint: lost.code === 'ENOSPC' || lost.code === 'EDQUOT' ? 'make room on the target (or lower the dump level) and save again' : 'check the target file system and save again',
      });
    }
    try {
      if (this.force) renameSync(this.tempPath, this.path);
      else {
        try {
          linkSync(this.tempPath, this.path);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') throw new OutputError(`${this.path} appeared while it was written`, { path: this.path, hint: `the data is in ${this.tempPath}` });
          if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e;
          // No hard links here (vfat ...): checked again, then renamed.
          checkOutput(this.path, { force: false });
          renameSync(this.tempPath, this.path);
        }
        try {
          unlinkSync(this.tempPath);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      syncDir(dirname(this.path));
    } finally {
      releaseLock(this.lock);
    }
  }

  /** Removes the temporary file (nothing worth keeping was written). */
  discard(): void {
    if (this.open) closeSync(this.fd);
    this.open = false;
    try {
      unlinkSync(this.tempPath);
    } finally {
      releaseLock(this.lock);
    }
  }

  /** Current size of the temporary file. */
  size(): number {
    return fstatSync(this.fd).size;
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // not every file system syncs directories
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `data` to `path` through an OutputFile (fresh, 0600, renamed into place). */
export function writeOutputFile(path: string, data: string | Uint8Array, opts: OutputOptions): void {
  const out = OutputFile.create(path, opts);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(out.fd, bytes, done, bytes.length - done);
  } catch (e) {
    out.discard();
    throw e;
  }
  out.commit();
}

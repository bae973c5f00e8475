// Node edge: the collector's blobs in a directory (the BlobStore of src/collect/protocol.ts; an
// S3-compatible store plugs in beside it). Each blob is written aside and renamed into place, so a
// reader (another collector process on the same shared directory) never sees half of one.
import { randomBytes } from 'node:crypto';
import { copyFileSync, closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OutputError, ReadError } from '../errors.ts';
import type { BlobStore } from '../collect/protocol.ts';

const KEY = /^[\w.+-]+(?:\/[\w.+-]+)*$/;

export class DirBlobStore implements BlobStore {
  readonly where: string;
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.where = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  private path(key: string): string {
    if (!KEY.test(key) || key.split('/').some((p) => p === '.' || p === '..')) throw new OutputError(`blob key ${JSON.stringify(key)} is not allowed`, { path: this.dir });
    return join(this.dir, key);
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const p = this.path(key);
    await mkdir(dirname(p), { recursive: true, mode: 0o700 });
    // Asynchronous: the fsync of one request's blob does not hold up the others' (the server keeps
    // answering while the disk syncs).
    const tmp = `${p}.${randomBytes(6).toString('hex')}.tmp`;
    const f = await open(tmp, 'w', 0o600);
    try {
      await f.writeFile(bytes);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, p);
  }
  async putFile(key: string, path: string): Promise<void> {
    const p = this.path(key);
    mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
    const tmp = `${p}.${randomBytes(6).toString('hex')}.tmp`;
    copyFileSync(path, tmp);
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, p);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return readFileSync(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  async read(key: string, start: number, length: number): Promise<Uint8Array> {
    const p = this.path(key);
    const fd = openSync(p, 'r');
    try {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, out, got, length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      return out.subarray(0, got);
    } catch (e) {
      throw new ReadError(p, start, length, e);
    } finally {
      closeSync(fd);
    }
  }
}

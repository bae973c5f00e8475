// Node edge: the collector's blobs in S3-compatible object storage (the BlobStore of
// src/collect/protocol.ts, beside DirBlobStore): each blob is one object PREFIX/KEY. S3 stores an
// object whole or not at all, so a reader (another collector on the same bucket) never sees half
// of one; a range read is a ranged GET; a local file (an imported dump) is sent a part at a time
// by multipart upload. The SDK runs in the S3 worker thread (AsyncS3): no request blocks the
// collector's event loop.
import { OutputError } from '../errors.ts';
import type { BlobStore } from '../collect/protocol.ts';
import type { S3Target } from '../s3-url.ts';
import { AsyncS3, S3CallError } from './s3-sync.ts';
import { S3_OPTION_NAMES, s3Config, s3Error, type S3Options } from './s3-store.ts';

/** The collector's options, without the save's "the same save again resumes". */
const NAMES = { ...S3_OPTION_NAMES, resumes: false };

const KEY = /^[\w.+-]+(?:\/[\w.+-]+)*$/;
/** Parts of an imported dump file (S3's single PUT stops at 5 GiB; parts of 64 MiB keep one in memory). */
export const BLOB_PART_BYTES = 64 * 2 ** 20;

export class S3BlobStore implements BlobStore {
  readonly where: string;
  private readonly s3: AsyncS3;
  private readonly target: S3Target;
  private readonly partBytes: number;
  constructor(target: S3Target, opts: S3Options & { partBytes?: number }) {
    this.target = target;
    this.where = `s3://${target.bucket}/${target.prefix}`;
    this.s3 = new AsyncS3(s3Config(target, opts));
    this.partBytes = opts.partBytes ?? BLOB_PART_BYTES;
  }

  private key(key: string): string {
    if (!KEY.test(key) || key.split('/').some((p) => p === '.' || p === '..')) throw new OutputError(`blob key ${JSON.stringify(key)} is not allowed`, { path: this.where });
    return this.target.prefix + key;
  }

  private async call<T>(what: string, req: Parameters<AsyncS3['call']>[0]): Promise<T> {
    try {
      return await this.s3.call<T>(req);
    } catch (e) {
      throw s3Error(this.where, what, e, NAMES);
    }
  }

  /** The bucket is there and the key is accepted (HeadBucket): `collect serve` fails at start rather than at the first upload. */
  async check(): Promise<void> {
    try {
      await this.s3.call({ op: 'headBucket' });
    } catch (e) {
      // HeadBucket's errors have no body: a 404 is the bucket.
      if (e instanceof S3CallError && e.status === 404) throw s3Error(this.where, 'HeadBucket', new S3CallError({ name: 'NoSuchBucket', message: '', status: 404 }), NAMES);
      throw s3Error(this.where, 'HeadBucket', e, NAMES);
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.call(`storing ${key}`, { op: 'put', key: this.key(key), body: bytes, contentType: 'application/octet-stream' });
  }

  async putFile(key: string, path: string): Promise<void> {
    await this.call(`storing ${key} from ${path}`, { op: 'putFile', key: this.key(key), path, partBytes: this.partBytes, contentType: 'application/octet-stream' });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.call<Uint8Array | null>(`reading ${key}`, { op: 'get', key: this.key(key) })) ?? undefined;
  }

  async read(key: string, start: number, length: number): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    const k = this.key(key);
    try {
      const b = await this.s3.call<Uint8Array | null>({ op: 'get', key: k, range: [start, start + length] });
      if (b === null) throw new OutputError(`${this.where}${key}: no such blob`, { path: this.where });
      return b;
    } catch (e) {
      // At or past the end: no bytes, as a file read there gives.
      if (e instanceof S3CallError && (e.status === 416 || e.errorName === 'InvalidRange')) return new Uint8Array(0);
      if (e instanceof OutputError) throw e;
      throw s3Error(this.where, `reading ${key} bytes ${start}-${start + length - 1}`, e, NAMES);
    }
  }

  close(): void {
    this.s3.close();
  }
}

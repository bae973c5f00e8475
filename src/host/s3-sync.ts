// A synchronous S3 client for the save's synchronous sink: the SDK runs in a worker thread
// (s3-worker.ts); each call posts one request and waits on a shared flag for the reply.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { OutputError } from '../errors.ts';

export interface S3Config {
  bucket: string;
  /** Any S3 server (path-style addressing); undefined: AWS for `region`. */
  endpoint?: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
}

export interface S3WorkerData {
  shared: SharedArrayBuffer;
  port: MessagePort;
  config: S3Config;
}

export interface S3Part {
  number: number;
  size: number;
  /** As the server gives it (quoted MD5 hex for a part without server-side encryption). */
  etag: string;
  /** Base64 SHA-256 when the server keeps part checksums. */
  sha256?: string;
}

export type S3Request =
  | { op: 'headBucket' }
  | { op: 'findUpload'; key: string }
  | { op: 'listParts'; key: string; uploadId: string }
  | { op: 'create'; key: string }
  | { op: 'uploadPart'; key: string; uploadId: string; number: number; body: Uint8Array; sha256: string; md5: string }
  | { op: 'complete'; key: string; uploadId: string; parts: { number: number; etag: string; sha256?: string }[] }
  | { op: 'put'; key: string; body: Uint8Array; contentType: string }
  | { op: 'get'; key: string; range?: [number, number] }
  | { op: 'delete'; key: string };

export type S3Reply = { ok: true; value: unknown } | { ok: false; name: string; message: string; code?: string; status?: number };

/** What an S3 call failed with, as the worker saw it. */
export class S3CallError extends Error {
  readonly errorName: string;
  readonly code?: string;
  readonly status?: number;
  constructor(r: { name: string; message: string; code?: string; status?: number }) {
    super(r.message);
    this.errorName = r.name;
    this.code = r.code;
    this.status = r.status;
  }
}

export class SyncS3 {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  constructor(config: S3Config) {
    const shared = new SharedArrayBuffer(4);
    this.flag = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const workerData: S3WorkerData = { shared, port: port2, config };
    if (!import.meta.url.endsWith('.ts')) {
      const script = new URL('./s3-worker.mjs', import.meta.url);
      // A bundle copied without its companions: say so rather than wait for a worker that never answers.
      if (!existsSync(fileURLToPath(script))) {
        throw new OutputError(`${fileURLToPath(script)} is missing`, { path: fileURLToPath(script), hint: 'S3 needs the S3 worker beside the vmcore-ts bundle: copy every dist/*.mjs' });
      }
      this.worker = new Worker(script, { workerData, transferList: [port2] });
    } else {
      // From the sources: the .ts worker behind tsx's loader (as worker-pool.ts does).
      const tsx = import.meta.resolve('tsx/esm/api');
      const script = new URL('./s3-worker.ts', import.meta.url).href;
      const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); })`;
      this.worker = new Worker(code, { eval: true, workerData, transferList: [port2] });
    }
    this.worker.unref();
    this.port.unref();
  }

  /** One request, answered before it returns (bounded: 15 minutes, the SDK's own retries inside). */
  call<T>(req: S3Request): T {
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(req);
    const deadline = Date.now() + 15 * 60_000;
    while (Atomics.load(this.flag, 0) === 0) {
      if (Date.now() > deadline) throw new S3CallError({ name: 'TimeoutError', message: 'no answer in 15 minutes' });
      Atomics.wait(this.flag, 0, 0, 1000);
    }
    const msg = receiveMessageOnPort(this.port);
    if (!msg) throw new S3CallError({ name: 'WorkerError', message: 'the S3 worker thread gave no answer' });
    const reply = msg.message as S3Reply;
    if (!reply.ok) throw new S3CallError(reply);
    return reply.value as T;
  }

  close(): void {
    void this.worker.terminate();
  }
}

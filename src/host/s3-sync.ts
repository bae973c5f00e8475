// S3 clients over the SDK in a worker thread (s3-worker.ts): SyncS3 for the save's synchronous
// sink (each call posts one request and waits on a shared flag for the reply), AsyncS3 for the
// collector's blob store (requests numbered, answered as promises, several in flight).
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
  | { op: 'delete'; key: string }
  /** A local file as one object (multipart above `partBytes`), read by the worker a part at a time. */
  | { op: 'putFile'; key: string; path: string; partBytes: number; contentType: string };

/** What the main thread posts: a request, numbered when the caller waits asynchronously. */
export interface S3Envelope {
  id?: number;
  req: S3Request;
}

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

/** The S3 worker thread (the bundle's dist/s3-worker.mjs, or the .ts source behind tsx), its end of the channel and the shared flag. */
function startWorker(config: S3Config): { worker: Worker; port: MessagePort; flag: Int32Array } {
  const shared = new SharedArrayBuffer(4);
  const { port1, port2 } = new MessageChannel();
  const workerData: S3WorkerData = { shared, port: port2, config };
  let worker: Worker;
  if (!import.meta.url.endsWith('.ts')) {
    const script = new URL('./s3-worker.mjs', import.meta.url);
    // A bundle copied without its companions: say so rather than wait for a worker that never answers.
    if (!existsSync(fileURLToPath(script))) {
      throw new OutputError(`${fileURLToPath(script)} is missing`, { path: fileURLToPath(script), hint: 'S3 needs the S3 worker beside the vmcore-ts bundle: copy every dist/*.mjs' });
    }
    worker = new Worker(script, { workerData, transferList: [port2] });
  } else {
    // From the sources: the .ts worker behind tsx's loader (as worker-pool.ts does).
    const tsx = import.meta.resolve('tsx/esm/api');
    const script = new URL('./s3-worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); })`;
    worker = new Worker(code, { eval: true, workerData, transferList: [port2] });
  }
  worker.unref();
  return { worker, port: port1, flag: new Int32Array(shared) };
}

export class SyncS3 {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  constructor(config: S3Config) {
    ({ worker: this.worker, port: this.port, flag: this.flag } = startWorker(config));
    this.port.unref();
  }

  /** One request, answered before it returns (bounded: 15 minutes, the SDK's own retries inside). */
  call<T>(req: S3Request): T {
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ req } satisfies S3Envelope);
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

/** The same worker, asynchronously: each request numbered, its answer a promise; several may be in flight. */
export class AsyncS3 {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor(config: S3Config) {
    ({ worker: this.worker, port: this.port } = startWorker(config));
    this.port.on('message', (reply: S3Reply & { id?: number }) => {
      const p = reply.id === undefined ? undefined : this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id!);
      if (this.pending.size === 0) this.port.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new S3CallError(reply));
    });
    this.port.unref();
    this.worker.once('error', (e) => {
      for (const p of this.pending.values()) p.reject(new S3CallError({ name: 'WorkerError', message: `the S3 worker thread failed: ${e.message}` }));
      this.pending.clear();
    });
  }

  call<T>(req: S3Request): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.ref(); // keep the process up while an answer is due
      this.port.postMessage({ id, req } satisfies S3Envelope);
    });
  }

  close(): void {
    void this.worker.terminate();
  }
}

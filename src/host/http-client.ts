// Node edge: requests to the collector. `request` is async (triage, import); `SyncHttp` makes the same
// request synchronously — the ChunkStore interface of the save pipeline is synchronous, like the
// ssh store's spawnSync — by running it in a worker thread and waiting on a shared flag
// (Atomics.wait), the response taken with receiveMessageOnPort.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { OutputError } from '../errors.ts';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** PEM CA certificates to trust (a collector with its own CA); else Node's defaults. */
  ca?: string;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export function request(r: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(r.url);
    const fn = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = fn(u, { method: r.method, headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) }, ...(r.ca ? { ca: r.ca } : {}), timeout: r.timeoutMs ?? 60_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(parts)) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** One line for a failed request: the URL, and the collector's own `error` when it sent one. */
export function httpFailure(r: HttpRequest, res: HttpResponse | undefined, e?: unknown): OutputError {
  const where = new URL(r.url).origin;
  if (!res) {
    const err = e as NodeJS.ErrnoException;
    const hint =
      err?.code === 'ECONNREFUSED' ? 'is the collector running, and is the URL right?'
      : /certificate|self.signed|SELF_SIGNED|UNABLE_TO/i.test(`${err?.code} ${err?.message}`) ? "give the collector's CA certificate with --ca FILE"
      : undefined;
    return new OutputError(`${r.method} ${r.url}: ${err?.message ?? String(e)}`, { path: where, hint });
  }
  let why = '';
  try {
    why = (JSON.parse(new TextDecoder().decode(res.body)) as { error?: string }).error ?? '';
  } catch {
    why = new TextDecoder().decode(res.body.subarray(0, 200)).split('\n')[0] ?? '';
  }
  const hint = res.status === 401 ? 'check --token-file: the collector does not know this token' : res.status === 403 ? 'the token is for another host or role' : undefined;
  return new OutputError(`${r.method} ${r.url}: HTTP ${res.status}${why ? `: ${why}` : ''}`, { path: where, hint });
}

// The worker: plain JavaScript (eval), so it runs the same from the sources and from the bundle.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http'), https = require('node:https');
parentPort.once('message', ({ port, flag }) => {
  const done = (m) => { port.postMessage(m); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
  port.on('message', (r) => {
    const u = new URL(r.url);
    const headers = Object.assign({}, r.headers, r.body ? { 'content-length': String(r.body.length) } : {});
    const req = (u.protocol === 'https:' ? https : http).request(u, Object.assign({ method: r.method, headers, timeout: r.timeoutMs }, r.ca ? { ca: r.ca } : {}), (res) => {
      const parts = [];
      res.on('data', (b) => parts.push(b));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: new Uint8Array(Buffer.concat(parts)) }));
      res.on('error', (e) => done({ error: { message: e.message, code: e.code } }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => done({ error: { message: e.message, code: e.code } }));
    req.end(r.body);
  });
});
`;

export class SyncHttp {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));

  private start(): MessagePort {
    if (this.port) return this.port;
    const { port1, port2 } = new MessageChannel();
    this.worker = new Worker(WORKER, { eval: true });
    this.worker.unref();
    this.worker.postMessage({ port: port2, flag: this.flag }, [port2]);
    this.port = port1;
    return port1;
  }

  request(r: HttpRequest): HttpResponse {
    const port = this.start();
    Atomics.store(this.flag, 0, 0);
    port.postMessage({ ...r, timeoutMs: r.timeoutMs ?? 10 * 60_000 });
    const limit = (r.timeoutMs ?? 10 * 60_000) + 5_000;
    if (Atomics.wait(this.flag, 0, 0, limit) === 'timed-out') throw httpFailure(r, undefined, Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' }));
    const m = receiveMessageOnPort(port)?.message as (HttpResponse & { error?: { message: string; code?: string } }) | undefined;
    if (!m) throw httpFailure(r, undefined, new Error('the request worker sent nothing'));
    if (m.error) throw httpFailure(r, undefined, Object.assign(new Error(m.error.message), { code: m.error.code }));
    return m;
  }

  close(): void {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = undefined;
    this.port = undefined;
  }
}

/** A token file: the token on its first line; refused when others may read it. */
export function readTokenFile(path: string, readSecret: (p: string, what: string) => string): string {
  const token = readSecret(path, 'token file').split('\n')[0]!.trim();
  if (!/^[\w.~+/=-]{16,512}$/.test(token)) throw new OutputError(`token file ${path}: the first line is not a token (16+ characters)`, { path });
  return token;
}

export const readCa = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path, 'utf8'));

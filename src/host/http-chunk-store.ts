// Node edge: `save --to https://COLLECTOR/v1/crashes/ID/dump`: the chunk files and manifest of a
// chunked dump (src/dump/chunked.ts) PUT to the collector, one request per file, with the host's
// bearer token. stored() asks the collector for the files it holds with their SHA-256, so a cut
// upload resumes like the directory and ssh targets do.
import { OutputError, UsageError } from '../errors.ts';
import type { ChunkStore } from '../dump/chunked.ts';
import type { StoredFile } from '../collect/protocol.ts';
import { httpFailure, SyncHttp, type HttpRequest } from './http-client.ts';

export interface HttpStoreOptions {
  token: string;
  ca?: string;
  timeoutMs?: number;
}

/** https://HOST[:PORT]/v1/crashes/ID/dump (http:// for 127.0.0.1 only: a token is never sent in clear over a network). */
export function parseCollectorDumpUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--to ${url}: not a URL`);
  }
  if (!/^\/v1\/crashes\/[0-9a-f]{24}\/dump\/?$/.test(u.pathname)) throw new UsageError(`--to ${url}: give the uploadPath the collector answered: https://COLLECTOR/v1/crashes/ID/dump`);
  if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new UsageError(`--to ${url}: use https:// (http:// only to 127.0.0.1)`);
  return u;
}

export class HttpChunkStore implements ChunkStore {
  readonly where: string;
  private readonly base: string;
  private readonly http = new SyncHttp();
  private readonly opts: HttpStoreOptions;
  constructor(url: string, opts: HttpStoreOptions) {
    const u = parseCollectorDumpUrl(url);
    this.base = `${u.origin}${u.pathname.replace(/\/$/, '')}/`;
    this.where = this.base.slice(0, -1);
    this.opts = opts;
  }
  private send(r: Omit<HttpRequest, 'ca' | 'timeoutMs'>, ok: number[]) {
    const req: HttpRequest = { ...r, headers: { ...r.headers, authorization: `Bearer ${this.opts.token}` }, ca: this.opts.ca, timeoutMs: this.opts.timeoutMs };
    const res = this.http.request(req);
    if (!ok.includes(res.status)) throw httpFailure(req, res);
    return res;
  }
  stored(prefix: string): Map<string, string> {
    const res = this.send({ method: 'GET', url: `${this.base}?prefix=${encodeURIComponent(prefix)}` }, [200]);
    let files: StoredFile[];
    try {
      files = (JSON.parse(new TextDecoder().decode(res.body)) as { files: StoredFile[] }).files;
    } catch (e) {
      throw new OutputError(`${this.where}: the listing is not JSON (${(e as Error).message})`, { path: this.where });
    }
    return new Map(files.filter((f) => f.file.startsWith(prefix)).map((f) => [f.file, f.sha256]));
  }
  put(file: string, bytes: Uint8Array): void {
    this.send({ method: 'PUT', url: this.base + encodeURIComponent(file), headers: { 'content-type': 'application/octet-stream' }, body: bytes }, [200, 201]);
  }
  close(): void {
    this.http.close();
  }
}

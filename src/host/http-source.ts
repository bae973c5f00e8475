// Node edge: a dump read over HTTP(S) by range requests (a collector's stored dump, `vmcore-ts
// serve`, any server that answers Range), synchronously through SyncHttp's worker so the core's
// readers stay synchronous. Behind a block cache (src/io/block-cache.ts): readers ask for many small
// pieces.
import { ReadError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import { SyncHttp, type HttpRequest, type HttpResponse } from './http-client.ts';

export interface HttpSourceOptions {
  /** Extra request headers (e.g. authorization: Bearer TOKEN for a collector). */
  headers?: Record<string, string>;
  /** PEM CA certificates to trust. */
  ca?: string;
}

const header = (res: HttpResponse, name: string) => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export class HttpSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly url: string;
  private readonly opts: HttpSourceOptions;
  private readonly http = new SyncHttp();
  constructor(url: string, opts: HttpSourceOptions = {}) {
    this.url = url;
    this.name = url.replace(/\?.*$/, '');
    this.opts = opts;
    // The size from the first byte's Content-Range: also proves the server answers ranges.
    const res = this.get(0, 1);
    const total = /\/(\d+)$/.exec(header(res, 'content-range') ?? '');
    if (!total) throw new ReadError(this.name, 0, 1, new Error(`HTTP ${res.status} without a Content-Range: the server does not serve byte ranges, which reading a dump over HTTP needs (download it, or serve it with vmcore-ts serve)`));
    this.size = Number(total[1]);
  }

  private get(offset: number, length: number): HttpResponse {
    const r: HttpRequest = { method: 'GET', url: this.url, headers: { ...this.opts.headers, range: `bytes=${offset}-${offset + length - 1}` }, ca: this.opts.ca, timeoutMs: 60_000 };
    let res: HttpResponse;
    try {
      res = this.http.request(r);
    } catch (e) {
      throw new ReadError(this.name, offset, length, e);
    }
    if (res.status === 200) {
      throw new ReadError(this.name, offset, length, new Error('HTTP 200 for a range request: the server does not serve byte ranges, which reading a dump over HTTP needs (download it, or serve it with vmcore-ts serve)'));
    }
    if (res.status !== 206) {
      const why = new TextDecoder().decode(res.body.subarray(0, 200)).split('\n')[0]!.trim();
      throw new ReadError(this.name, offset, length, new Error(`HTTP ${res.status}${why ? ` (${why})` : ''}`));
    }
    return res;
  }

  read(offset: number, length: number): Uint8Array {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const want = Math.min(this.size, offset + length) - offset;
    const out = new Uint8Array(want);
    // A server may cap what one response carries: ask again for the rest.
    for (let done = 0; done < want; ) {
      const b = this.get(offset + done, want - done).body;
      if (b.length === 0) throw new ReadError(this.name, offset + done, want - done, new Error('the server sent no bytes'));
      out.set(b.subarray(0, want - done), done);
      done += b.length;
    }
    return out;
  }

  close(): void {
    this.http.close();
  }
}

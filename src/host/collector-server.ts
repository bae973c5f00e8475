// Node edge: the collector (issue 14), `vmcore-ts collect serve`. An HTTP(S) service that receives
// crash signatures and logs from capture kernels, answers whether it wants the dump, receives the
// dump as the chunk files and manifest of `save --to` (src/dump/chunked.ts), keeps blobs in a
// BlobStore and the index in SQL (src/collect/index-db.ts). No state lives in the process but
// caches of immutable things (a completed dump's manifest), so several collectors can share one
// PostgreSQL and one object store. Every request carries a bearer token (per host, or a viewer's);
// the browser pages carry a viewer token in the path (/ui/TOKEN/), like `vmcore-ts serve`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { ParseError } from '../errors.ts';
import { parseManifest, MANIFEST_SUFFIX, type Manifest } from '../dump/chunked.ts';
import { addDumpFile, bucketDetail, completeDump, crashById, dumpFiles, listBuckets, recordCrash, type CrashRow, type SqlDriver } from '../collect/index-db.ts';
import type { DumpPolicy } from '../collect/policy.ts';
import { API_PREFIX, BUCKET, CRASH_ID, DUMP_FILE, MAX_REPORT_BYTES, parseCrashReport, type BlobStore, type CrashReply, type Principal } from '../collect/protocol.ts';

export interface CollectorOptions {
  db: SqlDriver;
  blobs: BlobStore;
  tokens: Map<string, Principal>;
  policy: DumpPolicy;
  /** PEM certificate chain and key: HTTPS; else plain HTTP (tests, or behind a TLS proxy). */
  tls?: { cert: Uint8Array; key: Uint8Array };
  /** Address to listen on (default 127.0.0.1) and port (0: any free one). */
  address?: string;
  port?: number;
  /** Largest file one PUT may carry (save --chunk-mib must stay below it). */
  maxFileBytes?: number;
  /** Largest range one dump read returns (the viewer asks for 256 KiB blocks). */
  maxRange?: number;
  /** Pages: the fleet page and the dump viewer (dist/web/*.html); absent: the API only. */
  pages?: { fleet?: Uint8Array; viewer?: Uint8Array };
  random?: () => number;
  now?: () => Date;
  /** One line per request that failed on our side. */
  onError?: (line: string) => void;
}

export interface Collector {
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const SECURITY = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const digestOf = (token: string) => createHash('sha256').update(token).digest();

function readBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) return reject(new HttpError(413, `${declared} bytes: at most ${max} per request`));
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (b: Buffer) => {
      n += b.length;
      if (n > max) {
        reject(new HttpError(413, `more than ${max} bytes: at most ${max} per request`));
        req.destroy();
      } else parts.push(b);
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    req.on('error', reject);
  });
}

const dumpKey = (id: string, file: string) => `crashes/${id}/dump/${file}`;
const logKey = (id: string) => `crashes/${id}/log.txt`;

export function startCollector(opts: CollectorOptions): Promise<Collector> {
  const { db, blobs, policy } = opts;
  const now = opts.now ?? (() => new Date());
  const random = opts.random ?? Math.random;
  const maxFile = opts.maxFileBytes ?? 64 << 20;
  const maxRange = opts.maxRange ?? 4 << 20;
  // Tokens compared by their SHA-256 in constant time.
  const tokenList = [...opts.tokens].map(([t, p]) => ({ digest: digestOf(t), p }));
  const principalOf = (token: string | undefined): Principal | undefined => {
    if (token === undefined) return undefined;
    const d = digestOf(token);
    let found: Principal | undefined;
    for (const t of tokenList) if (timingSafeEqual(t.digest, d)) found = t.p;
    return found;
  };
  /** Completed dumps only: immutable, so safe to keep in any of several processes. */
  const manifests = new Map<string, Manifest>();

  const json = (res: ServerResponse, status: number, body: unknown) =>
    void res.writeHead(status, { ...SECURITY, 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');

  async function crashFor(id: string, who: Principal): Promise<CrashRow> {
    if (!CRASH_ID.test(id)) throw new HttpError(404, `no crash ${id}`);
    const c = await crashById(db, id);
    // A host sees its own crashes only; the same answer as for a crash that does not exist.
    if (!c || (who.kind === 'host' && c.host !== who.host)) throw new HttpError(404, `no crash ${id}`);
    return c;
  }

  async function manifestOf(c: CrashRow): Promise<Manifest | undefined> {
    if (c.dumpKind !== 'chunked') return undefined;
    const cached = manifests.get(c.id);
    if (cached) return cached;
    const m = (await dumpFiles(db, c.id)).find((f) => f.file.endsWith(MANIFEST_SUFFIX));
    const bytes = m && (await blobs.get(dumpKey(c.id, m.file)));
    if (!bytes) throw new HttpError(500, `crash ${c.id}: the manifest of its dump is missing from ${blobs.where}`);
    const parsed = parseManifest(new TextDecoder().decode(bytes), `crash ${c.id}'s manifest`);
    manifests.set(c.id, parsed);
    return parsed;
  }

  /** The dump's bytes [start, start+length): the one file, or the chunks' concatenation (the flattened stream). */
  async function readDump(c: CrashRow, start: number, length: number): Promise<Uint8Array> {
    if (c.dumpKind === 'file') return blobs.read(dumpKey(c.id, 'vmcore'), start, length);
    const m = (await manifestOf(c))!;
    const out = new Uint8Array(length);
    const stop = start + length;
    let at = 0;
    let pos = start;
    for (const ch of m.chunks) {
      const chEnd = at + ch.size;
      if (chEnd > pos && at < stop) {
        const n = Math.min(chEnd, stop) - pos;
        const b = await blobs.read(dumpKey(c.id, ch.file), pos - at, n);
        out.set(b, pos - start);
        pos += b.length;
        if (b.length < n) break;
      }
      at = chEnd;
      if (pos >= stop) break;
    }
    return out.subarray(0, pos - start);
  }

  async function serveRange(req: IncomingMessage, res: ServerResponse, c: CrashRow): Promise<void> {
    if (c.dumpState !== 'complete' || c.dumpSize === null) throw new HttpError(404, `crash ${c.id} has no complete dump (${c.dumpState})`);
    if (c.dumpKind === 'chunked' && (await manifestOf(c))!.encryption) throw new HttpError(409, `crash ${c.id}'s dump is encrypted: fetch its chunks and open them with vmcore-ts verify --key`);
    const size = c.dumpSize;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m ? Math.min(size - 1, m[2] ? Number(m[2]) : size - 1, start + maxRange - 1) : Math.min(size - 1, maxRange - 1);
    if ((m && !(start < size)) || !(end >= start)) {
      return void res.writeHead(416, { ...SECURITY, 'content-range': `bytes */${size}`, 'content-type': 'text/plain' }).end(`wants one range "bytes=START-END" within the dump's ${size} bytes\n`);
    }
    if (!m && size > maxRange) throw new HttpError(416, `the dump is ${size} bytes: ask for ranges of at most ${maxRange}`);
    const bytes = await readDump(c, start, end - start + 1);
    if (bytes.length !== end - start + 1) throw new HttpError(500, `crash ${c.id}: the stored dump is shorter than its ${size} bytes`);
    res.writeHead(m ? 206 : 200, {
      ...SECURITY,
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      ...(m ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      'content-length': bytes.length,
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  async function putDumpFile(req: IncomingMessage, res: ServerResponse, c: CrashRow, file: string): Promise<void> {
    if (!DUMP_FILE.test(file)) throw new HttpError(400, `file name ${JSON.stringify(file)}: use letters, digits, '.', '_', '+', '-'`);
    if (!c.needDump) throw new HttpError(409, `crash ${c.id}: the collector did not ask for its dump (${c.why})`);
    if (c.dumpState === 'complete') throw new HttpError(409, `crash ${c.id}: its dump is complete already`);
    const bytes = await readBody(req, maxFile);
    const digest = sha256(bytes);
    if (file.endsWith(MANIFEST_SUFFIX)) {
      let m: Manifest;
      try {
        m = parseManifest(new TextDecoder().decode(bytes), file);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      const have = new Map((await dumpFiles(db, c.id)).map((f) => [f.file, f]));
      const missing = m.chunks.filter((ch) => have.get(ch.file)?.sha256 !== ch.sha256 || have.get(ch.file)?.size !== ch.size).map((ch) => ch.file);
      if (missing.length) throw new HttpError(409, `the manifest names ${missing.length} chunks not stored with its size and SHA-256: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
      await blobs.put(dumpKey(c.id, file), bytes);
      await addDumpFile(db, c.id, { file, size: bytes.length, sha256: digest });
      await completeDump(db, c.id, 'chunked', m.encryption ? m.chunks.reduce((s, ch) => s + ch.size, 0) : m.size);
      return json(res, 201, { file, size: bytes.length, sha256: digest, complete: true });
    }
    await blobs.put(dumpKey(c.id, file), bytes);
    await addDumpFile(db, c.id, { file, size: bytes.length, sha256: digest });
    json(res, 201, { file, size: bytes.length, sha256: digest });
  }

  /** The API, for a principal already known. `path` is below /v1. */
  async function api(req: IncomingMessage, res: ServerResponse, who: Principal, path: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const viewerOnly = () => {
      if (who.kind !== 'viewer') throw new HttpError(403, 'this needs a viewer token (@viewer in the tokens file)');
    };
    let m: RegExpExecArray | null;
    // Who this token is (kdump-ts test checks a host's token with it).
    if (method === 'GET' && path === '/whoami') return json(res, 200, who);
    if (path === '/crashes' && method === 'POST') {
      if (who.kind !== 'host') throw new HttpError(403, 'crashes are reported with a host token');
      const body = await readBody(req, MAX_REPORT_BYTES);
      let report;
      try {
        report = parseCrashReport(new TextDecoder().decode(body));
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      if (report.host !== who.host) throw new HttpError(403, `this token belongs to host ${who.host}, not ${report.host}`);
      const id = randomBytes(12).toString('hex');
      // The log first: a crash row never points at a log that is not there.
      await blobs.put(logKey(id), new TextEncoder().encode(report.log));
      const r = await recordCrash(db, { id, report, received: now().toISOString(), policy, random: random() });
      const reply: CrashReply = { id, bucket: r.bucket, needDump: r.needDump, why: r.why, count: r.count, ...(r.needDump ? { uploadPath: `${API_PREFIX}/crashes/${id}/dump` } : {}) };
      return json(res, 201, reply);
    }
    if (method === 'GET' && path === '/buckets') {
      viewerOnly();
      const days = Math.min(365, Math.max(1, Number(query.get('days') ?? 30) || 30));
      return json(res, 200, { buckets: await listBuckets(db, { now: now(), days }) });
    }
    if (method === 'GET' && (m = /^\/buckets\/([^/]+)$/.exec(path))) {
      viewerOnly();
      const b = BUCKET.test(m[1]!) ? await bucketDetail(db, m[1]!, { now: now() }) : undefined;
      if (!b) throw new HttpError(404, `no bucket ${m[1]}`);
      return json(res, 200, b);
    }
    if ((m = /^\/crashes\/([^/]+)(\/.*)?$/.exec(path))) {
      const c = await crashFor(m[1]!, who);
      const rest = m[2] ?? '';
      if (method === 'GET' && rest === '') return json(res, 200, c);
      if (method === 'GET' && rest === '/log') {
        const log = await blobs.get(logKey(c.id));
        if (!log) throw new HttpError(404, `crash ${c.id} has no log`);
        return void res.writeHead(200, { ...SECURITY, 'content-type': 'text/plain; charset=utf-8' }).end(log);
      }
      if (method === 'GET' && rest === '/dump/') {
        const prefix = query.get('prefix') ?? '';
        return json(res, 200, { files: await dumpFiles(db, c.id, prefix) });
      }
      if ((method === 'GET' || method === 'HEAD') && rest === '/dump') return serveRange(req, res, c);
      if (method === 'PUT' && rest.startsWith('/dump/')) {
        if (who.kind !== 'host') throw new HttpError(403, 'dumps are uploaded with the host token');
        return putDumpFile(req, res, c, rest.slice('/dump/'.length));
      }
    }
    throw new HttpError(404, `no ${method} ${API_PREFIX}${path}`);
  }

  /** /ui/TOKEN/...: the fleet page, its API (api/...), and the viewer per crash (crash/ID/, dump-info, dump). */
  async function ui(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const m = /^\/ui\/([^/]+)(\/.*)?$/.exec(path)!;
    let token: string | undefined;
    try {
      token = decodeURIComponent(m[1]!);
    } catch {
      token = undefined; // a malformed %-escape: no token
    }
    const who = principalOf(token);
    if (!who || who.kind !== 'viewer') throw new HttpError(404, 'not found');
    const rest = m[2] ?? '';
    if (rest === '') return void res.writeHead(301, { ...SECURITY, location: `${path}/` }).end();
    const html = (page: Uint8Array | undefined) => {
      if (!page) throw new HttpError(404, 'the pages are not built (npm run build)');
      res.writeHead(200, { ...SECURITY, 'content-type': 'text/html; charset=utf-8' }).end(page);
    };
    if (rest === '/') return html(opts.pages?.fleet);
    if (rest.startsWith('/api/')) return api(req, res, who, rest.slice('/api'.length), query);
    const c = /^\/crash\/([^/]+)\/(|dump-info|dump)$/.exec(rest);
    if (c) {
      const crash = await crashFor(c[1]!, who);
      if (c[2] === '') return html(opts.pages?.viewer);
      if (crash.dumpState !== 'complete' || crash.dumpSize === null) throw new HttpError(404, `crash ${crash.id} has no complete dump`);
      if (c[2] === 'dump-info') return json(res, 200, { name: `${crash.host}-${crash.received.slice(0, 16)}-${crash.id.slice(0, 8)}`, size: crash.dumpSize });
      return serveRange(req, res, crash);
    }
    throw new HttpError(404, 'not found');
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://collector');
    const path = url.pathname;
    const work = async () => {
      if (path.startsWith('/ui/')) return ui(req, res, path, url.searchParams);
      if (!path.startsWith(API_PREFIX + '/')) throw new HttpError(404, 'not found');
      const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      const who = principalOf(auth?.[1]);
      if (!who) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new HttpError(401, auth ? 'unknown token' : 'send "Authorization: Bearer TOKEN" (the host\'s token)');
      }
      return api(req, res, who, path.slice(API_PREFIX.length), url.searchParams);
    };
    work().catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof HttpError) return json(res, e.status, { error: e.message });
      const line = `${req.method} ${path}: ${e instanceof Error ? e.message : String(e)}`;
      opts.onError?.(line);
      json(res, 500, { error: e instanceof ParseError ? e.message : 'the collector failed; its log says why' });
    });
  };

  const server: Server = opts.tls ? createHttpsServer({ cert: Buffer.from(opts.tls.cert), key: Buffer.from(opts.tls.key) }, handler) : createHttpServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const address = opts.address ?? '127.0.0.1';
    server.listen(opts.port ?? 0, address, () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : opts.port;
      const host = address.includes(':') ? `[${address}]` : address;
      resolve({
        url: `${opts.tls ? 'https' : 'http'}://${host}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

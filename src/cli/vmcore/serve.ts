// vmcore-ts serve DUMP: the dump viewer on a local page. Listens on 127.0.0.1 only, behind a random
// token in the URL, read-only: it serves the viewer (dist/web/viewer.html) and the dump's bytes by
// range; the page parses the dump itself, in a worker.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParseError, ReadError, UsageError } from '../../errors.ts';
import { openDump } from '../../format/open-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { ByteSource } from '../../io/source.ts';
import type { Command } from './commands.ts';
import { parseCommand } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts serve [--port N] DUMP';

/** What one request may hold and how many may run at once (the page reads 256 KiB blocks). */
export interface ServeLimits {
  /** Longest range one response carries (a longer request gets a shorter 206, as RFC 9110 allows). */
  maxRange: number;
  /** Bytes read from the dump at a time; the next chunk is read only when the socket drained. */
  chunk: number;
  /** Range responses streaming at once; more get 503 with a reason. */
  maxActive: number;
  /** A response that makes no progress this long (a client that does not read) is dropped. */
  stallMs: number;
}
export const DEFAULT_LIMITS: ServeLimits = { maxRange: 4 << 20, chunk: 256 << 10, maxActive: 32, stallMs: 60_000 };

/** dist/web/viewer.html next to the bundle, or in the repo's dist/ when run from the sources. */
export function viewerPath(): string {
  const candidates = [new URL('./web/viewer.html', import.meta.url), new URL('../../../dist/web/viewer.html', import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new ParseError('the viewer page is not built (dist/web/viewer.html)', { hint: 'run npm run build' });
}

export interface ViewerServer {
  url: string;
  /** Range responses in progress (for tests and diagnostics). */
  active(): number;
  close(): Promise<void>;
}

export interface ViewerOptions {
  port?: number;
  limits?: Partial<ServeLimits>;
  /** One line per request that failed on our side (a read error); the CLI prints it on stderr. */
  onError?: (line: string) => void;
}

/** One line, no stack: a ReadError already names the file, offset and length; anything else gets them. */
function readFailure(name: string, offset: number, e: unknown): string {
  if (e instanceof ReadError) return e.message;
  return `reading ${name} at offset ${offset}: ${e instanceof Error ? e.message : String(e)}`;
}

/** Starts the server; resolves with the page URL (token included). `dump`: a path or an open source. */
export function startViewer(dump: string | ByteSource, opts: ViewerOptions = {}): Promise<ViewerServer> {
  const src = typeof dump === 'string' ? new FileSource(dump) : dump;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  openDump(src); // refuse what is not a dump before serving anything
  const html = readFileSync(viewerPath());
  const size = src.size;
  const token = randomBytes(18).toString('base64url');
  const info = JSON.stringify({ name: basename(src.name), size });
  let active = 0;

  /** Streams [start, end] in chunks, each read only after the previous one left the socket. */
  async function sendRange(req: IncomingMessage, res: ServerResponse, start: number, end: number, headers: Record<string, string>): Promise<void> {
    let first: Uint8Array;
    try {
      first = src.read(start, Math.min(limits.chunk, end - start + 1));
    } catch (e) {
      const line = readFailure(src.name, start, e);
      opts.onError?.(line);
      return void res.writeHead(500, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(line + '\n');
    }
    if (first.length === 0) return void res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` }).end();
    res.writeHead(206, {
      ...headers,
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${start}-${end}/${size}`,
      'content-length': end - start + 1,
    });
    if (req.method === 'HEAD') return void res.end();
    let closed = false;
    let wake: (() => void) | undefined;
    res.on('close', () => {
      closed = true;
      wake?.();
    });
    res.setTimeout(limits.stallMs, () => res.destroy());
    let chunk: Uint8Array | undefined = first;
    for (let pos = start; !closed; ) {
      if (!chunk) {
        try {
          chunk = src.read(pos, Math.min(limits.chunk, end - pos + 1));
        } catch (e) {
          // The status line is sent: all that is left is to cut the response short (the client sees
          // fewer bytes than content-length, an error, never wrong data).
          opts.onError?.(readFailure(src.name, pos, e));
          return void res.destroy();
        }
        if (chunk.length === 0) return void res.destroy();
      }
      pos += chunk.length;
      const last = pos > end;
      const flowing = res.write(chunk);
      chunk = undefined;
      if (last) return void res.end();
      if (!flowing) await new Promise<void>((r) => ((wake = r), res.once('drain', r)));
      wake = undefined;
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host ?? '';
    const listening = server.address();
    const p = typeof listening === 'object' && listening ? listening.port : 0;
    const security = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
    // Loopback names only (DNS rebinding), GET/HEAD only (read-only), the token in the path.
    if (host !== `127.0.0.1:${p}` && host !== `localhost:${p}`) return void res.writeHead(421, security).end();
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { ...security, allow: 'GET, HEAD' }).end();
    const path = (req.url ?? '').split('?')[0]!;
    const prefix = `/${token}/`;
    if (!path.startsWith(prefix)) return void res.writeHead(404, security).end();
    const rest = path.slice(prefix.length);
    if (rest === '') return void res.writeHead(200, { ...security, 'content-type': 'text/html; charset=utf-8' }).end(html);
    if (rest === 'dump-info') return void res.writeHead(200, { ...security, 'content-type': 'application/json' }).end(info);
    if (rest !== 'dump') return void res.writeHead(404, security).end();
    const text = { ...security, 'content-type': 'text/plain; charset=utf-8' };
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : NaN;
    const end = m ? Math.min(size - 1, m[2] ? Number(m[2]) : size - 1, start + limits.maxRange - 1) : NaN;
    if (!m || !(start < size) || !(end >= start)) {
      return void res.writeHead(416, { ...text, 'content-range': `bytes */${size}` }).end(`wants one range "bytes=START-END" within the dump's ${size} bytes\n`);
    }
    if (active >= limits.maxActive) {
      return void res.writeHead(503, { ...text, 'retry-after': '1' }).end(`busy: ${active} range requests are in progress, retry\n`);
    }
    // The slot is held until the response is gone (sent, aborted or dropped as stalled): that is
    // when its last chunk is released.
    active++;
    res.once('close', () => active--);
    sendRange(req, res, start, end, security).catch((e: unknown) => {
      opts.onError?.(`serving ${src.name}: ${e instanceof Error ? e.message : String(e)}`);
      res.destroy();
    });
  };
  const server = createServer(handler);
  return listenOnLoopback(server, opts.port, token).then(({ url, close }) => ({
    url,
    active: () => active,
    close: () =>
      close().then(() => {
        if (typeof dump === 'string') (src as FileSource).close();
      }),
  }));
}

/** Listens on 127.0.0.1 (port 0: any free one); the URL carries the token; close() drops open connections. */
export function listenOnLoopback(server: Server, port: number | undefined, token: string): Promise<{ url: string; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? 0, '127.0.0.1', () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}/${token}/`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

export const serveCommand: Command = {
  summary: 'the dump viewer on a local web page (127.0.0.1, random token, read-only)',
  async run(argv) {
    const a = parseCommand(argv, { port: { type: 'string' } }, USAGE, [1, 1]);
    if (!a) return 0;
    const port = a.values.port === undefined ? 0 : Number(a.values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port wants a number from 0 to 65535');
    const s = await startViewer(a.positionals[0]!, { port, onError: (line) => process.stderr.write(`vmcore-ts serve: ${line}\n`) });
    process.stdout.write(`vmcore-ts viewer for ${a.positionals[0]}:\n  ${s.url}\n(listening on 127.0.0.1 only; Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void s.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};

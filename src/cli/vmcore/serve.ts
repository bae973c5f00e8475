// vmcore-ts serve DUMP: the dump viewer on a local page. Listens on 127.0.0.1 only, behind a random
// token in the URL, read-only: it serves the viewer (dist/web/viewer.html) and the dump's bytes by
// range; the page parses the dump itself, in a worker.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParseError, UsageError } from '../../errors.ts';
import { openDump } from '../../format/open-dump.ts';
import { FileSource } from '../../io/node-file.ts';
import type { Command } from './commands.ts';
import { parseCommand } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts serve [--port N] DUMP';
const MAX_RANGE = 64 << 20;

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
  close(): Promise<void>;
}

/** Starts the server; resolves with the page URL (token included). */
export function startViewer(dumpPath: string, port = 0): Promise<ViewerServer> {
  const src = new FileSource(dumpPath);
  openDump(src); // refuse what is not a dump before serving anything
  const html = readFileSync(viewerPath());
  const size = src.size;
  const token = randomBytes(18).toString('base64url');
  const info = JSON.stringify({ name: basename(dumpPath), size });

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
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!m) return void res.writeHead(416, { ...security, 'content-range': `bytes */${size}` }).end();
    const start = Number(m[1]);
    const end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1, start + MAX_RANGE - 1);
    if (start >= size || end < start) return void res.writeHead(416, { ...security, 'content-range': `bytes */${size}` }).end();
    const buf = src.read(start, end - start + 1);
    const n = buf.length;
    res.writeHead(206, {
      ...security,
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${start}-${start + n - 1}/${size}`,
      'content-length': n,
    });
    res.end(req.method === 'HEAD' ? undefined : buf);
  };
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}/${token}/`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => {
              src.close();
              r();
            });
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
    const s = await startViewer(a.positionals[0]!, port);
    process.stdout.write(`vmcore-ts viewer for ${a.positionals[0]}:\n  ${s.url}\n(listening on 127.0.0.1 only; Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void s.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};

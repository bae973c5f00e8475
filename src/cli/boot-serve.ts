// `kexec-ts boot --serve`: the boot menu's choices in the local web viewer (its "Boot" view). The
// same page and the same guard as `vmcore-ts serve`: 127.0.0.1 only, a random token in the path,
// loopback Host names only. GET boot: the discovery (`kexec-ts boot --list --json`'s document);
// POST boot {id, cmdline}: the choice, answered by `choose` (a load, or with --dry-run what would be loaded).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { BootList } from '../boot/discover.ts';
import { bootListJson } from '../boot/list-text.ts';
import type { BootEntry } from '../boot/model.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import { listenOnLoopback, viewerPath } from './vmcore/serve.ts';

export interface BootServer {
  url: string;
  close(): Promise<void>;
}

export interface BootServeOptions {
  port?: number;
  /** Acts on a choice; its answer is sent back as JSON (200). A thrown error is a 500 with its message. */
  choose: (entry: BootEntry, cmdline: string) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Runs once a choice's answer has been sent (--now: boot what was loaded). */
  afterAnswer?: () => void;
}

/** The longest command line accepted (the kernel's own limit is 2048 on x86, 4096 on arm64). */
export const MAX_CMDLINE = 4096;
const MAX_BODY = 64 << 10;

/** What `--dry-run` answers: the files and command line `kexec-ts boot ID` would load. */
export function dryRunChoice(entry: BootEntry, cmdline: string): Record<string, unknown> {
  return {
    schema: JSON_SCHEMA,
    dryRun: true,
    entry: { id: entry.id, title: entry.title, source: entry.source, origin: entry.origin },
    load: { kernel: entry.kernel, initrds: entry.initrds, cmdline, ...(entry.devicetree ? { devicetree: entry.devicetree } : {}) },
    edited: cmdline !== entry.cmdline,
    message: `would load ${entry.kernel}${entry.initrds.length ? ` with ${entry.initrds.join(', ')}` : ''} and the command line "${cmdline}" (--dry-run: nothing loaded)`,
  };
}

/** Why a {id, cmdline} body cannot be a choice, or the entry and command line it names. */
export function parseChoice(list: BootList, body: string): { entry: BootEntry; cmdline: string } | { status: number; error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { status: 400, error: 'the body is not JSON: send {"id": ENTRY_ID, "cmdline": "..."}' };
  }
  const d = doc as { id?: unknown; cmdline?: unknown };
  if (!d || typeof d !== 'object' || typeof d.id !== 'string') return { status: 400, error: 'send {"id": ENTRY_ID, "cmdline": "..."}: "id" is missing or not a string' };
  const entry = list.entries.find((e) => e.id === d.id);
  if (!entry) {
    const rejected = list.rejected.find((r) => r.id === d.id || r.title === d.id);
    return { status: rejected ? 409 : 404, error: rejected ? `${d.id} cannot be booted: ${rejected.reason}` : `no boot entry ${JSON.stringify(d.id)}` };
  }
  if (d.cmdline !== undefined && typeof d.cmdline !== 'string') return { status: 400, error: '"cmdline" is not a string' };
  const cmdline = d.cmdline ?? entry.cmdline;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(cmdline)) return { status: 400, error: 'the command line holds a control character (a newline?)' };
  if (Buffer.byteLength(cmdline) > MAX_CMDLINE) return { status: 400, error: `the command line is ${Buffer.byteLength(cmdline)} bytes, more than ${MAX_CMDLINE}` };
  return { entry, cmdline };
}

/** Starts the server; resolves with the page URL (token included). */
export function startBootServer(list: BootList, opts: BootServeOptions): Promise<BootServer> {
  const html = readFileSync(viewerPath());
  const token = randomBytes(18).toString('base64url');
  const listDoc = bootListJson(list);

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host ?? '';
    const addr = server.address();
    const p = typeof addr === 'object' && addr ? addr.port : 0;
    const security = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
    const json = (status: number, doc: unknown) => void res.writeHead(status, { ...security, 'content-type': 'application/json' }).end(typeof doc === 'string' ? doc : JSON.stringify(doc) + '\n');
    // Loopback names only (DNS rebinding), the token in the path.
    if (host !== `127.0.0.1:${p}` && host !== `localhost:${p}`) return void res.writeHead(421, security).end();
    const path = (req.url ?? '').split('?')[0]!;
    const prefix = `/${token}/`;
    if (!path.startsWith(prefix)) return void res.writeHead(404, security).end();
    const rest = path.slice(prefix.length);
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (rest === '') return void res.writeHead(200, { ...security, 'content-type': 'text/html; charset=utf-8' }).end(html);
      if (rest === 'boot') return json(200, listDoc);
      return void res.writeHead(404, security).end();
    }
    if (req.method !== 'POST' || rest !== 'boot') return void res.writeHead(405, { ...security, allow: 'GET, HEAD, POST' }).end();
    // Only the page itself may choose: a JSON body (a cross-site form cannot send one without a
    // preflight this server never answers) and, when the browser says where it comes from, our origin.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return json(403, { error: `origin ${origin} may not choose` });
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return json(415, { error: 'send the choice as application/json' });
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) {
        json(413, { error: `the body is more than ${MAX_BODY} bytes` });
        req.destroy();
      } else parts.push(d);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      const c = parseChoice(list, Buffer.concat(parts).toString('utf8'));
      if ('error' in c) return json(c.status, { error: c.error });
      Promise.resolve()
        .then(() => opts.choose(c.entry, c.cmdline))
        .then((answer) => {
          if (opts.afterAnswer) res.once('finish', opts.afterAnswer);
          json(200, answer);
        })
        .catch((e: unknown) => json(500, { error: e instanceof Error ? e.message : String(e) }));
    });
  };
  const server = createServer(handler);
  return listenOnLoopback(server, opts.port, token);
}

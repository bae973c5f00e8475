// The API opens a dump by http(s) URL (src/host/http-source.ts): range requests through a block
// cache, only what the analysis reads is fetched; failures are typed ReadErrors naming the URL.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { openKernelDump } from '../../src/host/open-dump-file.ts';
import { modules } from '../../src/api/helpers/modules.ts';
import { ReadError } from '../../src/errors.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const size = statSync(DUMP).size;

// The server runs in its own process: the API's reads block this one until the answer is in.
// /dump wants a token, /open does not, /no-ranges ignores Range; it counts the bytes it served.
const SERVER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'r');
const size = fs.fstatSync(fd).size;
let served = 0;
const s = require('node:http').createServer((req, res) => {
  if (req.url === '/served') return res.end(String(served));
  if (req.url === '/no-ranges') return res.writeHead(200, { 'content-length': '4' }).end('dump');
  if (req.url !== '/dump' && req.url !== '/open') return res.writeHead(404).end('not here\\n');
  if (req.url === '/dump' && req.headers.authorization !== 'Bearer tok-123') return res.writeHead(401).end('token wanted\\n');
  const m = /^bytes=(\\d+)-(\\d+)$/.exec(req.headers.range || '');
  if (!m) return res.writeHead(416).end();
  const start = Number(m[1]), end = Math.min(Number(m[2]), size - 1);
  const buf = Buffer.alloc(end - start + 1);
  fs.readSync(fd, buf, 0, buf.length, start);
  served += buf.length;
  res.writeHead(206, { 'content-range': 'bytes ' + start + '-' + end + '/' + size }).end(buf);
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;
let server: ChildProcess;
let base = '';

before(async () => {
  server = spawn(process.execPath, [...NODE_ARGS, '-e', SERVER, DUMP], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  base = `http://127.0.0.1:${line.toString().trim()}`;
});
after(() => {
  server.kill();
});

const http = { headers: { authorization: 'Bearer tok-123' } };

test('openKernelDump(http URL): the same modules and log as the file, reading a fraction of it by range', () => {
  const local = openKernelDump(DUMP);
  const remote = openKernelDump(`${base}/dump`, { http });
  const json = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
  assert.deepEqual(json(modules(remote)), json(modules(local)));
  assert.deepEqual(json(remote.printk()), json(local.printk()));
  const served = Number(execFileSync('curl', ['-s', `${base}/served`], { encoding: 'utf8' }));
  assert.ok(served > 0 && served < size / 4, `only what was read came over HTTP (${served} of ${size} bytes)`);
});

test('openKernelDump(http URL) failures are ReadErrors naming the URL: refused token, missing dump, a server without ranges', () => {
  assert.throws(() => openKernelDump(`${base}/dump`), (e) => e instanceof ReadError && e.message.includes(`${base}/dump`) && /HTTP 401 \(token wanted\)/.test(e.message));
  assert.throws(() => openKernelDump(`${base}/gone`, { http }), (e) => e instanceof ReadError && /HTTP 404 \(not here\)/.test(e.message));
  assert.throws(() => openKernelDump(`${base}/no-ranges`, { http }), (e) => e instanceof ReadError && /does not serve byte ranges/.test(e.message));
});

test('vmcore-ts run SCRIPT http://…: a script reads a dump served over HTTP as from a file', () => {
  const run = (where: string) => execFileSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'run', 'examples/scripts/modules.ts', where], { encoding: 'utf8' });
  assert.equal(run(`${base}/open`), run(DUMP));
});

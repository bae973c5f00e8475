// `vmcore-ts serve` under faults and load, on 127.0.0.1 only with a bounded number of clients: a read
// error is one HTTP 500 line and the server stays up; clients that do not read hold a bounded amount
// of memory (chunked responses with back-pressure, a cap per response, a cap on responses at once,
// stalled ones dropped) and the server keeps answering.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_LIMITS, startViewer, type ViewerServer } from '../src/cli/vmcore/serve.ts';
import { FileSource } from '../src/host/file-source.ts';
import type { ByteSource } from '../src/io/source.ts';
import { eioSource } from './format-helpers.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const MiB = 1 << 20;
const servers: ViewerServer[] = [];
const sockets: Socket[] = [];

before(() => {
  execFileSync(process.execPath, [...NODE_ARGS, 'web/build.mjs'], { stdio: 'inherit' });
});
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await s.close();
});

async function serve(src: string | ByteSource, opts: Parameters<typeof startViewer>[1] = {}): Promise<ViewerServer> {
  const s = await startViewer(src, opts);
  servers.push(s);
  return s;
}

interface Reply {
  status: number;
  body: Buffer;
  /** The response ended before content-length (or the connection broke). */
  cut: boolean;
}
function get(url: string, range?: string): Promise<Reply> {
  return new Promise((res) => {
    const r = request(url, { headers: range ? { range } : {}, agent: false }, (resp) => {
      const parts: Buffer[] = [];
      resp.on('data', (d: Buffer) => parts.push(d));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(parts), cut: !resp.complete }));
      resp.on('error', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(parts), cut: true }));
    });
    r.on('error', () => res({ status: 0, body: Buffer.alloc(0), cut: true }));
    r.end();
  });
}

/** A client that asks for a range, reads its first bytes, then stops reading (keeps the socket open). */
function stalledClient(url: string, range: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const s = connect(Number(u.port), '127.0.0.1', () => {
      s.write(`GET ${u.pathname}dump HTTP/1.1\r\nHost: ${u.host}\r\nRange: ${range}\r\n\r\n`);
    });
    sockets.push(s);
    s.once('data', () => {
      s.pause();
      res(s);
    });
    s.on('error', () => undefined);
    s.once('close', () => rej(new Error('closed before answering')));
  });
}

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = Date.now(); !f(); await sleep(20)) if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
}

test('serve: a read error (EIO) is an HTTP 500 with one line naming the offset; the server stays up and serves the next range', async () => {
  const bad = 8 * MiB;
  const logged: string[] = [];
  const s = await serve(eioSource(DUMP, bad, 4096), { onError: (l) => logged.push(l) });
  const r = await get(`${s.url}dump`, `bytes=${bad}-${bad + 99}`);
  assert.equal(r.status, 500);
  const text = r.body.toString();
  assert.equal(text, `${DUMP}: cannot read 100 bytes at offset ${bad} (0x800000): EIO (i/o error)\n`);
  assert.deepEqual(logged, [text.trimEnd()]);
  // The error in the middle of a response (its status line already sent): the response is cut
  // short, never padded, and the server stays up.
  const mid = await get(`${s.url}dump`, `bytes=${bad - MiB}-${bad + MiB}`);
  assert.equal(mid.status, 206);
  assert.ok(mid.cut, 'a response that could not be read to its end is cut short');
  assert.ok(mid.body.length <= MiB, `${mid.body.length} bytes before the bad sector at most`);
  assert.equal(logged.length, 2);
  assert.match(logged[1]!, new RegExp(`^${DUMP}: cannot read \\d+ bytes at offset ${bad} \\(0x800000\\): EIO`));
  const good = await get(`${s.url}dump`, 'bytes=0-7');
  assert.equal(good.status, 206);
  assert.deepEqual(good.body, Buffer.from(new FileSource(DUMP).read(0, 8)));
  assert.equal((await get(`${s.url}dump-info`)).status, 200);
  await until('every response released', () => s.active() === 0);
});

test('serve: a bad range is 416 with a one-line reason; a long range is capped (206 with a shorter Content-Range)', async () => {
  const s = await serve(DUMP);
  const size = new FileSource(DUMP).size;
  for (const range of [undefined, 'bytes=x-1', `bytes=${size}-`, 'bytes=10-5']) {
    const r = await get(`${s.url}dump`, range);
    assert.equal(r.status, 416, String(range));
    assert.match(r.body.toString(), /^wants one range "bytes=START-END" within the dump's \d+ bytes\n$/);
  }
  const r = await get(`${s.url}dump`, 'bytes=0-');
  assert.equal(r.status, 206);
  assert.equal(r.body.length, DEFAULT_LIMITS.maxRange);
  assert.deepEqual(r.body, Buffer.from(new FileSource(DUMP).read(0, DEFAULT_LIMITS.maxRange)));
});

test('serve: 16 clients that do not read hold bounded memory (under 48 MiB), and the server keeps answering', async () => {
  const s = await serve(DUMP);
  const before = process.memoryUsage();
  const clients = await Promise.all(Array.from({ length: 16 }, () => stalledClient(s.url, 'bytes=0-')));
  await sleep(300);
  const during = process.memoryUsage();
  const grewBuffers = during.arrayBuffers - before.arrayBuffers;
  const grewRss = during.rss - before.rss;
  console.log(`# 16 stalled clients: arrayBuffers +${(grewBuffers / MiB).toFixed(1)} MiB, rss +${(grewRss / MiB).toFixed(1)} MiB`);
  assert.ok(grewBuffers < 48 * MiB, `arrayBuffers grew by ${grewBuffers} bytes`);
  assert.ok(grewRss < 96 * MiB, `rss grew by ${grewRss} bytes`);
  assert.equal((await get(`${s.url}dump-info`)).status, 200);
  const good = await get(`${s.url}dump`, 'bytes=4096-8191');
  assert.equal(good.status, 206);
  assert.equal(good.body.length, 4096);
  for (const c of clients) c.destroy();
  await until('the stalled responses released', () => s.active() === 0);
});

test('serve: responses at once are capped (503 "busy" beyond), a closed client frees its slot, a stalled one is dropped', async () => {
  // A whole-dump range (17 MB, more than the loopback socket buffers take) keeps a non-reading client's response open.
  const s = await serve(DUMP, { limits: { maxActive: 2, maxRange: 64 * MiB, stallMs: 1500 } });
  const whole = 'bytes=0-';
  const [a, b] = [await stalledClient(s.url, whole), await stalledClient(s.url, whole)];
  assert.equal(s.active(), 2);
  const busy = await get(`${s.url}dump`, 'bytes=0-15');
  assert.equal(busy.status, 503);
  assert.equal(busy.body.toString(), 'busy: 2 range requests are in progress, retry\n');
  a.destroy();
  await until('the closed client released', () => s.active() === 1);
  assert.equal((await get(`${s.url}dump`, 'bytes=0-15')).status, 206);
  // b has not read for 1.5 s: its response is dropped (b, not reading, does not see the close).
  await until('the stalled client dropped', () => s.active() === 0, 10000);
  b.destroy();
  assert.equal((await get(`${s.url}dump`, 'bytes=0-15')).status, 206);
});

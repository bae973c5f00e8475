// The collector service (src/host/collector-server.ts) on 127.0.0.1 with a SQLite index and a
// directory blob store, and the capture side against it: `vmcore-ts triage` (exit 10 + the upload
// URL for a new bucket, 0 for a known one), `save --to http://…/v1/crashes/ID/dump` (the HTTP
// ChunkStore: chunks PUT, resumed from the collector's listing, manifest last) and the range reads
// the viewer makes of the stored dump. The CLI runs as a child process (its HTTP store blocks its
// own thread while a request is out), the server in this one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { migrate } from '../../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../../src/collect/policy.ts';
import { parseTokens, type CrashReply } from '../../src/collect/protocol.ts';
import { DirBlobStore } from '../../src/host/blob-store.ts';
import { startCollector, type Collector } from '../../src/host/collector-server.ts';
import { openSqlite } from '../../src/host/sql-drivers.ts';
import { request } from '../../src/host/http-client.ts';
import { report, vmcoreTsAsync } from './helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const HOST_TOKEN = 'host-token-vm1-aaaaaaaaaaaa';
const OTHER_TOKEN = 'host-token-vm2-cccccccccccc';
const VIEWER_TOKEN = 'viewer-token-bbbbbbbbbbbbbb';
const work = mkdtempSync(join(tmpdir(), 'collector-test-'));
const db = openSqlite(join(work, 'index.sqlite'));
const blobs = new DirBlobStore(join(work, 'blobs'));
let collector: Collector;

const run = vmcoreTsAsync;

const api = (path: string, init: RequestInit & { token?: string } = {}) =>
  fetch(collector.url + path, { ...init, headers: { ...(init.headers as Record<string, string>), ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) } });

before(async () => {
  await migrate(db);
  const tokens = parseTokens(`vm1 ${HOST_TOKEN}\nvm2 ${OTHER_TOKEN}\n@viewer ops ${VIEWER_TOKEN}\n`, 'tokens');
  collector = await startCollector({ db, blobs, tokens, policy: { ...DEFAULT_POLICY, maxDumpsPerBucket: 1 }, pages: { fleet: new TextEncoder().encode('<p>fleet</p>'), viewer: new TextEncoder().encode('<p>viewer</p>') } });
  writeFileSync(join(work, 'token'), HOST_TOKEN + '\n', { mode: 0o600 });
});

after(async () => {
  await collector.close();
  await db.close();
  rmSync(work, { recursive: true, force: true });
});

test('collector API: a token is required, a host reports only as itself, a viewer reads but does not report', async () => {
  const body = JSON.stringify(report('vm1', '1111111111111111'));
  assert.equal((await api('/v1/crashes', { method: 'POST', body })).status, 401);
  assert.equal((await api('/v1/crashes', { method: 'POST', body, token: 'not-a-known-token-at-all' })).status, 401);
  const other = await api('/v1/crashes', { method: 'POST', body, token: OTHER_TOKEN });
  assert.equal(other.status, 403);
  assert.match(((await other.json()) as { error: string }).error, /belongs to host vm2, not vm1/);
  assert.equal((await api('/v1/crashes', { method: 'POST', body, token: VIEWER_TOKEN })).status, 403);
  assert.equal((await api('/v1/buckets', { token: HOST_TOKEN })).status, 403);
  const bad = await api('/v1/crashes', { method: 'POST', body: '{"host":"vm1","log":""}', token: HOST_TOKEN });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /signature/);
  const ok = await api('/v1/crashes', { method: 'POST', body, token: HOST_TOKEN });
  assert.equal(ok.status, 201);
  const r = (await ok.json()) as CrashReply;
  assert.deepEqual([r.needDump, r.why, r.count, r.uploadPath], [true, 'new bucket', 1, `/v1/crashes/${r.id}/dump`]);
  // Another host cannot see or fill this crash's dump (the same 404 as a crash that does not exist).
  assert.equal((await api(`/v1/crashes/${r.id}/dump/`, { token: OTHER_TOKEN })).status, 404);
  assert.equal((await api(`/v1/crashes/${r.id}/log`, { token: VIEWER_TOKEN })).status, 200);
  // A manifest naming chunks the collector does not hold is refused, and the dump stays incomplete.
  const manifest = JSON.stringify({ format: 'kexec-ts chunked dump 1', name: 'vmcore', stream: 'flattened', size: 3, sha256: 'a'.repeat(64), chunkBytes: 3, chunks: [{ file: 'vmcore.part-00000', size: 3, sha256: 'b'.repeat(64) }], created: '' });
  const m = await api(`/v1/crashes/${r.id}/dump/vmcore.manifest.json`, { method: 'PUT', body: manifest, token: HOST_TOKEN });
  assert.equal(m.status, 409);
  assert.match(((await m.json()) as { error: string }).error, /1 chunks not stored.*vmcore\.part-00000/);
  assert.equal((await api(`/v1/crashes/${r.id}/dump/..%2Fx`, { method: 'PUT', body: 'x', token: HOST_TOKEN })).status, 400);
  // The second crash of the bucket is known (cap 1): no dump wanted, and an upload is refused.
  const r2 = (await (await api('/v1/crashes', { method: 'POST', body, token: HOST_TOKEN })).json()) as CrashReply;
  assert.deepEqual([r2.needDump, r2.count, r2.uploadPath], [false, 2, undefined]);
  assert.equal((await api(`/v1/crashes/${r2.id}/dump/vmcore.part-00000`, { method: 'PUT', body: 'abc', token: HOST_TOKEN })).status, 409);
});

test('triage a dump (exit 10, upload URL), save --to the collector resuming from its listing, triage again (exit 0); the viewer range-reads the stored stream', async () => {
  const tok = join(work, 'token');
  // The same save as one flattened stream (what the chunks must add up to), made meanwhile.
  const [t1, flat] = await Promise.all([
    run(['triage', '--collector', collector.url, '--token-file', tok, '--host', 'vm1', FIXTURE]),
    run(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE]),
  ]);
  assert.equal(t1.status, 10, t1.stderr);
  assert.match(t1.stderr, /dump wanted: new bucket/);
  const url = t1.stdout.trim();
  const id = /\/v1\/crashes\/([0-9a-f]{24})\/dump$/.exec(url)?.[1];
  assert.ok(id, url);
  // One chunk already there (as after a cut transfer): save sends only the others.
  const put = await api(`/v1/crashes/${id}/dump/vmcore.part-00000`, { method: 'PUT', body: new Uint8Array(flat.bytes.subarray(0, 1 << 20)), token: HOST_TOKEN });
  assert.equal(put.status, 201);
  const s = await run(['save', '--to', url, '--token-file', tok, '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stderr, /as (\d+) chunks \+ vmcore\.manifest\.json \(resumed: 1 chunks already there, \d+ sent\)/);
  const again = await api(`/v1/crashes/${id}/dump/vmcore.part-00000`, { method: 'PUT', body: 'x', token: HOST_TOKEN });
  assert.equal(again.status, 409);
  assert.match(((await again.json()) as { error: string }).error, /its dump is complete already/);
  const t2 = await run(['triage', '--collector', collector.url, '--token-file', tok, '--host', 'vm1', FIXTURE]);
  assert.equal(t2.status, 0, t2.stderr);
  assert.equal(t2.stdout, '');
  assert.match(t2.stderr, /no dump wanted: known bucket/);
  // The stored chunks joined are the stream; range reads across chunk boundaries return the same bytes.
  const dir = join(work, 'blobs', 'crashes', id, 'dump');
  const joined = Buffer.concat(readdirSync(dir).filter((f) => /\.part-\d{5}$/.test(f)).sort().map((f) => readFileSync(join(dir, f))));
  const manifest = JSON.parse(readFileSync(join(dir, 'vmcore.manifest.json'), 'utf8')) as { sha256: string; size: number };
  assert.equal(createHash('sha256').update(joined).digest('hex'), manifest.sha256);
  assert.ok(joined.equals(flat.bytes), 'the stored chunks joined are the save -F stream');
  const info = (await (await fetch(`${collector.url}/ui/${VIEWER_TOKEN}/crash/${id}/dump-info`)).json()) as { size: number };
  assert.equal(info.size, manifest.size);
  for (const [a, b] of [[0, 99], [(1 << 20) - 10, (1 << 20) + 10], [joined.length - 5, joined.length - 1]] as const) {
    const res: Response = await fetch(`${collector.url}/ui/${VIEWER_TOKEN}/crash/${id}/dump`, { headers: { range: `bytes=${a}-${b}` } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes ${a}-${b}/${joined.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(joined.subarray(a, b + 1)), `bytes ${a}-${b}`);
  }
  assert.equal((await fetch(`${collector.url}/ui/${VIEWER_TOKEN}/crash/${id}/dump`, { headers: { range: `bytes=${joined.length}-` } })).status, 416);
  assert.equal((await fetch(`${collector.url}/ui/${HOST_TOKEN}/`)).status, 404, 'a host token does not open the fleet page');
  assert.equal(await (await fetch(`${collector.url}/ui/${VIEWER_TOKEN}/`)).text(), '<p>fleet</p>');
  const buckets = (await (await api('/v1/buckets', { token: VIEWER_TOKEN })).json()) as { buckets: { bucket: string; count: number; dumps: number }[] };
  const fixtureBucket = buckets.buckets.find((b) => b.dumps === 1);
  assert.equal(fixtureBucket?.count, 2);
});

test('triage and collect serve refuse a token file others can read; triage names an unreachable collector and refuses http:// off 127.0.0.1', async () => {
  const loose = join(work, 'loose-token');
  writeFileSync(loose, HOST_TOKEN + '\n');
  chmodSync(loose, 0o644);
  const r = await run(['triage', '--collector', collector.url, '--token-file', loose, FIXTURE]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /mode 644 lets others read it — chmod 600/);
  const serve = await run(['collect', 'serve', '--port', '0', '--tokens', loose, '--db', join(work, 'never.sqlite'), '--blobs', join(work, 'never')]);
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /tokens file .*loose-token: mode 644 lets others read it — chmod 600/);
  const down = await run(['triage', '--collector', 'http://127.0.0.1:1', '--token-file', join(work, 'token'), FIXTURE]);
  assert.equal(down.status, 1);
  assert.match(down.stderr, /ECONNREFUSED.*is the collector running/);
  const plain = await run(['triage', '--collector', 'http://collector.example', '--token-file', join(work, 'token'), FIXTURE]);
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /use https:\/\//);
});

test('TLS: the collector serves HTTPS with --tls-cert/--tls-key; triage trusts it with --ca, and without it says to give --ca', async (t) => {
  const openssl = spawnSync('openssl', ['version']);
  if (openssl.error) return void t.skip('needs openssl (scripts/install-test-deps.sh)');
  const key = join(work, 'tls.key'), cert = join(work, 'tls.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const tls = await startCollector({ db, blobs, tokens: parseTokens(`vm1 ${HOST_TOKEN}`, 'tokens'), policy: DEFAULT_POLICY, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
  try {
    assert.match(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const body = new TextEncoder().encode(JSON.stringify(report('vm1', '4444444444444444')));
    const headers = { authorization: `Bearer ${HOST_TOKEN}` };
    const ok = await request({ method: 'POST', url: `${tls.url}/v1/crashes`, headers, body, ca: readFileSync(cert, 'utf8') });
    assert.equal(ok.status, 201);
    await assert.rejects(request({ method: 'POST', url: `${tls.url}/v1/crashes`, headers, body }), /self.signed|certificate/i);
    const r = await run(['triage', '--collector', tls.url, '--token-file', join(work, 'token'), '--host', 'vm1', FIXTURE]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /certificate.* — give the collector's CA certificate with --ca FILE/);
    const r2 = await run(['triage', '--collector', tls.url, '--token-file', join(work, 'token'), '--ca', cert, '--host', 'vm1', '--json', FIXTURE]);
    assert.ok(r2.status === 0 || r2.status === 10, r2.stderr);
    assert.equal((JSON.parse(r2.stdout) as { reply: CrashReply }).reply.bucket, '812fe8350573c0cf');
  } finally {
    await tls.close();
  }
});

test('kdump-ts test with collector = …: the collector check passes with this host\'s token (GET /v1/whoami), fails with a viewer token or a collector_host the token is not for', async () => {
  const conf = (token: string, host?: string) => {
    const p = join(work, `kdump-${token.slice(0, 6)}-${host ?? 'any'}.conf`);
    const tf = join(work, `token-${token.slice(0, 6)}`);
    writeFileSync(tf, token + '\n', { mode: 0o600 });
    writeFileSync(p, [`collector = ${collector.url}`, `collector_token = ${tf}`, ...(host ? [`collector_host = ${host}`] : []), 'net_device = lo', 'capture = initramfs', ''].join('\n'));
    return p;
  };
  // Spawned, not spawnSync: the collector answers from this process.
  const check = async (p: string) => {
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'test', '--json', '--config', p], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('close', () => resolve(text));
    });
    return (JSON.parse(out) as { checks: { name: string; result: string; detail: string }[] }).checks.find((c) => c.name === 'collector')!;
  };
  const ok = await check(conf(HOST_TOKEN));
  assert.equal(ok.result, 'ok', JSON.stringify(ok));
  assert.match(ok.detail, /reachable, the token is host vm1's/);
  const viewer = await check(conf(VIEWER_TOKEN));
  assert.equal(viewer.result, 'FAIL');
  assert.match(viewer.detail, /is a viewer token/);
  const other = await check(conf(HOST_TOKEN, 'vm9'));
  assert.equal(other.result, 'FAIL');
  assert.match(other.detail, /the token is host vm1's, collector_host says vm9/);
});

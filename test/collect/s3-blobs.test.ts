// The collector's blob store in S3 (src/host/s3-blob-store.ts), against a real S3 server: Ceph's
// radosgw on a one-node RADOS cluster (test/ceph-s3-server.ts). The BlobStore contract the
// directory store passes; an imported dump file sent by multipart upload; `vmcore-ts collect serve
// --blobs s3://…` as a process receiving triage and save --to, its chunks stored as objects, and the
// viewer's range reads of the stored dump across chunk boundaries; `collect import` into S3; a key
// the server refuses stops `collect serve` at start in one line.
// Opt-in (a Debian root with Ceph): E2E_S3=1 node scripts/run-tests.mjs test/collect/s3-blobs
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from '../../src/host/s3-blob-store.ts';
import { CephS3Server, cephS3Unavailable } from '../ceph-s3-server.ts';
import { blobStoreContract, vmcoreTsAsync } from './helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const HOST_TOKEN = 'host-token-vm1-aaaaaaaaaaaa';
const VIEWER_TOKEN = 'viewer-token-bbbbbbbbbbbbbb';
const optedIn = process.env.E2E_S3 === '1' || process.env.E2E_SUITES === 'all';
const why = !optedIn ? 'opt-in: E2E_S3=1 (a Debian trixie root with Ceph: ceph-mon, ceph-osd, radosgw)' : cephS3Unavailable();

const work = mkdtempSync(join(tmpdir(), 'collector-s3-'));
const server = new CephS3Server();
let client: S3Client;
let serve: ChildProcess | undefined;
let url = '';

const run = vmcoreTsAsync;

const s3Flags = (creds = 'creds') => ['--s3-endpoint', server.endpoint, '--s3-credentials', join(work, creds)];

async function keys(prefix: string): Promise<string[]> {
  const r = await client.send(new ListObjectsV2Command({ Bucket: 'fleet', Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

before(async () => {
  if (why) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  await server.start();
  client = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: server.key.id, secretAccessKey: server.key.secret } });
  await client.send(new CreateBucketCommand({ Bucket: 'fleet' }));
  writeFileSync(join(work, 'creds'), `[default]\naws_access_key_id = ${server.key.id}\naws_secret_access_key = ${server.key.secret}\n`, { mode: 0o600 });
  writeFileSync(join(work, 'wrong'), `[default]\naws_access_key_id = ${server.key.id}\naws_secret_access_key = not-${server.key.secret}\n`, { mode: 0o600 });
  writeFileSync(join(work, 'tokens'), `vm1 ${HOST_TOKEN}\n@viewer ops ${VIEWER_TOKEN}\n`, { mode: 0o600 });
  writeFileSync(join(work, 'token'), HOST_TOKEN + '\n', { mode: 0o600 });
});

after(async () => {
  if (serve && serve.exitCode === null) {
    const gone = new Promise((r) => serve!.once('exit', r));
    process.kill(serve.pid!, 'SIGTERM');
    await gone;
  }
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

const skip = (t: { skip(m: string): void }) => {
  if (!why) return false;
  t.skip(why);
  return true;
};

test('S3 blob store: the BlobStore contract (whole blobs, ranges, a file stored by path, missing keys, escaping keys refused) against radosgw; a file larger than a part goes by multipart upload and reads back whole; a range at the end gives no bytes', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  const store = new S3BlobStore({ bucket: 'fleet', prefix: 'contract/' }, { endpoint: server.endpoint, credentials: { accessKeyId: server.key.id, secretAccessKey: server.key.secret }, partBytes: 4 * 2 ** 20 });
  try {
    await store.check();
    await blobStoreContract(store, 'fixtures/x86_64-debian-6.1/README.md');
    assert.deepEqual(await keys('contract/'), ['contract/crashes/abc/dump/vmcore', 'contract/crashes/abc/dump/vmcore.part-00000']);
    const dump = readFileSync(FIXTURE);
    await store.putFile('crashes/big/dump/vmcore', FIXTURE); // 17 MB: 5 parts of 4 MiB
    assert.ok(Buffer.from((await store.get('crashes/big/dump/vmcore'))!).equals(dump), 'the multipart object is the file');
    assert.ok(Buffer.from(await store.read('crashes/big/dump/vmcore', 4 * 2 ** 20 - 7, 14)).equals(dump.subarray(4 * 2 ** 20 - 7, 4 * 2 ** 20 + 7)), 'a range across a part boundary');
    assert.equal((await store.read('crashes/big/dump/vmcore', dump.length, 10)).length, 0);
    assert.equal((await store.read('crashes/big/dump/vmcore', dump.length - 3, 10)).length, 3);
    const none = new S3BlobStore({ bucket: 'no-such-bucket', prefix: '' }, { endpoint: server.endpoint, credentials: { accessKeyId: server.key.id, secretAccessKey: server.key.secret } });
    await assert.rejects(none.check(), /s3:\/\/no-such-bucket\/: no such bucket/);
    none.close();
  } finally {
    store.close();
  }
});

test('collect serve --blobs s3://: triage, save --to the collector (chunks stored as objects), triage again known; the viewer range-reads the stored dump across chunk boundaries; collect import stores a kdump-tools dump as one object', { timeout: 240_000 }, async (t) => {
  if (skip(t)) return;
  serve = spawn(process.execPath, [...NODE_ARGS, ...CLI, 'collect', 'serve', '--port', '0', '--tokens', join(work, 'tokens'), '--db', join(work, 'index.sqlite'), '--blobs', 's3://fleet/collector', ...s3Flags()], { stdio: ['ignore', 'pipe', 'pipe'] });
  let errText = '';
  serve.stderr!.on('data', (d) => (errText += d));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve!.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)\n[\s\S]*blobs s3:\/\/fleet\/collector\//.exec(out);
      if (m) resolve(m[1]!);
    });
    serve!.once('exit', (c) => reject(new Error(`collect serve exited ${c}: ${errText}`)));
  });
  const tok = join(work, 'token');
  const [t1, flat] = await Promise.all([run(['triage', '--collector', url, '--token-file', tok, '--host', 'vm1', FIXTURE]), run(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE])]);
  assert.equal(t1.status, 10, t1.stderr);
  const upload = t1.stdout.trim();
  const id = /\/v1\/crashes\/([0-9a-f]{24})\/dump$/.exec(upload)?.[1];
  assert.ok(id, upload);
  const s = await run(['save', '--to', upload, '--token-file', tok, '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(s.status, 0, s.stderr);
  const stored = await keys(`collector/crashes/${id}/`);
  assert.ok(stored.includes(`collector/crashes/${id}/log.txt`), stored.join(' '));
  assert.ok(stored.includes(`collector/crashes/${id}/dump/vmcore.manifest.json`), stored.join(' '));
  const parts = stored.filter((k) => /\/dump\/vmcore\.part-\d{5}$/.test(k));
  assert.equal(parts.length, Math.ceil(flat.bytes.length / 2 ** 20), 'one object per chunk');
  const joined = Buffer.concat(await Promise.all(parts.map(async (k) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'fleet', Key: k }))).Body!.transformToByteArray()))));
  assert.ok(joined.equals(flat.bytes), 'the stored chunks joined are the save -F stream');
  const t2 = await run(['triage', '--collector', url, '--token-file', tok, '--host', 'vm1', FIXTURE]);
  assert.equal(t2.status, 0, t2.stderr);
  for (const [a, b] of [[0, 99], [2 ** 20 - 10, 2 ** 20 + 10], [3 * 2 ** 20 - 1, 5 * 2 ** 20], [joined.length - 5, joined.length - 1]] as const) {
    const res: Response = await fetch(`${url}/ui/${VIEWER_TOKEN}/crash/${id}/dump`, { headers: { range: `bytes=${a}-${b}` } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes ${a}-${b}/${joined.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(joined.subarray(a, b + 1)), `bytes ${a}-${b}`);
  }
  // collect import into the same bucket: a kdump-tools directory, the dump stored whole.
  const crashDir = join(work, 'var-crash', '202612060700');
  mkdirSync(crashDir, { recursive: true });
  copyFileSync(FIXTURE, join(crashDir, 'dump.202612060700'));
  const imp = await run(['collect', 'import', '--db', join(work, 'import.sqlite'), '--blobs', 's3://fleet/imported', ...s3Flags(), '--host', 'web-9', join(work, 'var-crash')]);
  assert.equal(imp.status, 0, imp.stderr + imp.stdout);
  assert.match(imp.stdout, /^1 imported, 0 skipped, 0 failed$/m);
  const dumps = (await keys('imported/crashes/')).filter((k) => k.endsWith('/dump/vmcore'));
  assert.equal(dumps.length, 1);
  const obj = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'fleet', Key: dumps[0] }))).Body!.transformToByteArray());
  assert.ok(obj.equals(readFileSync(FIXTURE)), 'the imported dump is stored byte for byte');
});

test('collect serve --blobs s3:// with a key the server refuses stops at start in one line naming the credentials; without --s3-credentials, or --s3-* with a directory, is a usage error', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  const base = ['collect', 'serve', '--port', '0', '--tokens', join(work, 'tokens'), '--db', join(work, 'refused.sqlite')];
  const r = await run([...base, '--blobs', 's3://fleet/x', ...s3Flags('wrong')]);
  assert.equal(r.status, 1, r.stdout);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^vmcore-ts: s3:\/\/fleet\/x\/: HeadBucket: the server refused the key \(.*\) — check aws_access_key_id and aws_secret_access_key in --s3-credentials/);
  const u = await run([...base, '--blobs', 's3://fleet/x', '--s3-endpoint', server.endpoint]);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /--blobs s3:\/\/… needs --s3-credentials FILE/);
  const d = await run([...base, '--blobs', join(work, 'dir'), '--s3-endpoint', server.endpoint]);
  assert.equal(d.status, 2);
  assert.match(d.stderr, /--s3-endpoint: used only with --blobs s3:\/\/BUCKET\/PREFIX/);
});

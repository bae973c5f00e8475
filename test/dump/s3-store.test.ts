// The S3 target's pure and local parts, fast (the real server: test/dump/s3-target.test.ts, opt-in):
// s3:// URLs, the credentials file and its mode, error lines, a store that joins its chunks into
// one object (the manifest's `object`), verify of such a dump downloaded into a directory, usage.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ChunkedWriter, parseManifest, type ChunkEntry, type ChunkStore } from '../../src/dump/chunked.ts';
import { sha256Hasher } from '../../src/host/chunk-stores.ts';
import { parseS3Url, readS3Credentials, s3Error } from '../../src/host/s3-store.ts';
import { S3CallError } from '../../src/host/s3-sync.ts';
import { ParseError, UsageError } from '../../src/errors.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const work = mkdtempSync(join(tmpdir(), 's3-store-'));
after(() => rmSync(work, { recursive: true, force: true }));
const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const vmcoreTs = (args: string[]) => spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'utf8' });

test('s3:// URLs: bucket and a prefix ending in "/"; bad bucket names and ".." prefixes are usage errors', () => {
  assert.deepEqual(parseS3Url('s3://dumps'), { bucket: 'dumps', prefix: '' });
  assert.deepEqual(parseS3Url('s3://dumps/crash/host1/'), { bucket: 'dumps', prefix: 'crash/host1/' });
  assert.deepEqual(parseS3Url('s3://my.bucket-1/a'), { bucket: 'my.bucket-1', prefix: 'a/' });
  for (const bad of ['s3://', 's3://B', 's3://ab', 's3://Dumps/x', 's3://dumps/a/../b', 's3://dumps/a//b']) assert.throws(() => parseS3Url(bad), UsageError, bad);
});

function credsFile(text: string, mode = 0o600): string {
  const f = join(work, `creds-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

test('credentials file: AWS shared-credentials format, [default] or a named profile, region optional; comments allowed', () => {
  const f = credsFile('# dump uploader\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s/ecr+et=\n\n[profile other]\naws_access_key_id=AKIA2\naws_secret_access_key=x\nregion = eu-west-3\n');
  assert.deepEqual(readS3Credentials(f), { accessKeyId: 'AKIA1', secretAccessKey: 's/ecr+et=', sessionToken: undefined, region: undefined });
  assert.equal(readS3Credentials(f, 'other').region, 'eu-west-3');
  const only = credsFile('[dumps]\naws_access_key_id = A\naws_secret_access_key = B\n');
  assert.equal(readS3Credentials(only).accessKeyId, 'A', 'a single section is the default');
});

test('credentials file open to group or others is refused with the chmod to run; missing keys and stray lines are named', () => {
  const f = credsFile('[default]\naws_access_key_id = A\naws_secret_access_key = B\n', 0o644);
  assert.throws(() => readS3Credentials(f), (e: unknown) => e instanceof ParseError && /open to group or others \(mode 0644\)/.test(e.message) && e.hint === `chmod 600 ${f}`);
  assert.throws(() => readS3Credentials(credsFile('[default]\naws_access_key_id = A\n')), /lacks aws_access_key_id or aws_secret_access_key/);
  assert.throws(() => readS3Credentials(credsFile('aws_access_key_id = A\n')), (e: unknown) => e instanceof ParseError && e.line === 1);
  assert.throws(() => readS3Credentials(credsFile('[a]\naws_access_key_id = A\naws_secret_access_key = B\n[b]\n')), /no \[default\] section/);
  assert.throws(() => readS3Credentials(join(work, 'none')), /cannot read the S3 credentials: ENOENT/);
});

test('S3 failures become one line with what to do: unreachable, key refused, no bucket, part too small', () => {
  const w = 's3://dumps/x/';
  const line = (e: Error & { hint?: string }) => `${e.message} — ${e.hint ?? ''}`;
  assert.match(line(s3Error(w, 'sending part 3', new S3CallError({ name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9', code: 'ECONNREFUSED' }))), /^s3:\/\/dumps\/x\/: sending part 3: the server did not answer \(ECONNREFUSED.*— check --s3-endpoint .* the same save again resumes$/);
  assert.match(line(s3Error(w, 'reading', new S3CallError({ name: 'InvalidAccessKeyId', message: 'UnknownError', status: 403 }))), /the server refused the key \(InvalidAccessKeyId\) — check aws_access_key_id and aws_secret_access_key in --s3-credentials/);
  assert.match(line(s3Error(w, 'reading', new S3CallError({ name: 'NoSuchBucket', message: 'x', status: 404 }))), /no such bucket — create it first/);
  assert.match(line(s3Error(w, 'completing', new S3CallError({ name: 'EntityTooSmall', message: 'x', status: 400 }))), /--chunk-mib 5 or more/);
});

/** A store that keeps its chunks as one object, as the S3 store does (parts joined on join()). */
class ObjectStore implements ChunkStore {
  readonly where: string;
  parts = new Map<string, Uint8Array>();
  held: Map<string, Uint8Array>;
  sent: string[] = [];
  dir: string;
  constructor(dir: string, held = new Map<string, Uint8Array>()) {
    this.dir = dir;
    this.where = dir;
    this.held = held;
  }
  stored(): Map<string, string> {
    return new Map(); // like a server without part checksums: holds() decides
  }
  holds(file: string, bytes: Uint8Array): boolean {
    const h = this.held.get(file);
    if (h && Buffer.from(h).equals(Buffer.from(bytes))) {
      this.parts.set(file, h);
      return true;
    }
    return false;
  }
  put(file: string, bytes: Uint8Array): void {
    if (/\.part-\d{5}$/.test(file)) {
      this.parts.set(file, bytes.slice());
      this.sent.push(file);
    } else writeFileSync(join(this.dir, file), bytes);
  }
  join(chunks: ChunkEntry[]): string {
    writeFileSync(join(this.dir, 'dump.flat'), Buffer.concat(chunks.map((c) => this.parts.get(c.file)!)));
    return 'dump.flat';
  }
}

const stream = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919) & 0xff);

test('a store that joins its chunks: the manifest names the object, written after the join; holds() decides what is resent; verify DIR reads the object by ranges and names a damaged one', () => {
  const dir = mkdtempSync(join(work, 'obj-'));
  const held = new Map([['dump.part-00001', stream.slice(4096, 8192)], ['dump.part-00002', new Uint8Array(5)]]);
  const store = new ObjectStore(dir, held);
  const w = new ChunkedWriter(store, 'dump', 4096, sha256Hasher);
  w.write(stream);
  const r = w.end(new Date(0));
  assert.equal(r.manifest.object, 'dump.flat');
  assert.deepEqual([r.kept, r.sent], [1, 2]);
  assert.deepEqual(store.sent, ['dump.part-00000', 'dump.part-00002']);
  assert.deepEqual(readFileSync(join(dir, 'dump.flat')), Buffer.from(stream));
  assert.equal(parseManifest(readFileSync(join(dir, 'dump.manifest.json'), 'utf8'), 'm').object, 'dump.flat');
  assert.throws(() => parseManifest(JSON.stringify({ ...r.manifest, object: '../x' }), 'm'), ParseError);

  const ok = vmcoreTs(['verify', dir]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /3 chunks, 10000 bytes, .*all match\n.*flattened format: .*dump\.flat/);
  const bad = Buffer.from(stream);
  bad[5000]! ^= 0xff;
  writeFileSync(join(dir, 'dump.flat'), bad.subarray(0, 9000));
  const v = vmcoreTs(['verify', dir]);
  assert.equal(v.status, 1);
  assert.match(v.stdout, /^dump\.part-00001: bytes 4096-8191 of the stream: SHA-256 /m);
  assert.match(v.stdout, /^dump\.part-00002: bytes 8192-9999 of the stream: 808 bytes, the manifest says 1808$/m);
});

test('save --to s3:// needs --s3-credentials (exit 2); --s3-* without s3:// is a usage error; a 0644 credentials file is refused before any request', () => {
  const a = vmcoreTs(['save', '--to', 's3://dumps/x', FIXTURE]);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--to s3:\/\/… needs --s3-credentials FILE/);
  const b = vmcoreTs(['save', '--to', join(work, 'd'), '--s3-endpoint', 'http://127.0.0.1:9', FIXTURE]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--s3-credentials, --s3-endpoint and --s3-region go with --to s3:/);
  const f = credsFile('[default]\naws_access_key_id = A\naws_secret_access_key = B\n', 0o640);
  const c = vmcoreTs(['save', '--to', 's3://dumps/x', '--s3-endpoint', 'http://127.0.0.1:9', '--s3-credentials', f, FIXTURE]);
  assert.equal(c.status, 1);
  assert.equal(c.stderr.trim().split('\n').length, 1, c.stderr);
  assert.match(c.stderr, /open to group or others \(mode 0640\) — chmod 600 /);
  const d = vmcoreTs(['verify', 's3://dumps/x']);
  assert.equal(d.status, 2);
  assert.match(d.stderr, /give --s3-credentials FILE/);
});

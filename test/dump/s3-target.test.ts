// vmcore-ts save --to s3://… against a real S3 server process on 127.0.0.1: moto_server (Debian
// trixie's python3-moto, an S3 emulator, run from a cached trixie root through chroot; its IAM
// authentication switched on, so a wrong key is refused as AWS would). Ceph's radosgw with its
// SQLite "dbstore" backend was tried first: it runs without a cluster, but in trixie's Ceph 18.2
// a multipart object reads back as its last part repeated, so it cannot hold a dump (README).
// moto keeps everything in memory, so the "network cut" is a TCP relay between the saver and the
// server, a separate process that this test stops by its PID half-way and starts again.
// Opt-in (a Debian root, ~55 s to build once, then ~30 s): E2E_S3=1 (or E2E_SUITES=all)
//   E2E_S3=1 node scripts/run-tests.mjs test/dump/s3-target
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { cannotMakeRoot, debianRootTarball, sh } from '../packaging/debian-root.ts';
import { freePort } from '../free-port.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const optedIn = process.env.E2E_S3 === '1' || process.env.E2E_SUITES === 'all';
const why = !optedIn ? 'opt-in: E2E_S3=1 (a Debian trixie root with python3-moto)' : cannotMakeRoot();

const work = mkdtempSync(join(tmpdir(), 's3-target-'));
let root: string | undefined;
let moto: ChildProcess | undefined;
let relay: ChildProcess | undefined;
let motoPort = 0;
let relayPort = 0;
let key = { id: '', secret: '' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A request moto routes by the service in a SigV4-shaped header (authentication is still off then). */
async function unsigned(service: 's3' | 'iam', method: string, path: string, body?: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${motoPort}${path}`, {
    method,
    headers: {
      authorization: `AWS4-HMAC-SHA256 Credential=AKIASETUP/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
      ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${service} ${method} ${path}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  return text;
}

/** A TCP relay 127.0.0.1:relayPort -> moto, its own process (so it can be stopped by PID mid-upload); prints "up N" per MiB sent. */
function startRelay(): Promise<void> {
  const code = `
    const net = require('node:net');
    let up = 0, told = 0;
    net.createServer((c) => {
      const s = net.connect(${motoPort}, '127.0.0.1');
      c.on('data', (d) => { up += d.length; if (up >> 20 > told) { told = up >> 20; process.stdout.write('up ' + told + '\\n'); } });
      c.pipe(s); s.pipe(c);
      c.on('error', () => s.destroy()); s.on('error', () => c.destroy());
    }).listen(${relayPort}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  relay = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    relay!.stdout!.once('data', () => resolve());
    relay!.once('exit', (c) => reject(new Error(`the relay exited (${c})`)));
  });
}

function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    process.kill(p.pid!, 'SIGKILL');
  });
}

/**
 * The cached trixie root unpacked for moto alone: in memory (/dev/shm) when there is one, without
 * documentation, translations or botocore's models of services other than S3, IAM and STS (~0.7 s
 * instead of ~20 s for all of it on a busy disk). moto needs no /proc: nothing is mounted in it.
 */
function unpackMotoRoot(): string {
  const { tarball } = debianRootTarball('trixie', ['python3-moto', 'python3-flask-cors']);
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kexec-ts-moto-'));
  const models = './usr/lib/python3/dist-packages/botocore/data';
  const skip = ['./usr/share/locale/*', './usr/share/doc/*', './usr/share/man/*', `${models}/*/*`].map((p) => `--exclude=${p}`);
  sh('tar', ['-C', dir, '-xf', tarball, '--wildcards', ...skip], 120_000);
  sh('tar', ['-C', dir, '-xf', tarball, '--wildcards', ...['s3', 'iam', 'sts'].map((s) => `${models}/${s}/*`)], 60_000);
  return dir;
}

before(async () => {
  if (why) return;
  root = unpackMotoRoot();
  motoPort = await freePort();
  relayPort = await freePort();
  // Parts of 1 MiB (AWS's 5 MiB minimum is moto's default too) so the ~16 MiB test dump has 16 of them.
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', HOME: '/root', S3_UPLOAD_PART_MIN_SIZE: String(1 << 20) };
  moto = spawn('chroot', [root, 'moto_server', '-H', '127.0.0.1', '-p', String(motoPort)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  moto.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  for (let i = 0; ; i++) {
    if (moto.exitCode !== null) throw new Error(`moto_server exited ${moto.exitCode}: ${log}`);
    if (i > 300) throw new Error(`moto_server did not come up on 127.0.0.1:${motoPort}: ${log}`);
    if (await fetch(`http://127.0.0.1:${motoPort}/moto-api/data.json`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  // A user with a key allowed S3, and the bucket; then authentication on (every later request signed with a known key).
  const iam = (params: Record<string, string>) => unsigned('iam', 'POST', '/', new URLSearchParams({ Version: '2010-05-08', ...params }).toString());
  await iam({ Action: 'CreateUser', UserName: 'dumper' });
  const ak = await iam({ Action: 'CreateAccessKey', UserName: 'dumper' });
  key = { id: /<AccessKeyId>([^<]+)/.exec(ak)![1]!, secret: /<SecretAccessKey>([^<]+)/.exec(ak)![1]! };
  await iam({ Action: 'PutUserPolicy', UserName: 'dumper', PolicyName: 's3', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }) });
  await unsigned('s3', 'PUT', '/dumps');
  const r = await fetch(`http://127.0.0.1:${motoPort}/moto-api/reset-auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0' });
  assert.ok(r.ok, 'moto authentication switched on');
  writeFileSync(join(work, 'creds'), `# test key\n[default]\naws_access_key_id = ${key.id}\naws_secret_access_key = ${key.secret}\nregion = us-east-1\n`, { mode: 0o600 });
  writeFileSync(join(work, 'wrong'), `[default]\naws_access_key_id = ${key.id}\naws_secret_access_key = not-${key.secret}\n`, { mode: 0o600 });
  await startRelay();
});

after(async () => {
  await stop(relay);
  await stop(moto);
  if (root) spawnSync('rm', ['-rf', '--one-file-system', root], { timeout: 60_000 });
  rmSync(work, { recursive: true, force: true });
});

const skip = (t: { skip(m: string): void }) => {
  if (!why) return false;
  t.skip(why);
  return true;
};

function vmcoreTs(args: string[]) {
  return spawnSync(process.execPath, [...CLI, ...args], { encoding: 'buffer', maxBuffer: 1 << 27 });
}
const s3Args = (creds = 'creds') => ['--s3-endpoint', `http://127.0.0.1:${relayPort}`, '--s3-credentials', join(work, creds)];
const client = () =>
  new S3Client({
    endpoint: `http://127.0.0.1:${motoPort}`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
async function getObject(k: string): Promise<Buffer | undefined> {
  try {
    const r = await client().send(new GetObjectCommand({ Bucket: 'dumps', Key: k }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    if ((e as Error).name === 'NoSuchKey') return undefined;
    throw e;
  }
}

let reference: Buffer | undefined;
/** The same save written as one flattened stream to stdout: what the object must be. */
function referenceStream(): Buffer {
  if (!reference) {
    const r = vmcoreTs(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE]);
    assert.equal(r.status, 0, r.stderr.toString());
    reference = r.stdout;
  }
  return reference;
}

test('save --to s3:// stores one object, byte for byte the save -F stream, as a multipart upload of 1 MiB parts, then the manifest; verify s3:// and verify of a download pass, a damaged byte is named', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const r = vmcoreTs(['save', '--to', 's3://dumps/crash/happy', ...s3Args(), '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.match(r.stderr.toString(), /to s3:\/\/dumps\/crash\/happy as vmcore\.flat \(16 parts\) \+ vmcore\.manifest\.json/);
  const object = await getObject('crash/happy/vmcore.flat');
  assert.ok(object && object.equals(referenceStream()), 'the object is the save -F stream');
  const manifest = JSON.parse((await getObject('crash/happy/vmcore.manifest.json'))!.toString());
  assert.equal(manifest.object, 'vmcore.flat');
  assert.equal(manifest.chunks.length, 16);
  assert.equal(manifest.size, object.length);

  const v = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/happy']);
  assert.equal(v.status, 0, v.stderr.toString());
  assert.match(v.stdout.toString(), /vmcore\.manifest\.json: 16 chunks, \d+ bytes, stream SHA-256 [0-9a-f]{64}: all match/);

  // Downloaded beside its manifest, the object verifies from the directory; one changed byte is named by part.
  const dir = join(work, 'download');
  mkdirSync(dir);
  writeFileSync(join(dir, 'vmcore.manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(dir, 'vmcore.flat'), object);
  assert.equal(vmcoreTs(['verify', dir]).status, 0);
  const bad = Buffer.from(object);
  bad[3 * 2 ** 20 + 5]! ^= 1;
  writeFileSync(join(dir, 'vmcore.flat'), bad);
  const d = vmcoreTs(['verify', dir]);
  assert.equal(d.status, 1);
  assert.match(d.stdout.toString(), /^vmcore\.part-00003: bytes 3145728-4194303 of the stream: SHA-256/m);
});

test('save --to s3:// cut half-way (the connection to the server stopped by PID): one error line, exit 1, no manifest; the next save sends only the parts not stored and completes the upload', { timeout: 180_000 }, async (t) => {
  if (skip(t)) return;
  await stop(relay);
  await startRelay(); // counting from 0
  const args = ['save', '--to', 's3://dumps/crash/cut', ...s3Args(), '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE];
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Cut once 6 MiB went through (of ~16).
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      const m = /up (\d+)\n(?![\s\S]*up)/.exec(d.toString());
      if (m && Number(m[1]) >= 6) {
        relay!.stdout!.off('data', onData);
        resolve();
      }
    };
    relay!.stdout!.on('data', onData);
    child.once('exit', () => resolve());
  });
  await stop(relay);
  const code = await exited;
  assert.equal(code, 1, stderr);
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^vmcore-ts: s3:\/\/dumps\/crash\/cut\/: sending part \d+: the server did not answer \(ECONNREFUSED.* — check --s3-endpoint and the network; what is stored is kept: the same save again resumes$/);
  assert.equal(await getObject('crash/cut/vmcore.manifest.json'), undefined, 'no manifest: the dump is incomplete by construction');
  assert.equal(await getObject('crash/cut/vmcore.flat'), undefined, 'no object: the upload is not completed');
  const uploadId = (await getObject('crash/cut/vmcore.upload'))?.toString().trim();
  assert.ok(uploadId, 'the unfinished upload is named in NAME.upload');
  const parts = await client().send(new ListPartsCommand({ Bucket: 'dumps', Key: 'crash/cut/vmcore.flat', UploadId: uploadId }));
  const stored = parts.Parts?.length ?? 0;
  assert.ok(stored >= 3 && stored < 16, `the cut came half-way (${stored} parts stored: ${JSON.stringify(parts.Parts)}; ${stderr})`);

  await startRelay();
  const v = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/cut']);
  assert.equal(v.status, 1);
  assert.match(v.stderr.toString(), /no manifest — an upload was started but the manifest, written after it is completed, is not there: the transfer did not finish/);
  const r = vmcoreTs(args);
  assert.equal(r.status, 0, r.stderr.toString());
  const m = /resumed: (\d+) chunks already there, (\d+) sent/.exec(r.stderr.toString());
  assert.ok(m, r.stderr.toString());
  assert.equal(Number(m[1]), stored, 'every stored part was kept');
  assert.equal(Number(m[2]), 16 - stored, 'only the missing parts were sent');
  assert.equal(vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/cut']).status, 0);
  assert.ok((await getObject('crash/cut/vmcore.flat'))!.equals(referenceStream()), 'the resumed object is the save -F stream');
  assert.equal(await getObject('crash/cut/vmcore.upload'), undefined, 'the upload marker is removed once the manifest is there');
});

test('save --to s3:// --encrypt-to --with-log: the log object first, sealed parts; verify s3:// without the key checks the parts, with --key --output writes the save -F stream', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  if (relay?.exitCode !== null || relay.signalCode !== null) await startRelay();
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  writeFileSync(join(work, 'dump.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(work, 'dump.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const r = vmcoreTs(['save', '--to', 's3://dumps/crash/sealed', ...s3Args(), '--encrypt-to', join(work, 'dump.pub'), '--state-dir', join(work, 'state'), '--with-log', '--chunk-mib', '2', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.match((await getObject('crash/sealed/vmcore.dmesg.txt'))!.toString(), /Linux version 6\.1/);
  const manifest = JSON.parse((await getObject('crash/sealed/vmcore.manifest.json'))!.toString());
  assert.equal(manifest.object, 'vmcore.flat');
  assert.ok(manifest.encryption, 'the manifest carries the wrapped key');
  const v = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/sealed']);
  assert.equal(v.status, 0, v.stderr.toString());
  assert.match(v.stdout.toString(), /every chunk matches \(encrypted: give --key/);
  const out = join(work, 'sealed.flat');
  const o = vmcoreTs(['verify', ...s3Args(), '--key', join(work, 'dump.key'), '--output', out, 's3://dumps/crash/sealed']);
  assert.equal(o.status, 0, o.stderr.toString());
  assert.ok(readFileSync(out).equals(referenceStream()), 'opened, the parts are the save -F stream');
});

test('save --to s3:// with a secret key the server does not accept fails in one line that names the credentials file, and leaves no manifest', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  if (relay?.exitCode !== null || relay.signalCode !== null) await startRelay();
  const r = vmcoreTs(['save', '--to', 's3://dumps/crash/wrong', ...s3Args('wrong'), '-c', '-d', '31', FIXTURE]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString().trim(), /^vmcore-ts: s3:\/\/dumps\/crash\/wrong\/: .*: the server refused the key \(SignatureDoesNotMatch.*\) — check aws_access_key_id and aws_secret_access_key in --s3-credentials/);
  assert.equal(r.stderr.toString().trim().split('\n').length, 1);
  assert.equal(await getObject('crash/wrong/vmcore.manifest.json'), undefined);
  // A credentials file others can read is refused before anything is sent.
  const open = join(work, 'open');
  writeFileSync(open, readFileSync(join(work, 'creds')));
  chmodSync(open, 0o644);
  const o = vmcoreTs(['save', '--to', 's3://dumps/crash/open', ...s3Args('open'), FIXTURE]);
  assert.equal(o.status, 1);
  assert.match(o.stderr.toString().trim(), /the S3 credentials file is open to group or others \(mode 0644\) — chmod 600 /);
});

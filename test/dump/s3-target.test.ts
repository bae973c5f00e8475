// vmcore-ts save --to s3://… against a real S3 server on 127.0.0.1: Ceph's radosgw on a one-node
// RADOS cluster (ceph-mon + one ceph-osd with the memory object store), from Debian trixie's
// packages (Ceph 18.2), run by chroot from a cached trixie root (test/ceph-s3-server.ts).
// The "network cut" is a TCP relay between the saver and radosgw, a separate process that this
// test stops by its PID half-way and starts again.
// Opt-in (a Debian root, ~35 s to build once, then ~20 s to start the cluster): E2E_S3=1 (or E2E_SUITES=all)
//   E2E_S3=1 node scripts/run-tests.mjs test/dump/s3-target
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListPartsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CephS3Server, cephS3Unavailable } from '../ceph-s3-server.ts';
import { freePort } from '../free-port.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const optedIn = process.env.E2E_S3 === '1' || process.env.E2E_SUITES === 'all';
const why = !optedIn ? 'opt-in: E2E_S3=1 (a Debian trixie root with Ceph: ceph-mon, ceph-osd, radosgw)' : cephS3Unavailable();

const work = mkdtempSync(join(tmpdir(), 's3-target-'));
const server = new CephS3Server();
let relay: ChildProcess | undefined;
let relayPort = 0;

/** A TCP relay 127.0.0.1:relayPort -> radosgw, its own process (so it can be stopped by PID mid-upload); prints "up N" per MiB sent. */
function startRelay(): Promise<void> {
  const code = `
    const net = require('node:net');
    let up = 0, told = 0;
    net.createServer((c) => {
      const s = net.connect(${server.port}, '127.0.0.1');
      c.on('data', (d) => { up += d.length; if (up >> 20 > told) { told = up >> 20; process.stdout.write('up ' + told + '\\n'); } });
      c.pipe(s); s.pipe(c);
      c.on('error', () => s.destroy()); s.on('error', () => c.destroy());
    }).listen(${relayPort}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  relay = spawn(process.execPath, [...NODE_ARGS, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
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

before(async () => {
  if (why) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  await server.start();
  relayPort = await freePort();
  await client().send(new CreateBucketCommand({ Bucket: 'dumps' }));
  const key = server.key;
  writeFileSync(join(work, 'creds'), `# test key\n[default]\naws_access_key_id = ${key.id}\naws_secret_access_key = ${key.secret}\nregion = us-east-1\n`, { mode: 0o600 });
  writeFileSync(join(work, 'wrong'), `[default]\naws_access_key_id = ${key.id}\naws_secret_access_key = not-${key.secret}\n`, { mode: 0o600 });
  await startRelay();
});

after(async () => {
  await stop(relay);
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

const skip = (t: { skip(m: string): void }) => {
  if (!why) return false;
  t.skip(why);
  return true;
};

function vmcoreTs(args: string[]) {
  return spawnSync(process.execPath, [...NODE_ARGS, ...CLI, ...args], { encoding: 'buffer', maxBuffer: 1 << 27 });
}
const s3Args = (creds = 'creds') => ['--s3-endpoint', `http://127.0.0.1:${relayPort}`, '--s3-credentials', join(work, creds)];
const client = () =>
  new S3Client({
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: server.key.id, secretAccessKey: server.key.secret },
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

test('save --to s3:// stores one object, byte for byte the save -F stream, as a multipart upload of 1 MiB parts, then the manifest; verify s3:// and verify of a download pass, a damaged byte is named (in the download and on the server)', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const r = vmcoreTs(['save', '--to', 's3://dumps/crash/happy', ...s3Args(), '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(r.status, 0, r.stderr.toString());
  const parts = Math.ceil(referenceStream().length / (1 << 20));
  assert.match(r.stderr.toString(), new RegExp(`to s3://dumps/crash/happy as vmcore\\.flat \\(${parts} parts\\) \\+ vmcore\\.manifest\\.json`));
  const object = await getObject('crash/happy/vmcore.flat');
  assert.ok(object && object.equals(referenceStream()), 'the object is the save -F stream');
  const manifest = JSON.parse((await getObject('crash/happy/vmcore.manifest.json'))!.toString());
  assert.equal(manifest.object, 'vmcore.flat');
  assert.equal(manifest.chunks.length, parts);
  assert.equal(manifest.size, object.length);

  const v = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/happy']);
  assert.equal(v.status, 0, v.stderr.toString());
  assert.match(v.stdout.toString(), new RegExp(`vmcore\\.manifest\\.json: ${parts} chunks, \\d+ bytes, stream SHA-256 [0-9a-f]{64}: all match`));

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
  // The same damage on the server (the object replaced): verify s3:// names the part by its ranged GET.
  await client().send(new PutObjectCommand({ Bucket: 'dumps', Key: 'crash/happy/vmcore.flat', Body: bad }));
  const s = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/happy']);
  assert.equal(s.status, 1, s.stderr.toString());
  assert.match(s.stdout.toString(), /^vmcore\.part-00003: bytes 3145728-4194303 of the stream: SHA-256/m);
  assert.equal(s.stdout.toString().match(/^vmcore\.part-\d{5}:/gm)?.length, 1, 'only the damaged part is named');
});

test('save --to s3:// cut half-way (the connection to the server stopped by PID): one error line, exit 1, no manifest; the next save sends only the parts not stored and completes the upload', { timeout: 180_000 }, async (t) => {
  if (skip(t)) return;
  await stop(relay);
  await startRelay(); // counting from 0
  const args = ['save', '--to', 's3://dumps/crash/cut', ...s3Args(), '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE];
  const child = spawn(process.execPath, [...NODE_ARGS, ...CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Cut once 6 MiB went through (of ~17).
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
  const total = Math.ceil(referenceStream().length / (1 << 20));
  assert.ok(stored >= 3 && stored < total, `the cut came half-way (${stored} parts stored: ${JSON.stringify(parts.Parts)}; ${stderr})`);

  await startRelay();
  const v = vmcoreTs(['verify', ...s3Args(), 's3://dumps/crash/cut']);
  assert.equal(v.status, 1);
  assert.match(v.stderr.toString(), /no manifest — an upload was started but the manifest, written after it is completed, is not there: the transfer did not finish/);
  const r = vmcoreTs(args);
  assert.equal(r.status, 0, r.stderr.toString());
  const m = /resumed: (\d+) chunks already there, (\d+) sent/.exec(r.stderr.toString());
  assert.ok(m, r.stderr.toString());
  assert.equal(Number(m[1]), stored, 'every stored part was kept');
  assert.equal(Number(m[2]), total - stored, 'only the missing parts were sent');
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

test('kdump-ts test and status with target = s3:// ask the server: the dump target is reachable with the key accepted (room: not applicable); a refused key, a missing bucket and a credentials file others can read each FAIL with the reason', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  const conf = (creds: string, bucket = 'dumps') => {
    const p = join(work, `kdump-${creds}-${bucket}.conf`);
    writeFileSync(p, `target = s3://${bucket}/host1\ns3_credentials = ${join(work, creds)}\ns3_endpoint = ${server.endpoint}\nnet_device = lo\ncapture = initramfs\n`);
    return p;
  };
  const dumpTarget = (config: string) => {
    const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'test', '--json', '--config', config], { encoding: 'utf8', timeout: 90_000 });
    assert.ok(r.stdout, r.stderr);
    return (JSON.parse(r.stdout) as { checks: { name: string; result: string; detail: string }[] }).checks.find((c) => c.name === 'dump target')!;
  };
  const ok = dumpTarget(conf('creds'));
  assert.equal(ok.result, 'ok', ok.detail);
  assert.match(ok.detail, /^s3:\/\/dumps\/host1 at http:\/\/127\.0\.0\.1:\d+: reachable, the key is accepted and the bucket is there \(HeadBucket\); room: not applicable/);
  const wrong = dumpTarget(conf('wrong'));
  assert.equal(wrong.result, 'FAIL');
  assert.match(wrong.detail, /HeadBucket: the server refused the key \(.*\) — check aws_access_key_id and aws_secret_access_key in s3_credentials, the region \(s3_region\)/);
  const none = dumpTarget(conf('creds', 'no-such-bucket'));
  assert.equal(none.result, 'FAIL');
  assert.match(none.detail, /s3:\/\/no-such-bucket\/host1\/: no such bucket — create it first \(kdump-ts and the collector do not create buckets\), or check the name and s3_endpoint/);
  const open = join(work, 'open-kdump');
  writeFileSync(open, readFileSync(join(work, 'creds')));
  chmodSync(open, 0o644);
  const o = dumpTarget(conf('open-kdump'));
  assert.equal(o.result, 'FAIL');
  assert.match(o.detail, /s3_credentials .*open-kdump: the S3 credentials file is open to group or others \(mode 0644\) — chmod 600/);
  const status = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'status', '--config', conf('wrong')], { encoding: 'utf8', timeout: 60_000 });
  assert.match(status.stdout + status.stderr, /the server refused the key/);
});

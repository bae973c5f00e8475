// Real kernels, a dump to object storage (opt-in: E2E_S3=1, or --all): kdump-ts with target =
// s3://… in a guest whose only way out is QEMU's forward of 10.0.2.100:7480 to radosgw on a
// one-node Ceph cluster on the host's 127.0.0.1 (test/ceph-s3-server.ts). The capture kernel's
// /init brings the NIC up by DHCP (found by its MAC), stores the kernel log first, then the dump as
// one object by multipart upload, sealed to an X25519 public key, and the manifest last; on the host
// `vmcore-ts verify s3://…` checks every part with ranged GETs without the key, opens them with it
// and writes the stream, and `vmcore-ts dmesg` of it shows the crash marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GUEST_NET_HOST } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { CephS3Server, cephS3Unavailable } from '../test/ceph-s3-server.ts';
import { captureInitrd, cli, crashGuest, netConfig } from './kdump-ts-net.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const GUEST_PORT = 7480;
const asked = process.env.E2E_S3 === '1' || (process.env.E2E_SUITES ?? '').trim() === 'all';

const suite = suites()[0] ?? 'trixie';
test(`e2e ${suite}: kdump-ts with target = s3://: the capture kernel uploads the log, then the dump sealed to a public key as one multipart object and its manifest, over a restricted network to radosgw (Ceph) on 127.0.0.1; verify s3:// (without and with the key) and dmesg read it back`, { skip: asked ? undefined : 'opt-in: E2E_S3=1 (or --all): a one-node Ceph cluster from a Debian trixie root' }, async (t) => {
  if (cannotRun(t)) return;
  const why = cephS3Unavailable();
  if (why) {
    if (process.env.E2E_REQUIRE === '1') assert.fail(why);
    return t.skip(why);
  }
  if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs')) || !existsSync(join(REPO, 'dist', 's3-worker.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const server = new CephS3Server();
  const work = mkdtempSync(join(tmpdir(), 'kdump-ts-s3-'));
  try {
    await server.start();
    const s3 = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: server.key.id, secretAccessKey: server.key.secret } });
    await s3.send(new CreateBucketCommand({ Bucket: 'dumps' }));
    const seal = generateKeyPairSync('x25519');
    const pub = join(work, 'dump.pub');
    const priv = join(work, 'dump.key');
    writeFileSync(pub, seal.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(priv, seal.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const creds = join(work, 's3-credentials');
    writeFileSync(creds, `[default]\naws_access_key_id = ${server.key.id}\naws_secret_access_key = ${server.key.secret}\n`, { mode: 0o600 });
    await orSkipOnDownload(t, async () => {
      const kernel = await getKernel(suite, log);
      const config = netConfig('kdump-ts-s3.test.ts', [
        'target = s3://dumps/guest1',
        `s3_credentials = ${creds}`,
        `s3_endpoint = http://${GUEST_NET_HOST}:${GUEST_PORT}`,
        `encrypt_to = ${pub}`,
        'failure_action = reboot',
      ]);
      const made = captureInitrd('kdump-ts-s3', suite, kernel, config);
      t.diagnostic(made.report.trim());
      assert.match(made.report, /s3:\/\/dumps\/guest1 at http:\/\/10\.0\.2\.100:7480 .*; sealed to /);
      const marker = `E2E-KDUMP-S3-${randomBytes(6).toString('hex')}`;
      const r = await crashGuest({ name: 'kdump-ts-s3', suite, config, initrd: made.initrd, marker, net: { forwards: [{ guestPort: GUEST_PORT, hostPort: server.port }] }, log });
      assert.equal(r.marker('first', 'crash-loaded').value, '1');
      assert.match(r.console, /^kdump-ts: network: eth0 10\.0\.2\.15\/24$/m, 'the capture kernel got its address by DHCP on the NIC found by MAC');
      const saved = /^kdump-ts: saved (s3:\/\/dumps\/guest1\/(\d{8}-\d{6}))$/m.exec(r.console);
      assert.ok(saved, `the capture kernel uploaded the dump (console: ${join(r.outDir, 'console.log')})`);
      const prefix = `guest1/${saved[2]}/`;
      const listed = (await s3.send(new ListObjectsV2Command({ Bucket: 'dumps', Prefix: 'guest1/' }))).Contents?.map((o) => o.Key).sort();
      assert.deepEqual(listed, [`${prefix}vmcore.dmesg.txt`, `${prefix}vmcore.flat`, `${prefix}vmcore.manifest.json`], 'the log, the one object and its manifest; no upload marker left');
      const dmesg = await (await s3.send(new GetObjectCommand({ Bucket: 'dumps', Key: `${prefix}vmcore.dmesg.txt` }))).Body!.transformToString();
      assert.ok(dmesg.includes(marker), 'the kernel log went first, whole, with the marker');
      const s3Args = ['--s3-credentials', creds, '--s3-endpoint', server.endpoint];
      const flat = join(r.outDir, 'vmcore.flat');
      assert.match(cli('vmcore-ts', ['verify', ...s3Args, saved[1]!]), /every chunk matches \(encrypted/, 'the sealed parts check without the key');
      assert.match(cli('vmcore-ts', ['verify', ...s3Args, '--key', priv, '--output', flat, '-f', saved[1]!]), /vmcore\.manifest\.json: \d+ chunks, \d+ bytes, stream SHA-256 [0-9a-f]{64}: all match/);
      assert.ok(cli('vmcore-ts', ['dmesg', flat]).includes(marker), 'vmcore-ts dmesg on the stream read back from S3 shows the crash marker');
      assert.match(cli('vmcore-ts', ['info', flat]), /DUMP LEVEL: 31/);
      recordTimings(r, 'kdump-ts-s3', { crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000 });
      t.diagnostic(timingSummary(r));
      r.cleanup();
    });
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
});

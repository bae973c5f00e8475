// kdump-ts with target = s3://…: the configuration, the /init that uploads, what the capture
// initramfs carries, the credentials file's mode, and what `test`/`status` conclude. Fast: no
// server (the upload from a crashed guest to a real S3 server is e2e/kdump-ts-s3.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParseError } from '../../src/errors.ts';
import { DEFAULT_CONFIG, parseConfig } from '../../src/kdump/config.ts';
import { bundleCompanions, initScript } from '../../src/kdump/capture-initramfs.ts';
import { dumpTargetCheck } from '../../src/kdump/readiness.ts';
import { captureFilesFor, kdumpStatus, type StatusFacts } from '../../src/kdump/status.ts';
import { parseIomem } from '../../src/kexec/memory-map.ts';
import { buildCaptureInitramfs, resolveTarget } from '../../src/host/kdump-initramfs.ts';
import { FIXTURE_IOMEM } from './fake-root.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const CREDS = '[default]\naws_access_key_id = AKIATEST\naws_secret_access_key = secret\n';

test('config: target = s3://BUCKET/PREFIX with s3_credentials, s3_endpoint, s3_region and encrypt_to; refused without the credentials file, with a bad endpoint or URL, and s3_* keys without an S3 target', () => {
  const c = parseConfig(['target = s3://crash-dumps/web-17', 's3_credentials = /etc/kdump-ts/s3-credentials', 's3_endpoint = http://10.0.2.100:7480/', 's3_region = eu-west-3', 'encrypt_to = /etc/kdump-ts/dump.pub', 'net_device = eth0'].join('\n'), 'k.conf');
  assert.deepEqual(c.s3, { target: { bucket: 'crash-dumps', prefix: 'web-17/' }, credentials: '/etc/kdump-ts/s3-credentials', endpoint: 'http://10.0.2.100:7480', region: 'eu-west-3', encryptTo: '/etc/kdump-ts/dump.pub' });
  assert.equal(c.target, 's3://crash-dumps/web-17');
  assert.equal(c.ssh, undefined);
  assert.deepEqual(parseConfig('target = s3://dumps\ns3_credentials = /c').s3, { target: { bucket: 'dumps', prefix: '' }, credentials: '/c' }, 'AWS, the region from the credentials file');
  assert.throws(
    () => parseConfig('target = s3://dumps/x', 'k.conf'),
    (e) => e instanceof ParseError && e.line === 1 && /target = s3:\/\/… needs s3_credentials = FILE/.test(e.message) && /chmod 600/.test(e.hint ?? ''),
  );
  assert.throws(() => parseConfig('target = s3://dumps/x\ns3_credentials = /c\ns3_endpoint = minio:9000', 'k.conf'), (e) => e instanceof ParseError && e.line === 3 && /s3_endpoint = minio:9000: expected http\(s\):\/\/HOST\[:PORT\]/.test(e.message));
  assert.throws(() => parseConfig('target = s3://Dumps/x\ns3_credentials = /c', 'k.conf'), (e) => e instanceof ParseError && e.line === 1 && /target = s3:\/\/Dumps\/x: give s3:\/\/BUCKET\[\/PREFIX\]/.test(e.message));
  assert.throws(() => parseConfig('target = s3://dumps/a/../b\ns3_credentials = /c', 'k.conf'), (e) => e instanceof ParseError && /'\.\.' component/.test(e.message));
  assert.throws(() => parseConfig('target = s3://dumps\ns3_credentials = relative', 'k.conf'), (e) => e instanceof ParseError && /s3_credentials = relative: must be an absolute file path/.test(e.message));
  assert.throws(() => parseConfig('s3_endpoint = http://x:1\ns3_region = us-east-1', 'k.conf'), (e) => e instanceof ParseError && /s3_endpoint, s3_region: used only with target = s3:\/\//.test(e.message));
  assert.throws(() => parseConfig('encrypt_to = /k.pub', 'k.conf'), (e) => e instanceof ParseError && /encrypt_to: used only with target = ssh:\/\/… or s3:\/\/…/.test(e.message));
  assert.throws(() => parseConfig('target = s3://dumps\ns3_credentials = /c\nssh_key = /k', 'k.conf'), (e) => e instanceof ParseError && /ssh_key: used only with target = ssh/.test(e.message));
  assert.throws(() => parseConfig('s3_credential = /c', 'k.conf'), (e) => e instanceof ParseError && /did you mean s3_credentials/.test(e.message));
});

test('/init for target = s3://: valid shell; the network, then save --to s3://BUCKET/PREFIX/STAMP with the credentials, endpoint, region, public key and the log first, 3 attempts (each resumes the upload), the CA bundle for https; failure_action when all fail', () => {
  const s3 = { url: 's3://dumps/web-17', credentials: '/etc/kdump-ts/s3-credentials', endpoint: 'https://s3.example.net', region: 'eu-west-3', encryptTo: '/etc/kdump-ts/dump.pub', caBundle: '/etc/ssl/certs/ca-certificates.crt' };
  const network = { netDevice: '52:54:00:12:34:56', net: 'dhcp' as const, hosts: [{ name: 's3.example.net', address: '192.0.2.9' }] };
  const script = initScript({
    target: { device: '', fstype: 's3', dir: 'web-17/', configured: s3.url, s3, network },
    modules: [],
    saveArgs: ['-c', '-d', '31'],
    after: 'reboot',
    failureAction: 'poweroff',
    mode: { mode: 'initramfs', why: 'test' },
  });
  const shell = has('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(script.includes('udhcpc -i "$ifc"'), 'the network comes up first');
  assert.ok(script.includes(`url='s3://dumps/web-17'/$stamp`));
  assert.ok(script.includes(`export NODE_EXTRA_CA_CERTS='/etc/ssl/certs/ca-certificates.crt'`));
  assert.ok(
    script.includes(`run save --to "$url" --s3-credentials '/etc/kdump-ts/s3-credentials' --s3-endpoint 'https://s3.example.net' --s3-region 'eu-west-3' --encrypt-to '/etc/kdump-ts/dump.pub' --state-dir /run/vmcore-ts --with-log --message-level 6 -c -d 31 /proc/vmcore`),
    script,
  );
  assert.ok(script.includes('[ $n -ge 3 ] && break'));
  assert.ok(!script.includes('mount -t \'s3\''), 'nothing to mount');
  assert.match(script, /else log "failed \(poweroff\)"; poweroff -f; fi/);
  const plain = initScript({ target: { device: '', fstype: 's3', dir: '/', configured: 's3://dumps/', s3: { url: 's3://dumps/', credentials: '/c' }, network }, modules: [], saveArgs: ['-l', '-d', '1'], after: 'halt', mode: { mode: 'initramfs', why: 'test' } });
  assert.ok(plain.includes(`url='s3://dumps'/$stamp`));
  assert.ok(plain.includes(`run save --to "$url" --s3-credentials '/c' --state-dir`), 'AWS: no endpoint, the region from the credentials file');
  assert.ok(!plain.includes("export NODE_EXTRA_CA_CERTS='"), 'no CA bundle for http');
});

test('capture initramfs for target = s3://: the S3 worker (the AWS SDK) beside the bundle only then; the credentials at their path, mode 0600; a bundle without the S3 worker and a credentials file others can read are refused, naming the key and the chmod', () => {
  const all = ['vmcore-ts.mjs', 'kexec-ts.mjs', 'kdump-ts.mjs', 'compress-worker.mjs', 's3-worker.mjs', 'chunk-1.mjs', 'api.mjs'];
  assert.deepEqual(bundleCompanions(all, 'vmcore-ts.mjs'), ['compress-worker.mjs', 'chunk-1.mjs']);
  assert.deepEqual(bundleCompanions(all, 'vmcore-ts.mjs', { s3: true }), ['compress-worker.mjs', 's3-worker.mjs', 'chunk-1.mjs']);

  const root = mkdtempSync(join(tmpdir(), 'kdump-s3-'));
  mkdirSync(join(root, 'etc/kdump-ts'), { recursive: true });
  writeFileSync(join(root, 'etc/kdump-ts/s3-credentials'), CREDS, { mode: 0o600 });
  writeFileSync(join(root, 'etc/kdump-ts/dump.pub'), 'pub\n');
  const dist = join(root, 'dist');
  mkdirSync(dist);
  for (const f of ['vmcore-ts.mjs', 'compress-worker.mjs', 's3-worker.mjs', 'kdump-ts.mjs']) writeFileSync(join(dist, f), `// ${f}\n`);
  const conf = (extra = '') => parseConfig(`target = s3://dumps/host1\ns3_credentials = /etc/kdump-ts/s3-credentials\ns3_endpoint = http://127.0.0.1:7480\nencrypt_to = /etc/kdump-ts/dump.pub\nnet_device = 52:54:00:12:34:56\ncapture = initramfs\n${extra}`);
  const target = resolveTarget(conf(), root);
  assert.equal(target.fstype, 's3');
  assert.deepEqual(target.s3, { url: 's3://dumps/host1', credentials: '/etc/kdump-ts/s3-credentials', endpoint: 'http://127.0.0.1:7480', encryptTo: '/etc/kdump-ts/dump.pub' }, 'http: no CA bundle');
  assert.deepEqual(target.network, { netDevice: '52:54:00:12:34:56', net: 'dhcp', hosts: [] }, 'an address: nothing to resolve');
  if (has('busybox')) {
    const built = buildCaptureInitramfs({ config: conf(), target, release: '6.1.0-test', modulesDir: join(root, 'no-modules'), bundle: join(dist, 'vmcore-ts.mjs'), root, busybox: '/bin/busybox', mode: { mode: 'initramfs', why: 'test' } });
    const paths = built.archive.paths();
    for (const p of ['kdump-ts/s3-worker.mjs', 'kdump-ts/compress-worker.mjs', 'etc/kdump-ts/s3-credentials', 'etc/kdump-ts/dump.pub', 'etc/kdump-ts/udhcpc.sh', 'bin/udhcpc']) assert.ok(paths.includes(p), p);
    assert.ok(!paths.includes('kdump-ts/kdump-ts.mjs'));
    assert.equal((built.archive.get('etc/kdump-ts/s3-credentials') as { mode: number }).mode & 0o777, 0o600, 'the key is readable by root only');
    assert.match(new TextDecoder().decode((built.archive.get('etc/kdump-ts.target') as { data: Uint8Array }).data), /^s3:\/\/dumps\/host1$/m);
    assert.match(new TextDecoder().decode((built.archive.get('init') as { data: Uint8Array }).data), /--s3-credentials '\/etc\/kdump-ts\/s3-credentials' --s3-endpoint 'http:\/\/127\.0\.0\.1:7480'/);
    // A bundle without the S3 worker beside it would fail only in the capture kernel: refused now.
    rmSync(join(dist, 's3-worker.mjs'));
    assert.throws(
      () => buildCaptureInitramfs({ config: conf(), target, release: '6.1.0-test', modulesDir: join(root, 'no-modules'), bundle: join(dist, 'vmcore-ts.mjs'), root, busybox: '/bin/busybox', mode: { mode: 'initramfs', why: 'test' } }),
      /target = s3:\/\/… but .*s3-worker\.mjs \(the AWS SDK the upload runs in\) is not beside the bundle/,
    );
  }
  chmodSync(join(root, 'etc/kdump-ts/s3-credentials'), 0o640);
  assert.throws(() => resolveTarget(conf(), root), /^KexecError: s3_credentials \/etc\/kdump-ts\/s3-credentials: the S3 credentials file is open to group or others \(mode 0640\)$/m);
  try {
    resolveTarget(conf(), root);
  } catch (e) {
    assert.match((e as { hint?: string }).hint ?? '', /chmod 600 .*s3-credentials/);
  }
  rmSync(root, { recursive: true, force: true });
});

const RELEASE = '6.1.0-18-amd64';
function facts(over: Partial<StatusFacts>): StatusFacts {
  const config = over.config ?? parseConfig('');
  return {
    config,
    configPath: '/etc/kdump-ts.conf',
    configFound: true,
    crash: { iomem: parseIomem(FIXTURE_IOMEM), cpuNotes: [{ cpu: 0, addr: 0x1000n, size: 0x170n }], sources: [] },
    cmdline: 'console=ttyS0 crashkernel=256M',
    crashLoaded: '1\n',
    capture: { files: captureFilesFor(config, RELEASE, ''), kernelExists: true, initrdExists: true },
    target: { exists: false, writable: false, resolved: { error: 'unset' } },
    ...over,
  };
}

test('status and test for target = s3://: reachable with the key accepted is ready (room: not applicable, said so); unreachable or refused is a problem with its reason; another root is skipped', () => {
  const config = parseConfig('target = s3://dumps/host1\ns3_credentials = /etc/kdump-ts/s3-credentials\ns3_endpoint = http://127.0.0.1:7480\n');
  const resolved = { device: '', fstype: 's3', dir: 'host1/', configured: config.target, s3: { url: config.target, credentials: '/etc/kdump-ts/s3-credentials', endpoint: 'http://127.0.0.1:7480' } };
  const ok = kdumpStatus(facts({ config, target: { here: config.target, exists: true, writable: true, resolved } }));
  assert.deepEqual(ok.problems, [], 'no free space is not a problem for object storage');
  assert.equal(ok.wouldSave.path, 's3://dumps/host1/YYYYmmdd-HHMMSS/vmcore.flat + vmcore.manifest.json');
  const check = dumpTargetCheck(ok, config, new Map());
  assert.equal(check.result, 'ok');
  assert.match(check.detail, /^s3:\/\/dumps\/host1 at http:\/\/127\.0\.0\.1:7480: reachable, the key is accepted and the bucket is there \(HeadBucket\); room: not applicable/);
  const refused = 's3://dumps/host1/: HeadBucket: the server refused the key (SignatureDoesNotMatch) — check aws_access_key_id and aws_secret_access_key in --s3-credentials';
  const bad = kdumpStatus(facts({ config, target: { here: config.target, exists: false, writable: false, resolved: { error: refused } } }));
  assert.deepEqual(bad.problems, [refused]);
  assert.deepEqual(dumpTargetCheck(bad, config, new Map()), { name: 'dump target', result: 'FAIL', detail: refused });
  const other = kdumpStatus(facts({ config, target: { here: config.target, exists: false, writable: false, resolved: { error: `${config.target}: not asked for another root (--root)` } } }));
  assert.equal(dumpTargetCheck(other, config, new Map()).result, 'skip');
  assert.equal(DEFAULT_CONFIG.s3, undefined);
});

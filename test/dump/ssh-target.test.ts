// vmcore-ts save --to ssh://… against a real OpenSSH server: a throwaway sshd this test starts on
// 127.0.0.1 (its own host key, one authorized test key, no passwords), stopped by its PID. The
// "network cut" is that sshd going away half-way through a transfer; the next save resumes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sshdMissing, TestSshd } from '../sshd-server.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const required = process.env.E2E_REQUIRE === '1';
const missing = sshdMissing;
const sshd = new TestSshd();
const work = sshd.dir;
const user = sshd.user;

before(async () => {
  if (!missing) await sshd.start();
});
after(() => sshd.dispose());

function vmcoreTs(args: string[]) {
  return spawnSync(process.execPath, [...NODE_ARGS, ...CLI, ...args], { encoding: 'buffer', maxBuffer: 1 << 27 });
}
const target = (dir: string) => `ssh://${user}@127.0.0.1:${sshd.port}${dir}`;
const auth = () => ['--ssh-key', sshd.clientKey, '--known-hosts', sshd.knownHosts()];
const skip = (t: { skip(m: string): void }) => {
  if (!missing) return false;
  if (required) assert.fail(missing);
  t.skip(missing);
  return true;
};

/** The same save written as one flattened stream to stdout: what the chunks must add up to. */
let reference: Buffer | undefined;
const referenceStream = () => (reference ??= vmcoreTs(['save', '-F', '-c', '-d', '31', '--message-level', '0', FIXTURE]).stdout);
const joined = (dir: string) => Buffer.concat(readdirSync(dir).filter((f) => /\.part-\d{5}$/.test(f)).sort().map((f) => readFileSync(join(dir, f))));

test('save --to ssh://: the flattened stream arrives as chunks + manifest over a key-only ssh login, verifies, and equals save -F byte for byte', (t) => {
  if (skip(t)) return;
  const dir = join(work, 'crash-a');
  const r = vmcoreTs(['save', '--to', target(dir), ...auth(), '--chunk-mib', '4', '-c', '-d', '31', '--message-level', '2', FIXTURE]);
  assert.equal(r.status, 0, r.stderr.toString());
  const chunks = Math.ceil(referenceStream().length / (4 << 20));
  assert.match(r.stderr.toString(), new RegExp(`to ssh://.* as ${chunks} chunks \\+ vmcore\\.manifest\\.json`));
  const v = vmcoreTs(['verify', dir]);
  assert.equal(v.status, 0, v.stdout.toString() + v.stderr.toString());
  assert.match(v.stdout.toString(), new RegExp(`${chunks} chunks, \\d+ bytes, stream SHA-256 [0-9a-f]{64}: all match`));
  assert.ok(joined(dir).equals(referenceStream()), 'the chunks joined are the save -F stream');
  // vmcore-ts reads the joined stream as it is (flattened).
  writeFileSync(join(work, 'a.flat'), joined(dir));
  assert.match(vmcoreTs(['info', join(work, 'a.flat')]).stdout.toString(), /RELEASE: 6\.1\.0-56-cloud-amd64/);
});

test('save --to ssh:// cut half-way (the server and its connections killed): one clear error, no manifest, verify says unfinished; the next save resumes and sends only the rest', async (t) => {
  if (skip(t)) return;
  const dir = join(work, 'crash-b');
  const args = ['save', '--to', target(dir), ...auth(), '--chunk-mib', '1', '-c', '-d', '31', '--message-level', '2', FIXTURE];
  const child = spawn(process.execPath, [...NODE_ARGS, ...CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const parts = () => (existsSync(dir) ? readdirSync(dir).filter((f) => /\.part-\d{5}$/.test(f)).length : 0);
  for (let i = 0; i < 1000 && parts() < 3 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
  await sshd.cut();
  const code = await exited;
  const before = parts();
  assert.ok(before >= 3 && before < 16, `the cut came half-way (${before} chunks stored)`);
  assert.equal(code, 1, stderr);
  const lines = stderr.trim().split('\n').filter((l) => !/^\s*\d+%/.test(l));
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^vmcore-ts: ssh:\/\/.*: ssh exited 255.* — check the host, the port, the key/);
  assert.ok(!existsSync(join(dir, 'vmcore.manifest.json')), 'no manifest: the dump is incomplete by construction');
  const v = vmcoreTs(['verify', dir]);
  assert.equal(v.status, 1);
  assert.match(v.stderr.toString(), /no manifest — the chunks are there but the manifest, written last, is not: the transfer did not finish/);

  await sshd.start();
  const r = vmcoreTs(args);
  assert.equal(r.status, 0, r.stderr.toString());
  const m = /resumed: (\d+) chunks already there, (\d+) sent/.exec(r.stderr.toString());
  assert.ok(m, r.stderr.toString());
  assert.ok(Number(m[1]) >= before - 1, `the stored chunks were kept (${m[1]} of ${before})`);
  assert.equal(vmcoreTs(['verify', dir]).status, 0);
  assert.ok(joined(dir).equals(referenceStream()), 'the resumed chunks joined are the save -F stream');
});

test('save --to ssh:// with a key the server does not accept fails in one line with what to check, and leaves nothing', (t) => {
  if (skip(t)) return;
  const dir = join(work, 'crash-c');
  const r = vmcoreTs(['save', '--to', target(dir), '--ssh-key', sshd.otherKey, '--known-hosts', sshd.knownHosts(), '-c', '-d', '31', FIXTURE]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString().trim(), /^vmcore-ts: ssh:\/\/.*: ssh exited 255: .*Permission denied.* — check the host, the port, the key \(--ssh-key\)/);
  assert.ok(!existsSync(dir));
  const bad = vmcoreTs(['save', '--to', 'ssh://host:99999/x', FIXTURE]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.toString(), /port 99999 is not 1-65535/);
});

test('kdump-ts test with target = ssh://: the dump target check asks the server (writable, free space); a server that refuses the key fails the check with what to check', (t) => {
  if (skip(t)) return;
  const conf = (key: string) => {
    const p = join(work, `kdump-${key.replace(/\W/g, '')}.conf`);
    writeFileSync(p, [`target = ${target(join(work, 'kdump-target'))}`, `ssh_key = ${key}`, `known_hosts = ${sshd.knownHosts()}`, 'net_device = lo', ''].join('\n'));
    return p;
  };
  const check = (key: string) => {
    const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'test', '--json', '--config', conf(key)], { encoding: 'utf8' });
    const checks = (JSON.parse(r.stdout) as { checks: { name: string; result: string; detail: string; fix?: string }[] }).checks;
    return checks.find((c) => c.name === 'dump target')!;
  };
  const ok = check(sshd.clientKey);
  assert.equal(ok.result, 'ok', JSON.stringify(ok));
  assert.match(ok.detail, /^ssh:\/\/.*\/kdump-target: writable, [\d.]+ [KMGT]i?B free, a dump at dump level 31 takes up to/);
  assert.ok(existsSync(join(work, 'kdump-target')), 'the directory was made on the server');
  const refused = check(sshd.otherKey);
  assert.equal(refused.result, 'FAIL');
  assert.match(refused.detail, /ssh exited 255: .*Permission denied.*check the host, the port, the key/);
});

// Real kernels, a dump over the network: kdump-ts with target = ssh://… in a guest whose only way
// out is QEMU's forward of 10.0.2.100:2222 to a throwaway sshd on the host's 127.0.0.1
// (test/sshd-server.ts). The capture kernel's /init brings the NIC up by DHCP (found by its MAC),
// stores the kernel log first, then the dump as chunks sealed to an X25519 public key and the
// manifest last; on the host `vmcore-ts verify` checks the chunks without the key, opens them with
// it, and the stream read back holds the crash marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_NET_HOST } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { sshdMissing, TestSshd } from '../test/sshd-server.ts';
import { captureInitrd, cli, crashGuest, netConfig } from './kdump-ts-net.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const GUEST_PORT = 2222;

const suite = suites()[0];
test(`e2e ${suite ?? '(no suite)'}: kdump-ts with target = ssh://: the capture kernel sends the log, then the dump sealed to a public key, over a restricted network to an sshd on 127.0.0.1; verify and dmesg read it back`, async (t) => {
  if (!suite) return t.skip('no e2e suites selected');
  if (cannotRun(t)) return;
  if (sshdMissing) {
    if (process.env.E2E_REQUIRE === '1') assert.fail(sshdMissing);
    return t.skip(sshdMissing);
  }
  if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const sshd = new TestSshd();
  try {
    await sshd.start();
    await orSkipOnDownload(t, async () => {
      const kernel = await getKernel(suite, log);
      const dumps = join(sshd.dir, 'dumps');
      mkdirSync(dumps);
      const seal = generateKeyPairSync('x25519');
      const pub = join(sshd.dir, 'dump.pub');
      const priv = join(sshd.dir, 'dump.key');
      writeFileSync(pub, seal.publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(priv, seal.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const config = netConfig('kdump-ts-ssh.test.ts', [
        `target = ssh://${sshd.user}@${GUEST_NET_HOST}:${GUEST_PORT}${dumps}`,
        `ssh_key = ${sshd.clientKey}`,
        `known_hosts = ${sshd.knownHosts(GUEST_NET_HOST, GUEST_PORT)}`,
        `encrypt_to = ${pub}`,
      ]);
      const made = captureInitrd('kdump-ts-ssh', suite, kernel, config);
      t.diagnostic(made.report.trim());
      assert.match(made.report, /modules: .*virtio_net/);
      const marker = `E2E-KDUMP-SSH-${randomBytes(6).toString('hex')}`;
      const r = await crashGuest({ name: 'kdump-ts-ssh', suite, config, initrd: made.initrd, marker, net: { forwards: [{ guestPort: GUEST_PORT, hostPort: sshd.port }] }, log });
      assert.equal(r.marker('first', 'crash-loaded').value, '1');
      assert.match(r.console, /^kdump-ts: network: eth0 10\.0\.2\.15\/24$/m, 'the capture kernel got its address by DHCP on the NIC found by MAC');
      const saved = /^kdump-ts: saved (ssh:\/\/\S+)$/m.exec(r.console);
      assert.ok(saved, `the capture kernel sent the dump (console: ${join(r.outDir, 'console.log')})`);
      const stamps = readdirSync(dumps);
      assert.equal(stamps.length, 1, `one dump directory on the server: ${stamps.join(' ')}`);
      const dir = join(dumps, stamps[0]!);
      assert.ok(saved[1]!.endsWith(`${dumps}/${stamps[0]}`));
      assert.ok(readFileSync(join(dir, 'vmcore.dmesg.txt'), 'utf8').includes(marker), 'the kernel log went first, whole, with the marker');
      const plain = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'verify', dir], { cwd: REPO, encoding: 'utf8' });
      assert.equal(plain.status, 0, plain.stdout + plain.stderr);
      assert.match(plain.stdout, /every chunk matches \(encrypted/);
      const flat = join(r.outDir, 'vmcore.flat');
      assert.match(cli('vmcore-ts', ['verify', '--key', priv, '--output', flat, '-f', dir]), /all match/);
      const ours = cli('vmcore-ts', ['dmesg', flat]);
      assert.ok(ours.includes(marker), 'vmcore-ts dmesg on the stream sent over ssh shows the crash marker');
      assert.match(cli('vmcore-ts', ['info', flat]), /DUMP LEVEL: 31/);
      recordTimings(r, 'kdump-ts-ssh', { crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000 });
      t.diagnostic(timingSummary(r));
      r.cleanup();
    });
  } finally {
    await sshd.dispose();
  }
});

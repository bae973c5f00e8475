// Real kernels, a dump to NFS (with --all, or E2E_NFS=1): kdump-ts with target_device =
// 10.0.2.100:/crash (nfs4) in a guest whose only way out is QEMU's forward of 10.0.2.100:2049 to a
// throwaway NFS-Ganesha server on the host's 127.0.0.1 (test/nfs-server.ts). The capture kernel's
// /init brings the NIC up by DHCP, mounts the export (nfs_options, nfs_attempts) and saves there as
// on a disk; on the host the export directory holds the dump, its log and exit code, and vmcore-ts
// dmesg reads the crash marker from it. Then a full export (an 8 MiB file system on the server): the
// save stops at ENOSPC, says so, and what is on the export is a dump marked INCOMPLETE that opens.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_NET_HOST } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { nfsMissing, TestNfsServer } from '../test/nfs-server.ts';
import { captureInitrd, cli, crashGuest, netConfig } from './kdump-ts-net.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const asked = process.env.E2E_NFS === '1' || (process.env.E2E_SUITES ?? '').trim() === 'all';

const suite = suites()[0] ?? 'bookworm';
const skip = asked ? undefined : 'with --all (E2E_SUITES=all) or E2E_NFS=1';

/** A crash of a guest whose kdump-ts target is the export of `nfs`; returns the run, its marker and the dump's directory on the export. */
async function crashToNfs(t: TestContext, nfs: TestNfsServer, name: string) {
  const kernel = await getKernel(suite, log);
  const config = netConfig(
    'kdump-ts-nfs.test.ts',
    [
      'target = /dumps',
      `target_device = ${GUEST_NET_HOST}:${nfs.pseudo}`,
      'target_fstype = nfs4',
      'nfs_options = port=2049,vers=4.1,timeo=100,retrans=2',
      'nfs_attempts = 3',
    ],
    'virtio_pci virtio_net nfsv4',
  );
  mkdirSync(join(nfs.exportDir, 'dumps'));
  const made = captureInitrd('kdump-ts-nfs', suite, kernel, config);
  t.diagnostic(made.report.trim());
  assert.match(made.report, /modules: .*nfsv4/);
  const marker = `E2E-KDUMP-NFS-${randomBytes(6).toString('hex')}`;
  const r = await crashGuest({ name, suite, config, initrd: made.initrd, marker, net: { forwards: [{ guestPort: 2049, hostPort: nfs.port }] }, log });
  assert.equal(r.marker('first', 'crash-loaded').value, '1');
  assert.match(r.console, /^kdump-ts: network: eth0 10\.0\.2\.15\/24$/m);
  const started = /^kdump-ts: saving \/proc\/vmcore \(\d+ bytes\) to .*:\/dumps\/(\d{8}-\d{6});/m.exec(r.console);
  assert.ok(started, `the capture kernel mounted the export and started the save (console: ${join(r.outDir, 'console.log')}; server log: ${nfs.log().slice(-800)})`);
  return { r, marker, dir: join(nfs.exportDir, 'dumps', started[1]!) };
}

test(`e2e ${suite}: kdump-ts with an NFS target: the capture kernel mounts the export over a restricted network (NFS-Ganesha on 127.0.0.1) and saves the dump there`, { skip }, async (t) => {
  if (cannotRun(t)) return;
  if (nfsMissing) {
    if (process.env.E2E_REQUIRE === '1') assert.fail(nfsMissing);
    return t.skip(nfsMissing);
  }
  if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const nfs = new TestNfsServer();
  try {
    await nfs.start();
    await orSkipOnDownload(t, async () => {
      const { r, marker, dir } = await crashToNfs(t, nfs, 'kdump-ts-nfs');
      assert.match(r.console, /^kdump-ts: saved \/mnt\/target\/dumps\/\d{8}-\d{6}\/vmcore$/m);
      assert.deepEqual(readdirSync(dir).sort(), ['dmesg.txt', 'save-exit-code', 'vmcore']);
      assert.equal(readFileSync(join(dir, 'save-exit-code'), 'utf8').trim(), '0');
      assert.ok(readFileSync(join(dir, 'dmesg.txt'), 'utf8').includes(marker));
      assert.ok(cli('vmcore-ts', ['dmesg', join(dir, 'vmcore')]).includes(marker), 'vmcore-ts dmesg of the dump on the export shows the crash marker');
      recordTimings(r, 'kdump-ts-nfs', { crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000 });
      t.diagnostic(timingSummary(r));
      r.cleanup();
    });
  } finally {
    await nfs.dispose();
  }
});

test(`e2e ${suite}: kdump-ts to a full NFS export: the save stops at ENOSPC and says so; the export holds the log and a dump marked INCOMPLETE that opens`, { skip }, async (t) => {
  if (cannotRun(t)) return;
  if (nfsMissing) {
    if (process.env.E2E_REQUIRE === '1') assert.fail(nfsMissing);
    return t.skip(nfsMissing);
  }
  if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const nfs = new TestNfsServer({ capacityMiB: 8 });
  try {
    await nfs.start();
    await orSkipOnDownload(t, async () => {
      const { r, marker, dir } = await crashToNfs(t, nfs, 'kdump-ts-nfs-full');
      // ENOSPC comes back either at a write (the save stops there and marks the dump INCOMPLETE) or,
      // the writes having gone to the NFS client's cache, only when the file is flushed (then the
      // dump is not put at its name at all). Never a dump that looks whole.
      const atWrite = /vmcore-ts: \/mnt\/target\/dumps\/\d{8}-\d{6}\/vmcore is INCOMPLETE \(marked so in its header; it opens, \d+ of \d+ pages readable\): writing stopped: .*ENOSPC/.test(r.console);
      const atFlush = /vmcore-ts: \/mnt\/target\/dumps\/\d{8}-\d{6}\/vmcore: the file system did not keep what was written \(ENOSPC when flushing it\): nothing was put at /.test(r.console);
      assert.ok(atWrite || atFlush, `the save said it ran out of room (console: ${join(r.outDir, 'console.log')})`);
      assert.match(r.console, /^kdump-ts: vmcore-ts save failed with exit code 1$/m);
      assert.ok(readFileSync(join(dir, 'dmesg.txt'), 'utf8').includes(marker), 'the log, written first, is on the export');
      t.diagnostic(atWrite ? 'ENOSPC at a write: the dump on the export is marked INCOMPLETE' : 'ENOSPC when flushing: no dump put in place');
      if (atWrite) {
        // It opens and says so; what it lacks is a partial result (exit 3), named page by page.
        const info = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'info', join(dir, 'vmcore')], { cwd: REPO, encoding: 'utf8' });
        assert.equal(info.status, 3, info.stderr);
        assert.match(info.stdout, /DUMPFILE: .*vmcore {2}\[INCOMPLETE\]/);
        assert.match(info.stdout, /RELEASE: \S+/);
      } else assert.ok(!existsSync(join(dir, 'vmcore')), 'no dump at its name');
      recordTimings(r, 'kdump-ts-nfs-full', { crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000 });
      r.cleanup();
    });
  } finally {
    await nfs.dispose();
  }
});

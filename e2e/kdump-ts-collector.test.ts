// Real kernels, triage first (with --all, or E2E_COLLECTOR=1): kdump-ts with collector = https://…
// in a guest whose only way out is QEMU's forward of 10.0.2.100:8443 to a collector (HTTPS, a
// certificate for that address) this test runs on the host's 127.0.0.1. First crash: a new bucket,
// so the capture kernel sends the signature and log, is asked for the dump and uploads it to the
// collector. Second crash, same bug: the capture kernel sends the signature and log only (kilobytes)
// and saves nothing else. The collector's index and blobs are checked, and the uploaded dump reads,
// also as the viewer reads it: by range requests through the collector's viewer URL. With
// PostgreSQL installed, the index is PostgreSQL and each crash reaches a different collector (two
// on one index and one blob directory: the fleet's setup); else one collector on SQLite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_NET_HOST } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { getKernel } from './harness/kernels.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload, recordTimings } from './harness/testing.ts';
import { captureInitrd, cli, crashGuest, netConfig } from './kdump-ts-net.ts';
import { migrate } from '../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../src/collect/policy.ts';
import { parseTokens } from '../src/collect/protocol.ts';
import { DirBlobStore } from '../src/host/blob-store.ts';
import { startCollector } from '../src/host/collector-server.ts';
import { openPostgres, openSqlite } from '../src/host/sql-drivers.ts';
import { pgMissing, startPg, type PgServer } from '../test/collect/pg-server.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const asked = process.env.E2E_COLLECTOR === '1' || (process.env.E2E_SUITES ?? '').trim() === 'all';
const GUEST_PORT = 8443;

const suite = suites()[0] ?? 'bookworm';
test(`e2e ${suite}: kdump-ts triage first: a new crash uploads its dump to the collector over HTTPS, the same bug again sends only signature and log`, { skip: asked ? undefined : 'with --all (E2E_SUITES=all) or E2E_COLLECTOR=1' }, async (t) => {
  if (cannotRun(t)) return;
  if (spawnSync('openssl', ['version']).error) return t.skip('needs openssl');
  if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, [...NODE_ARGS, 'scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const work = mkdtempSync(join(tmpdir(), 'kdump-collector-'));
  const pg: PgServer | undefined = pgMissing() === undefined ? await startPg() : undefined;
  t.diagnostic(pg ? 'index: PostgreSQL, two collectors (one per crash)' : `index: SQLite, one collector (PostgreSQL: ${pgMissing()})`);
  const dbs = pg ? [openPostgres(pg.url), openPostgres(pg.url)] : [openSqlite(join(work, 'index.sqlite'))];
  const db = dbs[0]!;
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${GUEST_NET_HOST}`, '-addext', `subjectAltName=IP:${GUEST_NET_HOST},IP:127.0.0.1`], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const token = randomBytes(18).toString('hex');
  writeFileSync(join(work, 'token'), token + '\n', { mode: 0o600 });
  const viewer = randomBytes(18).toString('hex');
  await migrate(db);
  const collectors = await Promise.all(
    dbs.map((d) =>
      startCollector({
        db: d,
        blobs: new DirBlobStore(join(work, 'blobs')),
        tokens: parseTokens(`e2e-guest ${token}\n@viewer e2e ${viewer}\n`, 'tokens'),
        policy: DEFAULT_POLICY,
        tls: { cert: readFileSync(cert), key: readFileSync(key) },
        pages: { fleet: new Uint8Array(), viewer: new Uint8Array() },
      }),
    ),
  );
  try {
    await orSkipOnDownload(t, async () => {
      const kernel = await getKernel(suite, log);
      const port = (n: number) => Number(new URL(collectors[(n - 1) % collectors.length]!.url).port);
      const config = netConfig(
        'kdump-ts-collector.test.ts',
        [
          'target = /crash',
          'target_device = /dev/vda',
          'target_fstype = ext4',
          `collector = https://${GUEST_NET_HOST}:${GUEST_PORT}`,
          `collector_token = ${join(work, 'token')}`,
          `collector_ca = ${cert}`,
          'collector_host = e2e-guest',
        ],
        'virtio_pci virtio_blk virtio_net',
      );
      const made = captureInitrd('kdump-ts-collector', suite, kernel, config);
      t.diagnostic(made.report.trim());
      const crash = async (n: number) => {
        const marker = `E2E-KDUMP-COLLECTOR-${n}-${randomBytes(6).toString('hex')}`;
        const r = await crashGuest({ name: `kdump-ts-collector-${n}`, suite, config, initrd: made.initrd, marker, net: { forwards: [{ guestPort: GUEST_PORT, hostPort: port(n) }] }, log, before: 'mkdir -p /scratch/crash' });
        recordTimings(r, `kdump-ts-collector-${n}`, { crashToRebootS: (r.qemuMs - r.marker('first', 'crashing').hostMs) / 1000 });
        return { r, marker };
      };

      // First crash: a new bucket; the dump goes to the collector, nothing to the disk.
      const first = await crash(1);
      assert.match(first.r.console, /^kdump-ts: the collector wants the dump: sending it to https:\/\/10\.0\.2\.100:8443\/v1\/crashes\/\w+\/dump$/m);
      assert.match(first.r.console, /^kdump-ts: saved https:\/\/10\.0\.2\.100:8443\/v1\/crashes\/\w+\/dump$/m);
      const crashes = () => readdirSync(join(work, 'blobs', 'crashes'));
      assert.equal(crashes().length, 1);
      const dumpDir = join(work, 'blobs', 'crashes', crashes()[0]!, 'dump');
      const parts = readdirSync(dumpDir).filter((f) => /\.part-\d{5}$/.test(f)).sort();
      writeFileSync(join(first.r.outDir, 'vmcore.flat'), Buffer.concat(parts.map((f) => readFileSync(join(dumpDir, f)))));
      assert.ok(cli('vmcore-ts', ['dmesg', join(first.r.outDir, 'vmcore.flat')]).includes(first.marker), 'the dump uploaded from the capture kernel reads back with the crash marker');
      // As the viewer opens it: range requests to the collector's viewer URL (in a child process:
      // its reads are synchronous, and this process serves them: spawned, not spawnSync'ed).
      const url = `${collectors[0]!.url}/ui/${viewer}/crash/${crashes()[0]}/dump`;
      const viewed = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(
          process.execPath,
          [...NODE_ARGS, '--import', 'tsx', '-e', `import { openKernelDump } from './src/host/open-dump-file.ts'; const d = openKernelDump(process.argv[1], { http: { ca: process.argv[2] } }); console.log(d.printk().map((l) => l.text).join('\\n'));`, url, readFileSync(cert, 'utf8')],
          { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
        );
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => (stdout += d));
        c.stderr.on('data', (d) => (stderr += d));
        c.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      assert.equal(viewed.status, 0, viewed.stderr);
      assert.ok(viewed.stdout.includes(first.marker), 'the dump read by range through the viewer URL holds the crash marker');
      assert.deepEqual(first.r.disk.list('crash'), [], 'nothing saved on the disk');
      first.r.cleanup();

      // Second crash, the same bug: signature and log only.
      const second = await crash(2);
      assert.match(second.r.console, /^kdump-ts: the collector https:\/\/10\.0\.2\.100:8443 knows this crash: signature and log sent, no dump needed$/m);
      assert.equal(crashes().length, 2, 'the collector recorded both crashes');
      const buckets = await db.query<{ bucket: string; count: number }>('SELECT bucket, count FROM buckets');
      assert.equal(buckets.length, 1, 'one bucket: the same bug');
      assert.equal(Number(buckets[0]!.count), 2);
      const logs = crashes().map((c) => readFileSync(join(work, 'blobs', 'crashes', c, 'log.txt'), 'utf8'));
      assert.ok(logs.some((l) => l.includes(second.marker)), "the second crash's log reached the collector");
      assert.deepEqual(second.r.disk.list('crash'), [], 'nothing saved on the disk');
      second.r.cleanup();
    });
  } finally {
    for (const c of collectors) await c.close();
    for (const d of dbs) await d.close();
    await pg?.stop();
    rmSync(work, { recursive: true, force: true });
  }
});

// `vmcore-ts collect import DIR`: the bundled kdump (fixtures/x86_64-debian-6.1) laid out as
// kdump-tools, kdumpctl and `save --to DIR` leave it in /var/crash, ingested into the index and blob
// store (signature from the dump, log from the dmesg file beside it, time from the directory's
// name), skipped when imported again, and served back byte for byte by range.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ChunkedWriter } from '../../src/dump/chunked.ts';
import { crashesIn } from '../../src/collect/import-layout.ts';
import { bucketDetail, migrate } from '../../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../../src/collect/policy.ts';
import { parseTokens } from '../../src/collect/protocol.ts';
import { DirBlobStore } from '../../src/host/blob-store.ts';
import { DirChunkStore, sha256Hasher } from '../../src/host/chunk-stores.ts';
import { startCollector } from '../../src/host/collector-server.ts';
import { openSqlite } from '../../src/host/sql-drivers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const BUCKET = '812fe8350573c0cf';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const work = mkdtempSync(join(tmpdir(), 'collector-import-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('import layouts: kdump-tools, kdumpctl and save --to directories are told apart from their file names', () => {
  assert.deepEqual(crashesIn('202612051230', ['dmesg.202612051230', 'dump.202612051230']), [
    { layout: 'kdump-tools', dir: '202612051230', dump: 'dump.202612051230', dmesg: 'dmesg.202612051230', time: '2026-12-05T12:30:00.000Z' },
  ]);
  assert.deepEqual(crashesIn('x/10.0.0.7-2026-12-04-10:20:30', ['vmcore', 'vmcore-dmesg.txt']), [
    { layout: 'kdumpctl', dir: 'x/10.0.0.7-2026-12-04-10:20:30', dump: 'vmcore', dmesg: 'vmcore-dmesg.txt', host: '10.0.0.7', time: '2026-12-04T10:20:30.000Z' },
  ]);
  assert.deepEqual(crashesIn('d', ['vmcore.part-00000', 'vmcore.manifest.json']), [{ layout: 'chunked', dir: 'd', dump: 'vmcore.manifest.json' }]);
  assert.deepEqual(crashesIn('d', ['vmcore.part-00000', 'kexec_cmd', 'dump.2026']), []);
});

test('collect import: three layouts of one dump become three crashes of one bucket; again: all skipped; a damaged one fails (exit 1); the stored dumps read back by range', async () => {
  const crash = join(work, 'var-crash');
  const kt = join(crash, '202612051230');
  mkdirSync(kt, { recursive: true });
  copyFileSync(FIXTURE, join(kt, 'dump.202612051230'));
  writeFileSync(join(kt, 'dmesg.202612051230'), '[    0.000000] Linux version 6.1.0\n[    5.1] sysrq: Trigger a crash\n[    5.2] Kernel panic - not syncing: sysrq triggered crash\n');
  const kc = join(crash, '127.0.0.1-2026-12-04-10:20:30');
  mkdirSync(kc);
  copyFileSync(FIXTURE, join(kc, 'vmcore'));
  writeFileSync(join(kc, 'vmcore-dmesg.txt'), 'kdumpctl log\n');
  // ours: the dump cut into chunks + manifest, as save --to DIR leaves a stream.
  const ours = join(crash, 'saved');
  const w = new ChunkedWriter(new DirChunkStore(ours), 'vmcore', 4 << 20, sha256Hasher);
  w.write(readFileSync(FIXTURE));
  w.end(new Date('2026-12-03T08:00:00Z'));
  // No date in its name: the manifest's time is the crash's.
  utimesSync(join(ours, 'vmcore.manifest.json'), new Date('2026-12-03T08:00:00Z'), new Date('2026-12-03T08:00:00Z'));
  const db = join(work, 'index.sqlite'), blobs = join(work, 'blobs');
  const run = (dir: string) => spawnSync(process.execPath, [...NODE_ARGS, ...CLI, 'collect', 'import', '--json', '--db', db, '--blobs', blobs, dir], { encoding: 'utf8' });
  const r1 = run(crash);
  assert.equal(r1.status, 0, r1.stderr);
  const results = (JSON.parse(r1.stdout) as { results: { layout: string; outcome: string; bucket: string; host: string; id: string }[] }).results;
  assert.deepEqual(results.map((r) => [r.layout, r.outcome, r.bucket, r.host]).sort(), [
    ['chunked', 'imported', BUCKET, hostname()],
    ['kdump-tools', 'imported', BUCKET, hostname()],
    ['kdumpctl', 'imported', BUCKET, '127.0.0.1'],
  ]);
  const r2 = run(crash);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual((JSON.parse(r2.stdout) as { results: { outcome: string }[] }).results.map((r) => r.outcome), ['skipped', 'skipped', 'skipped']);
  // A save --to directory with a chunk missing: named, nothing stored for it, exit 1.
  const broken = join(work, 'broken');
  const w2 = new ChunkedWriter(new DirChunkStore(broken), 'vmcore', 4 << 20, sha256Hasher);
  w2.write(readFileSync(FIXTURE).subarray(0, 9 << 20));
  w2.end(new Date());
  unlinkSync(join(broken, 'vmcore.part-00001'));
  const r3 = spawnSync(process.execPath, [...NODE_ARGS, ...CLI, 'collect', 'import', '--db', db, '--blobs', blobs, broken], { encoding: 'utf8' });
  assert.equal(r3.status, 1);
  assert.match(r3.stdout, /failed .*vmcore\.manifest\.json\s+\(chunked\): chunk vmcore\.part-00001 is missing/);
  assert.match(r3.stdout, /0 imported, 0 skipped, 1 failed/);

  const index = openSqlite(db);
  await migrate(index);
  const d = (await bucketDetail(index, BUCKET, { now: new Date('2026-12-06T00:00:00Z'), days: 5 }))!;
  assert.equal(d.count, 3);
  assert.equal(d.dumps, 3);
  assert.deepEqual(d.trend, [['2026-12-02', 0], ['2026-12-03', 1], ['2026-12-04', 1], ['2026-12-05', 1], ['2026-12-06', 0]].map(([day, count]) => ({ day, count })));
  assert.deepEqual([d.firstSeen, d.lastSeen], ['2026-12-03T08:00:00.000Z', '2026-12-05T12:30:00.000Z']);
  const kdumpctl = d.crashes.find((c) => c.host === '127.0.0.1')!;
  assert.equal(kdumpctl.received, '2026-12-04T10:20:30.000Z');
  const c = await startCollector({ db: index, blobs: new DirBlobStore(blobs), tokens: parseTokens('@viewer ops viewer-token-0123456789', 't'), policy: DEFAULT_POLICY });
  try {
    const file = readFileSync(FIXTURE);
    for (const x of d.crashes) {
      const log = await (await fetch(`${c.url}/v1/crashes/${x.id}/log`, { headers: { authorization: 'Bearer viewer-token-0123456789' } })).text();
      if (x.host === '127.0.0.1') assert.equal(log, 'kdumpctl log\n');
      for (const [a, b] of [[0, 4095], [(4 << 20) - 7, (4 << 20) + 7], [file.length - 100, file.length - 1]] as const) {
        const res: Response = await fetch(`${c.url}/ui/viewer-token-0123456789/crash/${x.id}/dump`, { headers: { range: `bytes=${a}-${b}` } });
        assert.equal(res.status, 206, `${x.dumpKind} ${a}-${b}`);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(file.subarray(a, b + 1)), `${x.dumpKind} bytes ${a}-${b}`);
      }
    }
  } finally {
    await c.close();
    await index.close();
  }
});

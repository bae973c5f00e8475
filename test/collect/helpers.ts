// Shared by the collector tests.
import assert from 'node:assert/strict';
import { addDumpFile, bucketDetail, crashById, dumpFiles, listBuckets, migrate, recordCrash, MIGRATIONS, type SqlDriver } from '../../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../../src/collect/policy.ts';
import type { CrashReport } from '../../src/collect/protocol.ts';

/** A crash report of the sysrq crash, bucket and kernel chosen by the test. */
export const report = (host: string, bucket: string, release = '6.1.0-1-amd64', time?: string): CrashReport => ({
  host,
  signature: { bucket, reason: 'sysrq triggered crash', frames: ['sysrq_handle_crash', '__handle_sysrq'], release },
  log: 'Kernel panic - not syncing: sysrq triggered crash\n',
  ...(time ? { time } : {}),
});

/** The index's operations on a fresh database: the same checks for SQLite and PostgreSQL. */
export async function indexScenario(db: SqlDriver): Promise<void> {
  assert.deepEqual(await migrate(db), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(await migrate(db), []);
  const policy = { ...DEFAULT_POLICY, maxDumpsPerBucket: 2, everyNth: 2 };
  const A = 'aaaaaaaaaaaaaaaa', B = 'bbbbbbbbbbbbbbbb';
  const now = new Date('2026-12-06T12:00:00Z');
  const r1 = await recordCrash(db, { id: 'a'.repeat(24), report: report('h1', A, '6.1', '2026-12-04T10:00:00Z'), received: now.toISOString(), policy, random: 0.5 });
  assert.deepEqual([r1.count, r1.needDump, r1.why], [1, true, 'new bucket']);
  const r2 = await recordCrash(db, { id: 'b'.repeat(24), report: report('h1', A, '6.1', '2026-12-05T10:00:00Z'), received: now.toISOString(), policy, random: 0.5 });
  assert.deepEqual([r2.count, r2.needDump], [2, true]); // every 2nd
  const r3 = await recordCrash(db, { id: 'c'.repeat(24), report: report('h2', A, '6.12', '2026-12-06T10:00:00Z'), received: now.toISOString(), policy, random: 0.5 });
  assert.deepEqual([r3.count, r3.needDump], [3, false]);
  const r4 = await recordCrash(db, { id: 'd'.repeat(24), report: report('h3', A, '6.12', '2026-12-06T11:00:00Z'), received: now.toISOString(), policy, random: 0.5 });
  assert.deepEqual([r4.count, r4.needDump, r4.why], [4, false, 'known bucket: 2 dumps already (the cap)']);
  for (let i = 0; i < 5; i++) await recordCrash(db, { id: `e${i}`.padEnd(24, '0'), report: report('h9', B, '6.1', '2026-12-06T09:00:00Z'), received: now.toISOString(), policy, random: 0.5 });
  const list = await listBuckets(db, { now, days: 3 });
  assert.deepEqual(list.map((b) => [b.bucket, b.hosts, b.kernels, b.count]), [[A, 3, 2, 4], [B, 1, 1, 5]]);
  assert.deepEqual(list[0]!.trend, [{ day: '2026-12-04', count: 1 }, { day: '2026-12-05', count: 1 }, { day: '2026-12-06', count: 2 }]);
  assert.equal(list[0]!.firstSeen, '2026-12-04T10:00:00.000Z');
  assert.equal(list[0]!.lastSeen, '2026-12-06T11:00:00.000Z');
  const d = (await bucketDetail(db, A, { now }))!;
  assert.deepEqual(d.hostList[0], { host: 'h1', count: 2, firstSeen: '2026-12-04T10:00:00.000Z', lastSeen: '2026-12-05T10:00:00.000Z' });
  assert.deepEqual(d.hostList.map((h) => h.host).sort(), ['h1', 'h2', 'h3']);
  assert.deepEqual(d.kernelList.map((k) => [k.release, k.count]).sort(), [['6.1', 2], ['6.12', 2]]);
  assert.equal(d.crashes.length, 4);
  assert.equal(await bucketDetail(db, 'ffffffffffffffff', { now }), undefined);
  const c = (await crashById(db, 'a'.repeat(24)))!;
  assert.equal(c.dumpState, 'wanted');
  await addDumpFile(db, c.id, { file: 'vmcore.part-00000', size: 3, sha256: '0'.repeat(64) });
  await addDumpFile(db, c.id, { file: 'vmcore.part-00000', size: 4, sha256: '1'.repeat(64) });
  assert.deepEqual(await dumpFiles(db, c.id), [{ file: 'vmcore.part-00000', size: 4, sha256: '1'.repeat(64) }]);
  assert.equal((await crashById(db, c.id))!.dumpState, 'partial');
}

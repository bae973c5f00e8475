// The collector's core (src/collect/): the report checks, the dump policy, and the index's SQL on a
// real SQLite (node-sqlite3-wasm) — PostgreSQL runs the same statements in postgres.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ParseError, UsageError } from '../../src/errors.ts';
import { bucketDetail, crashById, dumpFiles, addDumpFile, listBuckets, migrate, recordCrash, MIGRATIONS, type SqlDriver } from '../../src/collect/index-db.ts';
import { needDump, parsePolicy, DEFAULT_POLICY } from '../../src/collect/policy.ts';
import { parseCrashReport, lastLines } from '../../src/collect/protocol.ts';
import { report } from './helpers.ts';
import { openSqlite } from '../../src/host/sql-drivers.ts';


test('policy: a new bucket needs a dump; a known one only every Nth, sampled, and never past the cap', () => {
  const p = { everyNth: 10, sampleRate: 0.1, maxDumpsPerBucket: 3 };
  assert.deepEqual(needDump({ count: 1, dumps: 0 }, p, 0.99), { needDump: true, why: 'new bucket' });
  assert.equal(needDump({ count: 2, dumps: 1 }, p, 0.99).needDump, false);
  assert.equal(needDump({ count: 20, dumps: 1 }, p, 0.99).needDump, true);
  assert.equal(needDump({ count: 21, dumps: 1 }, p, 0.05).needDump, true);
  assert.equal(needDump({ count: 20, dumps: 3 }, p, 0.05).needDump, false);
  assert.equal(needDump({ count: 1, dumps: 0 }, { ...DEFAULT_POLICY, maxDumpsPerBucket: 0 }, 0.5).needDump, true);
  assert.deepEqual(parsePolicy({ every: '5', sample: '0.25', maxDumps: '0' }), { everyNth: 5, sampleRate: 0.25, maxDumpsPerBucket: 0 });
  assert.throws(() => parsePolicy({ sample: '2' }), UsageError);
  assert.throws(() => parsePolicy({ every: '-1' }), UsageError);
});

test('protocol: a report is checked field by field and the error names the field', () => {
  const ok = parseCrashReport(JSON.stringify(report('web-1', '0123456789abcdef')));
  assert.equal(ok.host, 'web-1');
  assert.throws(() => parseCrashReport('{'), /not JSON/);
  assert.throws(() => parseCrashReport(JSON.stringify({ ...report('a b', '0123456789abcdef') })), /"host"/);
  assert.throws(() => parseCrashReport(JSON.stringify({ ...report('h', 'xyz') })), /signature.bucket/);
  assert.throws(() => parseCrashReport(JSON.stringify({ host: 'h', log: '' })), (e) => e instanceof ParseError && /signature/.test(e.message));
  assert.equal(lastLines('a\nb\nc\n', 2), 'b\nc\n');
});

async function withDb(fn: (db: SqlDriver) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'collect-db-'));
  const db = openSqlite(join(dir, 'index.sqlite'));
  try {
    await fn(db);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sqlite index: migrations run once; crashes count per bucket, host and kernel; ranking by hosts; trend per day', async () => {
  await withDb(async (db) => {
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
    assert.equal(list[0]!.firstSeen, '2026-12-04T10:00:00Z');
    assert.equal(list[0]!.lastSeen, '2026-12-06T11:00:00Z');
    const d = (await bucketDetail(db, A, { now }))!;
    assert.deepEqual(d.hostList[0], { host: 'h1', count: 2, firstSeen: '2026-12-04T10:00:00Z', lastSeen: '2026-12-05T10:00:00Z' });
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
  });
});

test('sqlite index: a failing transaction leaves no count behind', async () => {
  await withDb(async (db) => {
    await migrate(db);
    const id = 'f'.repeat(24);
    await recordCrash(db, { id, report: report('h1', 'cccccccccccccccc'), received: new Date().toISOString(), policy: DEFAULT_POLICY, random: 0 });
    // The same id again: the crash row's insert fails after the counters were bumped; all is rolled back.
    await assert.rejects(recordCrash(db, { id, report: report('h1', 'cccccccccccccccc'), received: new Date().toISOString(), policy: DEFAULT_POLICY, random: 0 }));
    const [b] = await listBuckets(db, { now: new Date() });
    assert.equal(b!.count, 1);
  });
});

// The collector's core (src/collect/): the report checks, the dump policy, and the index's SQL on a
// real SQLite (node-sqlite3-wasm) — PostgreSQL runs the same statements in postgres.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ParseError, UsageError } from '../../src/errors.ts';
import { listBuckets, migrate, recordCrash, type SqlDriver } from '../../src/collect/index-db.ts';
import { needDump, parsePolicy, DEFAULT_POLICY } from '../../src/collect/policy.ts';
import { parseCrashReport, lastLines } from '../../src/collect/protocol.ts';
import { indexScenario, report } from './helpers.ts';
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
  await withDb(indexScenario);
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

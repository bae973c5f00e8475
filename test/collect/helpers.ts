// Shared by the collector tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { addDumpFile, bucketDetail, crashById, dumpFiles, listBuckets, migrate, recordCrash, MIGRATIONS, type SqlDriver } from '../../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../../src/collect/policy.ts';
import type { CrashReport } from '../../src/collect/protocol.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

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

/**
 * What every BlobStore must do (the directory store here; an S3-compatible one runs the same):
 * whole blobs by key, ranges, a local file stored without reading it whole, undefined for a key
 * never stored, keys that could escape refused.
 */
export async function blobStoreContract(store: import('../../src/collect/protocol.ts').BlobStore, localFile: string): Promise<void> {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) & 255);
  await store.put('crashes/abc/dump/vmcore.part-00000', bytes);
  const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b));
  assert.ok(same(await store.get('crashes/abc/dump/vmcore.part-00000'), bytes));
  assert.ok(same(await store.read('crashes/abc/dump/vmcore.part-00000', 99_990, 100), bytes.subarray(99_990)));
  assert.ok(same(await store.read('crashes/abc/dump/vmcore.part-00000', 5, 3), bytes.subarray(5, 8)));
  await store.put('crashes/abc/dump/vmcore.part-00000', bytes.subarray(0, 10)); // replaced whole
  assert.equal((await store.get('crashes/abc/dump/vmcore.part-00000'))!.length, 10);
  assert.equal(await store.get('crashes/abc/log.txt'), undefined);
  await store.putFile('crashes/abc/dump/vmcore', localFile);
  const { readFileSync } = await import('node:fs');
  assert.ok(same(await store.read('crashes/abc/dump/vmcore', 0, 64), readFileSync(localFile).subarray(0, 64)));
  for (const bad of ['../x', 'crashes/../../etc/passwd', '/abs', 'a//b', '']) await assert.rejects(store.put(bad, bytes), Error, bad);
}

/**
 * `vmcore-ts ARGS` of this checkout as a child process, awaited (not spawnSync: the collector it
 * talks to may run in the test's own process).
 */
export function vmcoreTsAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; bytes: Buffer }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => {
      const bytes = Buffer.concat(out);
      resolve({ status, stdout: bytes.toString(), stderr, bytes });
    });
  });
}

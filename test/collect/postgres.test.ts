// The collector's index on a real PostgreSQL (test/collect/pg-server.ts starts one in a temp
// directory): the same migrations and checks as on SQLite, then two `vmcore-ts collect serve`
// processes on one PostgreSQL and one blob directory receiving crashes at the same time — the
// counts, the "new bucket" decision (exactly once per bucket) and the dump cap stay right.
// Skipped with the reason when PostgreSQL is not installed, unless E2E_REQUIRE=1.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { listBuckets, bucketDetail } from '../../src/collect/index-db.ts';
import type { CrashReply } from '../../src/collect/protocol.ts';
import { openPostgres } from '../../src/host/sql-drivers.ts';
import { indexScenario, report } from './helpers.ts';
import { pgMissing, startPg, type PgServer } from './pg-server.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const missing = pgMissing();
const required = process.env.E2E_REQUIRE === '1';
const CLI = ['--import', 'tsx', 'src/cli/vmcore-ts.ts'];
let pg: PgServer | undefined;
let work: string;

const skip = (t: { skip(m: string): void }) => {
  if (!missing) return false;
  if (required) assert.fail(missing);
  t.skip(missing);
  return true;
};

before(async () => {
  if (missing) return;
  work = mkdtempSync(join(tmpdir(), 'collector-pg-'));
  pg = await startPg();
});

after(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh database on the server for one test. */
async function freshDb(name: string): Promise<string> {
  const admin = openPostgres(pg!.url);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.close();
  return pg!.url.replace(/\/postgres$/, `/${name}`);
}

test('postgres index: the SQLite checks pass unchanged (same schema, migrations and statements)', async (t) => {
  if (skip(t)) return;
  const db = openPostgres(await freshDb('scenario'));
  try {
    await indexScenario(db);
  } finally {
    await db.close();
  }
});

function startCollector(db: string, blobs: string, tokens: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...CLI, 'collect', 'serve', '--port', '0', '--db', db, '--blobs', blobs, '--tokens', tokens, '--max-dumps', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => reject(new Error(`collect serve exited ${code}: ${err}`)));
  });
}

test('two collector processes on one PostgreSQL: concurrent crashes keep counts, new-bucket decisions and the dump cap right', async (t) => {
  if (skip(t)) return;
  const db = await freshDb('fleet');
  const hosts = ['h0', 'h1', 'h2', 'h3'];
  const tokens = join(work, 'tokens');
  writeFileSync(tokens, hosts.map((h) => `${h} token-of-${h}-xxxxxxxxxxxx\n`).join(''), { mode: 0o600 });
  // Both start (and migrate) at the same time.
  const collectors = await Promise.all([startCollector(db, join(work, 'blobs'), tokens), startCollector(db, join(work, 'blobs'), tokens)]);
  try {
    const buckets = ['1000000000000001', '2000000000000002', '3000000000000003'];
    const sends: Promise<CrashReply>[] = [];
    for (let i = 0; i < 60; i++) {
      const host = hosts[i % hosts.length]!;
      const bucket = buckets[i % 3]!;
      const c = collectors[i % 2]!;
      sends.push(
        fetch(`${c.url}/v1/crashes`, {
          method: 'POST',
          headers: { authorization: `Bearer token-of-${host}-xxxxxxxxxxxx` },
          body: JSON.stringify(report(host, bucket, i % 2 ? '6.1' : '6.12')),
        }).then(async (r) => {
          assert.equal(r.status, 201, await r.clone().text());
          return (await r.json()) as CrashReply;
        }),
      );
    }
    const replies = await Promise.all(sends);
    for (const b of buckets) {
      const mine = replies.filter((r) => r.bucket === b);
      assert.deepEqual(mine.map((r) => r.count).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), `bucket ${b}: counts 1..20, each once`);
      assert.equal(mine.filter((r) => r.why === 'new bucket').length, 1, `bucket ${b}: one new-bucket decision`);
      assert.equal(mine.filter((r) => r.needDump).length, 1, `bucket ${b}: --max-dumps 2 with no sampling: the first only`);
    }
    const index = openPostgres(db);
    try {
      const list = await listBuckets(index, { now: new Date() });
      assert.deepEqual(list.map((b) => [b.count, b.hosts, b.kernels]), [[20, 4, 2], [20, 4, 2], [20, 4, 2]]);
      // Host h of crash i: bucket i % 3, host i % 4: every bucket is seen on the 4 hosts, 5 times each.
      for (const b of buckets) {
        const d = (await bucketDetail(index, b, { now: new Date() }))!;
        assert.deepEqual(d.hostList.map((h) => [h.host, h.count]).sort(), hosts.map((h) => [h, 5]));
        assert.deepEqual(d.kernelList.map((k) => k.count).sort(), [10, 10]);
      }
      const [{ n }] = await index.query<{ n: string }>('SELECT COUNT(*) AS n FROM crashes');
      assert.equal(Number(n), 60);
    } finally {
      await index.close();
    }
  } finally {
    for (const c of collectors) {
      c.child.removeAllListeners('exit');
      c.child.kill('SIGTERM');
    }
  }
});

// The collector's index — buckets, hosts, kernels, crashes and the files of their dumps — as SQL
// through a tiny driver interface, so the same statements run on SQLite (one machine) and
// PostgreSQL (several collector processes). Only SQL both accept: TEXT ids made by the collector,
// ISO 8601 times as TEXT (they sort), INSERT ... ON CONFLICT DO UPDATE for every counter (atomic in
// both, so concurrent collectors keep counts right), CASE instead of max()/GREATEST. Pure: the
// drivers live in src/host/sql-drivers.ts.
import type { CrashSignature } from '../analyze/signature.ts';
import { needDump, type DumpDecision, type DumpPolicy } from './policy.ts';
import type { CrashReport, StoredFile } from './protocol.ts';

export type SqlValue = string | number | null;

export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  /** For messages: the file or the server (no password). */
  readonly where: string;
  /** Parameters are $1, $2, ... in both dialects. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs `fn` in one transaction (committed when it resolves, rolled back when it throws). */
  transaction<T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Numbered migrations: each runs once, in order, in one transaction with its version row. */
export const MIGRATIONS: readonly { version: number; name: string; sql: readonly string[] }[] = [
  {
    version: 1,
    name: 'buckets, hosts, kernels, crashes, dump files',
    sql: [
      `CREATE TABLE buckets (bucket TEXT PRIMARY KEY, reason TEXT NOT NULL, frames TEXT NOT NULL, module TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, count INTEGER NOT NULL, dumps INTEGER NOT NULL)`,
      `CREATE TABLE hosts (host TEXT PRIMARY KEY, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, count INTEGER NOT NULL)`,
      `CREATE TABLE bucket_hosts (bucket TEXT NOT NULL, host TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (bucket, host))`,
      `CREATE TABLE bucket_kernels (bucket TEXT NOT NULL, release TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (bucket, release))`,
      `CREATE TABLE crashes (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, host TEXT NOT NULL, release TEXT, received TEXT NOT NULL,
        signature TEXT NOT NULL, need_dump INTEGER NOT NULL, why TEXT NOT NULL, dump_state TEXT NOT NULL, dump_kind TEXT,
        dump_size BIGINT, source TEXT UNIQUE)`,
      `CREATE INDEX crashes_by_bucket ON crashes (bucket, received)`,
      `CREATE TABLE dump_files (crash_id TEXT NOT NULL, file TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL,
        PRIMARY KEY (crash_id, file))`,
    ],
  },
];

/** Brings the schema up to the newest migration; returns the versions applied now. Safe to run from several processes at once. */
export async function migrate(db: SqlDriver): Promise<number[]> {
  return db.transaction(async (tx) => {
    // PostgreSQL: one process migrates, the others wait here and then find nothing to do.
    if (tx.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(1414676052)');
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const s of m.sql) await tx.query(s);
      await tx.query('INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
      applied.push(m.version);
    }
    return applied;
  });
}

export interface RecordedCrash extends DumpDecision {
  id: string;
  bucket: string;
  count: number;
}

/** Counts the crash in its bucket, host and kernel, decides whether its dump is wanted, and stores the crash row. */
export async function recordCrash(
  db: SqlDriver,
  c: { id: string; report: CrashReport; received: string; policy: DumpPolicy; random: number; source?: string; withDump?: boolean },
): Promise<RecordedCrash> {
  const s = c.report.signature;
  // One spelling of times (toISOString's), so that they compare as text.
  const t = new Date(c.report.time ?? c.received).toISOString();
  return db.transaction(async (tx) => {
    // The upsert locks the bucket's row until commit: concurrent crashes of one bucket get counts 1, 2, 3 ...
    const [b] = await tx.query<{ count: number; dumps: number }>(
      `INSERT INTO buckets AS b (bucket, reason, frames, module, first_seen, last_seen, count, dumps) VALUES ($1, $2, $3, $4, $5, $5, 1, 0)
       ON CONFLICT (bucket) DO UPDATE SET count = b.count + 1,
         last_seen = CASE WHEN excluded.last_seen > b.last_seen THEN excluded.last_seen ELSE b.last_seen END,
         first_seen = CASE WHEN excluded.first_seen < b.first_seen THEN excluded.first_seen ELSE b.first_seen END
       RETURNING count, dumps`,
      [s.bucket, s.reason, JSON.stringify(s.frames), s.module ?? null, t],
    );
    const state = { count: Number(b!.count), dumps: Number(b!.dumps) };
    const decision: DumpDecision = c.withDump ? { needDump: true, why: 'imported with its dump' } : needDump(state, c.policy, c.random);
    if (decision.needDump) await tx.query('UPDATE buckets SET dumps = dumps + 1 WHERE bucket = $1', [s.bucket]);
    const counters: [string, string, string[], SqlValue[]][] = [
      ['hosts', 'host', ['host'], [c.report.host]],
      ['bucket_hosts', 'bucket, host', ['bucket', 'host'], [s.bucket, c.report.host]],
    ];
    if (s.release !== undefined) counters.push(['bucket_kernels', 'bucket, release', ['bucket', 'release'], [s.bucket, s.release]]);
    for (const [table, key, cols, vals] of counters) {
      const n = vals.length;
      await tx.query(
        `INSERT INTO ${table} AS x (${cols.join(', ')}, first_seen, last_seen, count) VALUES (${vals.map((_, i) => `$${i + 1}`).join(', ')}, $${n + 1}, $${n + 1}, 1)
         ON CONFLICT (${key}) DO UPDATE SET count = x.count + 1,
           last_seen = CASE WHEN excluded.last_seen > x.last_seen THEN excluded.last_seen ELSE x.last_seen END,
           first_seen = CASE WHEN excluded.first_seen < x.first_seen THEN excluded.first_seen ELSE x.first_seen END`,
        [...vals, t],
      );
    }
    await tx.query(
      `INSERT INTO crashes (id, bucket, host, release, received, signature, need_dump, why, dump_state, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [c.id, s.bucket, c.report.host, s.release ?? null, t, JSON.stringify(s), decision.needDump ? 1 : 0, decision.why, decision.needDump ? 'wanted' : 'none', c.source ?? null],
    );
    return { id: c.id, bucket: s.bucket, count: state.count, ...decision };
  });
}

export type DumpState = 'none' | 'wanted' | 'partial' | 'complete';
/** chunked: chunk files + manifest (save --to); file: one dump file (imported). */
export type DumpKind = 'chunked' | 'file';

export interface CrashRow {
  id: string;
  bucket: string;
  host: string;
  release: string | null;
  received: string;
  signature: CrashSignature;
  needDump: boolean;
  why: string;
  dumpState: DumpState;
  dumpKind: DumpKind | null;
  dumpSize: number | null;
  source: string | null;
}

type RawCrash = Record<string, string | number | null>;
const crashRow = (r: RawCrash): CrashRow => ({
  id: r.id as string,
  bucket: r.bucket as string,
  host: r.host as string,
  release: (r.release as string | null) ?? null,
  received: r.received as string,
  signature: JSON.parse(r.signature as string) as CrashSignature,
  needDump: Number(r.need_dump) === 1,
  why: r.why as string,
  dumpState: r.dump_state as DumpState,
  dumpKind: (r.dump_kind as DumpKind | null) ?? null,
  dumpSize: r.dump_size === null || r.dump_size === undefined ? null : Number(r.dump_size),
  source: (r.source as string | null) ?? null,
});

export async function crashById(db: SqlDriver, id: string): Promise<CrashRow | undefined> {
  const [r] = await db.query<RawCrash>('SELECT * FROM crashes WHERE id = $1', [id]);
  return r ? crashRow(r) : undefined;
}

export async function crashBySource(db: SqlDriver, source: string): Promise<CrashRow | undefined> {
  const [r] = await db.query<RawCrash>('SELECT * FROM crashes WHERE source = $1', [source]);
  return r ? crashRow(r) : undefined;
}

/** Notes a stored file of a crash's dump (replacing an earlier one of the same name: a resumed upload). */
export async function addDumpFile(db: SqlDriver, id: string, f: StoredFile): Promise<void> {
  await db.query(
    `INSERT INTO dump_files (crash_id, file, size, sha256) VALUES ($1, $2, $3, $4)
     ON CONFLICT (crash_id, file) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256`,
    [id, f.file, f.size, f.sha256],
  );
  await db.query(`UPDATE crashes SET dump_state = 'partial' WHERE id = $1 AND dump_state = 'wanted'`, [id]);
}

export async function dumpFiles(db: SqlDriver, id: string, prefix = ''): Promise<StoredFile[]> {
  const rows = await db.query<{ file: string; size: number; sha256: string }>('SELECT file, size, sha256 FROM dump_files WHERE crash_id = $1 ORDER BY file', [id]);
  return rows.filter((r) => r.file.startsWith(prefix)).map((r) => ({ file: r.file, size: Number(r.size), sha256: r.sha256 }));
}

export async function completeDump(db: SqlDriver, id: string, kind: DumpKind, size: number): Promise<void> {
  await db.query(`UPDATE crashes SET dump_state = 'complete', dump_kind = $2, dump_size = $3 WHERE id = $1`, [id, kind, size]);
}

export interface BucketSummary {
  bucket: string;
  reason: string;
  frames: string[];
  module: string | null;
  firstSeen: string;
  lastSeen: string;
  count: number;
  /** Distinct hosts and kernels. */
  hosts: number;
  kernels: number;
  /** Crashes with a complete dump stored. */
  dumps: number;
  /** Crashes per day (UTC), oldest first, the last `days` days. */
  trend: { day: string; count: number }[];
}

export interface BucketDetail extends BucketSummary {
  hostList: { host: string; count: number; firstSeen: string; lastSeen: string }[];
  kernelList: { release: string; count: number; firstSeen: string; lastSeen: string }[];
  crashes: { id: string; host: string; release: string | null; received: string; dumpState: DumpState; dumpKind: DumpKind | null; dumpSize: number | null }[];
}

/** The days [now - days + 1, now] as YYYY-MM-DD. */
export function lastDays(now: Date, days: number): string[] {
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) out.push(new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

async function trends(db: SqlDriver, buckets: string[], now: Date, days: number): Promise<Map<string, { day: string; count: number }[]>> {
  const span = lastDays(now, days);
  const out = new Map(buckets.map((b) => [b, span.map((day) => ({ day, count: 0 }))]));
  if (buckets.length === 0) return out;
  const rows = await db.query<{ bucket: string; day: string; n: number }>(
    `SELECT bucket, substr(received, 1, 10) AS day, COUNT(*) AS n FROM crashes
     WHERE received >= $1 AND bucket IN (${buckets.map((_, i) => `$${i + 2}`).join(', ')}) GROUP BY bucket, substr(received, 1, 10)`,
    [span[0]!, ...buckets],
  );
  for (const r of rows) {
    const cell = out.get(r.bucket)?.find((d) => d.day === r.day);
    if (cell) cell.count = Number(r.n);
  }
  return out;
}

const SUMMARY_SQL = `SELECT b.bucket, b.reason, b.frames, b.module, b.first_seen, b.last_seen, b.count,
  (SELECT COUNT(*) FROM bucket_hosts h WHERE h.bucket = b.bucket) AS hosts,
  (SELECT COUNT(*) FROM bucket_kernels k WHERE k.bucket = b.bucket) AS kernels,
  (SELECT COUNT(*) FROM crashes c WHERE c.bucket = b.bucket AND c.dump_state = 'complete') AS dumps
  FROM buckets b`;

type RawBucket = Record<string, string | number | null>;
const bucketSummary = (r: RawBucket, trend: { day: string; count: number }[]): BucketSummary => ({
  bucket: r.bucket as string,
  reason: r.reason as string,
  frames: JSON.parse(r.frames as string) as string[],
  module: (r.module as string | null) ?? null,
  firstSeen: r.first_seen as string,
  lastSeen: r.last_seen as string,
  count: Number(r.count),
  hosts: Number(r.hosts),
  kernels: Number(r.kernels),
  dumps: Number(r.dumps),
  trend,
});

/** Buckets ranked by hosts affected, then crashes, then the latest. */
export async function listBuckets(db: SqlDriver, opts: { now: Date; days?: number; limit?: number }): Promise<BucketSummary[]> {
  const rows = await db.query<RawBucket>(`${SUMMARY_SQL} ORDER BY hosts DESC, b.count DESC, b.last_seen DESC LIMIT $1`, [opts.limit ?? 200]);
  const t = await trends(db, rows.map((r) => r.bucket as string), opts.now, opts.days ?? 30);
  return rows.map((r) => bucketSummary(r, t.get(r.bucket as string)!));
}

export async function bucketDetail(db: SqlDriver, bucket: string, opts: { now: Date; days?: number; crashes?: number }): Promise<BucketDetail | undefined> {
  const [r] = await db.query<RawBucket>(`${SUMMARY_SQL} WHERE b.bucket = $1`, [bucket]);
  if (!r) return undefined;
  const t = await trends(db, [bucket], opts.now, opts.days ?? 30);
  const hosts = await db.query<RawBucket>('SELECT host, count, first_seen, last_seen FROM bucket_hosts WHERE bucket = $1 ORDER BY count DESC, last_seen DESC', [bucket]);
  const kernels = await db.query<RawBucket>('SELECT release, count, first_seen, last_seen FROM bucket_kernels WHERE bucket = $1 ORDER BY count DESC, last_seen DESC', [bucket]);
  const crashes = await db.query<RawCrash>('SELECT * FROM crashes WHERE bucket = $1 ORDER BY received DESC LIMIT $2', [bucket, opts.crashes ?? 100]);
  return {
    ...bucketSummary(r, t.get(bucket)!),
    hostList: hosts.map((h) => ({ host: h.host as string, count: Number(h.count), firstSeen: h.first_seen as string, lastSeen: h.last_seen as string })),
    kernelList: kernels.map((k) => ({ release: k.release as string, count: Number(k.count), firstSeen: k.first_seen as string, lastSeen: k.last_seen as string })),
    crashes: crashes.map(crashRow).map((c) => ({ id: c.id, host: c.host, release: c.release, received: c.received, dumpState: c.dumpState, dumpKind: c.dumpKind, dumpSize: c.dumpSize })),
  };
}

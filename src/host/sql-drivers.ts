// Node edge: the collector's index drivers (src/collect/index-db.ts SqlDriver). SQLite through
// node-sqlite3-wasm (SQLite compiled to WebAssembly: no native build, one file on disk) for one
// machine; PostgreSQL through `pg` when several collector processes share one index. pg is bundled;
// node-sqlite3-wasm is loaded from node_modules at run time (it reads its .wasm file beside it).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import pg from 'pg';
import { OutputError, UsageError } from '../errors.ts';
import type { SqlDriver, SqlValue } from '../collect/index-db.ts';

const require = createRequire(import.meta.url);

/** One connection, one statement at a time: a transaction holds the lock until it ends. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

interface WasmDatabase {
  all(sql: string, values?: SqlValue[]): Record<string, unknown>[];
  exec(sql: string): void;
  close(): void;
}

/** $1 → ?1: SQLite's numbered parameters. */
const sqliteParams = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

export function openSqlite(path: string): SqlDriver {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: WasmDatabase;
  try {
    const { Database } = require('node-sqlite3-wasm') as { Database: new (p: string) => WasmDatabase };
    db = new Database(path);
    db.exec('PRAGMA busy_timeout = 10000');
    db.exec('PRAGMA foreign_keys = ON');
  } catch (e) {
    throw new OutputError(`${path}: cannot open the SQLite index: ${(e as Error).message}`, { path });
  }
  const lock = new Mutex();
  const q = async <T>(sql: string, params: readonly SqlValue[] = []) => {
    try {
      return db.all(sqliteParams(sql), [...params]) as T[];
    } catch (e) {
      throw new OutputError(`${path}: ${(e as Error).message}`, { path });
    }
  };
  const inTx: SqlDriver = {
    dialect: 'sqlite',
    where: path,
    query: q,
    transaction: (fn) => fn(inTx),
    close: async () => undefined,
  };
  return {
    dialect: 'sqlite',
    where: path,
    query: (sql, params) => lock.run(() => q(sql, params)),
    transaction: (fn) =>
      lock.run(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const r = await fn(inTx);
          db.exec('COMMIT');
          return r;
        } catch (e) {
          db.exec('ROLLBACK');
          throw e;
        }
      }),
    close: () => lock.run(async () => db.close()),
  };
}

interface PgClient {
  query(sql: string, params?: SqlValue[]): Promise<{ rows: Record<string, unknown>[] }>;
  release(): void;
}
interface PgPool {
  query(sql: string, params?: SqlValue[]): Promise<{ rows: Record<string, unknown>[] }>;
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', fn: (e: Error) => void): void;
}

/** A postgres:// URL without its password, for messages. */
export const redactUrl = (url: string) => url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1:***@');

export function openPostgres(url: string): SqlDriver {
  const Pool = pg.Pool as unknown as new (o: object) => PgPool;
  const where = redactUrl(url);
  const pool = new Pool({ connectionString: url, max: 8 });
  pool.on('error', () => undefined); // an idle client's error: the next query reports it
  const wrap = (e: unknown) => {
    const err = e as Error & { code?: string };
    const hint = err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'is the PostgreSQL server running, and is the URL right?' : undefined;
    return new OutputError(`${where}: ${err.message}`, { path: where, hint });
  };
  const driverOn = (run: (sql: string, p: SqlValue[]) => Promise<{ rows: Record<string, unknown>[] }>): SqlDriver['query'] => async <T>(sql: string, params: readonly SqlValue[] = []) => {
    try {
      return (await run(sql, [...params])).rows as T[];
    } catch (e) {
      throw wrap(e);
    }
  };
  return {
    dialect: 'postgres',
    where,
    query: driverOn((s, p) => pool.query(s, p)),
    async transaction(fn) {
      let client: PgClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw wrap(e);
      }
      const tx: SqlDriver = { dialect: 'postgres', where, query: driverOn((s, p) => client.query(s, p)), transaction: (f) => f(tx), close: async () => undefined };
      try {
        await client.query('BEGIN');
        const r = await fn(tx);
        await client.query('COMMIT');
        return r;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e instanceof OutputError ? e : e instanceof Error && 'severity' in e ? wrap(e) : e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** `--db sqlite:PATH | PATH | postgres://…`. */
export function openIndex(spec: string): SqlDriver {
  if (/^postgres(ql)?:\/\//.test(spec)) return openPostgres(spec);
  const path = spec.startsWith('sqlite:') ? spec.slice('sqlite:'.length) : spec;
  if (path === '' || /^\w+:\/\//.test(path)) throw new UsageError(`--db ${spec}: give a SQLite file (sqlite:PATH or a path) or postgres://USER@HOST/DB`);
  return openSqlite(path);
}

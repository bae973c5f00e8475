// Node edge: `vmcore-ts collect import DIR`: existing crash directories (kdump-tools, kdumpctl, ours:
// src/collect/import-layout.ts) into the collector's index and blob store, each dump opened to
// compute its signature. A directory already imported (same path) is skipped, so import can run
// again over a growing /var/crash. The host: --host, else kdumpctl's address, else the dump's node
// name, else this machine's (a /var/crash holds its own machine's crashes).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { addDumpFile, completeDump, crashBySource, recordCrash, type SqlDriver } from '../collect/index-db.ts';
import { crashesIn, type FoundCrash } from '../collect/import-layout.ts';
import { DEFAULT_POLICY } from '../collect/policy.ts';
import { HOST_NAME, lastLines, type BlobStore } from '../collect/protocol.ts';
import { parseManifest } from '../dump/chunked.ts';
import { openKernelDump } from '../analyze/open-kernel-dump.ts';
import { buildSummary } from '../analyze/summary.ts';
import { ConcatSource } from '../io/concat-source.ts';
import type { ByteSource } from '../io/source.ts';
import { FileSource } from './file-source.ts';
import { nodePageDecoders } from './node-codecs.ts';

export const IMPORT_LOG_LINES = 50;

export interface ImportResult {
  found: FoundCrash;
  path: string;
  /** imported: a new crash id; skipped: imported before (its id) or why not. */
  outcome: 'imported' | 'skipped' | 'failed';
  id?: string;
  bucket?: string;
  host?: string;
  why?: string;
}

/** Every crash directory under `root` (itself and its subdirectories, two levels deep). */
export function findCrashes(root: string): FoundCrash[] {
  const out: FoundCrash[] = [];
  const walk = (rel: string, depth: number) => {
    const abs = join(root, rel);
    const entries = readdirSync(abs, { withFileTypes: true });
    out.push(...crashesIn(rel, entries.filter((e) => e.isFile()).map((e) => e.name).sort()));
    if (depth < 2) for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) walk(rel ? `${rel}/${e.name}` : e.name, depth + 1);
  };
  walk('', 0);
  return out;
}

/** A file's SHA-256, read 4 MiB at a time (a whole dump is never held in memory). */
function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export async function importCrashes(db: SqlDriver, blobs: BlobStore, root: string, opts: { host?: string } = {}): Promise<ImportResult[]> {
  const results: ImportResult[] = [];
  for (const found of findCrashes(root)) {
    const dir = resolve(root, found.dir);
    const path = join(dir, found.dump);
    const done = await crashBySource(db, path);
    if (done) {
      results.push({ found, path, outcome: 'skipped', id: done.id, bucket: done.bucket, host: done.host, why: 'imported before' });
      continue;
    }
    const sources: FileSource[] = [];
    try {
      let src: ByteSource;
      let files: { file: string; path: string }[];
      let size: number;
      if (found.layout === 'chunked') {
        const m = parseManifest(readFileSync(path, 'utf8'), path);
        if (m.encryption) throw new Error('the dump is encrypted: import needs it plain');
        for (const c of m.chunks) {
          const st = statSync(join(dir, c.file), { throwIfNoEntry: false });
          if (!st || st.size !== c.size) throw new Error(`chunk ${c.file} is ${st ? `${st.size} bytes, the manifest says ${c.size}` : 'missing'}`);
        }
        sources.push(...m.chunks.map((c) => new FileSource(join(dir, c.file))));
        src = new ConcatSource(sources, path);
        files = [...m.chunks.map((c) => ({ file: c.file, path: join(dir, c.file) })), { file: found.dump, path }];
        size = m.size;
      } else {
        const f = new FileSource(path);
        sources.push(f);
        src = f;
        files = [{ file: 'vmcore', path }];
        size = f.size;
      }
      const kd = openKernelDump(src, { decoders: nodePageDecoders });
      const s = buildSummary(kd, IMPORT_LOG_LINES);
      const log = found.dmesg ? lastLines(readFileSync(join(dir, found.dmesg), 'utf8'), IMPORT_LOG_LINES) : s.lastLog.join('\n') + '\n';
      const nodename = s.system.nodename && HOST_NAME.test(s.system.nodename) ? s.system.nodename : undefined;
      const host = opts.host ?? (found.host && HOST_NAME.test(found.host) ? found.host : undefined) ?? nodename ?? (HOST_NAME.test(hostname()) ? hostname() : 'unknown');
      const time = found.time ?? statSync(path).mtime.toISOString();
      const id = randomBytes(12).toString('hex');
      // Blobs first: a crash row never points at blobs that are not there.
      await blobs.put(`crashes/${id}/log.txt`, new TextEncoder().encode(log));
      for (const f of files) await blobs.putFile(`crashes/${id}/dump/${f.file}`, f.path);
      const r = await recordCrash(db, { id, report: { host, signature: s.signature, log, time }, received: new Date().toISOString(), policy: DEFAULT_POLICY, random: 0, source: path, withDump: true });
      for (const f of files) await addDumpFile(db, id, { file: f.file, size: statSync(f.path).size, sha256: sha256File(f.path) });
      await completeDump(db, id, found.layout === 'chunked' ? 'chunked' : 'file', size);
      results.push({ found, path, outcome: 'imported', id, bucket: r.bucket, host });
    } catch (e) {
      results.push({ found, path, outcome: 'failed', why: e instanceof Error ? e.message : String(e) });
    } finally {
      for (const f of sources) f.close();
    }
  }
  return results;
}

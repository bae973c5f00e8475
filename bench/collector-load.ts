// Benchmark (issue 14): the collector under a fleet's crash reports. A bounded simulation of HOSTS
// hosts (default 10,000), each sending REPORTS signatures (default 2) to `vmcore-ts collect serve`
// (the built CLI, dist/) on 127.0.0.1, CONCURRENCY requests in flight; stops by itself when all are
// answered (or after 10 minutes). Prints reports per second held, latency percentiles, and the bytes
// a fleet uploads with triage (every report + the dumps the collector asks for) against without
// (a dump per crash), for a mix where KNOWN% (default 95) of the crashes are in 40 known buckets.
// Runs against SQLite (one process) and PostgreSQL (one and two processes on one server: the
// requests alternate between them), the latter when the postgresql package is installed.
//
// Usage: node --import tsx bench/collector-load.ts [--hosts N] [--reports N] [--concurrency N]
//        [--known PERCENT] [--dump-mb MB] [--only sqlite|pg|pg2]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/free-port.ts';
import { pgMissing, startPg } from '../test/collect/pg-server.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const HOSTS = arg('hosts', 10_000);
const REPORTS = arg('reports', 2);
const CONCURRENCY = arg('concurrency', 64);
const KNOWN = arg('known', 95) / 100;
// What a dump of a fleet machine weighs at -l -d 31: 66.4 MB is the 2 GiB guest's (BENCHMARKS.md,
// save vs makedumpfile); servers with more memory send more.
const DUMP_MB = arg('dump-mb', 66.4);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const CLI = join(import.meta.dirname, '..', 'dist', 'vmcore-ts.mjs');

// A real log tail: the sysrq crash's last lines as `vmcore-ts triage` sends them (50 lines).
const LOG = Array.from({ length: 50 }, (_, i) => `[  ${(100 + i * 0.01).toFixed(6)}] CPU: 1 PID: 4${i} Comm: bash Not tainted 6.1.0-50-cloud-amd64 #1 Debian 6.1.123-1 RIP: 0010:sysrq_handle_crash+0x16/0x20`).join('\n');
const known = Array.from({ length: 40 }, (_, i) => (0x1000 + i).toString(16).padStart(16, '0'));

/** The bucket of report r of host h: one of the known ones (the first ones most often), or a new one. */
function bucketOf(h: number, r: number, seed: { x: number }): string {
  seed.x = (seed.x * 1103515245 + 12345) >>> 0;
  const u = seed.x / 2 ** 32;
  if (u >= KNOWN) return (0x8000_0000_0000 + h * 16 + r).toString(16).padStart(16, '0');
  return known[Math.min(known.length - 1, Math.floor(-Math.log(1 - u / KNOWN) * 6))]!; // a few buckets hold most crashes
}

async function startServers(dbSpecs: string[], tokens: string, blobs: string): Promise<{ urls: string[]; procs: ChildProcess[] }> {
  const procs: ChildProcess[] = [];
  const urls: string[] = [];
  for (const db of dbSpecs) {
    const port = await freePort();
    const p = spawn(process.execPath, [CLI, 'collect', 'serve', '--listen', '127.0.0.1', '--port', String(port), '--tokens', tokens, '--db', db, '--blobs', blobs, '--max-dumps', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      p.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('listening') || out.includes('http://')) resolve();
      });
      p.on('exit', (c) => reject(new Error(`collect serve exited ${c}: ${out}`)));
      setTimeout(() => reject(new Error(`collect serve did not start: ${out}`)), 30_000);
    });
    urls.push(`http://127.0.0.1:${port}`);
  }
  return { urls, procs };
}

async function load(name: string, dbSpecs: string[], work: string): Promise<void> {
  const tokens = join(work, 'tokens');
  writeFileSync(tokens, Array.from({ length: HOSTS }, (_, h) => `host${h} token-${h}-${'x'.repeat(20)}`).join('\n') + '\n', { mode: 0o600 });
  const blobs = join(work, `blobs-${name}`);
  const { urls, procs } = await startServers(dbSpecs, tokens, blobs);
  const jobs: { h: number; body: string }[] = [];
  const seed = { x: 42 };
  for (let r = 0; r < REPORTS; r++) {
    for (let h = 0; h < HOSTS; h++) {
      const bucket = bucketOf(h, r, seed);
      const signature = { bucket, reason: 'sysrq triggered crash', frames: ['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger'], release: '6.1.0-50-cloud-amd64' };
      jobs.push({ h, body: JSON.stringify({ host: `host${h}`, signature, log: LOG }) });
    }
  }
  const lat: number[] = [];
  let next = 0;
  let dumpsAsked = 0;
  let reportBytes = 0;
  let errors = 0;
  const deadline = Date.now() + 600_000;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length && Date.now() < deadline) {
        const i = next++;
        const j = jobs[i]!;
        const s = performance.now();
        const res = await fetch(`${urls[i % urls.length]}/v1/crashes`, { method: 'POST', headers: { authorization: `Bearer token-${j.h}-${'x'.repeat(20)}`, 'content-type': 'application/json' }, body: j.body });
        const reply = (await res.json()) as { needDump?: boolean };
        lat.push(performance.now() - s);
        if (!res.ok) errors++;
        if (reply.needDump) dumpsAsked++;
        reportBytes += j.body.length;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(0) : p.on('exit', r)))));
  lat.sort((a, b) => a - b);
  const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(1);
  const crashes = lat.length;
  const withTriage = reportBytes + dumpsAsked * DUMP_MB * 1e6;
  const without = crashes * DUMP_MB * 1e6;
  const u = process.cpuUsage(cpu0);
  console.log(
    `| ${name} | ${crashes} (${errors} errors) | ${wall.toFixed(1)} s | **${(crashes / wall).toFixed(0)}/s** | ${pct(0.5)} / ${pct(0.99)} / ${lat.at(-1)!.toFixed(1)} ms | ${dumpsAsked} | ${(withTriage / 1e9).toFixed(2)} GB vs ${(without / 1e9).toFixed(1)} GB (${((100 * withTriage) / without).toFixed(2)} %) | ${((u.user + u.system) / 1e6).toFixed(1)} s |`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'collector-load-'));
try {
  console.log(`${HOSTS} hosts × ${REPORTS} reports, ${CONCURRENCY} in flight, ${KNOWN * 100} % in 40 known buckets, dump ${DUMP_MB} MB; ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| index | reports answered | wall | reports/s | latency p50 / p99 / max | dumps asked | bytes uploaded: triage vs a dump per crash | load generator CPU |');
  console.log('|---|---|---|---|---|---|---|---|');
  if (!only || only === 'sqlite') await load('SQLite, 1 process', [`sqlite:${join(work, 'index.sqlite')}`], work);
  const why = pgMissing();
  if (why && only !== 'sqlite') console.log(`PostgreSQL skipped: ${why}`);
  else if (!only || only.startsWith('pg')) {
    for (const n of only === 'pg' ? [1] : only === 'pg2' ? [2] : [1, 2]) {
      const pg = await startPg();
      try {
        await load(`PostgreSQL, ${n} process${n > 1 ? 'es' : ''}`, Array.from({ length: n }, () => pg.url), work);
      } finally {
        await pg.stop();
      }
    }
  }
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

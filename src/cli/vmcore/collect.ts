// vmcore-ts collect serve|import: the fleet's crash collector (issue 14). `serve` runs the HTTP(S)
// service capture kernels report to (vmcore-ts triage, save --to https://…); `import` ingests
// existing /var/crash directories into the same index and blob store.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.ts';
import { migrate } from '../../collect/index-db.ts';
import { parsePolicy } from '../../collect/policy.ts';
import { parseTokens } from '../../collect/protocol.ts';
import type { BlobStore } from '../../collect/protocol.ts';
import { DirBlobStore } from '../../host/blob-store.ts';
import { S3BlobStore } from '../../host/s3-blob-store.ts';
import { readS3Credentials } from '../../host/s3-store.ts';
import { parseS3Url } from '../../s3-url.ts';
import { importCrashes, type ImportResult } from '../../host/collector-import.ts';
import { startCollector } from '../../host/collector-server.ts';
import { readSecretFile } from '../../host/secret-file.ts';
import { openIndex } from '../../host/sql-drivers.ts';
import { unknownCommand } from '../args.ts';
import type { Command } from './commands.ts';
import { jsonDocument, parseCommand, write } from './kernel-dump-args.ts';

export const DEFAULT_DB = '/var/lib/vmcore-ts/collector/index.sqlite';
export const DEFAULT_BLOBS = '/var/lib/vmcore-ts/collector/blobs';
export const DEFAULT_TOKENS = '/etc/vmcore-ts/collector.tokens';

const SERVE_USAGE =
  'vmcore-ts collect serve [--listen ADDR] [--port N] [--tls-cert PEM --tls-key PEM] [--tokens FILE]\n' +
  '                        [--db sqlite:PATH|postgres://…] [--blobs DIR|s3://BUCKET/PREFIX [S3 OPTIONS]]\n' +
  '                        [--every N] [--sample RATE] [--max-dumps N]\n' +
  '  --listen ADDR      address to listen on (default 127.0.0.1)\n' +
  '  --port N           port (default 8443; 0: any free one, printed)\n' +
  '  --tls-cert/--tls-key  serve HTTPS with this certificate chain and key (without: plain HTTP, for a\n' +
  '                     TLS proxy in front or 127.0.0.1)\n' +
  `  --tokens FILE      "HOST TOKEN" per line, "@viewer NAME TOKEN" for the fleet page; mode 600, owned\n` +
  `                     by root (default ${DEFAULT_TOKENS})\n` +
  `  --db SPEC          the index: a SQLite file (default ${DEFAULT_DB}) or postgres://USER@HOST/DB\n` +
  '                     (several collectors may share one PostgreSQL and one blob store)\n' +
  `  --blobs DIR        logs and dumps (default ${DEFAULT_BLOBS})\n` +
  '  --blobs s3://BUCKET/PREFIX  ...or in S3-compatible object storage, one object per blob, with:\n' +
  '    --s3-credentials FILE  the AWS credentials file (mode 600; required)\n' +
  '    --s3-endpoint URL      any S3 server, http(s)://HOST[:PORT] (default: AWS)\n' +
  '    --s3-region R          (default: the credentials file\'s region, else us-east-1)\n' +
  '  --every N          ask for every Nth crash\'s dump of a known bucket too (default 0: never)\n' +
  '  --sample RATE      ...or this share of them, 0-1 (default 0)\n' +
  '  --max-dumps N      at most N dumps per bucket (default 5; 0: no cap); a new bucket always asks\n' +
  '  --max-chunk-mib N  largest file one upload may carry (default 64; save --chunk-mib below it)';

const IMPORT_USAGE =
  'vmcore-ts collect import [--json] [--db SPEC] [--blobs DIR|s3://BUCKET/PREFIX [--s3-…]] [--host NAME] DIR...\n' +
  '  Ingests crash directories: kdump-tools (YYYYMMDDHHMM/dump.*, dmesg.*), kdumpctl\n' +
  '  (ADDRESS-DATE-TIME/vmcore, vmcore-dmesg.txt) and save --to DIR (NAME.manifest.json + chunks),\n' +
  '  DIR itself or up to two levels below it. Each dump is opened for its signature and stored whole.\n' +
  '  Directories imported before are skipped. Exit 0, or 1 when one could not be imported.\n' +
  '  --host NAME        the crashed host (default: kdumpctl\'s address, else the dump\'s node name,\n' +
  '                     else this machine\'s name)';

const USAGE = 'vmcore-ts collect serve|import [OPTIONS]\n  serve   the collector service (run \'vmcore-ts collect serve --help\')\n  import  ingest /var/crash directories';

/** dist/web/NAME next to the bundle, or in the repo's dist/ when run from the sources; undefined when not built. */
function page(name: string): Uint8Array | undefined {
  for (const c of [new URL(`./web/${name}`, import.meta.url), new URL(`../../../dist/web/${name}`, import.meta.url)]) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return readFileSync(p);
  }
  return undefined;
}

const storage = { db: { type: 'string' }, blobs: { type: 'string' }, 's3-credentials': { type: 'string' }, 's3-endpoint': { type: 'string' }, 's3-region': { type: 'string' } } as const;

/** The blob store --blobs names: a directory, or s3://BUCKET/PREFIX (checked now: the bucket there, the key accepted). */
async function openBlobs(v: Record<string, string | boolean | undefined>): Promise<BlobStore & { close?(): void }> {
  const blobs = (v.blobs as string | undefined) ?? DEFAULT_BLOBS;
  const s3opts = (['s3-credentials', 's3-endpoint', 's3-region'] as const).filter((k) => v[k] !== undefined);
  if (!blobs.startsWith('s3://')) {
    if (s3opts.length) throw new UsageError(`${s3opts.map((k) => `--${k}`).join(', ')}: used only with --blobs s3://BUCKET/PREFIX`);
    return new DirBlobStore(blobs);
  }
  const target = parseS3Url(blobs, '--blobs');
  const creds = v['s3-credentials'] as string | undefined;
  if (creds === undefined) throw new UsageError('--blobs s3://… needs --s3-credentials FILE (the AWS credentials file, mode 600)');
  const store = new S3BlobStore(target, { credentials: readS3Credentials(creds), endpoint: v['s3-endpoint'] as string | undefined, region: v['s3-region'] as string | undefined });
  try {
    await store.check();
  } catch (e) {
    store.close();
    throw e;
  }
  return store;
}

function intOpt(v: string | boolean | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name} ${v}: give a number ${min}-${max}`);
  return Number(v);
}

async function serve(argv: string[]): Promise<number> {
  const a = parseCommand(
    argv,
    {
      ...storage,
      listen: { type: 'string' },
      port: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      tokens: { type: 'string' },
      every: { type: 'string' },
      sample: { type: 'string' },
      'max-dumps': { type: 'string' },
      'max-chunk-mib': { type: 'string' },
    },
    SERVE_USAGE,
    [0, 0],
  );
  if (!a) return 0;
  const v = a.values as Record<string, string | undefined>;
  if ((v['tls-cert'] === undefined) !== (v['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const policy = parsePolicy({ every: v.every, sample: v.sample, maxDumps: v['max-dumps'] });
  const port = intOpt(v.port, '--port', 0, 65535, 8443);
  const maxFileBytes = intOpt(v['max-chunk-mib'], '--max-chunk-mib', 1, 1024, 64) * 2 ** 20 + 4096;
  const tokensPath = v.tokens ?? DEFAULT_TOKENS;
  const tokens = parseTokens(readSecretFile(tokensPath, 'tokens file'), tokensPath);
  const tls = v['tls-cert'] !== undefined ? { cert: readFileSync(v['tls-cert']), key: new TextEncoder().encode(readSecretFile(v['tls-key']!, 'TLS key')) } : undefined;
  const blobs = await openBlobs(v);
  const db = openIndex(v.db ?? DEFAULT_DB);
  await migrate(db);
  const c = await startCollector({
    db,
    blobs,
    tokens,
    policy,
    tls,
    address: v.listen ?? '127.0.0.1',
    port,
    maxFileBytes,
    pages: { fleet: page('fleet.html'), viewer: page('viewer.html') },
    onError: (line) => process.stderr.write(`vmcore-ts collect: ${line}\n`),
  });
  const viewers = [...tokens.values()].filter((p) => p.kind === 'viewer').length;
  write(`vmcore-ts collector listening on ${c.url}\n  index ${db.where}, blobs ${blobs.where}, ${tokens.size - viewers} host tokens, ${viewers} viewer tokens\n  fleet page: ${c.url}/ui/VIEWER-TOKEN/\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void c.close().then(() => db.close()).then(() => blobs.close?.()).then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function importDirs(argv: string[]): Promise<number> {
  const a = parseCommand(argv, { ...storage, host: { type: 'string' } }, IMPORT_USAGE, [1, Infinity]);
  if (!a) return 0;
  const v = a.values as Record<string, string | boolean | undefined>;
  const blobs = await openBlobs(v);
  const db = openIndex((v.db as string | undefined) ?? DEFAULT_DB);
  try {
    await migrate(db);
    const all: ImportResult[] = [];
    for (const dir of a.positionals) {
      all.push(...(await importCrashes(db, blobs, dir, { host: v.host as string | undefined })));
    }
    if (v.json) {
      write(jsonDocument({ results: all.map(({ found, ...r }) => ({ ...r, layout: found.layout })) }) + '\n');
    } else {
      for (const r of all) {
        write(`${r.outcome.padEnd(8)} ${r.path}  (${r.found.layout})${r.bucket ? `  bucket ${r.bucket}` : ''}${r.host ? `  host ${r.host}` : ''}${r.id ? `  id ${r.id}` : ''}${r.why ? `: ${r.why}` : ''}\n`);
      }
      const n = (o: string) => all.filter((r) => r.outcome === o).length;
      write(`${n('imported')} imported, ${n('skipped')} skipped, ${n('failed')} failed${all.length === 0 ? ' (no kdump-tools, kdumpctl or save --to directories found)' : ''}\n`);
    }
    return all.some((r) => r.outcome === 'failed') ? 1 : 0;
  } finally {
    await db.close();
    blobs.close?.();
  }
}

export const collectCommand: Command = {
  summary: 'the fleet collector: serve (triage, dumps, fleet page) and import /var/crash directories',
  run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'serve') return serve(rest);
    if (sub === 'import') return importDirs(rest);
    if (argv.includes('-h') || argv.includes('--help')) {
      process.stdout.write(`usage: ${USAGE}\n`);
      return 0;
    }
    if (sub === undefined) throw new UsageError(`collect needs a subcommand: serve or import; run 'vmcore-ts collect --help'`);
    throw unknownCommand('vmcore-ts collect', sub, ['serve', 'import']);
  },
};

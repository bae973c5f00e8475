// vmcore-ts verify MANIFEST|DIR|s3://BUCKET/PREFIX: checks a chunked dump (save --to) against its
// manifest — every chunk's size and SHA-256, then the whole stream's — and names a bad chunk by its
// byte range. A manifest with `object` (save --to s3://) describes one file whose consecutive
// ranges are the chunks: read from S3 with ranged GETs, or from a downloaded copy beside the manifest.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OutputError, UsageError } from '../../errors.ts';
import { chunkOpener, loadPrivateKey } from '../../host/dump-crypto.ts';
import { writeAllSync } from '../../host/file-sink.ts';
import { OutputFile } from '../../host/output-file.ts';
import { MANIFEST_SUFFIX, parseManifest, verifyChunks, type Manifest } from '../../dump/chunked.ts';
import { damageInDump, type ChunkDamage } from '../../dump/damage.ts';
import { openDump } from '../../format/open-dump.ts';
import { sha256Hasher } from '../../host/chunk-stores.ts';
import { parseCommandLine } from '../args.ts';
import type { Command } from './commands.ts';
import { write } from './kernel-dump-args.ts';

const USAGE =
  'vmcore-ts verify [--json] [--key PRIVATE] [--output FILE [-f]] MANIFEST|DIR\n' +
  '       vmcore-ts verify [--json] [--key PRIVATE] [--output FILE [-f]] [--name NAME] --s3-credentials FILE\n' +
  '                        [--s3-endpoint URL] [--s3-region R] s3://BUCKET/PREFIX\n' +
  '  Checks a dump written with `vmcore-ts save --to`: each chunk\'s size and SHA-256, then the whole\n' +
  '  stream\'s, against NAME.manifest.json (DIR: the one manifest in it; S3: NAME, default vmcore, each\n' +
  '  part read with a ranged GET). Exit 0 when all match, 1 when a chunk is missing or damaged (each\n' +
  '  named with its byte range in the stream and, when the records around it can be followed, the\n' +
  '  page frames whose data or descriptors it held).\n' +
  '  --key PRIVATE   the X25519 private key an encrypted dump (save --encrypt-to) is sealed to: the\n' +
  '                  chunks are opened and the stream\'s SHA-256 checked (without it: the chunks only)\n' +
  '  --output FILE   write the stream (decrypted) to FILE — a flattened dump every command reads';

/** The manifest a path names: the file itself, or the one manifest in a directory. */
function manifestPath(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const found = readdirSync(path).filter((f) => f.endsWith(MANIFEST_SUFFIX));
  if (found.length === 1) return join(path, found[0]!);
  const parts = readdirSync(path).filter((f) => /\.part-\d{5}$/.test(f));
  const hint =
    found.length > 1
      ? `name one: ${found.join(', ')}`
      : parts.length
        ? 'the chunks are there but the manifest, written last, is not: the transfer did not finish — run the same save --to again to resume'
        : 'nothing from save --to is in it';
  throw new OutputError(`${path}: ${found.length ? `${found.length} manifests` : 'no manifest'}`, { path, hint });
}

/** Each chunk's byte range in the one object a manifest with `object` describes. */
function objectRanges(m: Manifest): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let at = 0;
  for (const c of m.chunks) {
    out.set(c.file, [at, at + c.size]);
    at += c.size;
  }
  return out;
}

interface ChunkReader {
  read(file: string): Uint8Array | undefined;
  close(): void;
}

/** Reads chunks from a directory: chunk files, or ranges of the manifest's object (a downloaded S3 dump). */
function dirReader(m: Manifest, dir: string): ChunkReader {
  if (m.object === undefined) {
    return {
      read: (file) => {
        const p = join(dir, file);
        return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
      },
      close() {},
    };
  }
  const p = join(dir, m.object);
  const fd = existsSync(p) ? openSync(p, 'r') : undefined;
  const size = fd === undefined ? 0 : statSync(p).size;
  const ranges = objectRanges(m);
  return {
    read: (file) => {
      const r = ranges.get(file);
      if (fd === undefined || !r || r[0] >= size) return undefined;
      const buf = new Uint8Array(Math.min(r[1], size) - r[0]);
      for (let got = 0; got < buf.length; ) {
        const n = readSync(fd, buf, got, buf.length - got, r[0] + got);
        if (n === 0) return buf.subarray(0, got);
        got += n;
      }
      return buf;
    },
    close: () => fd !== undefined && closeSync(fd),
  };
}

type Values = { json?: boolean; key?: string; output?: string; f?: boolean; name?: string; 's3-credentials'?: string; 's3-endpoint'?: string; 's3-region'?: string };

/** The manifest and chunks of a dump in S3 (the AWS SDK loaded only here). */
async function openS3(arg: string, values: Values): Promise<{ path: string; m: Manifest; reader: ChunkReader; joinHint: string }> {
  if (values['s3-credentials'] === undefined) throw new UsageError('vmcore-ts verify s3://…: give --s3-credentials FILE');
  const { parseS3Url, readS3Credentials, S3Reader } = await import('../../host/s3-store.ts');
  const target = parseS3Url(arg);
  const name = values.name ?? 'vmcore';
  const s3 = new S3Reader(target, { endpoint: values['s3-endpoint'], region: values['s3-region'], credentials: readS3Credentials(values['s3-credentials']) });
  const path = `${s3.where}${name}${MANIFEST_SUFFIX}`;
  const found = s3.manifest(name);
  if (found.text === undefined) {
    s3.close();
    throw new OutputError(`${path}: no manifest`, {
      path,
      hint: found.unfinished
        ? 'an upload was started but the manifest, written after it is completed, is not there: the transfer did not finish — run the same save --to again to resume'
        : `nothing from save --to with --name ${name} is there`,
    });
  }
  const m = parseManifest(found.text, path);
  const ranges = m.object !== undefined ? objectRanges(m) : undefined;
  const reader: ChunkReader = {
    read: (file) => {
      if (!ranges) return s3.range(file);
      const r = ranges.get(file);
      return r ? s3.range(m.object!, r) : undefined;
    },
    close: () => s3.close(),
  };
  const joinHint = m.encryption
    ? ''
    : `  the stream (makedumpfile's flattened format) is the object ${target.prefix}${m.object ?? name + '.part-*'}: vmcore-ts reads it as it is, or verify --output FILE\n`;
  return { path, m, reader, joinHint };
}

export const verifyCommand: Command = {
  summary: 'check a chunked dump (save --to) against its manifest',
  async run(argv) {
    const options = {
      json: { type: 'boolean' },
      key: { type: 'string' },
      output: { type: 'string' },
      f: { type: 'boolean' },
      name: { type: 'string' },
      's3-credentials': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
    } as const;
    const parsed = parseCommandLine(argv, options, { prog: 'vmcore-ts verify', usage: `usage: ${USAGE}`, positionals: [1, 1] });
    if (!parsed) return 0;
    const values = parsed.values as Values;
    const arg = parsed.positionals[0]!;
    let path: string;
    let m: Manifest;
    let reader: ChunkReader;
    let joinHint: string;
    if (arg.startsWith('s3://')) ({ path, m, reader, joinHint } = await openS3(arg, values));
    else {
      if (values.name !== undefined || values['s3-credentials'] !== undefined || values['s3-endpoint'] !== undefined || values['s3-region'] !== undefined) {
        throw new UsageError('vmcore-ts verify: --name and --s3-* go with s3://BUCKET/PREFIX');
      }
      path = manifestPath(arg);
      m = parseManifest(readFileSync(path, 'utf8'), path);
      const dir = dirname(path);
      reader = dirReader(m, dir);
      joinHint = m.encryption
        ? ''
        : m.object !== undefined
          ? `  the stream is makedumpfile's flattened format: ${join(dir, m.object)} (vmcore-ts reads it), or verify --output FILE\n`
          : `  the stream is makedumpfile's flattened format: cat ${join(dir, m.name)}.part-* > ${m.name}.flat (vmcore-ts reads it), or verify --output FILE\n`;
    }
    let v: ReturnType<typeof verifyChunks>;
    let out: OutputFile | undefined;
    let open: ReturnType<typeof chunkOpener> | undefined;
    try {
      if (values.key !== undefined && !m.encryption) throw new UsageError(`${path}: the dump is not encrypted: drop --key`);
      if (values.output !== undefined && m.encryption && values.key === undefined) throw new UsageError(`${path}: the dump is encrypted: --output needs --key PRIVATE`);
      open = values.key !== undefined ? chunkOpener(m, loadPrivateKey(values.key)) : undefined;
      out = values.output !== undefined ? OutputFile.create(values.output, { force: !!values.f }) : undefined;
      const o = out;
      v = verifyChunks(m, (file) => reader.read(file), sha256Hasher, open, o ? (b) => writeAllSync(o.fd, b) : undefined);
    } catch (e) {
      out?.discard();
      reader.close();
      throw e;
    }
    const ok = v.problems.length === 0 && v.streamOk !== false;
    // A damaged or missing chunk is named by the pages it held, when the stream can be followed.
    const damage = new Map<string, ChunkDamage>();
    const bad = v.problems.map((p) => m.chunks.findIndex((c) => c.file === p.file)).filter((i) => i >= 0);
    if (bad.length > 0 && (!m.encryption || open !== undefined)) {
      const plain = (i: number): Uint8Array | undefined => {
        const b = reader.read(m.chunks[i]!.file);
        if (!b || !open) return b;
        try {
          return open(i, b);
        } catch {
          return undefined; // a sealed chunk that does not open is missing as far as its data goes
        }
      };
      for (const d of damageInDump(m, plain, bad, (src) => openDump(src))) damage.set(m.chunks[d.chunk]!.file, d);
    }
    reader.close();
    if (out) {
      if (ok) out.commit();
      else out.discard();
    }
    if (values.json) {
      const stream = v.streamOk === undefined ? 'not checked (encrypted)' : v.streamOk ? 'ok' : 'mismatch';
      const problems = v.problems.map((p) => {
        const d = damage.get(p.file);
        const pages = d?.pages?.map((r) => [`0x${r.startPfn.toString(16)}`, `0x${(r.endPfn - 1n).toString(16)}`]);
        return d ? { ...p, inDump: d.text, ...(pages ? { pages, pageCount: d.pageCount } : {}) } : p;
      });
      write(JSON.stringify({ manifest: path, name: m.name, size: m.size, sha256: m.sha256, chunks: m.chunks.length, encrypted: !!m.encryption, ok, stream, problems }) + '\n');
    } else if (ok) {
      const what = v.streamOk === undefined ? 'every chunk matches (encrypted: give --key to open them and check the stream)' : 'all match';
      write(`${basename(path)}: ${m.chunks.length} chunks, ${m.size} bytes, stream SHA-256 ${m.sha256}: ${what}\n`);
      if (out) write(`  the stream is in ${values.output} (makedumpfile's flattened format: every vmcore-ts command reads it; convert -R rebuilds the plain file)\n`);
      else write(joinHint);
    } else {
      for (const p of v.problems) {
        write(`${p.file}: bytes ${p.start}-${p.end - 1} of the stream: ${p.problem}\n`);
        const d = damage.get(p.file);
        if (d) write(`  in the dump: ${d.text}\n`);
      }
      if (v.problems.length === 0) write(`every chunk matches but the stream's SHA-256 does not: ${m.sha256} expected\n`);
      process.stderr.write(`vmcore-ts verify: ${path}: ${v.problems.length || 1} problem${v.problems.length > 1 ? 's' : ''}; the damaged ranges must not be read as data — save again to the same target to replace them\n`);
    }
    return ok ? 0 : 1;
  },
};

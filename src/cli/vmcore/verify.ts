// vmcore-ts verify MANIFEST|DIR: checks a chunked dump (save --to) against its manifest — every
// chunk's size and SHA-256, then the whole stream's — and names a bad chunk by its byte range.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OutputError, UsageError } from '../../errors.ts';
import { chunkOpener, loadPrivateKey } from '../../host/dump-crypto.ts';
import { writeAllSync } from '../../host/file-sink.ts';
import { OutputFile } from '../../host/output-file.ts';
import { MANIFEST_SUFFIX, parseManifest, verifyChunks } from '../../dump/chunked.ts';
import { sha256Hasher } from '../../host/chunk-stores.ts';
import { parseCommandLine } from '../args.ts';
import type { Command } from './commands.ts';

const USAGE =
  'vmcore-ts verify [--json] [--key PRIVATE] [--output FILE [-f]] MANIFEST|DIR\n' +
  '  Checks a dump written with `vmcore-ts save --to`: each chunk\'s size and SHA-256, then the whole\n' +
  '  stream\'s, against NAME.manifest.json (DIR: the one manifest in it). Exit 0 when all match, 1 when\n' +
  '  a chunk is missing or damaged (each named with its byte range in the stream).\n' +
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

export const verifyCommand: Command = {
  summary: 'check a chunked dump (save --to) against its manifest',
  run(argv) {
    const options = { json: { type: 'boolean' }, key: { type: 'string' }, output: { type: 'string' }, f: { type: 'boolean' } } as const;
    const parsed = parseCommandLine(argv, options, { prog: 'vmcore-ts verify', usage: `usage: ${USAGE}`, positionals: [1, 1] });
    if (!parsed) return 0;
    const values = parsed.values as { json?: boolean; key?: string; output?: string; f?: boolean };
    const path = manifestPath(parsed.positionals[0]!);
    const m = parseManifest(readFileSync(path, 'utf8'), path);
    const dir = dirname(path);
    if (values.key !== undefined && !m.encryption) throw new UsageError(`${path}: the dump is not encrypted: drop --key`);
    if (values.output !== undefined && m.encryption && values.key === undefined) throw new UsageError(`${path}: the dump is encrypted: --output needs --key PRIVATE`);
    const open = values.key !== undefined ? chunkOpener(m, loadPrivateKey(values.key)) : undefined;
    const out = values.output !== undefined ? OutputFile.create(values.output, { force: !!values.f }) : undefined;
    let v: ReturnType<typeof verifyChunks>;
    try {
      v = verifyChunks(
        m,
        (file) => {
          const p = join(dir, file);
          return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
        },
        sha256Hasher,
        open,
        out ? (b) => writeAllSync(out.fd, b) : undefined,
      );
    } catch (e) {
      out?.discard();
      throw e;
    }
    const ok = v.problems.length === 0 && v.streamOk !== false;
    if (out) {
      if (ok) out.commit();
      else out.discard();
    }
    if (parsed.values.json) {
      const stream = v.streamOk === undefined ? 'not checked (encrypted)' : v.streamOk ? 'ok' : 'mismatch';
      process.stdout.write(JSON.stringify({ manifest: path, name: m.name, size: m.size, sha256: m.sha256, chunks: m.chunks.length, encrypted: !!m.encryption, ok, stream, problems: v.problems }) + '\n');
    } else if (ok) {
      const what = v.streamOk === undefined ? 'every chunk matches (encrypted: give --key to open them and check the stream)' : 'all match';
      process.stdout.write(`${basename(path)}: ${m.chunks.length} chunks, ${m.size} bytes, stream SHA-256 ${m.sha256}: ${what}\n`);
      if (out) process.stdout.write(`  the stream is in ${values.output} (makedumpfile's flattened format: every vmcore-ts command reads it; convert -R rebuilds the plain file)\n`);
      else if (!m.encryption) process.stdout.write(`  the stream is makedumpfile's flattened format: cat ${join(dir, m.name)}.part-* > ${m.name}.flat (vmcore-ts reads it), or verify --output FILE\n`);
    } else {
      for (const p of v.problems) process.stdout.write(`${p.file}: bytes ${p.start}-${p.end - 1} of the stream: ${p.problem}\n`);
      if (v.problems.length === 0) process.stdout.write(`every chunk matches but the stream's SHA-256 does not: ${m.sha256} expected\n`);
      process.stderr.write(`vmcore-ts verify: ${path}: ${v.problems.length || 1} problem${v.problems.length > 1 ? 's' : ''}; the damaged ranges must not be read as data — save again to the same target to replace them\n`);
    }
    return ok ? 0 : 1;
  },
};


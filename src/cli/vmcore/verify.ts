// vmcore-ts verify MANIFEST|DIR: checks a chunked dump (save --to) against its manifest — every
// chunk's size and SHA-256, then the whole stream's — and names a bad chunk by its byte range.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OutputError } from '../../errors.ts';
import { MANIFEST_SUFFIX, parseManifest, verifyChunks } from '../../dump/chunked.ts';
import { sha256Hasher } from '../../host/chunk-stores.ts';
import { parseCommandLine } from '../args.ts';
import type { Command } from './commands.ts';

const USAGE =
  'vmcore-ts verify [--json] MANIFEST|DIR\n' +
  '  Checks a dump written with `vmcore-ts save --to`: each chunk\'s size and SHA-256, then the whole\n' +
  '  stream\'s, against NAME.manifest.json (DIR: the one manifest in it). Exit 0 when all match, 1 when\n' +
  '  a chunk is missing or damaged (each named with its byte range in the stream).';

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
    const parsed = parseCommandLine(argv, { json: { type: 'boolean' } } as const, { prog: 'vmcore-ts verify', usage: `usage: ${USAGE}`, positionals: [1, 1] });
    if (!parsed) return 0;
    const path = manifestPath(parsed.positionals[0]!);
    const m = parseManifest(readFileSync(path, 'utf8'), path);
    const dir = dirname(path);
    const v = verifyChunks(
      m,
      (file) => {
        const p = join(dir, file);
        return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
      },
      sha256Hasher,
    );
    const ok = v.problems.length === 0 && v.streamOk;
    if (parsed.values.json) {
      process.stdout.write(JSON.stringify({ manifest: path, name: m.name, size: m.size, sha256: m.sha256, chunks: m.chunks.length, ok, problems: v.problems }) + '\n');
    } else if (ok) {
      process.stdout.write(
        `${basename(path)}: ${m.chunks.length} chunks, ${m.size} bytes, stream SHA-256 ${m.sha256}: all match\n` +
          `  the stream is makedumpfile's flattened format: cat ${join(dir, m.name)}.part-* > ${m.name}.flat (vmcore-ts reads it), or | vmcore-ts convert -R OUT\n`,
      );
    } else {
      for (const p of v.problems) process.stdout.write(`${p.file}: bytes ${p.start}-${p.end - 1} of the stream: ${p.problem}\n`);
      if (v.problems.length === 0) process.stdout.write(`every chunk matches but the stream's SHA-256 does not: ${m.sha256} expected\n`);
      process.stderr.write(`vmcore-ts verify: ${path}: ${v.problems.length || 1} problem${v.problems.length > 1 ? 's' : ''}; the damaged ranges must not be read as data — save again to the same target to replace them\n`);
    }
    return ok ? 0 : 1;
  },
};


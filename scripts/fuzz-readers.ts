// Longer fuzzing runs of the dump readers than the test suite does.
// Usage: node --import tsx scripts/fuzz-readers.ts [--cases N (per input)] [--seed S] [DUMP...]
// Without DUMP arguments it fuzzes the fixture and small dumps our writers make in every format.
// Exits 1 and prints the seeds of failing cases (replay with --seed SEED --cases 1).
import { FileSource } from '../src/host/file-source.ts';
import type { ByteSource } from '../src/io/source.ts';
import { fuzz } from '../test/format-fuzz-lib.ts';
import { fuzzCorpus } from '../test/format-fuzz-corpus.ts';

const args = process.argv.slice(2);
let cases = 20000;
let seed = Date.now() % 1_000_000;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--cases') cases = Number(args[++i]);
  else if (args[i] === '--seed') seed = Number(args[++i]);
  else files.push(args[i]!);
}
const inputs: ByteSource[] = files.length
  ? files.map((f) => new FileSource(f))
  : [new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'), ...(await fuzzCorpus())];
const t0 = Date.now();
const res = fuzz(inputs, cases, seed);
const secs = (Date.now() - t0) / 1000;
console.log(
  `${res.cases} cases (seeds ${seed}..${seed + cases - 1} per input) in ${secs.toFixed(1)} s: ` +
    `${res.opened} still opened, ${res.pagesRead} page reads succeeded, ${res.failures.length} failures`,
);
for (const f of res.failures.slice(0, 20)) console.log(`seed ${f.seed} on ${f.input}: ${f.error.stack}`);
process.exit(res.failures.length ? 1 : 0);

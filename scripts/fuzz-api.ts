// Longer fuzzing runs of the typed API (src/api/) than the test suite does: damaged kernel memory
// and mutated files (test/api-fuzz-lib.ts); every helper must fail only with typed errors.
// Usage: node --import tsx scripts/fuzz-api.ts [--cases N] [--file-cases N] [--seed S] [DUMP]
// Exits 1 and prints the seeds of failing cases (replay with --seed SEED --cases 1).
import { FileSource } from '../src/host/file-source.ts';
import { fuzzApi } from '../test/api-fuzz-lib.ts';

const args = process.argv.slice(2);
let cases = 500;
let fileCases = 100;
let seed = Date.now() % 1_000_000;
let file = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--cases') cases = Number(args[++i]);
  else if (args[i] === '--file-cases') fileCases = Number(args[++i]);
  else if (args[i] === '--seed') seed = Number(args[++i]);
  else file = args[i]!;
}
const t0 = Date.now();
const res = fuzzApi(new FileSource(file), cases, fileCases, seed);
console.log(`${res.cases} cases (seeds from ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${res.failures.length} failures`);
for (const f of res.failures.slice(0, 20)) console.log(`seed ${f.seed}, ${f.step}: ${f.error.stack}`);
process.exit(res.failures.length ? 1 : 0);

// Longer command-level fuzzing runs than the test suite does (test/cli-fuzz.test.ts): every read-only
// vmcore-ts command on mutated kdump-compressed, ELF and flattened dumps, in child processes.
// Usage: npm run fuzz -- [--minutes N] [--seed S] [--parallel P]   |   --replay SEED (one case, verbose)
// Prints the counts per command × format × outcome; exits 1 when any run failed (the failures are in
// test-artifacts/cli-fuzz/ with the mutated dump and the command that reproduces it).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caseFor, COMMANDS, countTable, fuzzCli, prepareInputs } from '../test/cli-fuzz-lib.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const minutes = Number(opt('--minutes') ?? 10);
const parallel = Number(opt('--parallel') ?? 2);
const replay = opt('--replay');
let seed = Number(opt('--seed') ?? Date.now() % 1_000_000);
const inputs = prepareInputs(join(tmpdir(), 'vmcore-ts-cli-fuzz'));
const work = join(tmpdir(), `vmcore-ts-cli-fuzz-${process.pid}`);

if (replay !== undefined) {
  const c = caseFor(inputs, Number(replay));
  console.log(`seed ${replay}: ${c.command}${c.json ? ' --json' : ''} on ${c.input.format} ${COMMANDS[c.command]!.join(' ')}; mutation ${c.mutation.kind}, size ${c.mutation.size}, patches ${JSON.stringify(c.mutation.patches.map(([at, b]) => [at, b.length]))}`);
  const [r] = await fuzzCli(inputs, [Number(replay)], work, 1);
  console.log(`${r!.outcome}${r!.why ? ` (${r!.why})` : ''}: exit ${r!.code}, ${r!.ms} ms, peak RSS ${Math.round(r!.peakRss / 2 ** 20)} MiB\n${r!.stderr}`);
  process.exit(r!.outcome === 'FAIL' ? 1 : 0);
}

const deadline = Date.now() + minutes * 60_000;
const first = seed;
function* seeds() {
  while (Date.now() < deadline) yield seed++;
}
let n = 0;
const results = await fuzzCli(inputs, seeds(), work, parallel, (r) => {
  if (r.outcome === 'FAIL') console.log(`FAIL seed ${r.seed}: ${r.command} on ${r.format}: ${r.why}`);
  // Messages that leak a missing value are not failures, but worth a look.
  else if (/\bundefined\b|\bNaN\b|\[object /.test(r.stderr)) console.log(`odd message, seed ${r.seed}: ${r.command} on ${r.format}: ${r.stderr.trim().slice(0, 300)}`);
  if (++n % 50 === 0) console.log(`${n} runs...`);
});
console.log(`seeds ${first}..${seed - 1}, ${minutes} min, ${parallel} in parallel\n${countTable(results)}`);
process.exit(results.some((r) => r.outcome === 'FAIL') ? 1 : 0);

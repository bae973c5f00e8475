// Command-level mutation fuzzing in the test suite: a seeded sample of every read-only vmcore-ts
// command (--json too) on mutated kdump-compressed, ELF and flattened dumps, through the real CLI
// in child processes (2 at a time). Each run must end as ok, flagged partial, or one clean error
// line; see test/cli-fuzz-lib.ts. Longer runs: npm run fuzz -- --minutes N.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countTable, fuzzCli, prepareInputs } from './cli-fuzz-lib.ts';

const RUNS = Number(process.env.CLI_FUZZ_RUNS ?? 300);
const SEED = 424242;

test(`cli fuzz: ${RUNS} seeded runs of every read-only command on mutated dumps of every format end ok, partial (flagged) or in one clean error line`, async (t) => {
  const t0 = Date.now();
  const inputs = prepareInputs(join(tmpdir(), 'vmcore-ts-cli-fuzz'));
  const results = await fuzzCli(inputs, Array.from({ length: RUNS }, (_, i) => SEED + i), join(tmpdir(), `vmcore-ts-cli-fuzz-${process.pid}`), 2);
  t.diagnostic(`${RUNS} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(countTable(results));
  const failed = results.filter((r) => r.outcome === 'FAIL');
  assert.deepEqual(
    failed.map((r) => `seed ${r.seed}: ${r.command}${r.json ? ' --json' : ''} on ${r.format} (${r.mutation.kind}): ${r.why}: ${r.stderr.slice(0, 300)}`),
    [],
    'reproducers in test-artifacts/cli-fuzz/',
  );
  // Every command ran on every format.
  for (const f of ['kdump', 'elf', 'flattened']) assert.ok(results.some((r) => r.format === f), f);
});

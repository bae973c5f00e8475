// The typed API on damaged dumps: only typed errors escape (test/api-fuzz-lib.ts says how the
// dumps are damaged). Longer runs: node --import tsx scripts/fuzz-api.ts --cases N.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileSource } from '../../src/host/file-source.ts';
import { fuzzApi } from '../api-fuzz-lib.ts';

test('fuzz: 24 damaged-memory and 6 mutated-file cases of the bundled dump: every helper fails only with typed errors', () => {
  const res = fuzzApi(new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'), 24, 6, 500);
  const report = res.failures.slice(0, 5).map((f) => `seed ${f.seed}, ${f.step}: ${f.error.stack}`).join('\n');
  assert.equal(res.failures.length, 0, `${res.failures.length} of ${res.cases} cases failed:\n${report}`);
});

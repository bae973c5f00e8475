// Seeded mutation fuzzing of every reader over real dumps: the fixture, and small dumps our writers
// make in each format. Every failure must be a ParseError or NotInDumpError (never another
// exception, never a hang). Longer runs: node --import tsx scripts/fuzz-readers.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileSource } from '../src/host/file-source.ts';
import type { ByteSource } from '../src/io/source.ts';
import { openDump } from '../src/format/open-dump.ts';
import { fuzz } from './format-fuzz-lib.ts';
import { fuzzCorpus } from './format-fuzz-corpus.ts';

test('fuzz: 2,400 seeded mutations of real and generated dumps give only typed errors', async () => {
  const inputs: ByteSource[] = [new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'), ...(await fuzzCorpus())];
  for (const i of inputs) assert.ok(openDump(i).pagesPresent() > 0n, `${i.name} opens unmutated`);
  const res = fuzz(inputs, Math.floor(2400 / inputs.length), 1000);
  const report = res.failures.slice(0, 5).map((f) => `seed ${f.seed} on ${f.input}: ${f.error.stack}`).join('\n');
  assert.equal(res.failures.length, 0, `${res.failures.length} of ${res.cases} cases failed:\n${report}`);
});


// Chunked dump streams (src/dump/chunked.ts): cutting, resuming, the manifest and its verification,
// on an in-memory store (the directory and SSH stores: test/dump/ssh-target.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkedWriter, parseManifest, verifyChunks } from '../../src/dump/chunked.ts';
import { MemoryStore } from './memory-store.ts';
import { sha256Hasher } from '../../src/host/chunk-stores.ts';
import { ParseError } from '../../src/errors.ts';

const stream = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919) & 0xff);

function save(store: MemoryStore, data = stream) {
  const w = new ChunkedWriter(store, 'dump', 4096, sha256Hasher);
  for (let at = 0; at < data.length; at += 1000) w.write(data.subarray(at, at + 1000));
  return w.end(new Date(0));
}

test('chunked stream: fixed-size chunks, the manifest stored last, sizes and SHA-256s that verify', () => {
  const store = new MemoryStore();
  const r = save(store);
  assert.deepEqual(store.puts, ['dump.part-00000', 'dump.part-00001', 'dump.part-00002', 'dump.manifest.json']);
  assert.deepEqual(r.manifest.chunks.map((c) => c.size), [4096, 4096, 1808]);
  assert.equal(r.manifest.size, stream.length);
  const m = parseManifest(new TextDecoder().decode(store.files.get('dump.manifest.json')), 'dump.manifest.json');
  const v = verifyChunks(m, (f) => store.files.get(f), sha256Hasher);
  assert.deepEqual(v, { problems: [], streamOk: true });
  assert.deepEqual(Buffer.concat(m.chunks.map((c) => store.files.get(c.file)!)), Buffer.from(stream));
});

test('chunked stream resumed after a cut: chunks already stored with the same SHA-256 are not sent again, a changed one is', () => {
  const store = new MemoryStore();
  save(store);
  store.files.delete('dump.manifest.json');
  store.files.delete('dump.part-00002'); // the cut: the last chunk and the manifest never arrived
  store.files.set('dump.part-00001', new Uint8Array(4096)); // and a chunk that differs
  store.puts = [];
  const r = save(store);
  assert.equal(r.kept, 1);
  assert.equal(r.sent, 2);
  assert.deepEqual(store.puts, ['dump.part-00001', 'dump.part-00002', 'dump.manifest.json']);
});

test('chunked stream verification names each missing, short or damaged chunk with its byte range in the stream', () => {
  const store = new MemoryStore();
  const { manifest } = save(store);
  store.files.delete('dump.part-00000');
  store.files.set('dump.part-00001', store.files.get('dump.part-00001')!.subarray(0, 100));
  const bad = store.files.get('dump.part-00002')!.slice();
  bad[5] ^= 1;
  store.files.set('dump.part-00002', bad);
  const v = verifyChunks(manifest, (f) => store.files.get(f), sha256Hasher);
  assert.equal(v.streamOk, false);
  assert.deepEqual(
    v.problems.map((p) => [p.file, p.start, p.end]),
    [
      ['dump.part-00000', 0, 4096],
      ['dump.part-00001', 4096, 8192],
      ['dump.part-00002', 8192, 10000],
    ],
  );
  assert.equal(v.problems[0]!.problem, 'missing');
  assert.equal(v.problems[1]!.problem, '100 bytes, the manifest says 4096');
  assert.match(v.problems[2]!.problem, new RegExp(`^SHA-256 [0-9a-f]{64}, the manifest says ${manifest.chunks[2]!.sha256}$`));
});

test('chunked stream: a manifest that is not one, and a name a shell or path could misread, are refused with the reason', () => {
  assert.throws(() => parseManifest('{"format":"x"}', 'm.json'), (e) => e instanceof ParseError && /m\.json: not a kexec-ts chunked dump 1 manifest/.test(e.message));
  assert.throws(() => parseManifest('not json', 'm.json'), (e) => e instanceof ParseError && /m\.json: not a manifest/.test(e.message));
  assert.throws(() => new ChunkedWriter(new MemoryStore(), '../x', 4096, sha256Hasher), (e) => e instanceof ParseError && /dump name/.test(e.message));
});

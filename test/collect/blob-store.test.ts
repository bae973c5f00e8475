// The collector's directory blob store against the BlobStore contract (test/collect/helpers.ts).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DirBlobStore } from '../../src/host/blob-store.ts';
import { blobStoreContract } from './helpers.ts';

test('directory blob store: whole blobs, ranges, files stored by path, missing keys, escaping keys refused; no temporary file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blob-store-'));
  try {
    await blobStoreContract(new DirBlobStore(dir), 'fixtures/x86_64-debian-6.1/README.md');
    assert.deepEqual(readdirSync(join(dir, 'crashes', 'abc', 'dump')).sort(), ['vmcore', 'vmcore.part-00000']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

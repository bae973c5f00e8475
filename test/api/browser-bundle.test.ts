// The API core (src/api/) runs in the viewer's worker too: bundled for the browser it pulls in no
// Node built-in (esbuild fails on one), and the bundle opens the dump from a plain in-memory source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

test('src/api bundles for the browser without Node built-ins and reads the bundled dump from a buffer source', async () => {
  const out = await build({ entryPoints: ['src/api/index.ts'], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
  const code = out.outputFiles[0]!.text;
  assert.doesNotMatch(code, /from ['"]node:/);
  const api = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  const bytes = new Uint8Array(readFileSync('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'));
  const source = { name: 'vmcore.kdump', size: bytes.length, read: (o: number, n: number) => bytes.subarray(o, o + n) };
  const dump = api.openCrashDump(source);
  assert.equal(dump.object('init_task').member('comm').string(), 'swapper/0');
  assert.equal(api.modules(dump).length, 6);
});

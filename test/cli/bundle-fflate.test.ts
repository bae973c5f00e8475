// The bundles take fflate through scripts/lazy-fflate.mjs (scripts/build.mjs aliases it): fflate is
// evaluated at its first call, not at start-up. The shim must export every name src/ imports from
// fflate, and a bundle must still decode through it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const shim = readFileSync('scripts/lazy-fflate.mjs', 'utf8');
const exported = new Set([...shim.matchAll(/^export (?:const|function) (\w+)/gm)].map((m) => m[1]!));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('scripts/lazy-fflate.mjs exports every name src/ imports from fflate (statically or through import())', () => {
  const used = new Set<string>();
  for (const f of tsFiles('src')) {
    const s = readFileSync(f, 'utf8');
    for (const m of s.matchAll(/import\s*\{([^{}]*)\}\s*from\s*'fflate'|\{([^{}]*)\}\s*=\s*await import\('fflate'\)/g)) {
      for (const name of (m[1] ?? m[2])!.split(',')) if (name.trim()) used.add(name.trim().split(/\s+as\s+/)[0]!.replace(/^type\s+/, ''));
    }
    assert.ok(!/import\s+\*\s+as\s+\w+\s+from\s+'fflate'/.test(s), `${f}: a namespace import of fflate (the shim has only the names it lists)`);
  }
  assert.ok(used.size >= 3, [...used].join(' '));
  for (const name of used) assert.ok(exported.has(name), `fflate's ${name} (imported in src/) is missing from scripts/lazy-fflate.mjs`);
});

test('the bundled library (dist/api.mjs) inflates zlib pages through the lazy fflate: the bundled dump\'s log, as the sources read it', { skip: existsSync('dist/api.mjs') ? false : 'no build' }, async () => {
  const bytes = readFileSync('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump');
  const source = { name: 'vmcore-d31-zlib.kdump', size: bytes.length, read: (o: number, n: number) => bytes.subarray(o, Math.min(bytes.length, o + n)) };
  type Api = typeof import('../../src/api/index.ts');
  const built = (await import(new URL('../../dist/api.mjs', import.meta.url).href)) as Api;
  const sources = await import('../../src/api/index.ts');
  const log = built.openCrashDump(source).printk();
  assert.ok(log.length > 100 && log[0]!.text.startsWith('Linux version 6.1.0'), log[0]?.text);
  assert.deepEqual(log, sources.openCrashDump(source).printk());
});

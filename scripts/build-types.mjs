// The package's type declarations (package.json "exports" types): tsc emits dist/types/ from the
// entry's sources (tsconfig.types.json), then relative imports ending in .ts are rewritten to .js
// so a consumer's TypeScript resolves them to the .d.ts beside them.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const OUT = 'dist/types';
rmSync(OUT, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.types.json'], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-types: tsc failed');
  process.exit(1);
}
function rewrite(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) rewrite(p);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(p, 'utf8');
      const out = text.replace(/((?:from|import)\s*\(?\s*['"])(\.\.?\/[^'"]*)\.ts(['"])/g, '$1$2.js$3');
      if (out !== text) writeFileSync(p, out);
    }
  }
}
rewrite(OUT);

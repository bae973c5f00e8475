#!/usr/bin/env -S node --max-semi-space-size=1 --no-concurrent-recompilation
// Runs the bundled build (dist/, made by 'npm run build' or on install) through its CommonJS
// launcher; in a checkout without a build, runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The CommonJS launcher (bin/vmcore-ts.cjs, the package's bin, skips the ESM loader altogether).
const launcher = new URL('../dist/vmcore-ts.cjs', import.meta.url);
if (existsSync(launcher)) {
  createRequire(import.meta.url)(fileURLToPath(launcher));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/vmcore-ts.ts', import.meta.url).href);
}

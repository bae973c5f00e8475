#!/usr/bin/env -S node --max-semi-space-size=1 --no-concurrent-recompilation
// Runs the bundled build (dist/, made by 'npm run build' or on install); in a checkout without a
// build, runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/kdump-ts.mjs', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/kdump-ts.ts', import.meta.url).href);
}

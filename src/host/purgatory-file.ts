// Finds a built purgatory object (made by scripts/build.mjs into dist/) next to the bundle
// (dist/kexec-ts.mjs) or, when running the sources, in the checkout's dist/.
import { existsSync, readFileSync } from 'node:fs';
import type { KexecArch } from '../kexec/plan.ts';

export const PURGATORY_FILES: Partial<Record<KexecArch, string>> = {
  x86_64: 'purgatory-x86_64.ro',
  arm64: 'purgatory-arm64.o',
};

/** The purgatory object's bytes for `arch` (default x86_64), or undefined when it was not built. */
export function readPurgatoryObject(arch: KexecArch = 'x86_64'): Uint8Array | undefined {
  const file = PURGATORY_FILES[arch];
  if (!file) return undefined;
  const override = process.env[`KEXEC_TS_PURGATORY_${arch.toUpperCase()}`];
  if (override) return readFileSync(override);
  for (const u of [new URL(`./${file}`, import.meta.url), new URL(`../../dist/${file}`, import.meta.url)]) {
    if (existsSync(u)) return readFileSync(u);
  }
  return undefined;
}

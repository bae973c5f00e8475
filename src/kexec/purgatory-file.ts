// Finds the built purgatory object (dist/purgatory-x86_64.ro, made by scripts/build.mjs) next to the
// bundle (dist/kexec-ts.mjs) or, when running the sources, in the checkout's dist/.
import { existsSync, readFileSync } from 'node:fs';

export const PURGATORY_FILE = 'purgatory-x86_64.ro';

export function purgatoryCandidates(): URL[] {
  return [new URL(`./${PURGATORY_FILE}`, import.meta.url), new URL(`../../dist/${PURGATORY_FILE}`, import.meta.url)];
}

/** The purgatory object's bytes, or undefined when it was not built (the loader then says how to build it). */
export function readPurgatoryObject(): Uint8Array | undefined {
  const override = process.env.KEXEC_TS_PURGATORY;
  if (override) return readFileSync(override);
  for (const u of purgatoryCandidates()) if (existsSync(u)) return readFileSync(u);
  return undefined;
}

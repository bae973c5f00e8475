// Where the harness keeps what it downloads and builds between runs (outside the repository).
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** $KEXEC_TS_CACHE, else ~/.cache/kexec-ts. */
export function cacheRoot(): string {
  return process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts');
}

export function cacheDir(...parts: string[]): string {
  const d = join(cacheRoot(), ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

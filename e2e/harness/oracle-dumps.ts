// The dumps issue 17's oracles (drgn, crash) run on: every dump the e2e harness cached under
// $CACHE/vmcore/ (NAME.elf with NAME.json naming its kernel release: 5.10, 6.1, 6.12, 7.x as the
// suites run) and the bundled fixtures/x86_64-debian-6.1 dump, each kept only when the debug vmlinux
// of its exact release is in $CACHE/dbg/RELEASE/vmlinux (harness/kernels.ts getDebugVmlinux puts
// it there: the Debian lifecycle scenarios fetch theirs; `oracleDumpsFetching` fetches the missing
// ones of the cached dumps whose .json names their suite, ~320 MB each, once).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelDump } from '../../src/analyze/kernel-dump.ts';
import { openDump } from '../../src/format/open-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { cacheRoot } from './cache.ts';
import { getDebugVmlinux } from './kernels.ts';
import { REPO } from './initramfs.ts';

export interface OracleDump {
  /** Short name: the cache file's base name, or `fixture-6.1`. */
  name: string;
  vmcore: string;
  vmlinux: string;
  release: string;
}

/** The release a dump's VMCOREINFO names (OSRELEASE), read with our own reader. */
export function dumpRelease(vmcore: string): string {
  const src = new FileSource(vmcore);
  try {
    return new KernelDump(openDump(src)).release;
  } finally {
    src.close();
  }
}

/** Dumps with a matching debug vmlinux, and the ones left out with the reason. */
export function oracleDumps(): { dumps: OracleDump[]; skipped: string[]; missing: { suite: string; release: string }[] } {
  const dumps: OracleDump[] = [];
  const skipped: string[] = [];
  const missing: { suite: string; release: string }[] = [];
  const add = (name: string, vmcore: string, release: string, suite?: string) => {
    const vmlinux = join(cacheRoot(), 'dbg', release, 'vmlinux');
    if (existsSync(vmlinux)) dumps.push({ name, vmcore, vmlinux, release });
    else {
      skipped.push(`${name}: no debug vmlinux for ${release} (${vmlinux})`);
      if (suite) missing.push({ suite, release });
    }
  };
  const dir = join(cacheRoot(), 'vmcore');
  for (const f of existsSync(dir) ? readdirSync(dir).sort() : []) {
    if (!f.endsWith('.json')) continue;
    const meta = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { release?: string; vmcore?: string; suite?: string };
    const vmcore = meta.vmcore && existsSync(meta.vmcore) ? meta.vmcore : join(dir, f.replace(/\.json$/, '.elf'));
    if (!meta.release || !existsSync(vmcore)) continue;
    add(f.replace(/\.json$/, ''), vmcore, meta.release, meta.suite);
  }
  const fixture = join(REPO, 'fixtures', 'x86_64-debian-6.1', 'vmcore-d31-zlib.kdump');
  if (existsSync(fixture)) add('fixture-6.1', fixture, dumpRelease(fixture));
  return { dumps, skipped, missing };
}

/**
 * oracleDumps(), after fetching the debug vmlinux of each cached dump that lacks one (its .json
 * names the suite) when `fetch` is true: with `npm run e2e -- --all` (E2E_SUITES=all, whose
 * bullseye 5.10 and sid 7.x dumps have none otherwise) or E2E_DRGN_FETCH=1. A failed download
 * leaves that dump out, with the reason among `skipped`.
 */
export async function oracleDumpsFetching(fetch: boolean, log: (s: string) => void = () => {}): Promise<{ dumps: OracleDump[]; skipped: string[] }> {
  const first = oracleDumps();
  if (!fetch || first.missing.length === 0) return first;
  const failed: string[] = [];
  const seen = new Set<string>();
  for (const { suite, release } of first.missing) {
    if (seen.has(release)) continue;
    seen.add(release);
    try {
      await getDebugVmlinux(suite, release, log);
    } catch (e) {
      failed.push(`${release}: the -dbg package could not be fetched: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const again = oracleDumps();
  return { dumps: again.dumps, skipped: [...again.skipped, ...failed] };
}

/** Whether the oracle tests fetch missing debug vmlinux files (see oracleDumpsFetching). */
export const fetchVmlinux = () => process.env.E2E_DRGN_FETCH === '1' || (process.env.E2E_SUITES ?? '').trim() === 'all';

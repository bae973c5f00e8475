// Shared by issue 17's oracle tests (e2e/drgn-scripts.test.ts, e2e/crash-commands.test.ts) and
// bench/analysis.mjs: which are opted in, how ours is run, and the normalisations between drgn's
// JSON and ours (each one documented in e2e/oracle/README.md).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMakeRoot } from '../../test/packaging/debian-root.ts';
import { REPO } from './initramfs.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

/** The 8 ported helper scripts (e2e/oracle/drgn/NAME.py and examples/scripts/NAME.ts). */
export const SCRIPTS = ['tasks-by-state', 'mutex-owner', 'slab-usage', 'modules', 'runqueues', 'task-files', 'mounts', 'meminfo'] as const;
export type ScriptName = (typeof SCRIPTS)[number];

export const drgnScript = (name: string) => join(REPO, 'e2e', 'oracle', 'drgn', `${name}.py`);
export const ourScript = (name: string) => join(REPO, 'examples', 'scripts', `${name}.ts`);
export const ported = (name: string) => existsSync(ourScript(name));

/** Why the oracle suites do not run: opt-in with --all (E2E_SUITES=all) or E2E_DRGN=1, and they need root for the chroot. */
export function oracleSkipReason(): string | undefined {
  const on = process.env.E2E_DRGN === '1' || (process.env.E2E_SUITES ?? '').trim() === 'all';
  if (!on) return 'opt-in: npm run e2e -- --all, or E2E_DRGN=1';
  if (process.env.E2E_DRGN === '0') return 'E2E_DRGN=0';
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs an x86_64 Linux host (the sid root)';
  return cannotMakeRoot();
}

/**
 * Our vmcore-ts, as argv: `node bin/vmcore-ts.mjs` (the bundle when built, else the sources), or
 * $VMCORE_TS (a command line, split on spaces) to point the oracles at another build.
 */
export function vmcoreTsArgv(): string[] {
  const v = process.env.VMCORE_TS?.trim();
  return v ? v.split(/\s+/) : [process.execPath, ...NODE_ARGS, join(REPO, 'bin', 'vmcore-ts.mjs')];
}

export interface OurRun {
  stdout: string;
  stderr: string;
  status: number | null;
  seconds: number;
}

/** Runs `vmcore-ts ARGS...` (bounded, default 5 min), timed. */
export function runOurs(args: string[], timeoutMs = 5 * 60_000): OurRun {
  const [cmd, ...pre] = vmcoreTsArgv();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 << 20, cwd: REPO });
  if (r.error) throw new Error(`vmcore-ts ${args.join(' ')}: ${r.error.message}`);
  if (r.signal) throw new Error(`vmcore-ts ${args.join(' ')}: killed by ${r.signal} (time bound ${timeoutMs / 1000} s)`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Our refusal of a dump whose architecture the analysis does not read yet (the format still reads), or undefined. */
export function notOurArch(stderr: string): string | undefined {
  return /analysis reads [\w, ]+ kernels only/.test(stderr) ? stderr.trim().split('\n')[0] : undefined;
}

export class NotOurArch extends Error {}

/** `vmcore-ts run examples/scripts/NAME.ts DUMP ARGS...` and its one JSON value (NotOurArch when ours refuses the architecture). */
export function runOurScript(name: string, vmcore: string, args: string[] = [], flags: string[] = []): { value: unknown; seconds: number } {
  const r = runOurs(['run', ...flags, ourScript(name), vmcore, ...args]);
  const arch = r.status !== 0 ? notOurArch(r.stderr) : undefined;
  if (arch) throw new NotOurArch(arch);
  if (r.status !== 0) throw new Error(`vmcore-ts run ${name}.ts: exit ${r.status}\n${r.stderr.slice(-3000)}`);
  try {
    return { value: JSON.parse(r.stdout), seconds: r.seconds };
  } catch {
    throw new Error(`vmcore-ts run ${name}.ts: not one JSON value:\n${r.stdout.slice(0, 2000)}`);
  }
}

/** meminfo keys the contract marks optional ("?"): ours may leave them out when it cannot derive them. */
export const MEMINFO_OPTIONAL = ['Buffers', 'Cached', 'KReclaimable'];

/**
 * The two JSON values made comparable, object for object. The only normalisation: meminfo's optional
 * keys are compared when both sides give them (a side that leaves one out says it cannot derive it;
 * which ones, and why, is in e2e/oracle/README.md). Inlined frames, user-mode frames and the
 * kallsyms-style frame names are already the drgn script's doing (tasks-by-state.py).
 * Returns [drgn, ours] to deepEqual, and the notes of what was left out.
 */
export function comparable(name: string, drgn: unknown, ours: unknown): { drgn: unknown; ours: unknown; notes: string[] } {
  const notes: string[] = [];
  if (name === 'meminfo' && drgn && ours && typeof drgn === 'object' && typeof ours === 'object') {
    const d = { ...(drgn as Record<string, unknown>) };
    const o = { ...(ours as Record<string, unknown>) };
    for (const k of MEMINFO_OPTIONAL) {
      if (k in d && k in o) continue;
      if (k in d) notes.push(`${k}: drgn ${d[k]}, ours leaves it out`);
      if (k in o) notes.push(`${k}: ours ${o[k]}, drgn leaves it out`);
      delete d[k];
      delete o[k];
    }
    return { drgn: d, ours: o, notes };
  }
  return { drgn, ours, notes };
}

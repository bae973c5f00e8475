// The reference analysis tools on a dump + its debug vmlinux, run from a Debian root (issue 17's
// oracles): drgn (python3-drgn) with a script, and crash with commands. One `ReferenceTools` is a
// fresh copy of the cached root (test/packaging/debian-root.ts) into which dumps and vmlinux files
// are hard-linked (copied across file systems), so deleting the root never reaches the originals;
// open it once per test file and run many tools in it. The newest tools (drgn 0.3.0, crash 9.0.2)
// are sid's: `ReferenceTools.open()` with no arguments opens that root, whose package list and
// order must stay `SID_TOOLS` so it is the cached tarball.
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { debianRootTarball, openDebianRoot, type DebianRoot, type Run } from '../../test/packaging/debian-root.ts';

/** The sid root with the newest reference tools; this exact list (and order) names the cached tarball. */
export const SID_TOOLS = ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools'];

/** A dump and its debug vmlinux, as linked into a root: paths inside the root. */
export interface RootDump {
  name: string;
  vmcore: string;
  vmlinux: string;
}

/** What one tool run printed, and its wall time (the chroot's start included). */
export interface ToolRun extends Run {
  seconds: number;
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** drgn's "missing debugging symbols" warnings (modules without -dbg files) are noise for an oracle. */
export function drgnWarnings(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.trim() && !/^warning: (missing (some )?debugging symbols|\.\.\. missing \d+ more)/.test(l))
    .join('\n');
}

export class ReferenceTools {
  private dumps = new Map<string, RootDump>();
  private scripts = 0;

  readonly root: DebianRoot;
  readonly suite: string;

  private constructor(root: DebianRoot, suite: string) {
    this.root = root;
    this.suite = suite;
  }

  /** A fresh root of `suite` with `packages` (default: sid with SID_TOOLS, the cached one). Built when missing (up to 15 min). */
  static open(suite = 'sid', packages: string[] = SID_TOOLS): ReferenceTools {
    const root = openDebianRoot(debianRootTarball(suite, packages).tarball);
    mkdirSync(join(root.dir, 'dump'));
    mkdirSync(join(root.dir, 'dump', '.scripts'));
    return new ReferenceTools(root, suite);
  }

  /** Links `vmcore` and `vmlinux` into the root under /dump/NAME/ (once per name). */
  addDump(name: string, vmcore: string, vmlinux: string): RootDump {
    const had = this.dumps.get(name);
    if (had) return had;
    if (!/^[\w.+-]+$/.test(name)) throw new Error(`dump name '${name}': letters, digits and ._+- only`);
    const dir = join(this.root.dir, 'dump', name);
    mkdirSync(dir);
    linkOrCopy(vmcore, join(dir, 'vmcore'));
    linkOrCopy(vmlinux, join(dir, 'vmlinux'));
    const d = { name, vmcore: `/dump/${name}/vmcore`, vmlinux: `/dump/${name}/vmlinux` };
    this.dumps.set(name, d);
    return d;
  }

  private timed(argv: string[], timeoutMs: number): ToolRun {
    const t0 = process.hrtime.bigint();
    const r = this.root.run(argv, timeoutMs, { allowFail: true });
    return { ...r, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  }

  /** `drgn -q -c VMCORE -s VMLINUX SCRIPT ARGS...` (the script copied in from the host), bounded (default 5 min). */
  drgn(dump: RootDump, script: string, args: string[] = [], timeoutMs = 5 * 60_000): ToolRun {
    const inRoot = `/dump/.scripts/${++this.scripts}-${basename(script)}`;
    copyFileSync(script, join(this.root.dir, inRoot));
    return this.timed(['drgn', '-q', '-c', dump.vmcore, '-s', dump.vmlinux, inRoot, ...args], timeoutMs);
  }

  /** The one JSON value a drgn script prints; throws with drgn's stderr when it fails or prints something else. */
  drgnJson(dump: RootDump, script: string, args: string[] = [], timeoutMs?: number): { value: unknown; seconds: number } {
    const r = this.drgn(dump, script, args, timeoutMs);
    if (r.status !== 0) throw new Error(`drgn ${basename(script)} on ${dump.name}: exit ${r.status}\n${drgnWarnings(r.stderr).slice(-3000)}`);
    try {
      return { value: JSON.parse(r.stdout), seconds: r.seconds };
    } catch {
      throw new Error(`drgn ${basename(script)} on ${dump.name}: not one JSON value:\n${r.stdout.slice(0, 2000)}`);
    }
  }

  /**
   * `crash -s` on the dump running `commands` (then quit), bounded (default 10 min). Each command's
   * output goes to a file of its own (crash's `>` redirection), so `outputs[i]` is command i's text
   * alone; `run` is crash's own stdout/stderr (start-up errors land there).
   */
  crash(dump: RootDump, commands: string[], timeoutMs = 10 * 60_000): { outputs: string[]; run: ToolRun } {
    const dir = `/dump/.crash-${++this.scripts}`;
    mkdirSync(join(this.root.dir, dir));
    const lines = commands.map((c, i) => `${c} > ${dir}/${i}.out`);
    writeFileSync(join(this.root.dir, dir, 'commands'), [...lines, 'quit'].join('\n') + '\n');
    const run = this.timed(['sh', '-c', `crash -s -i ${dir}/commands ${dump.vmlinux} ${dump.vmcore} </dev/null`], timeoutMs);
    const outputs = commands.map((_, i) => {
      const f = join(this.root.dir, dir, `${i}.out`);
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    });
    return { outputs, run };
  }

  /** crash with `commands` exactly as given (no redirection), e.g. with pipes; output on run.stdout. */
  crashRaw(dump: RootDump, commands: string[], timeoutMs = 10 * 60_000): ToolRun {
    const file = `/dump/.crash-${++this.scripts}.commands`;
    writeFileSync(join(this.root.dir, file), [...commands, 'quit'].join('\n') + '\n');
    return this.timed(['sh', '-c', `crash -s -i ${file} ${dump.vmlinux} ${dump.vmcore} </dev/null`], timeoutMs);
  }

  /** Any command in the root, bounded, timed. */
  run(argv: string[], timeoutMs = 5 * 60_000): ToolRun {
    return this.timed(argv, timeoutMs);
  }

  /** Unmounts /proc and deletes the root (never the linked originals' data: they are other names of it). */
  dispose(): void {
    this.root.dispose();
  }
}

/** Runs `fn` with a fresh reference-tools root, disposed afterwards. */
export function withReferenceTools<T>(fn: (tools: ReferenceTools) => T, suite?: string, packages?: string[]): T {
  const tools = ReferenceTools.open(suite, packages);
  try {
    return fn(tools);
  } finally {
    tools.dispose();
  }
}

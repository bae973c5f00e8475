// Issue 17's analysis benchmarks, ours against crash 9.0.2 and drgn 0.3.0 with the -dbg vmlinux, in
// the same run on the same dumps (every cached dump with its vmlinux: e2e/harness/oracle-dumps.ts),
// the reference tools in the cached sid root (e2e/harness/drgn-tool.ts; chroot start included, a
// few ms):
//   1. session start to prompt: `vmcore-ts shell` with an empty command file when the shell exists,
//      else `vmcore-ts info` as the proxy; crash `-s` running only `quit`; drgn on an empty script;
//   2. bt of every task: ours `vmcore-ts ps --json` then `vmcore-ts bt TASK...` with every task
//      (two processes; `bt --all-tasks` when there is one), crash `foreach bt`, drgn
//      `prog.stack_trace()` of every task (idle ones included) formatted like bt;
//   3. the 8 issue-17 scripts: drgn's e2e/oracle/drgn/NAME.py, ours examples/scripts/NAME.ts when ported.
// Runs interleaved round by round, medians of wall time. Usage (root, for the chroot):
//   node --import tsx bench/analysis.ts [RUNS] [DUMP-NAME...]
import './fleet-env.mjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ReferenceTools, type RootDump } from '../e2e/harness/drgn-tool.ts';
import { drgnScript, notOurArch, ourScript, ported, runOurs, SCRIPTS } from '../e2e/harness/oracle-compare.ts';
import { oracleDumps, type OracleDump } from '../e2e/harness/oracle-dumps.ts';

const args = process.argv.slice(2);
const runs = args[0] && /^\d+$/.test(args[0]) ? Number(args.shift()) : 5;
const only = args;

const tmp = mkdtempSync(join(tmpdir(), 'bench-analysis-'));
const emptyPy = join(tmp, 'empty.py');
writeFileSync(emptyPy, '');
const btAllPy = join(tmp, 'bt-all.py');
writeFileSync(
  btAllPy,
  `from drgn.helpers.linux.pid import for_each_task
n = 0
for task in for_each_task(prog, idle=True):
    print(f"PID: {task.pid.value_()}  TASK: {task.value_():x}  COMMAND: {task.comm.string_().decode()!r}")
    try:
        trace = prog.stack_trace(task)
    except Exception as e:
        print("  ", e)
        continue
    for i, f in enumerate(trace):
        print(f" #{i} {f.name} at {f.pc:x}")
        n += 1
print("frames", n)
`,
);
const emptyCommands = join(tmp, 'empty.commands');
writeFileSync(emptyCommands, 'quit\n');

const hasShell = runOurs(['shell', '--help']).status === 0;
const btHelp = runOurs(['bt', '--help']).stdout;
const allTasksFlag = /--all-tasks/.test(btHelp) ? '--all-tasks' : undefined;

interface Sample {
  name: string;
  run: () => number; // wall seconds
  walls: number[];
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

function oursTimed(a: string[]): number {
  const r = runOurs(a);
  if (r.status !== 0) throw new Error(`vmcore-ts ${a.join(' ')}: ${r.stderr.trim().split('\n')[0]}`);
  return r.seconds;
}

function oursBtAll(d: OracleDump): number {
  if (allTasksFlag) return oursTimed(['bt', allTasksFlag, d.vmcore]);
  const ps = runOurs(['ps', '--json', d.vmcore]);
  const tasks = (JSON.parse(ps.stdout).tasks as { task: string }[]).map((t) => t.task);
  return ps.seconds + oursTimed(['bt', d.vmcore, ...tasks]);
}

function benchDump(tools: ReferenceTools, d: OracleDump): void {
  const arch = notOurArch(runOurs(['info', d.vmcore]).stderr);
  if (arch) {
    console.log(`${d.name}: skipped (${arch})`);
    return;
  }
  const rd: RootDump = tools.addDump(d.name, d.vmcore, d.vmlinux);
  const crashRun = (cmds: string[]) => () => {
    const r = tools.crashRaw(rd, cmds);
    if (r.status !== 0) throw new Error(`crash: ${r.stderr.slice(-500)}`);
    return r.seconds;
  };
  const drgnRun = (script: string) => () => {
    const r = tools.drgn(rd, script);
    if (r.status !== 0) throw new Error(`drgn ${script}: ${r.stderr.slice(-500)}`);
    return r.seconds;
  };
  const groups: { title: string; samples: Sample[] }[] = [
    {
      title: 'session start',
      samples: [
        { name: hasShell ? 'ours: vmcore-ts shell (empty input)' : 'ours: vmcore-ts info (proxy)', run: () => oursTimed(hasShell ? ['shell', '-i', emptyCommands, d.vmcore] : ['info', d.vmcore]), walls: [] },
        { name: 'crash 9.0.2 (quit)', run: crashRun([]), walls: [] },
        { name: 'drgn 0.3.0 (empty script)', run: drgnRun(emptyPy), walls: [] },
      ],
    },
    {
      title: 'bt of every task',
      samples: [
        { name: allTasksFlag ? `ours: bt ${allTasksFlag}` : 'ours: ps --json + bt TASK...', run: () => oursBtAll(d), walls: [] },
        { name: 'crash 9.0.2: foreach bt', run: crashRun(['foreach bt']), walls: [] },
        { name: 'drgn 0.3.0: stack_trace of every task', run: drgnRun(btAllPy), walls: [] },
      ],
    },
    ...SCRIPTS.map((s) => ({
      title: `script ${s}`,
      samples: [
        ...(ported(s) ? [{ name: `ours: run ${s}.ts`, run: () => oursTimed(['run', ourScript(s), d.vmcore]), walls: [] as number[] }] : []),
        { name: `drgn 0.3.0: ${s}.py`, run: drgnRun(drgnScript(s)), walls: [] as number[] },
      ],
    })),
  ];
  const load0 = loadavg()[0];
  for (let i = 0; i < runs; i++) for (const g of groups) for (const s of g.samples) s.walls.push(s.run());
  const load1 = loadavg()[0];
  console.log(`\n## ${d.name} (${d.release}), ${runs} runs, load average ${load0.toFixed(2)} → ${load1.toFixed(2)}`);
  console.log(`| what | tool | wall (median) | ratio to ours |`);
  console.log(`|---|---|---|---|`);
  for (const g of groups) {
    const ours = g.samples[0].name.startsWith('ours') ? med(g.samples[0].walls) : undefined;
    for (const s of g.samples) {
      const m = med(s.walls);
      const ratio = ours === undefined ? (s.name.startsWith('ours') ? '' : 'not ported yet') : s.name.startsWith('ours') ? '1' : `${(m / ours).toFixed(2)}×`;
      console.log(`| ${g.title} | ${s.name} | ${ms(m)} | ${ratio} |`);
    }
  }
}

console.log(`bench/analysis: ${new Date().toISOString()}; uptime: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
const tools = ReferenceTools.open();
try {
  const { dumps, skipped } = oracleDumps();
  for (const s of skipped) console.log(`skipped ${s}`);
  for (const d of dumps) if (only.length === 0 || only.includes(d.name)) benchDump(tools, d);
} finally {
  tools.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`\nuptime after: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);

// Benchmark: `vmcore-ts summary` (no vmlinux: the dump's kallsyms, ORC tables and log) on the
// fixture dump, built CLI (dist/vmcore-ts.mjs, what users run), against, in the same run on the
// same dump with the matching vmlinux: drgn 0.0.22 (log + task list + the crashed thread's stack)
// and crash 8.0.2 (sys, bt, ps, log). Medians of wall and CPU time, Node start included.
// crash and drgn need the vmlinux: `bash bench/setup.sh` fetches it (and installs drgn); without
// them they are skipped. crash takes seconds per run: it runs CRASH_RUNS times (default 3).
// Usage: node bench/summary.mjs [RUNS]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { FIXTURE, findVmlinux, has, load, measureAll, printTable } from './reference-tools.mjs';

const runs = Number(process.argv[2] ?? 7);
if (!existsSync('dist/vmcore-ts.mjs')) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

const DRGN_SUMMARY = `from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_dmesg
uts = prog['init_uts_ns'].name
print(uts.release.string_().decode(), uts.version.string_().decode())
log = get_dmesg(prog).decode(errors='replace').splitlines()
print('\\n'.join(l for l in log if 'Kernel panic' in l))
print(prog.crashed_thread().stack_trace())
for t in for_each_task(prog):
    print(t.pid.value_(), t.comm.string_().decode())
print('\\n'.join(log[-20:]))
`;

const tmp = mkdtempSync(join(tmpdir(), 'bench-summary-'));
let results;
try {
  const tools = [
    {
      name: 'vmcore-ts summary (no vmlinux)',
      cmd: process.execPath,
      args: ['dist/vmcore-ts.mjs', 'summary', FIXTURE],
      check: (out) => {
        if (!out.includes('sysrq triggered crash') || !out.includes('panic+0x13d')) throw new Error('summary output lacks the panic or the backtrace');
      },
    },
  ];
  const vmlinux = findVmlinux(FIXTURE);
  if (vmlinux && has('drgn')) {
    writeFileSync(join(tmp, 'summary.py'), DRGN_SUMMARY);
    tools.push({ name: 'drgn 0.0.22 (with vmlinux)', cmd: 'drgn', args: ['-q', '-s', vmlinux, '-c', FIXTURE, join(tmp, 'summary.py')] });
  } else if (vmlinux) console.log('drgn: not installed (`bash bench/setup.sh` as root installs python3-drgn), skipped');
  if (vmlinux && has('crash')) {
    tools.push({ name: 'crash 8.0.2 sys, bt, ps, log (vmlinux)', cmd: 'crash', args: ['-s', vmlinux, FIXTURE], input: 'sys\nbt\nps\nlog\nquit\n', runs: Number(process.env.CRASH_RUNS ?? 3) });
  } else if (vmlinux) console.log('crash: not installed (scripts/install-test-deps.sh installs it), skipped');
  console.log(`load average before: ${load()}`);
  results = await measureAll(tools, runs);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(`\n${FIXTURE}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average after: ${load()}`);
printTable(results);
const [ours, ...refs] = results;
for (const r of refs) {
  console.log(`${r.name} / vmcore-ts summary: wall ${(r.wall / ours.wall).toFixed(2)}x, CPU ${(r.cpu / ours.cpu).toFixed(2)}x`);
}
console.log(`goal < 0.3 s: wall ${ours.wall < 300 ? 'met' : 'not met'}, CPU ${ours.cpu < 300 ? 'met' : 'not met'} (on a loaded machine the CPU time is the closer estimate of an idle run)`);

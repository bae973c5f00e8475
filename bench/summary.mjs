// Benchmark: `vmcore-ts summary` (no vmlinux) on the fixture dump, wall time of the built CLI
// (dist/vmcore-ts.mjs, what users run), median of N runs, against the reference numbers recorded
// for drgn and crash on the same dump with the matching 590 MB vmlinux (not installable here).
// Usage: node bench/summary.mjs [RUNS]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const runs = Number(process.argv[2] ?? 7);
if (!existsSync('dist/vmcore-ts.mjs')) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

const check = spawnSync(process.execPath, ['dist/vmcore-ts.mjs', 'summary', DUMP], { encoding: 'utf8' });
if (check.status !== 0) throw new Error(`vmcore-ts summary failed: ${check.stderr}`);
if (!check.stdout.includes('sysrq triggered crash') || !check.stdout.includes('panic+0x13d')) throw new Error('summary output lacks the panic or the backtrace');

// Wall time and CPU time (user+sys) of each run: on a shared 2-core machine the CPU time is the
// steadier number; both include Node's start.
const times = [];
const cpu = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; time '${process.execPath}' dist/vmcore-ts.mjs summary '${DUMP}' >/dev/null`], { encoding: 'utf8' });
  const [real, user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  times.push(real);
  cpu.push(user + sys);
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const median = med(times);

// Recorded on this machine class with vmlinux (issue 6): drgn 0.0.22 log + tasks + stack; crash 8.0.2 sys/bt/ps/log.
const DRGN = 0.45;
const CRASH = 8.7;
console.log(`machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log(`vmcore-ts summary (no vmlinux), ${runs} runs: wall median ${median.toFixed(3)} s (min ${Math.min(...times).toFixed(3)}), CPU median ${med(cpu).toFixed(3)} s (min ${Math.min(...cpu).toFixed(3)}); load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
const ratio = (ref) => `reference / vmcore-ts = ${(ref / median).toFixed(2)} by wall, ${(ref / med(cpu)).toFixed(2)} by CPU time`;
console.log(`drgn 0.0.22 with vmlinux (recorded, not run here): ${DRGN} s; ${ratio(DRGN)}`);
console.log(`crash 8.0.2 with vmlinux (recorded, not run here): ${CRASH} s; ${ratio(CRASH)}`);
console.log(`goal < 0.3 s: wall ${median < 0.3 ? 'met' : 'not met'}, CPU ${med(cpu) < 0.3 ? 'met' : 'not met'} (on a loaded machine the CPU time is the closer estimate of an idle run)`);

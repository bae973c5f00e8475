// Benchmark: `vmcore-ts dmesg` and `vmcore-ts info` (no vmlinux) against, on the same dump in one
// run: makedumpfile --dump-dmesg; crash -s VMLINUX DUMP with `log` and with `sys`; drgn -s VMLINUX
// printing the log (get_dmesg) and an info-like report (utsname, CPUs, memory, crashed task, panic
// line). Wall time, time to the first output line (process start included) and CPU time, medians.
//   node bench/dmesg-info.mjs [DUMP] [RUNS]
// crash and drgn need the dump kernel's vmlinux: for the fixture, `bash bench/setup.sh` fetches it
// (and installs drgn); for another dump pass VMLINUX=path. Without them they are skipped.
// crash takes seconds per run: it runs CRASH_RUNS times (default 3).
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { dmesgSnapshotNode, FIXTURE, findVmlinux, has, load, measureAll, printTable, vmcoreTsNode } from './reference-tools.mjs';

const dump = process.argv[2] ?? FIXTURE;
const runs = Number(process.argv[3] ?? 11);
const crashRuns = Number(process.env.CRASH_RUNS ?? 3);
if (!existsSync('dist/vmcore-ts.cjs')) spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

const DRGN_DMESG = `import sys
from drgn.helpers.linux.printk import get_dmesg
sys.stdout.buffer.write(get_dmesg(prog))
`;
// What drgn can say of crash's \`sys\` / our \`info\` in a few lines of its API.
const DRGN_INFO = `from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.printk import get_dmesg
uts = prog['init_uts_ns'].name
for k in ('release', 'version', 'machine', 'nodename'):
    print(f'{k.upper()}: {getattr(uts, k).string_().decode()}')
print('CPUS:', len(list(for_each_online_cpu(prog))))
print('MEMORY:', prog['_totalram_pages'].counter.value_() * 4096)
tk = prog['tk_core'].timekeeper
print('DATE:', tk.xtime_sec.value_())
print('UPTIME:', (tk.tkr_mono.base.value_() + tk.offs_boot.value_()) // 10**9)
t = prog.crashed_thread()
print('PANIC TASK:', t.tid, t.object.comm.string_().decode())
for line in get_dmesg(prog).decode(errors='replace').splitlines():
    if 'Kernel panic - not syncing' in line:
        print('PANIC:', line.split('] ', 1)[-1])
`;

const tmp = mkdtempSync(join(tmpdir(), 'bench-dmesg-'));
let results;
let ourDmesg;
let snapshotDmesg;
try {
  const vmcoreTs = (cmd) => ({ cmd: process.execPath, args: [...vmcoreTsNode('dist/vmcore-ts.cjs'), cmd, dump] });
  const tools = [
    { name: 'vmcore-ts dmesg', ...vmcoreTs('dmesg'), check: (out) => (ourDmesg = out) },
    { name: 'vmcore-ts dmesg (.deb: snapshot)', cmd: process.execPath, args: [...dmesgSnapshotNode(tmp), 'dmesg', dump], check: (out) => (snapshotDmesg = out) },
    { name: 'vmcore-ts info', ...vmcoreTs('info') },
    { name: 'node (start only, prints a line)', cmd: process.execPath, args: ['-e', 'console.log(1)'] },
  ];
  if (has('makedumpfile')) {
    // makedumpfile writes the log to a file (its first line exists when it is done) and refuses
    // to overwrite one: a new file per run.
    tools.push({ name: 'makedumpfile --dump-dmesg', cmd: 'makedumpfile', args: (i) => ['--dump-dmesg', dump, join(tmp, `dmesg-${i}.txt`)] });
  } else console.log('makedumpfile: not installed, skipped');
  const vmlinux = findVmlinux(dump);
  if (vmlinux && has('crash')) {
    const crash = { cmd: 'crash', args: ['-s', vmlinux, dump], runs: crashRuns };
    tools.push({ name: 'crash log (with vmlinux)', ...crash, input: 'log\nquit\n' });
    tools.push({ name: 'crash sys (with vmlinux)', ...crash, input: 'sys\nquit\n' });
  } else if (vmlinux) console.log('crash: not installed (scripts/install-test-deps.sh installs it), skipped');
  if (vmlinux && has('drgn')) {
    writeFileSync(join(tmp, 'dmesg.py'), DRGN_DMESG);
    writeFileSync(join(tmp, 'info.py'), DRGN_INFO);
    const drgn = (script) => ({ cmd: 'drgn', args: ['-q', '-s', vmlinux, '-c', dump, join(tmp, script)] });
    tools.push({ name: 'drgn get_dmesg (with vmlinux)', ...drgn('dmesg.py') });
    tools.push({ name: 'drgn info script (with vmlinux)', ...drgn('info.py') });
  } else if (vmlinux) console.log('drgn: not installed (`bash bench/setup.sh` as root installs python3-drgn), skipped');

  console.log(`load average before: ${load()}`);
  results = await measureAll(tools, runs);
  if (snapshotDmesg !== ourDmesg) throw new Error('vmcore-ts dmesg from the start-up snapshot printed another log than the bundle');
  if (existsSync(join(tmp, 'dmesg-0.txt'))) {
    console.log(`vmcore-ts dmesg output ${readFileSync(join(tmp, 'dmesg-0.txt'), 'utf8') === ourDmesg ? 'equals' : 'DIFFERS FROM'} makedumpfile --dump-dmesg's`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(`\n${dump}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average after: ${load()}`);
printTable(results);
const get = (prefix) => results.find((r) => r.name.startsWith(prefix));
const ours = { dmesg: get('vmcore-ts dmesg'), 'dmesg (.deb: snapshot)': get('vmcore-ts dmesg (.deb'), info: get('vmcore-ts info') };
console.log('\nratios (reference / vmcore-ts; > 1: vmcore-ts is faster):');
const pairs = [
  ['dmesg', 'makedumpfile --dump-dmesg', undefined],
  ['dmesg', 'drgn get_dmesg', 4],
  ['dmesg (.deb: snapshot)', 'drgn get_dmesg', 4],
  ['dmesg', 'crash log', 50],
  ['info', 'drgn info', 4],
  ['info', 'crash sys', 50],
];
for (const [cmd, prefix, goal] of pairs) {
  const ref = get(prefix);
  if (!ref) continue;
  const w = ref.wall / ours[cmd].wall;
  const f = ref.first / ours[cmd].first;
  const verdict = goal ? `; goal ${goal}x: ${w >= goal ? 'met' : 'not met'}` : '';
  console.log(`  ${`${prefix} / vmcore-ts ${cmd}`.padEnd(44)} wall ${w.toFixed(2)}x, first line ${f.toFixed(2)}x${verdict}`);
}
for (const r of Object.values(ours)) console.log(`goal first line ≤ 80 ms (issue 16), ${r.name}: ${r.first.toFixed(1)} ms, ${r.first <= 80 ? 'met' : 'not met'}`);

// Benchmark: `vmcore-ts summary` (no vmlinux: the dump's kallsyms, ORC tables and log) on the
// fixture dump, built CLI (dist/vmcore-ts.cjs, what users run), against, in the same run on the
// same dump with the matching vmlinux: drgn 0.0.22 (log + task list + the crashed thread's stack)
// and crash 8.0.2 (sys, bt, ps, log). Medians of wall and CPU time, Node start included.
// crash and drgn need the vmlinux: `bash bench/setup.sh` fetches it (and installs drgn); without
// them they are skipped. crash takes seconds per run: it runs CRASH_RUNS times (default 3).
// Usage: node bench/summary.mjs [RUNS]
//        node bench/summary.mjs --arm64 [RUNS]   (issue 15: every cached arm64 dump, no reference
//        tools: QEMU's ELF and flattened kdump-zlib dumps of harness/arm64-dump.ts and the kdump-made
//        ones of harness/arm64-kdump.ts; RUNS default 5, the dumps interleaved round by round)
//        node bench/summary.mjs --kernels [RUNS]   (issue 16: < 0.3 s on every kernel generation: the
//        bundled dump, every x86_64 ELF vmcore the real-kernel harness cached (Debian 5.10, 6.1, 6.12,
//        7.x; bench/make-vmcore.ts makes more) and the arm64 dumps, interleaved, no reference tools)
import './fleet-env.mjs';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { FIXTURE, findVmlinux, has, load, measureAll, printTable, vmcoreTsNode } from './reference-tools.mjs';

const arm64 = process.argv.includes('--arm64');
const kernels = process.argv.includes('--kernels');
const positional = process.argv.slice(2).filter((a) => a !== '--arm64' && a !== '--kernels');
const runs = Number(positional[0] ?? (arm64 || kernels ? 5 : 7));
if (!existsSync('dist/vmcore-ts.cjs')) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });

const vmcoreCache = join(process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts'), 'vmcore');

/** The cached x86_64 ELF vmcores of the real-kernel harness, each with the kernel release its .json names. */
function x86Vmcores() {
  if (!existsSync(vmcoreCache)) return [];
  return readdirSync(vmcoreCache)
    .filter((f) => /^(?!arm64-).*\.elf$/.test(f) && existsSync(join(vmcoreCache, f.replace(/\.elf$/, '.json'))))
    .map((f) => ({ file: join(vmcoreCache, f), release: JSON.parse(readFileSync(join(vmcoreCache, f.replace(/\.elf$/, '.json')), 'utf8')).release ?? '?' }));
}

/** The cached arm64 dumps (the e2e harness's), each checked by its first bytes: ELF, kdump, flattened. */
function arm64Dumps() {
  if (!existsSync(vmcoreCache)) return [];
  const files = [];
  for (const f of readdirSync(vmcoreCache).sort()) {
    if (/^arm64-.*\.(elf|kdump)$/.test(f)) files.push(join(vmcoreCache, f));
    else if (f.startsWith('arm64-kdump-') && existsSync(join(vmcoreCache, f, 'dump.kdump'))) files.push(join(vmcoreCache, f, 'dump.kdump'));
  }
  return files.filter((file) => {
    const head = Buffer.alloc(8);
    const fd = openSync(file, 'r');
    readSync(fd, head, 0, 8, 0);
    closeSync(fd);
    const ok = /^(\x7fELF|KDUMP   |makedump)/.test(head.toString('latin1'));
    if (!ok) console.log(`${file}: not a dump (first bytes ${head.toString('hex')}), skipped`);
    return ok;
  });
}

if (kernels) {
  const short = (f) => f.replace(/^.*\/vmcore\//, '');
  const summaryOf = (name, file, okExit) => ({
    name,
    cmd: process.execPath,
    args: [...vmcoreTsNode('dist/vmcore-ts.cjs'), 'summary', file],
    okExit,
    check: (out) => {
      if (!out.includes('CRASH: Kernel panic') || !/#\d+ \[[0-9a-f]+\] \S+/.test(out)) throw new Error(`${file}: summary lacks the panic or a backtrace frame`);
    },
  });
  const tools = [
    summaryOf(`bundled (6.1.0-56)`, FIXTURE, [0, 3]),
    ...x86Vmcores().map((v) => summaryOf(`${short(v.file)} (${v.release})`, v.file, [0, 3])),
    ...arm64Dumps().map((f) => summaryOf(short(f), f, [0, 3])),
  ];
  if (tools.length === 1) console.log('no cached harness dumps: the real-kernel e2e makes them (bench/make-vmcore.ts SUITE MEM_MIB CPU); only the bundled dump is measured');
  const before = load();
  const results = await measureAll(tools, runs);
  console.log(`\nvmcore-ts summary without vmlinux, every cached kernel generation; ${cpus().length} cores, Node ${process.version}; load average ${before} → ${load()}`);
  printTable(results);
  const slowest = results.reduce((a, b) => (b.wall > a.wall ? b : a));
  console.log(`goal < 0.3 s on every kernel: slowest ${slowest.name} ${slowest.wall.toFixed(0)} ms wall (${slowest.wall < 300 ? 'met' : 'not met'})`);
  process.exit(0);
}

if (arm64) {
  const dumps = arm64Dumps();
  if (dumps.length === 0) {
    console.log('no cached arm64 dumps: E2E_ARM64=1 node scripts/run-tests.mjs e2e/arm64 makes them');
    process.exit(0);
  }
  const short = (f) => f.replace(/^.*\/vmcore\//, '');
  const tools = dumps.map((f) => ({
    name: `${short(f)} (${(statSync(f).size / 2 ** 20).toFixed(0)} MiB)`,
    cmd: process.execPath,
    args: [...vmcoreTsNode('dist/vmcore-ts.cjs'), 'summary', f],
    okExit: [0, 3], // 3: a partial result (bookworm: no vmstat_text without a vmlinux), still a summary
    check: (out) => {
      if (!out.includes('CRASH: Kernel panic') || !out.includes('aarch64') || !/#\d+ \[[0-9a-f]+\] panic\+/.test(out)) throw new Error(`${f}: summary lacks the panic, the machine or the panic frame`);
    },
  }));
  const before = load();
  const results = await measureAll(tools, runs);
  console.log(`\narm64 dumps, vmcore-ts summary without vmlinux; ${cpus().length} cores, Node ${process.version}; load average ${before} → ${load()}`);
  printTable(results);
  const slowest = Math.max(...results.map((r) => r.wall));
  const slowestCpu = Math.max(...results.map((r) => r.cpu));
  console.log(`goal < 0.3 s: slowest dump wall ${slowest.toFixed(0)} ms (${slowest < 300 ? 'met' : 'not met'}), CPU ${slowestCpu.toFixed(0)} ms (${slowestCpu < 300 ? 'met' : 'not met'})`);
  process.exit(0);
}

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
      args: [...vmcoreTsNode('dist/vmcore-ts.cjs'), 'summary', FIXTURE],
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

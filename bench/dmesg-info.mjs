// Benchmark: `vmcore-ts dmesg` and `vmcore-ts info` against `makedumpfile --dump-dmesg` on the same
// dump in one run (and crash / drgn when installed with a vmlinux: pass VMLINUX=path).
// Measures wall time and time to the first output line (Node start included), median of N runs.
//   node bench/dmesg-info.mjs [DUMP] [RUNS]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const dump = process.argv[2] ?? 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const runs = Number(process.argv[3] ?? 7);
if (!existsSync('dist/vmcore-ts.mjs')) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Runs a command; resolves with wall time and time until its first stdout newline, in ms. */
function timeOnce(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first;
    const p = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'] });
    if (input !== undefined) p.stdin.end(input);
    p.stdout.on('data', (b) => {
      if (first === undefined && b.includes(10)) first = process.hrtime.bigint();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const end = process.hrtime.bigint();
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`));
      resolve({ wall: Number(end - t0) / 1e6, first: Number((first ?? end) - t0) / 1e6 });
    });
  });
}

async function measure(name, cmd, args, input) {
  const r = [];
  for (let i = 0; i < runs; i++) r.push(await timeOnce(cmd, typeof args === 'function' ? args(i) : args, input));
  const med = (k) => r.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(r.length / 2)];
  return { name, wall: med('wall'), first: med('first') };
}

const tmp = mkdtempSync(join(tmpdir(), 'bench-dmesg-'));
const results = [];
try {
  results.push(await measure('vmcore-ts dmesg', process.execPath, ['dist/vmcore-ts.mjs', 'dmesg', dump]));
  results.push(await measure('vmcore-ts info', process.execPath, ['dist/vmcore-ts.mjs', 'info', dump]));
  results.push(await measure('node -e 0 (Node start only)', process.execPath, ['-e', 'console.log(1)']));
  if (has('makedumpfile')) {
    // makedumpfile writes the log to a file: its first line exists only when it is done.
    // It refuses to overwrite: a new output file per run.
    results.push(await measure('makedumpfile --dump-dmesg', 'makedumpfile', (i) => ['--dump-dmesg', dump, join(tmp, `dmesg-${i}.txt`)]));
  } else console.log('makedumpfile: not installed, skipped');
  const vmlinux = process.env.VMLINUX;
  if (vmlinux && has('crash')) {
    results.push(await measure('crash (sys; log)', 'crash', ['-s', vmlinux, dump], 'sys\nlog\nquit\n'));
  } else console.log('crash: skipped (needs VMLINUX=path to the matching vmlinux, not available here)');
  if (vmlinux && has('drgn')) {
    results.push(await measure('drgn (log)', 'drgn', ['-s', vmlinux, '-c', dump, '-e', 'from drgn.helpers.linux.printk import get_printk_records; print(len(get_printk_records(prog)))']));
  } else console.log('drgn: skipped (not installed, and needs VMLINUX=path)');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(`\n${dump}, median of ${runs} runs, load average ${loadavg()[0].toFixed(1)}`);
console.log('tool'.padEnd(34), 'wall ms'.padStart(9), 'first line ms'.padStart(14));
for (const r of results) console.log(r.name.padEnd(34), r.wall.toFixed(1).padStart(9), r.first.toFixed(1).padStart(14));
const mdf = results.find((r) => r.name.startsWith('makedumpfile'));
if (mdf) {
  for (const r of results.filter((x) => x.name.startsWith('vmcore-ts'))) {
    console.log(`${r.name} / makedumpfile --dump-dmesg: wall ${(r.wall / mdf.wall).toFixed(2)}x, first line ${(r.first / mdf.first).toFixed(2)}x`);
  }
}

// Benchmark: `kexec-ts -l` vs kexec-tools' `kexec -l` wall time, same kernel and initrd, in the same
// QEMU guest (TCG), both syscalls (kexec_load: -c, kexec_file_load: -s). Each load is followed by an
// unload; the median of RUNS alternating runs is reported. Goal: kexec-ts ≤ 1.2× kexec.
// Usage: node --import tsx bench/kexec-load.ts [RUNS] [SUITE]
import { cpus, totalmem } from 'node:os';
import { runScenario } from '../e2e/harness/scenario.ts';
import { koffiBinaryFiles } from '../e2e/kexec-ts-files.ts';

const runs = Number(process.argv[2] ?? 7);
const suite = process.argv[3] ?? 'bookworm';

// Runs in the guest: times each command with node's clock, prints JSON {name: [ms...]}.
const GUEST_BENCH = `
const { spawnSync } = require('child_process');
const runs = ${runs};
const K = '/scratch/boot/vmlinuz', I = '--initrd=/scratch/boot/initrd.img', C = '--command-line=console=ttyS0 e2e.stage=never';
const cases = {
  'kexec -c -l': ['kexec', ['-c', '-l', K, I, C]],
  'kexec-ts -c -l': ['kexec-ts', ['-c', '-l', K, I, C]],
  'kexec -s -l': ['kexec', ['-s', '-l', K, I, C]],
  'kexec-ts -s -l': ['kexec-ts', ['-s', '-l', K, I, C]],
};
const out = {};
for (let i = 0; i < runs; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(name + ' failed: ' + r.status);
    (out[name] ??= []).push(ms);
    spawnSync('kexec', ['-u'], { stdio: 'ignore' });
    spawnSync('kexec', ['-s', '-u'], { stdio: 'ignore' });
  }
}
console.log(JSON.stringify(out));
`;

const r = await runScenario({
  name: 'bench-kexec-load',
  suite,
  cpu: 'max',
  memoryMiB: 1024,
  files: { 'e2e/bench.js': GUEST_BENCH, ...koffiBinaryFiles() },
  stages: { first: 'mark result "$(node /e2e/bench.js)"\n' },
  expect: ['first:result'],
  timeoutMs: 20 * 60_000,
});
const result = JSON.parse(r.marker('first', 'result').value) as Record<string, number[]>;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`host: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; guest: ${r.kernel.release}, QEMU TCG -cpu max, 1 GiB`);
for (const [name, xs] of Object.entries(result)) console.log(`${name.padEnd(16)} median ${median(xs).toFixed(0).padStart(6)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`);
for (const via of ['-c', '-s']) {
  const ratio = median(result[`kexec-ts ${via} -l`]!) / median(result[`kexec ${via} -l`]!);
  console.log(`kexec-ts ${via} -l / kexec ${via} -l = ${ratio.toFixed(2)}x (goal <= 1.2x)`);
}
r.cleanup();

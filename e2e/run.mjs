// npm run e2e -- [--all | --suites=bookworm,trixie] [--cpus=max,qemu64] [--debian] [--verbose] [--repeat=N] [FILTER...]
// Builds the bundle, then runs the real-kernel scenarios (e2e/*.test.ts) with node's test runner;
// --debian (or --suites=debian) runs only the real Debian system scenarios (opt-in: trixie; bookworm too with --all);
// --repeat=N runs them N times in a row, one line per run (result, wall time), stopping at the first failure.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
const filters = [];
let repeat = 1;
let debian = false;
for (const a of process.argv.slice(2)) {
  if (a === '--all') env.E2E_SUITES = 'all';
  else if (a === '--debian' || a === '--suites=debian') debian = true;
  else if (a.startsWith('--suites=')) env.E2E_SUITES = a.slice(9);
  else if (a.startsWith('--cpus=')) env.E2E_CPUS = a.slice(7);
  else if (a === '--verbose' || a === '-v') env.E2E_VERBOSE = '1';
  else if (a === '--require') env.E2E_REQUIRE = '1';
  else if (a.startsWith('--repeat=')) repeat = Number(a.slice(9));
  else if (a === '-h' || a === '--help') {
    console.log('usage: npm run e2e -- [--all | --suites=S1,S2] [--cpus=max,qemu64] [--debian] [--verbose] [--require] [--repeat=N] [FILTER...]');
    process.exit(0);
  } else filters.push(a);
}
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error(`e2e: --repeat needs a whole number of runs (1 or more), not '${process.argv.find((a) => a.startsWith('--repeat='))}'`);
  process.exit(2);
}
if (debian) {
  env.E2E_DEBIAN = env.E2E_SUITES === 'all' ? 'all' : '1';
  if (filters.length === 0) filters.push('debian-');
}
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
// QEMU, busybox, kexec-tools, makedumpfile, e2fsprogs: installed when missing and root, else named.
spawnSync('bash', ['scripts/install-test-deps.sh'], { stdio: 'inherit', env });
step(process.execPath, ['scripts/build.mjs']);
const paths = filters.length ? filters.map((f) => (f.startsWith('e2e/') ? f : `e2e/${f}`)) : ['e2e/'];
if (repeat === 1) step(process.execPath, ['scripts/run-tests.mjs', ...paths]);
for (let i = 1; repeat > 1 && i <= repeat; i++) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...paths], { stdio: 'inherit', env });
  const line = `e2e run ${i}/${repeat} (suites ${env.E2E_SUITES ?? 'bookworm,trixie'}): ${r.status === 0 ? 'pass' : `FAIL (exit ${r.status ?? r.signal})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`;
  console.log(line);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Runs every *.test.ts under test/, src/ and e2e/ with node's test runner (tsx for TypeScript).
// Usage: node scripts/run-tests.mjs [FILTER...]  — filters are substrings of test file paths.
// e2e/ (real kernels in QEMU) is included; see e2e/README.md for its environment variables.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
// Unit and fixture tests first, then the real-kernel scenarios (e2e/, slow; E2E_SUITES=none skips them).
const files = ['test', 'src', 'e2e']
  .flatMap((d) => find(d).sort())
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// No test may make a real kexec or reboot syscall on this machine: src/host/syscalls.ts refuses to
// construct them with this set (and under node --test's NODE_TEST_CONTEXT); tests pass fakes.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], {
  stdio: 'inherit',
  env: { ...process.env, KEXEC_TS_NO_HOST_SYSCALLS: '1' },
});
process.exit(r.status ?? 1);

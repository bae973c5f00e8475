// Runs every *.test.ts under test/, src/ and e2e/ with node's test runner (tsx for TypeScript).
// Usage: node scripts/run-tests.mjs [FILTER...]  — filters are substrings of test file paths.
// e2e/ (real kernels in QEMU) is included; see e2e/README.md for its environment variables.
//
// Run whole (as npm test), the files go in two test processes at once, one file at a time each
// (node's runner would otherwise run one file at a time on a 2-core machine): the long guests —
// the real Debian systems booted through firmware and the arm64 ones under full emulation, about
// 20 minutes together — in one; the unit and fixture tests (test/, src/) and then the x86_64
// kernel scenarios in the other. A guest under TCG keeps one core busy, so each process has one.
// The long guests' output streams as it comes; the other process's is kept and printed whole when
// it ends. TESTS_SEQUENTIAL=1 runs everything in one process, in order (as before).
import { spawn } from 'node:child_process';
import { chmodSync, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// Every temporary file of the run (os.tmpdir() in the tests and whatever they start) goes into one
// directory, removed when the run ends: a test that forgets its own leaves nothing behind.
// TESTS_KEEP_TMP=1 keeps it (its path is printed).
// Open to every user as /tmp is (sticky, world-writable): some tests run servers as nobody.
const runTmp = mkdtempSync(join(tmpdir(), 'kexec-ts-tests-'));
chmodSync(runTmp, 0o1777);
const env = { ...process.env, KEXEC_TS_NO_HOST_SYSCALLS: '1', TMPDIR: runTmp };
function exit(code) {
  if (process.env.TESTS_KEEP_TMP === '1') console.log(`== the run's temporary files are kept in ${runTmp}`);
  else rmSync(runTmp, { recursive: true, force: true });
  process.exit(code);
}
/** The long guests: real Debian systems (firmware, GRUB/systemd-boot) and arm64 under emulation. */
const longGuest = (f) => /^e2e\/(debian-|arm64-)/.test(f);
const short = files.filter((f) => !longGuest(f));
const long = files.filter(longGuest);
const together = short.length > 0 && long.length > 0 && env.TESTS_SEQUENTIAL !== '1' && env.E2E_SUITES !== 'none';

/** Runs node --test on `list`; output to our stdout (live) or, with `keep`, into a file read at the end. */
function runGroup(list, keep) {
  return new Promise((resolve) => {
    // No concurrent TurboFan (src/node-args.ts): node --test passes it on to each test file's process.
    const args = ['--no-concurrent-recompilation', '--import', 'tsx', '--test', ...list];
    if (!keep) {
      spawn(process.execPath, args, { stdio: 'inherit', env }).on('close', (code) => resolve({ code, out: '' }));
      return;
    }
    // (in the run's directory, removed with it)
    const file = join(runTmp, 'unit-output.txt');
    const sink = createWriteStream(file);
    sink.on('open', () => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', sink, sink], env });
      child.on('close', (code) => {
        const out = readFileSync(file, 'utf8');
        resolve({ code, out });
      });
    });
  });
}

/** The runner's closing counts (`# tests N`, `# pass N`, …) of one group's TAP output. */
const counts = (out) => out.split('\n').filter((l) => /^# (tests|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l)).join(', ');

if (!together) {
  const { code } = await runGroup(files, false);
  exit(code ?? 1);
}
console.log(`== ${long.length} long-guest files (real Debian systems, arm64) run beside ${short.length} others (unit and fixture tests, then the x86_64 kernel scenarios; their output follows when they end)`);
const shortRun = runGroup(short, true).then((r) => {
  process.stdout.write(`\n== unit and fixture tests, x86_64 kernel scenarios\n${r.out}\n== end of unit and fixture tests, x86_64 kernel scenarios: exit ${r.code}\n\n`);
  return r;
});
const longRun = runGroup(long, false);
const [a, b] = await Promise.all([shortRun, longRun]);
console.log(`== unit and fixture tests, x86_64 kernel scenarios: exit ${a.code} (${counts(a.out)})`);
console.log(`== long guests (real Debian systems, arm64): exit ${b.code}`);
exit(a.code === 0 && b.code === 0 ? 0 : 1);

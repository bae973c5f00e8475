// The harness under faults: a hang, a kernel that never reaches /init, a boot that ends like the known
// TCG text-patching oops, a download that fails. Each must end QEMU, name the failed step and leave
// no process behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from './harness/scenario.ts';
import { getKernel } from './harness/kernels.ts';
import { suites } from './harness/host.ts';
import { E2EStepError } from './harness/steps.ts';
import { REPO } from './harness/initramfs.ts';
import { cannotRun, orSkipOnDownload } from './harness/testing.ts';

/** Processes whose command line mentions `needle` (our QEMU runs name their disk image). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

async function expectStepError(p: Promise<unknown>): Promise<E2EStepError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof E2EStepError, `an E2EStepError, got ${String(e)}`);
    return e;
  }
  assert.fail('the scenario should have failed');
}

const suite = suites()[0];

test('e2e faults: a hanging scenario is killed at its timeout, reports the missing marker and the console tail, leaves no QEMU', { skip: !suite && 'E2E_SUITES=none' }, async (t) => {
  if (cannotRun(t)) return;
  await orSkipOnDownload(t, async () => {
    const e = await expectStepError(
      runScenario({ name: 'fault-hang', suite: suite!, stages: { first: 'mark hanging\nsleep 100000\nmark never' }, expect: ['first:never'], timeoutMs: 45_000 }),
    );
    assert.equal(e.step, 'timeout');
    assert.match(e.message, /did not finish within 45 s/);
    assert.match(e.message, /missing marker\(s\): first:never/);
    assert.match(e.message, /last 50 console lines/);
    assert.deepEqual(processesMentioning(join(REPO, 'e2e/out/fault-hang-')), []);
    rmSync(join(REPO, 'e2e/out', `fault-hang-${suite}-max`), { recursive: true, force: true });
  });
});

test('e2e faults: a kernel that never reaches /init fails the "markers" step and says so', { skip: !suite && 'E2E_SUITES=none' }, async (t) => {
  if (cannotRun(t)) return;
  await orSkipOnDownload(t, async () => {
    // rdinit= names no file: the kernel falls back to a root= it does not have and panics (panic=-1 → QEMU exits)
    const e = await expectStepError(
      runScenario({ name: 'fault-noinit', suite: suite!, cmdline: 'rdinit=/nonexistent', stages: { first: 'mark unreachable' }, expect: ['first:boot'], timeoutMs: 3 * 60_000 }),
    );
    assert.equal(e.step, 'markers');
    assert.match(e.message, /the first kernel never reached \/init/);
    assert.match(e.message, /Kernel panic|VFS/);
    assert.deepEqual(processesMentioning(join(REPO, 'e2e/out/fault-noinit-')), []);
    rmSync(join(REPO, 'e2e/out', `fault-noinit-${suite}-max`), { recursive: true, force: true });
  });
});

test('e2e faults: a boot that ends like the known TCG text-patching oops is retried once, and the report says so', { skip: !suite && 'E2E_SUITES=none' }, async (t) => {
  if (cannotRun(t)) return;
  await orSkipOnDownload(t, async () => {
    // The stage prints what the console shows when a kernel dies of it early in boot (a banner, then
    // the oops before any marker of that boot: harness/boot-oops.ts) and powers off: both boots do.
    const oops = [
      '[    0.000000] Linux version 7.2.13+deb14-cloud-amd64 (a kernel starting over, as the console shows it)',
      '[    4.013862] Oops: int3: 0000 [#1] SMP NOPTI',
      '[    4.014190] CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 7.2.13+deb14-cloud-amd64 #1',
      '[    4.015262] RIP: 0010:enqueue_task_fair+0x1e5/0x12a0',
    ];
    const first = `${oops.map((l) => `echo '${l}'`).join('\n')}\nsync\npoweroff -f\nsleep 10`;
    const e = await expectStepError(runScenario({ name: 'fault-oops', suite: suite!, node: false, diskMiB: 128, stages: { first }, expect: ['first:never'], timeoutMs: 3 * 60_000 }));
    assert.equal(e.step, 'markers');
    assert.match(e.message, /missing marker\(s\): first:never/);
    assert.match(e.message, /retried once after the TCG text-patching oops: Oops: int3: 0000 \[#1\] SMP NOPTI at enqueue_task_fair\+0x1e5\/0x12a0/);
    const dir = join(REPO, 'e2e/out', `fault-oops-${suite}-max`);
    assert.ok(existsSync(join(dir, 'console-attempt1.log')), 'the first boot\'s console is kept');
    assert.equal(existsSync(join(dir, 'console-attempt2.log')), false, 'no third boot');
    assert.deepEqual(processesMentioning(join(REPO, 'e2e/out/fault-oops-')), []);
    rmSync(dir, { recursive: true, force: true });
  });
});

test('e2e faults: a suite the mirror does not have fails the "download" step with apt\'s reason', { skip: !suite && 'E2E_SUITES=none' }, async (t) => {
  if (cannotRun(t)) return;
  const e = await expectStepError(getKernel('nosuchsuite'));
  assert.equal(e.step, 'download');
  assert.match(e.message, /apt-get .* update exited with/);
});

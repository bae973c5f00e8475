// node:test glue: skip (with the reason) when the host cannot run real kernels, unless E2E_REQUIRE=1;
// record per-scenario timings in e2e/out/timings.jsonl for BENCHMARKS.md.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { e2eRequired, e2eSkipReason } from './host.ts';
import { REPO } from './initramfs.ts';
import type { ScenarioResult } from './scenario.ts';
import { E2EStepError } from './steps.ts';

/** The test's skip option: a reason string, or false. With E2E_REQUIRE=1 a reason makes the test fail. */
export function skipUnlessCapable(opts: { referenceTools?: boolean } = {}): string | false {
  const why = e2eSkipReason(opts);
  if (!why || e2eRequired()) return false;
  return why;
}

/** Fails (E2E_REQUIRE=1) or returns true after marking the test skipped, for a missing capability. */
export function cannotRun(t: TestContext, opts: { referenceTools?: boolean } = {}): boolean {
  const why = e2eSkipReason(opts);
  if (!why) return false;
  if (e2eRequired()) throw new Error(`E2E_REQUIRE=1 but ${why}`);
  t.skip(why);
  return true;
}

/**
 * Runs `body`; a failed kernel download (no network, mirror down) with nothing cached skips the
 * test unless E2E_REQUIRE=1. Every other failure fails the test with the harness's report.
 */
export async function orSkipOnDownload(t: TestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof E2EStepError && (e.step === 'download' || e.step === 'resolve') && !e2eRequired()) {
      t.skip(`cannot fetch the kernel: ${e.message.split('\n')[0]}`);
      return;
    }
    throw e;
  }
}

export interface TimingRecord {
  scenario: string;
  suite: string;
  release: string;
  cpu: string;
  wallMs: number;
  qemuMs: number;
  markers: { key: string; uptime: number; hostMs: number }[];
  /** boots retried after the known TCG text-patching oops (harness/boot-oops.ts): where it hit, that boot's QEMU time */
  retries?: { oops: string; rip: string; qemuMs: number }[];
  extra?: Record<string, number>;
}

/** What a timing record needs of a run: a ScenarioResult, or a Debian system's boot (harness/debian-guest.ts). */
export type TimedRun = Pick<ScenarioResult, 'cpu' | 'wallMs' | 'qemuMs' | 'markers'> & { kernel: { suite: string; release: string }; retries?: ScenarioResult['retries'] };

export function recordTimings(r: TimedRun, scenario: string, extra?: Record<string, number>): TimingRecord {
  const rec: TimingRecord = {
    scenario,
    suite: r.kernel.suite,
    release: r.kernel.release,
    cpu: r.cpu,
    wallMs: r.wallMs,
    qemuMs: r.qemuMs,
    markers: r.markers.map((m) => ({ key: `${m.stage}:${m.name}`, uptime: m.uptime, hostMs: m.hostMs })),
    ...(r.retries?.length ? { retries: r.retries.map((x) => ({ oops: x.oops, rip: x.rip, qemuMs: x.qemuMs })) } : {}),
    extra,
  };
  if (process.env.E2E_REPLAY) return rec; // a replay's figures are the run's it replays, already recorded
  mkdirSync(join(REPO, 'e2e', 'out'), { recursive: true });
  appendFileSync(join(REPO, 'e2e', 'out', 'timings.jsonl'), JSON.stringify({ at: new Date().toISOString(), ...rec }) + '\n');
  return rec;
}

/** One line per marker: "stage:name  uptime  host-seconds". */
export function timingSummary(r: TimedRun): string {
  const lines = [`wall ${(r.wallMs / 1000).toFixed(1)} s (QEMU ${(r.qemuMs / 1000).toFixed(1)} s) ${r.kernel.release} -cpu ${r.cpu}`];
  for (const x of r.retries ?? []) lines.push(`  retried: the first boot died with the known TCG text-patching oops (${x.oops} at ${x.rip}) after ${(x.qemuMs / 1000).toFixed(1)} s of QEMU; console ${x.console}`);
  for (const m of r.markers) lines.push(`  ${`${m.stage}:${m.name}`.padEnd(28)} uptime ${m.uptime.toFixed(2).padStart(7)} s   host ${(m.hostMs / 1000).toFixed(1).padStart(6)} s`);
  return lines.join('\n');
}

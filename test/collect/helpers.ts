// Shared by the collector tests.
import type { CrashReport } from '../../src/collect/protocol.ts';

/** A crash report of the sysrq crash, bucket and kernel chosen by the test. */
export const report = (host: string, bucket: string, release = '6.1.0-1-amd64', time?: string): CrashReport => ({
  host,
  signature: { bucket, reason: 'sysrq triggered crash', frames: ['sysrq_handle_crash', '__handle_sysrq'], release },
  log: 'Kernel panic - not syncing: sysrq triggered crash\n',
  ...(time ? { time } : {}),
});

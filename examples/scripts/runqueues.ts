// Every possible CPU's run queue: nr_running, the running task's PID, the PIDs queued (CFS tree and RT lists).
//   vmcore-ts run examples/scripts/runqueues.ts DUMP
import { runqueues, type CrashDump, type RunqueueInfo } from 'kexec-ts';

export default function (dump: CrashDump): RunqueueInfo[] {
  return runqueues(dump);
}

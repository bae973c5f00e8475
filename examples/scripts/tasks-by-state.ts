// Tasks counted by state as ps shows it (idle tasks excluded), and every task in D (uninterruptible
// sleep) with its kernel stack, innermost frame first.
//   vmcore-ts run examples/scripts/tasks-by-state.ts DUMP
import { tasksByState, type CrashDump, type TasksByState } from 'kexec-ts';

export default function (dump: CrashDump): TasksByState {
  return tasksByState(dump);
}

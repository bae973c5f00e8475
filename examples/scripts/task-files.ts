// A task's open files by fd with their paths as d_path prints them.
//   vmcore-ts run examples/scripts/task-files.ts DUMP [PID]     (default PID 1)
import { findTask, taskFiles, type CrashDump } from 'kexec-ts';

export default function (dump: CrashDump, args: string[]): { fd: number; path: string }[] {
  const pid = args[0] === undefined ? 1 : Number(args[0]);
  if (!Number.isInteger(pid) || pid < 0) throw new Error(`PID must be a number, got '${args[0]}'`);
  return taskFiles(dump, findTask(dump, pid).task).map(({ fd, path }) => ({ fd, path }));
}

// Loaded modules in list order with their size as /proc/modules prints it.
//   vmcore-ts run examples/scripts/modules.ts DUMP
import { modules, type CrashDump } from 'kexec-ts';

export default function (dump: CrashDump): { name: string; size: number }[] {
  return modules(dump).map(({ name, size }) => ({ name, size }));
}

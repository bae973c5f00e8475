// Who holds these global mutexes: [{mutex, owner: null | {pid, comm}}]; names the kernel lacks are skipped.
//   vmcore-ts run examples/scripts/mutex-owner.ts DUMP [SYMBOL...]
import { DEFAULT_MUTEXES, mutexOwners, type CrashDump, type MutexOwner } from 'kexec-ts';

export default function (dump: CrashDump, args: string[]): MutexOwner[] {
  return mutexOwners(dump, args.length ? args : DEFAULT_MUTEXES);
}

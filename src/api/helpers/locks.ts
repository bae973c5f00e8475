// Locks (drgn.helpers.linux... "who holds this mutex"): a mutex's owner is the task_struct pointer
// in mutex.owner (an atomic_long_t since 4.10) with the low flag bits (MUTEX_FLAG_WAITERS,
// HANDOFF, PICKUP: 0x07) cleared.
import type { CrashDump } from '../dump.ts';
import { KObject } from '../object.ts';

/** The flag bits in the low bits of mutex.owner (kernel/locking/mutex.c MUTEX_FLAGS). */
export const MUTEX_FLAGS = 0x07n;

/** The task holding a mutex, or undefined when it is free. */
export function mutexOwner(mutex: KObject): KObject | undefined {
  // owner is an atomic_long_t (signed): the address is its 64 bits unsigned.
  const owner = BigInt.asUintN(64, mutex.member('owner').bigint()) & ~MUTEX_FLAGS;
  if (owner === 0n) return undefined;
  return new KObject(mutex.ctx, mutex.ctx.btf.get('struct task_struct').id, owner);
}

/** The mutexes checked by default (global mutexes of the core kernel). */
export const DEFAULT_MUTEXES = ['module_mutex', 'cgroup_mutex', 'text_mutex', 'tty_mutex', 'kprobe_mutex', 'system_transition_mutex'];

/** One global mutex and who holds it. */
export interface MutexOwner {
  /** The mutex's symbol name. */
  mutex: string;
  /** The task holding it, or null when it is free. */
  owner: {
    /** The owner's PID. */
    pid: number;
    /** The owner's comm. */
    comm: string;
  } | null;
}

/** The owners of global mutexes by symbol name; names the kernel lacks are skipped. */
export function mutexOwners(dump: CrashDump, names: readonly string[] = DEFAULT_MUTEXES): MutexOwner[] {
  const out: MutexOwner[] = [];
  for (const name of names) {
    if (!dump.hasSymbol(name)) continue;
    const task = mutexOwner(dump.object(name, 'struct mutex'));
    out.push({ mutex: name, owner: task ? { pid: task.member('pid').number(), comm: task.member('comm').string() } : null });
  }
  return out;
}

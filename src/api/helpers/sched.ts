// CPU run queues (drgn.helpers.linux.sched): per-CPU struct rq, the tasks queued on its CFS
// red-black tree (task entities only: a group entity has my_q set) and its RT priority queues.
import type { CrashDump } from '../dump.ts';
import type { KObject } from '../object.ts';
import { listEntries, rbtreeEntries } from './lists.ts';

/** The run queue of a CPU (per-CPU `runqueues`). */
export function runqueue(dump: CrashDump, cpu: number): KObject {
  return dump.perCpu('runqueues', cpu);
}

function isGroupEntity(se: KObject): boolean {
  return se.hasMember('my_q') && !se.member('my_q').isNull();
}

/** The tasks queued on a run queue's CFS tree, leftmost (next to run) first; not the running task. */
export function cfsQueuedTasks(rq: KObject): KObject[] {
  const out: KObject[] = [];
  for (const se of rbtreeEntries(rq.member('cfs.tasks_timeline'), 'struct sched_entity', 'run_node')) {
    if (!isGroupEntity(se)) out.push(se.containerOf('struct task_struct', 'se'));
  }
  return out;
}

/** The tasks queued on a run queue's RT priority lists, highest priority first. */
export function rtQueuedTasks(rq: KObject): KObject[] {
  const out: KObject[] = [];
  const queue = rq.member('rt.active.queue');
  for (let prio = 0; prio < queue.length; prio++) {
    for (const rt of listEntries(queue.index(prio), 'struct sched_rt_entity', 'run_list')) {
      if (!isGroupEntity(rt)) out.push(rt.containerOf('struct task_struct', 'rt'));
    }
  }
  return out;
}

/** One CPU's run queue. */
export interface RunqueueInfo {
  /** The CPU. */
  cpu: number;
  /** rq.nr_running. */
  nrRunning: number;
  /** PID of the task running (rq.curr). */
  curr: number;
  /** PIDs queued on the CFS tree and the RT lists, sorted. */
  queued: number[];
}

/** Every possible CPU's run queue. */
export function runqueues(dump: CrashDump): RunqueueInfo[] {
  return dump.possibleCpus().map((cpu) => {
    const rq = runqueue(dump, cpu);
    const queued = [...cfsQueuedTasks(rq), ...rtQueuedTasks(rq)].map((t) => t.member('pid').number()).sort((a, b) => a - b);
    return { cpu, nrRunning: rq.member('nr_running').number(), curr: rq.member('curr').deref().member('pid').number(), queued };
  });
}

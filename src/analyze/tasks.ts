// The kernel's tasks from a dump: walk init_task.tasks (one entry per thread-group leader) and each
// group's threads (signal->thread_head / thread_node, or the older thread_group list), with every
// offset taken from the kernel's BTF. Every walk is bounded and remembers what it visited, so a
// damaged or looping list stops at the damage and says so.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Btf } from './btf.ts';
import { Gaps, type Completeness } from './completeness.ts';
import { hex } from '../text.ts';
import { readU64, type VirtualMemory } from './virtual-memory.ts';

export interface Task {
  /** Address of the task_struct. */
  task: bigint;
  pid: number;
  tgid: number;
  ppid: number;
  /** CPU the task last ran on (or runs on). */
  cpu: number;
  /** One-letter state as in ps: R S D T t X Z P I. */
  state: string;
  comm: string;
  /** Currently running on its CPU (task_struct.on_cpu). */
  onCpu: boolean;
  /** A per-CPU idle task (swapper/N); not on the task list. */
  idle?: boolean;
  /** thread.sp: where a task that is not running saved its registers. */
  threadSp: bigint;
  /** Bottom of its kernel stack (task_struct.stack). */
  stack: bigint;
}

export interface TaskList {
  tasks: Task[];
  /** Tasks and lists that could not be read (a loop, memory not in the dump): the walk kept the rest. */
  completeness: Completeness;
}

/** Offsets of everything read from task_struct, taken from BTF once. */
export interface TaskLayout {
  size: number;
  tasks: number;
  pid: number;
  tgid: number;
  comm: number;
  realParent: number;
  state: number;
  exitState: number;
  cpu: number | undefined;
  onCpu: number | undefined;
  threadSp: number;
  stack: number;
  signal: number;
  /** signal_struct.thread_head and task_struct.thread_node (3.x .. now), or task_struct.thread_group (older). */
  threadHead: number | undefined;
  threadNode: number | undefined;
  threadGroup: number | undefined;
  /** TASK_* bit for TASK_NOLOAD (state I = TASK_UNINTERRUPTIBLE | TASK_NOLOAD). */
  noload: number;
}

export function taskLayout(btf: Btf): TaskLayout {
  const ts = btf.get('struct task_struct');
  const opt = (p: string) => (btf.hasMember(ts, p) ? btf.offsetOf(ts, p) : undefined);
  const stateOff = opt('__state') ?? opt('state');
  if (stateOff === undefined) throw new ParseError('BTF: task_struct has neither __state nor state');
  const sig = btf.find('struct signal_struct');
  return {
    size: ts.size,
    tasks: btf.offsetOf(ts, 'tasks'),
    pid: btf.offsetOf(ts, 'pid'),
    tgid: btf.offsetOf(ts, 'tgid'),
    comm: btf.offsetOf(ts, 'comm'),
    realParent: btf.offsetOf(ts, 'real_parent'),
    state: stateOff,
    exitState: btf.offsetOf(ts, 'exit_state'),
    cpu: opt('thread_info.cpu') ?? opt('cpu'),
    onCpu: opt('on_cpu'),
    // where a task that is not running saved its stack pointer: x86_64 thread.sp, arm64 thread.cpu_context.sp
    threadSp: opt('thread.sp') ?? btf.offsetOf(ts, 'thread.cpu_context.sp'),
    stack: btf.offsetOf(ts, 'stack'),
    signal: btf.offsetOf(ts, 'signal'),
    threadHead: sig && btf.hasMember(sig, 'thread_head') ? btf.offsetOf(sig, 'thread_head') : undefined,
    threadNode: opt('thread_node'),
    threadGroup: opt('thread_group'),
    noload: 0x400,
  };
}

const MAX_TASKS = 1 << 20;
const STATE_LETTERS = ['S', 'D', 'T', 't', 'X', 'Z', 'P'];

export function stateLetter(state: number, exitState: number, noload: number): string {
  if (state === (2 | noload)) return 'I';
  const v = (state & 0x7f) | exitState;
  if (v === 0) return 'R';
  for (let i = 0; i < STATE_LETTERS.length; i++) if (v & (1 << i)) return STATE_LETTERS[i]!;
  return '?';
}


export class TaskReader {
  readonly layout: TaskLayout;
  private readonly mem: VirtualMemory;
  constructor(mem: VirtualMemory, btf: Btf) {
    this.mem = mem;
    this.layout = taskLayout(btf);
  }

  private dv(addr: bigint, len: number): DataView {
    const b = this.mem.readVirt(addr, len);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  private ptr(addr: bigint): bigint {
    return this.dv(addr, 8).getBigUint64(0, true);
  }

  /** Reads one task_struct's fields. */
  read(task: bigint, idle = false): Task {
    const L = this.layout;
    const end = Math.max(L.tasks, L.pid, L.tgid, L.comm + 16, L.realParent + 8, L.state + 4, L.exitState + 4, (L.cpu ?? 0) + 4, (L.onCpu ?? 0) + 4, L.threadSp + 8, L.stack + 8);
    const dv = this.dv(task, end);
    const comm = new Uint8Array(dv.buffer, dv.byteOffset + L.comm, 16);
    const nul = comm.indexOf(0);
    let ppid = 0;
    const parent = dv.getBigUint64(L.realParent, true);
    if (parent !== 0n && parent !== task) {
      try {
        ppid = this.dv(parent + BigInt(L.tgid), 4).getInt32(0, true);
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
        ppid = -1;
      }
    }
    return {
      task,
      pid: dv.getInt32(L.pid, true),
      tgid: dv.getInt32(L.tgid, true),
      ppid,
      cpu: L.cpu === undefined ? 0 : dv.getUint32(L.cpu, true),
      state: stateLetter(dv.getUint32(L.state, true), dv.getUint32(L.exitState, true), L.noload),
      comm: String.fromCharCode(...(nul < 0 ? comm : comm.subarray(0, nul))),
      onCpu: L.onCpu === undefined ? false : dv.getInt32(L.onCpu, true) !== 0,
      idle: idle || undefined,
      threadSp: dv.getBigUint64(L.threadSp, true),
      stack: dv.getBigUint64(L.stack, true),
    };
  }

  /** walkList over this reader's memory. */
  walkList(head: bigint, what: string, gaps: Gaps, item = TASK, max = MAX_TASKS): Generator<bigint> {
    return walkList(this.mem, head, what, gaps, item, max);
  }

  /** Every task on the task list and every thread of each, in list order (like drgn's for_each_task). */
  list(initTask: bigint, gaps: Gaps = new Gaps()): TaskList {
    const L = this.layout;
    const tasks: Task[] = [];
    const seen = new Set<bigint>();
    const add = (t: bigint) => {
      if (seen.has(t)) return;
      seen.add(t);
      const task = gaps.attempt(TASK, () => this.read(t), `task ${hex(t)}`);
      if (task) tasks.push(task);
    };
    for (const node of this.walkList(initTask + BigInt(L.tasks), 'init_task.tasks', gaps)) {
      const leader = node - BigInt(L.tasks);
      add(leader);
      for (const t of this.threads(leader, gaps)) add(t);
    }
    return { tasks, completeness: gaps.result() };
  }

  /** The other threads of a thread-group leader. */
  threads(leader: bigint, gaps: Gaps): bigint[] {
    const L = this.layout;
    const out: bigint[] = [];
    try {
      if (L.threadHead !== undefined && L.threadNode !== undefined) {
        const signal = this.ptr(leader + BigInt(L.signal));
        if (signal === 0n) return out;
        for (const n of this.walkList(signal + BigInt(L.threadHead), `threads of ${hex(leader)}`, gaps, 'thread')) out.push(n - BigInt(L.threadNode));
      } else if (L.threadGroup !== undefined) {
        for (const n of this.walkList(leader + BigInt(L.threadGroup), `threads of ${hex(leader)}`, gaps, 'thread')) out.push(n - BigInt(L.threadGroup));
      }
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
      gaps.add('thread list', e, `threads of ${hex(leader)}`);
    }
    return out.filter((t) => t !== leader);
  }
}

const TASK = 'task';

/**
 * Walks a circular list_head starting at `head`, yielding each node address (not the head). Stops
 * at a loop that does not return to the head and after `max` nodes. When a node cannot be read, the
 * rest of the list is recovered walking `prev` pointers back from the head, so one missing page
 * loses one entry, not the tail of the list. A walk that stops short goes to `gaps` as an
 * "`item` list" (a list head or link not in the dump, a loop, NULL).
 */
export function* walkList(mem: VirtualMemory, head: bigint, what: string, gaps: Gaps, item: string, max = MAX_TASKS): Generator<bigint> {
  const seen = new Set<bigint>();
  let node: bigint;
  try {
    node = ptr(mem, head);
  } catch (e) {
    if (!(e instanceof NotInDumpError)) throw e;
    gaps.add(`${item} list`, e, `${what}: list head ${hex(head)}`);
    return;
  }
  while (node !== head) {
    if (node === 0n) {
      gaps.note(`${item} list`, 'damaged', `${what}: NULL next pointer after ${seen.size} entries`);
      return;
    }
    if (seen.has(node)) {
      gaps.note(`${item} list`, 'damaged', `${what}: list loops back to ${hex(node)} after ${seen.size} entries without returning to the head; stopped`);
      return;
    }
    if (seen.size >= max) {
      gaps.note(`${item} list`, 'damaged', `${what}: more than ${max} entries; stopped`);
      return;
    }
    let next: bigint;
    try {
      next = ptr(mem, node);
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
      const { tail, complete } = walkBack(mem, head, node, seen, max);
      // The entry itself is the caller's to count (it cannot read it either); the list is lost
      // only when walking back from the head did not reach the broken entry.
      if (!complete) gaps.add(`${item} list`, e, `${what}: entry ${hex(node)} after ${seen.size} entries (${tail.length} more read backwards from the head)`);
      yield node;
      yield* tail;
      return;
    }
    seen.add(node);
    yield node;
    node = next;
  }
}

/** The entries after `broken`, found through prev pointers from the head (in list order); `complete` when the walk got back to `broken`. */
function walkBack(mem: VirtualMemory, head: bigint, broken: bigint, seen: Set<bigint>, max: number): { tail: bigint[]; complete: boolean } {
  const back: bigint[] = [];
  const prevOff = 8n;
  let node = head;
  try {
    node = ptr(mem, head + prevOff);
    while (node !== head && node !== broken && node !== 0n && !seen.has(node) && back.length < max) {
      back.push(node);
      node = ptr(mem, node + prevOff);
    }
  } catch (e) {
    if (!(e instanceof NotInDumpError)) throw e;
    return { tail: back.reverse(), complete: false };
  }
  return { tail: back.reverse(), complete: node === broken };
}

const ptr = readU64;

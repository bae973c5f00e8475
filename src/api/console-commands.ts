// The console commands built on the typed API (src/analyze/console/ takes them as extra commands:
// vmcore-ts shell and the viewer's Console tab pass them in): crash's `files PID`, `runq` and
// `kmem -i`, in crash 9's layout (filesys.c open_files_dump, task.c dump_on_rq_tasks, memory.c
// dump_kmeminfo).
import { ParseError, UsageError } from '../errors.ts';
import { getopt } from '../analyze/console/getopt.ts';
import { commitPages, formatKmemInfo, hugePages, swapPages } from '../analyze/console/kmem.ts';
import type { ConsoleCommand, ConsoleSession } from '../analyze/console/session.ts';
import { backtraceHeader } from '../analyze/summary.ts';
import { hexPadded } from '../text.ts';
import { CrashDump } from './dump.ts';
import { pathString, taskFiles } from './helpers/fs.ts';
import { blockdevPages, totalRamPages, vmStat } from './helpers/mm.ts';
import { cfsQueuedTasks, runqueue, rtQueuedTasks } from './helpers/sched.ts';
import type { KObject } from './object.ts';

/** The inode's type as crash's files prints it (S_IFMT of i_mode). */
function inodeType(mode: number): string {
  switch (mode & 0o170000) {
    case 0o140000:
      return 'SOCK';
    case 0o120000:
      return 'LNK';
    case 0o100000:
      return 'REG';
    case 0o060000:
      return 'BLK';
    case 0o040000:
      return 'DIR';
    case 0o020000:
      return 'CHR';
    case 0o010000:
      return 'FIFO';
    default:
      return '?';
  }
}

const cache = new WeakMap<ConsoleSession, CrashDump>();
function dumpOf(s: ConsoleSession): CrashDump {
  let d = cache.get(s);
  if (!d) cache.set(s, (d = new CrashDump(s.kd)));
  return d;
}

function filesOf(s: ConsoleSession, task: KObject, pid: number, cpu: number, comm: string): string {
  const dump = dumpOf(s);
  const lines = [backtraceHeader({ pid, task: task.address, cpu, comm })];
  const fs = task.member('fs');
  if (!fs.isNull()) {
    const f = fs.deref();
    lines.push(`ROOT: ${pathString(dump, f.member('root'))}    CWD: ${pathString(dump, f.member('pwd'))}`);
  }
  const files = taskFiles(dump, task);
  if (!files.length) return lines.join('\n') + '\nNo open files\n\n';
  lines.push(' FD       FILE            DENTRY           INODE       TYPE PATH');
  for (const f of files) {
    const dentry = f.file.member('f_path.dentry').pointer();
    const inode = f.file.member('f_inode').pointer();
    const mode = inode ? dump.objectAt('struct inode', inode).member('i_mode').number() : 0;
    lines.push(`${String(f.fd).padStart(3)} ${hexPadded(f.file.address)} ${hexPadded(dentry)} ${hexPadded(inode)} ${inodeType(mode).padEnd(4)} ${f.path}`);
  }
  return lines.join('\n') + '\n\n'; // crash ends each task's files with a blank line
}

/** files and runq over the typed API, for ConsoleSession's `extra`. */
export const apiConsoleCommands: Record<string, ConsoleCommand> = {
  files: {
    usage: 'files [PID | TASK | COMMAND ...]',
    summary: "a task's root and working directory and its open files: fd, struct file, dentry, inode, type, path (the context task by default)",
    run(s, o) {
      const tasks = o.words.length ? o.words.flatMap((w) => s.findTasks(w)) : [s.contextTask()];
      const current = s.tasks().current;
      return tasks
        .map((t) => {
          const running = current.indexOf(t.task);
          return filesOf(s, dumpOf(s).objectAt('struct task_struct', t.task), t.pid, running >= 0 ? running : t.cpu, t.comm);
        })
        .join('');
    },
  },

  kmem: {
    usage: 'kmem -i',
    summary: "memory summary: total, free, used, buffers, cached, slab, huge pages, swap, commit limit (crash's kmem -i)",
    run(s, o) {
      const g = getopt('kmem', o.words, 'i');
      if (!g.flags.has('i') || g.args.length) throw new UsageError('kmem: only -i is supported (the memory summary)');
      const dump = dumpOf(s);
      const v = vmStat(dump);
      const need = (name: string) => {
        const x = v.get(name);
        if (x === undefined) throw new ParseError(`kmem -i: this kernel has no vmstat counter ${name}`);
        return x;
      };
      const total = totalRamPages(dump);
      const buffers = blockdevPages(dump) ?? 0;
      const huge = hugePages(s.kd);
      const swap = swapPages(s.kd);
      const info = {
        total,
        free: need('NR_FREE_PAGES'),
        buffers,
        cached: Math.max(0, need('NR_FILE_PAGES') - (v.get('NR_SWAPCACHE') ?? 0) - buffers),
        slab: need('NR_SLAB_RECLAIMABLE_B') + need('NR_SLAB_UNRECLAIMABLE_B'),
        huge,
        swap,
        commit: commitPages(s.kd, total, huge?.total ?? 0, swap?.total ?? 0),
      };
      return formatKmemInfo(info, s.kd.dump.pageSize);
    },
  },

  runq: {
    usage: 'runq [-c CPU[,CPU...]]',
    summary: "each CPU's run queue: the current task, the real-time and CFS queued tasks with their priority",
    run(s, o) {
      const dump = dumpOf(s);
      const words = o.words.map((w) => w.text);
      let cpus = dump.possibleCpus().filter((c) => c < s.kd.cpus.length);
      if (words.length) {
        if (words[0] !== '-c' || words.length !== 2) throw new UsageError('runq: usage: runq [-c CPU[,CPU...]]');
        const want = words[1]!.split(',').map(Number);
        if (want.some((c) => !Number.isInteger(c) || !cpus.includes(c))) throw new UsageError(`runq: invalid cpu: ${words[1]}`);
        cpus = want;
      }
      const table = s.tasks().tasks;
      const entry = (t: KObject) => {
        const pid = t.member('pid').number();
        return `[${String(t.member('prio').number()).padStart(3)}] PID: ${String(pid).padEnd(5)}  TASK: ${hexPadded(t.address)}  COMMAND: "${t.member('comm').string()}"`;
      };
      const out: string[] = [];
      for (const cpu of cpus) {
        const rq = runqueue(dump, cpu);
        const curr = rq.member('curr').pointer();
        const ct = table.find((t) => t.task === curr);
        if (out.length) out.push('');
        out.push(`CPU ${cpu} RUNQUEUE: ${hexPadded(rq.address).replace(/^0+/, '')}`);
        out.push(`  CURRENT: ${ct ? `PID: ${String(ct.pid).padEnd(5)}  TASK: ${hexPadded(curr)}  COMMAND: "${ct.comm}"` : hexPadded(curr)}`);
        const rt = rtQueuedTasks(rq);
        out.push(`  RT PRIO_ARRAY: ${hexPadded(rq.member('rt.active').address)}`);
        out.push(...(rt.length ? rt.map((t) => `     ${entry(t)}`) : ['     [no tasks queued]']));
        const cfs = cfsQueuedTasks(rq);
        out.push(`  CFS RB_ROOT: ${hexPadded(rq.member('cfs.tasks_timeline').address)}`);
        out.push(...(cfs.length ? cfs.map((t) => `     ${entry(t)}`) : ['     [no tasks queued]']));
      }
      return out.join('\n') + '\n';
    },
  },
};

/** The typed API over a console session's dump (the js command's `dump`). */
export function consoleDump(s: ConsoleSession): CrashDump {
  return dumpOf(s);
}

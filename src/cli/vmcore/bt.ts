// vmcore-ts bt [-a | -p | -c CPU | -P PID] DUMP [PID|TASK...]: kernel backtraces unwound with the
// dump's ORC tables. The letters are crash's: -p the panic task, -c a CPU's stack, -a every CPU.
import { ParseError, UsageError } from '../../errors.ts';
import { describeCompleteness, Gaps } from '../../analyze/completeness.ts';
import { backtraceGap, backtraceOfTask, cpuBacktrace, taskTable } from '../../analyze/stacks.ts';
import { formatBacktrace, backtraceJson, describeCpuBacktrace } from '../../analyze/summary.ts';
import type { KernelDump } from '../../analyze/kernel-dump.ts';
import type { Command } from './commands.ts';
import { usageError } from '../args.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';

const USAGE =
  'vmcore-ts bt [-a | -p | -c CPU[,CPU...] | -P PID] [--json] [--system-map FILE | --vmlinux FILE] DUMP [PID|TASK...]\n' +
  '  (default)          the panic task: the stack of the CPU that crashed (as crash\'s bt, bt -p)\n' +
  '  PID|TASK ...       these tasks, by PID or task_struct address (0x...)\n' +
  '  -P, --pid PID      the same, as an option (repeatable)\n' +
  '  -c, --cpu LIST     the stacks of these CPUs (e.g. 0 or 0,2)\n' +
  '  -a, --all          the stack of every CPU';

function cpuList(s: string, kd: KernelDump): number[] {
  return s.split(',').map((x) => {
    const cpu = Number(x);
    if (!/^\d+$/.test(x) || cpu >= kd.cpus.length) {
      throw new UsageError(`-c wants CPU numbers from 0 to ${kd.cpus.length - 1}, got '${x}'`);
    }
    return cpu;
  });
}

export const btCommand: Command = {
  summary: "kernel backtrace of the panic task (-a: every CPU; -c CPU; PID...: any task) from the dump's ORC tables",
  run(argv) {
    const a = parseCommand(
      argv,
      {
        ...symbolOptions,
        all: { type: 'boolean', short: 'a' },
        panic: { type: 'boolean', short: 'p' },
        cpu: { type: 'string', short: 'c' },
        pid: { type: 'string', short: 'P', multiple: true },
      },
      USAGE,
      [1, Infinity],
    );
    if (!a) return 0;
    const [path, ...positional] = a.positionals as [string, ...string[]];
    const wanted = [...((a.values.pid as unknown as string[] | undefined) ?? []), ...positional];
    const modes = [a.values.all, a.values.panic, a.values.cpu !== undefined, wanted.length > 0].filter(Boolean).length;
    if (modes > 1) throw usageError(`-a, -p, -c and PIDs choose different stacks: give one of them`, USAGE);
    const kd = openKernelDump(new FileSource(path), symbolFiles(a.values));
    const gaps = new Gaps(kd.dump.dumpLevel);
    let traces;
    if (wanted.length) {
      const table = taskTable(kd);
      const unread = table.completeness.missing.length + table.completeness.excluded.length;
      traces = wanted.flatMap((w) => {
        const byTask = /^0x[0-9a-f]+$/i.test(w);
        if (!byTask && !/^\d+$/.test(w)) throw new UsageError(`'${w}' is neither a PID nor a task address (0x...)`);
        const matches = table.tasks.filter((t) => (byTask ? t.task === BigInt(w) : t.pid === Number(w)));
        if (!matches.length) {
          if (unread) throw new ParseError(`no task with ${byTask ? 'address' : 'PID'} ${w} among those readable: ${describeCompleteness(table.completeness).join('; ')}`);
          throw new UsageError(`no task with ${byTask ? 'address' : 'PID'} ${w} (see vmcore-ts ps)`);
        }
        return matches.map((t) => {
          const bt = backtraceOfTask(kd, t, table.current);
          const running = table.current.indexOf(t.task);
          return { ...bt, cpu: running >= 0 ? running : t.cpu, pid: t.pid, comm: t.comm, task: t.task };
        });
      });
    } else {
      const cpus = a.values.all ? kd.cpus.map((_, cpu) => cpu) : typeof a.values.cpu === 'string' ? cpuList(a.values.cpu, kd) : [kd.panicCpu()];
      traces = cpus.map((cpu) => describeCpuBacktrace(kd, cpuBacktrace(kd, cpu)));
    }
    for (const t of traces) backtraceGap(gaps, t, t.pid !== undefined ? `PID ${t.pid}` : `CPU ${t.cpu}`);
    const c = gaps.result();
    write(a.values.json ? jsonDocument({ backtraces: traces.map(backtraceJson), ...statusJson(kd, c) }) + '\n' : traces.map(formatBacktrace).join('\n'));
    return finish(kd, c);
  },
};

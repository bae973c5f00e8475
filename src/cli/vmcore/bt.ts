// vmcore-ts bt [-a] [-p PID] DUMP: kernel backtraces unwound with the dump's ORC tables.
import { UsageError } from '../../errors.ts';
import { backtraceOfTask, cpuBacktrace, taskTable } from '../../analyze/stacks.ts';
import { formatBacktrace, backtraceJson, describeCpuBacktrace } from '../../analyze/summary.ts';
import type { Command } from './commands.ts';
import { openContext } from './analysis-context.ts';
import { parseCommand, symbolOptions, toJson, write } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts bt [-a] [-p PID] [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const btCommand: Command = {
  summary: "kernel backtrace of the panic task (-a: every CPU; -p PID: any task) from the dump's ORC tables",
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, all: { type: 'boolean', short: 'a' }, pid: { type: 'string', short: 'p' } }, USAGE, [1, 1]);
    if (!a) return 0;
    const ctx = openContext(a.positionals[0]!, a.values);
    let traces;
    if (typeof a.values.pid === 'string') {
      const pid = Number(a.values.pid);
      if (!Number.isInteger(pid) || pid < 0) throw new UsageError(`-p wants a PID, got '${a.values.pid}'`);
      const table = taskTable(ctx);
      const matches = table.tasks.filter((t) => t.pid === pid);
      if (!matches.length) throw new UsageError(`no task with PID ${pid} (see vmcore-ts ps)`);
      traces = matches.map((t) => {
        const bt = backtraceOfTask(ctx, t, table.current);
        return { ...bt, cpu: table.current.indexOf(t.task) >= 0 ? table.current.indexOf(t.task) : t.cpu, pid: t.pid, comm: t.comm, task: t.task };
      });
    } else if (a.values.all) {
      traces = ctx.cpus.map((_, cpu) => describeCpuBacktrace(ctx, cpuBacktrace(ctx, cpu)));
    } else {
      traces = [describeCpuBacktrace(ctx, cpuBacktrace(ctx, ctx.panicCpu()))];
    }
    write(a.values.json ? toJson(traces.map(backtraceJson)) + '\n' : traces.map(formatBacktrace).join('\n'));
    return 0;
  },
};

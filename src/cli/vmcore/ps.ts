// vmcore-ts ps DUMP: every task from the task list, with offsets from the dump's BTF.
import { taskTable } from '../../analyze/stacks.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { hexPadded } from '../../text.ts';

const USAGE = 'vmcore-ts ps [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const psCommand: Command = {
  summary: 'every task (PID, PPID, CPU, state, command, task address) from the task list, via BTF',
  run(argv) {
    const a = parseCommand(argv, symbolOptions, USAGE, [1, 1]);
    if (!a) return 0;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const t = taskTable(kd);
    if (a.values.json) {
      write(jsonDocument({ tasks: t.tasks.map((x) => ({ ...x, current: t.current.includes(x.task) })), ...statusJson(kd, t.completeness) }) + '\n');
      return finish(kd, t.completeness);
    }
    const lines = ['      PID    PPID  CPU        TASK        ST  COMM'];
    for (const x of t.tasks) {
      const cur = t.current.includes(x.task) ? '>' : ' ';
      const comm = x.idle || x.pid === 0 ? `[${x.comm}]` : x.comm;
      lines.push(`${cur}${String(x.pid).padStart(8)} ${String(x.ppid).padStart(7)} ${String(x.cpu).padStart(4)}  ${hexPadded(x.task)}  ${x.state.padEnd(2)}  ${comm}`);
    }
    write(lines.join('\n') + '\n');
    return finish(kd, t.completeness);
  },
};

// vmcore-ts ps DUMP: every task from the task list, with offsets from the dump's BTF, in crash's layout
// (src/analyze/ps-format.ts, shared with the ps of vmcore-ts shell).
import { taskTable } from '../../analyze/stacks.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { formatPs, psRows } from '../../analyze/ps-format.ts';

const USAGE = 'vmcore-ts ps [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const psCommand: Command = {
  summary: "every task (PID, PPID, CPU, task address, state, %MEM, VSZ, RSS, command) as crash's ps, via BTF",
  run(argv) {
    const a = parseCommand(argv, symbolOptions, USAGE, [1, 1]);
    if (!a) return 0;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const t = taskTable(kd);
    if (a.values.json) {
      write(jsonDocument({ tasks: t.tasks.map((x) => ({ ...x, current: t.current.includes(x.task) })), ...statusJson(kd, t.completeness) }) + '\n');
      return finish(kd, t.completeness);
    }
    write(formatPs(kd, psRows(kd, t)));
    return finish(kd, t.completeness);
  },
};

// vmcore-ts info DUMP: what crash's `sys` shows, plus the dump file's format facts.
import { formatSystemInfo, systemInfo } from '../../analyze/system-info.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { Command } from './commands.ts';
import { finish, symbolFiles, parseCommand, statusJson, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts info [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const infoCommand: Command = {
  summary: 'kernel release, CPUs, memory, crash time, panic message, crashing task, dump format',
  run(argv) {
    const a = parseCommand(argv, symbolOptions, USAGE, [1, 1]);
    if (!a) return 0;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const s = systemInfo(kd);
    write(a.values.json ? jsonDocument({ ...s, ...statusJson(kd, s.completeness) }) + '\n' : formatSystemInfo(s));
    return finish(kd, s.completeness);
  },
};

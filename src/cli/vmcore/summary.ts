// vmcore-ts summary DUMP: what crashed, when, the panic message, the backtrace, the last log lines
// and memory use, on one screen.
import { UsageError } from '../../errors.ts';
import { buildSummary, formatSummary, summaryJson, SUMMARY_LOG_LINES } from '../../analyze/summary.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts summary [--lines N] [--json] [--system-map FILE | --vmlinux FILE] DUMP';

export const summaryCommand: Command = {
  summary: 'one screen: what crashed and when, panic message, backtrace, last log lines, memory use',
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, lines: { type: 'string', short: 'n' } }, USAGE, [1, 1]);
    if (!a) return 0;
    const n = a.values.lines === undefined ? SUMMARY_LOG_LINES : Number(a.values.lines);
    if (!Number.isInteger(n) || n < 0) throw new UsageError('--lines wants a number');
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const s = buildSummary(kd, n);
    write(a.values.json ? jsonDocument({ ...(summaryJson(s) as object), ...statusJson(kd, s.completeness) }) + '\n' : formatSummary(s));
    return finish(kd, s.completeness);
  },
};

// vmcore-ts dmesg DUMP: the kernel log from VMCOREINFO alone; default output = makedumpfile --dump-dmesg.
import { formatRecord, escapeText, recordJson } from '../../analyze/printk.ts';
import type { Command } from './commands.ts';
import { openKernelDump, parseCommand, toJson, write } from './kernel-dump-args.ts';

const USAGE =
  'vmcore-ts dmesg [-l|--level] [-c|--caller] [-d|--dict] [--json] DUMP\n' +
  '  -l, --level   prefix each record with <N> (N = facility*8 + level), like dmesg -r\n' +
  '  -c, --caller  show the caller id column [T<pid>] / [C<cpu>]\n' +
  '  -d, --dict    show the dev_info (SUBSYSTEM=, DEVICE=) follow-on lines\n' +
  '  --json        one JSON object per record';

export const dmesgCommand: Command = {
  summary: 'the kernel log (lockless ring buffer or log_buf), as makedumpfile --dump-dmesg prints it',
  run(argv) {
    const a = parseCommand(
      argv,
      {
        level: { type: 'boolean', short: 'l' },
        caller: { type: 'boolean', short: 'c' },
        dict: { type: 'boolean', short: 'd' },
      },
      USAGE,
      [1, 1],
    );
    if (!a) return 0;
    const kd = openKernelDump(a.positionals[0]!);
    const log = kd.log;
    for (const w of [...kd.dump.warnings, ...log.warnings]) process.stderr.write(`vmcore-ts: warning: ${w}\n`);
    if (log.plainText) {
      write(a.values.json ? toJson({ text: new TextDecoder().decode(log.plainText) }) + '\n' : escapeText(log.plainText));
      return 0;
    }
    const opts = { level: !!a.values.level, caller: a.values.caller ? true : undefined, dict: !!a.values.dict };
    // Write in chunks so the first lines reach the terminal at once on big logs.
    let out = '';
    for (const r of log.records) {
      out += (a.values.json ? toJson(recordJson(r)) : formatRecord(r, opts, log)) + '\n';
      if (out.length > 1 << 16) {
        write(out);
        out = '';
      }
    }
    write(out);
    return 0;
  },
};

// vmcore-ts dmesg DUMP: the kernel log from VMCOREINFO alone; default output = makedumpfile --dump-dmesg.
// The options are util-linux dmesg's: -l/--level filters, -r/--raw prints <N>, -T/--ctime wall-clock times.
import { formatRecord, escapeText, recordJson, LEVEL_NAMES, type LogRecord } from '../../analyze/printk.ts';
import { formatDate } from '../../analyze/system-info.ts';
import type { KernelDump } from '../../analyze/kernel-dump.ts';
import { isDumpDataError, ParseError, UsageError } from '../../errors.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { nodePageDecoders } from '../../host/node-codecs.ts';
import type { Command } from './commands.ts';
import { finish, jsonDocument, parseCommand, statusJson, statusLine, toJson, write } from './kernel-dump-args.ts';

const USAGE =
  'vmcore-ts dmesg [-l LIST] [-r] [-T] [-c] [-d] [--json] DUMP\n' +
  `  -l, --level LIST  only these levels: names or numbers, comma-separated (${LEVEL_NAMES.join(',')});\n` +
  '                    err+ = err and more severe, +err = err and less severe\n' +
  '  -r, --raw         prefix each record with <N> (N = facility*8 + level), like dmesg -r\n' +
  '  -T, --ctime       wall-clock time (UTC) instead of seconds since boot: the dump\'s crash time\n' +
  '                    minus the last record\'s timestamp is the boot time (exact to a second)\n' +
  '  -c, --caller      show the caller id column [T<pid>] / [C<cpu>]\n' +
  '  -d, --dict        show the dev_info (SUBSYSTEM=, DEVICE=) follow-on lines\n' +
  '  --json            a header line {"schema":1,"format":...}, then one JSON object per record';

/** The set of levels a util-linux `--level` list names: "err,warn", "3", "err+" (0..3), "+err" (3..7). */
export function parseLevels(list: string): Set<number> {
  const levels = new Set<number>();
  for (const item of list.split(',')) {
    const m = /^(\+?)([a-z]+|[0-7])(\+?)$/.exec(item.trim().toLowerCase());
    const n = m ? (/^[0-7]$/.test(m[2]!) ? Number(m[2]) : LEVEL_NAMES.indexOf(m[2] as (typeof LEVEL_NAMES)[number])) : -1;
    if (!m || n < 0 || (m[1] && m[3])) {
      throw new UsageError(`unknown level '${item}' in --level: use ${LEVEL_NAMES.join(', ')} or 0 to 7, optionally with + before or after`);
    }
    const [lo, hi] = m[3] ? [0, n] : m[1] ? [n, 7] : [n, n];
    for (let l = lo; l <= hi; l++) levels.add(l);
  }
  return levels;
}

/** -T: "[Fri Dec  4 20:25:15 UTC 2026] " from a record's timestamp, anchored at the crash time. */
function ctimeColumn(kd: KernelDump, records: LogRecord[]): (tsNsec: bigint) => string {
  let crash: bigint | undefined;
  try {
    crash = kd.info.crashTime;
  } catch (e) {
    if (!isDumpDataError(e)) throw e;
    crash = undefined; // no VMCOREINFO: the header's time below
  }
  const ts = kd.dump.header.timestampSec;
  crash ??= typeof ts === 'bigint' && ts > 0n ? ts : undefined;
  if (crash === undefined) throw new UsageError('-T needs the crash time, and this dump has none (no CRASHTIME in VMCOREINFO, no header time)');
  const bootNsec = crash * 1_000_000_000n - (records.at(-1)?.tsNsec ?? 0n);
  return (tsNsec) => `[${formatDate((bootNsec + tsNsec) / 1_000_000_000n)}] `;
}

export const dmesgCommand: Command = {
  summary: 'the kernel log (lockless ring buffer or log_buf), as makedumpfile --dump-dmesg prints it',
  run(argv) {
    const a = parseCommand(
      argv,
      {
        level: { type: 'string', short: 'l' },
        raw: { type: 'boolean', short: 'r' },
        ctime: { type: 'boolean', short: 'T' },
        caller: { type: 'boolean', short: 'c' },
        dict: { type: 'boolean', short: 'd' },
      },
      USAGE,
      [1, 1],
    );
    if (!a) return 0;
    const levels = typeof a.values.level === 'string' ? parseLevels(a.values.level) : undefined;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), { decoders: nodePageDecoders });
    const log = kd.log;
    const c = log.completeness;
    if (log.plainText) {
      if (levels || a.values.ctime) throw new UsageError('this log is plain text (an old log_buf without records): it has no levels or timestamps for -l or -T');
      write(a.values.json ? jsonDocument({ format: log.format, text: new TextDecoder().decode(log.plainText), ...statusJson(kd, c) }) + '\n' : escapeText(log.plainText));
      return finish(kd, c);
    }
    if (log.records.length === 0) {
      const lost = c.missing[0] ?? c.excluded[0];
      throw new ParseError(lost ? `no record of the kernel log could be read: ${lost.examples[0]}` : 'the kernel log has no records (its ring buffer is empty)', {
        source: kd.dump.source.name,
      });
    }
    const opts = {
      raw: !!a.values.raw,
      caller: a.values.caller ? true : undefined,
      dict: !!a.values.dict,
      time: a.values.ctime ? ctimeColumn(kd, log.records) : undefined,
    };
    // Write in chunks so the first lines reach the terminal at once on big logs.
    // --json: a header line ({schema, format}), one object per record, then a status line when incomplete.
    let out = a.values.json ? jsonDocument({ format: log.format }) + '\n' : '';
    for (const r of log.records) {
      if (levels && !levels.has(r.level)) continue;
      out += (a.values.json ? toJson(recordJson(r)) : formatRecord(r, opts, log)) + '\n';
      if (out.length > 1 << 16) {
        write(out);
        out = '';
      }
    }
    if (a.values.json) out += statusLine(kd, c);
    write(out);
    return finish(kd, c);
  },
};

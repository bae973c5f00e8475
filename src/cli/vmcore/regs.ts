// vmcore-ts regs DUMP: every CPU's registers from its NT_PRSTATUS note, the crashing CPU marked.
import { findCrashingCpu } from '../../analyze/system-info.ts';
import { formatSymbolic } from '../../analyze/symbols.ts';
import type { LogRecord } from '../../analyze/printk.ts';
import { isDumpDataError, NotInDumpError, ParseError } from '../../errors.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { Command } from './commands.ts';
import { finish, symbolFiles, parseCommand, statusJson, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { hex, hexPadded } from '../../text.ts';

const USAGE = 'vmcore-ts regs [--cpu N] [--json] [--system-map FILE | --vmlinux FILE] DUMP';


export const regsCommand: Command = {
  summary: "every CPU's registers at the crash (NT_PRSTATUS), the crashing CPU marked",
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, cpu: { type: 'string' } }, USAGE, [1, 1]);
    if (!a) return 0;
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    let cpus = kd.cpus;
    if (cpus.length === 0) throw new ParseError('the dump has no NT_PRSTATUS notes (no CPU saved its registers)', { source: kd.dump.source.name });
    let records: readonly LogRecord[] = [];
    try {
      records = kd.log.records;
    } catch (e) {
      if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
    }
    const crash = findCrashingCpu(kd, records);
    let symbols;
    try {
      symbols = kd.symbolsIfAny();
    } catch (e) {
      if (!isDumpDataError(e)) throw e;
      symbols = undefined;
    }
    if (typeof a.values.cpu === 'string') {
      const n = Number(a.values.cpu);
      cpus = cpus.filter((c) => c.cpu === n);
      if (cpus.length === 0) throw new ParseError(`no registers for CPU ${a.values.cpu}; the dump has CPUs 0-${kd.cpus.length - 1}`);
    }
    if (a.values.json) {
      const rows = cpus.map((c) => {
        const regs = Object.fromEntries(Object.entries(c.regs).map(([k, v]) => ['' + k, hex(v)]));
        const pcSymbol = symbols ? formatSymbolic(symbols, c.pc) : undefined;
        return { cpu: c.cpu, pid: c.pid, crashing: c.cpu === crash.cpu, [kd.arch.pcName === 'RIP' ? 'ripSymbol' : 'pcSymbol']: pcSymbol, regs };
      });
      write(jsonDocument({ cpus: rows, ...statusJson(kd) }) + '\n');
      return finish(kd);
    }
    const out: string[] = [];
    for (const c of cpus) {
      const mark = c.cpu === crash.cpu ? `  <- crashing CPU (${crash.source})` : '';
      const comm = c.cpu === crash.cpu && crash.pid === c.pid && crash.comm ? `  COMMAND: "${crash.comm}"` : '';
      out.push(`CPU: ${c.cpu}  PID: ${c.pid}${comm}${mark}`);
      if (symbols && c.pc >= kd.arch.kernelSpace) out.push(`    [${kd.arch.pcName}: ${formatSymbolic(symbols, c.pc)}]`);
      out.push(...kd.arch.formatRegs(c.regs, '    '), '');
    }
    write(out.join('\n'));
    return finish(kd);
  },
};

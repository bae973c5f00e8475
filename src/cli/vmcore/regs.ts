// vmcore-ts regs DUMP: every CPU's registers from its NT_PRSTATUS note, the crashing CPU marked.
import { findCrashingCpu } from '../../analyze/system-info.ts';
import { formatSymbolic } from '../../analyze/symbols.ts';
import type { Prstatus } from '../../analyze/arch/x86_64/prstatus.ts';
import type { LogRecord } from '../../analyze/printk.ts';
import { isDumpDataError, NotInDumpError, ParseError } from '../../errors.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { Command } from './commands.ts';
import { finish, symbolFiles, parseCommand, statusJson, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { hex, hexPadded } from '../../text.ts';

const USAGE = 'vmcore-ts regs [--cpu N] [--json] [--system-map FILE | --vmlinux FILE] DUMP';

/** The register block in crash's `bt` layout. */
export function formatRegs(r: Prstatus['regs']): string {
  const row = (...cells: [string, bigint][]) => '    ' + cells.map(([n, v]) => `${n.padStart(3)}: ${hexPadded(v)}`).join('  ');
  return [
    `    RIP: ${hexPadded(r.rip)}  RSP: ${hexPadded(r.rsp)}  RFLAGS: ${hexPadded(r.eflags, 8)}`,
    row(['RAX', r.rax], ['RBX', r.rbx], ['RCX', r.rcx]),
    row(['RDX', r.rdx], ['RSI', r.rsi], ['RDI', r.rdi]),
    row(['RBP', r.rbp], ['R8', r.r8], ['R9', r.r9]),
    row(['R10', r.r10], ['R11', r.r11], ['R12', r.r12]),
    row(['R13', r.r13], ['R14', r.r14], ['R15', r.r15]),
    `    ORIG_RAX: ${hexPadded(r.orig_rax)}  CS: ${hexPadded(r.cs, 4)}  SS: ${hexPadded(r.ss, 4)}`,
    `    FS_BASE: ${hexPadded(r.fs_base)}  GS_BASE: ${hexPadded(r.gs_base)}  DS: ${hexPadded(r.ds, 4)}  ES: ${hexPadded(r.es, 4)}  FS: ${hexPadded(r.fs, 4)}  GS: ${hexPadded(r.gs, 4)}`,
  ].join('\n');
}

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
        return { cpu: c.cpu, pid: c.pid, crashing: c.cpu === crash.cpu, ripSymbol: symbols ? formatSymbolic(symbols, c.regs.rip) : undefined, regs };
      });
      write(jsonDocument({ cpus: rows, ...statusJson(kd) }) + '\n');
      return finish(kd);
    }
    const out: string[] = [];
    for (const c of cpus) {
      const mark = c.cpu === crash.cpu ? `  <- crashing CPU (${crash.source})` : '';
      const comm = c.cpu === crash.cpu && crash.pid === c.pid && crash.comm ? `  COMMAND: "${crash.comm}"` : '';
      out.push(`CPU: ${c.cpu}  PID: ${c.pid}${comm}${mark}`);
      if (symbols && c.regs.rip >= kd.arch.kernelSpace) out.push(`    [RIP: ${formatSymbolic(symbols, c.regs.rip)}]`);
      out.push(formatRegs(c.regs), '');
    }
    write(out.join('\n'));
    return finish(kd);
  },
};

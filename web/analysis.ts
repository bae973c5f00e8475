// What the viewer shows, computed from a ByteSource with the same library the CLI uses. Pure (no
// DOM, no Node): runs in the browser worker, and in Node for tests. Results are plain data.
import { DumpContext } from '../src/analyze/dump-context.ts';
import { withImageKallsyms } from '../src/analyze/kallsyms-scan.ts';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { formatRecord } from '../src/analyze/printk.ts';
import { backtraceOfTask, cpuBacktrace, taskTable, type TaskTable } from '../src/analyze/stacks.ts';
import { buildSummary, describeCpuBacktrace, formatBacktrace, formatSummary, memoryCounters, memoryRows, pageUsage, pageUsageRows } from '../src/analyze/summary.ts';
import { NotInDumpError, ParseError } from '../src/errors.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { ByteSource } from '../src/io/source.ts';

export interface Overview {
  file: string;
  summaryText: string;
  panicMessage: string | undefined;
  release: string | undefined;
  cpus: number;
  problems: string[];
}

export interface LogData {
  lines: string[];
  /** Console level of each line (0 emerg .. 7 debug). */
  levels: number[];
}

export interface CpuTrace {
  cpu: number;
  text: string;
}

export interface TaskRow {
  pid: number;
  ppid: number;
  cpu: number;
  state: string;
  comm: string;
  task: string;
  running: boolean;
  idle: boolean;
}

export interface MemoryData {
  pageSize: number;
  /** By page type from struct page (the saver's classification). */
  byType: { label: string; bytes: number }[];
  /** The kernel's counters. */
  counters: { label: string; bytes: number }[];
  problems: string[];
}

export interface HexData {
  address: string;
  bytes: Uint8Array;
  symbol: string | undefined;
}

const problem = (e: unknown): string => {
  if (e instanceof ParseError || e instanceof NotInDumpError) return e.message;
  throw e;
};

export class DumpAnalysis {
  readonly ctx: DumpContext;
  constructor(src: ByteSource) {
    this.ctx = new DumpContext(withImageKallsyms(new KernelDump(openDump(src))));
  }

  overview(): Overview {
    const s = buildSummary(this.ctx);
    return {
      file: this.ctx.dump.source.name,
      summaryText: formatSummary(s),
      panicMessage: s.system.panicMessage,
      release: s.system.release,
      cpus: this.ctx.cpus.length,
      problems: s.problems,
    };
  }

  log(): LogData {
    const recs = this.ctx.log.records;
    return { lines: recs.map((r) => formatRecord(r)), levels: recs.map((r) => r.level) };
  }

  backtraces(): CpuTrace[] {
    return this.ctx.cpus.map((_, cpu) => {
      try {
        return { cpu, text: formatBacktrace(describeCpuBacktrace(this.ctx, cpuBacktrace(this.ctx, cpu))) };
      } catch (e) {
        return { cpu, text: `CPU ${cpu}: ${problem(e)}\n` };
      }
    });
  }

  private table: TaskTable | undefined;

  tasks(): { tasks: TaskRow[]; damage: string[] } {
    const t = (this.table ??= taskTable(this.ctx));
    return {
      tasks: t.tasks.map((x) => ({
        pid: x.pid,
        ppid: x.ppid,
        cpu: x.cpu,
        state: x.state,
        comm: x.comm,
        task: x.task.toString(16).padStart(16, '0'),
        running: t.current.includes(x.task),
        idle: !!x.idle,
      })),
      damage: t.damage,
    };
  }

  /** The backtrace of one task (`task`: its task_struct address in hex, as in TaskRow). */
  taskBacktrace(task: string): string {
    const t = (this.table ??= taskTable(this.ctx));
    const x = t.tasks.find((y) => y.task === BigInt('0x' + task));
    if (!x) throw new ParseError(`no task at 0x${task}`);
    try {
      const bt = backtraceOfTask(this.ctx, x, t.current);
      return formatBacktrace({ ...bt, pid: x.pid, comm: x.comm, task: x.task, cpu: x.cpu });
    } catch (e) {
      return `${x.comm}: ${problem(e)}\n`;
    }
  }

  memory(): MemoryData {
    const problems: string[] = [];
    let byType: MemoryData['byType'] = [];
    let counters: MemoryData['counters'] = [];
    const ps = this.ctx.dump.pageSize;
    try {
      const u = pageUsage(this.ctx);
      byType = pageUsageRows(u).map((r) => ({ label: r.label, bytes: r.pages * ps }));
      problems.push(...u.warnings);
    } catch (e) {
      problems.push(`page types: ${problem(e)}`);
    }
    try {
      counters = memoryRows(memoryCounters(this.ctx)).map((r) => ({ label: r.label, bytes: Number(r.bytes) }));
    } catch (e) {
      problems.push(`counters: ${problem(e)}`);
    }
    return { pageSize: ps, byType, counters, problems };
  }

  /** `where`: a hex virtual address, "p:" + hex for physical, or a symbol name. */
  hex(where: string, length: number): HexData {
    const w = where.trim();
    let addr: bigint;
    let physical = false;
    if (/^p:(0x)?[0-9a-f]+$/i.test(w)) {
      physical = true;
      addr = BigInt('0x' + w.slice(2).replace(/^0x/i, ''));
    } else if (/^(0x)?[0-9a-f]+$/i.test(w)) addr = BigInt('0x' + w.replace(/^0x/i, ''));
    else {
      const s = this.ctx.symbols.byName(w);
      if (!s) throw new ParseError(`no symbol '${w}'`);
      addr = s.address;
    }
    const n = Math.max(1, Math.min(length, 65536));
    const bytes = physical ? this.ctx.dump.readPhys(addr, n) : this.ctx.mem.readVirt(addr, n);
    let symbol: string | undefined;
    if (!physical) {
      try {
        const hit = this.ctx.symbols.byAddress(addr);
        if (hit) symbol = `${hit.symbol.name}+0x${hit.offset.toString(16)}`;
      } catch (e) {
        problem(e);
      }
    }
    return { address: (physical ? 'p:' : '') + addr.toString(16), bytes: bytes.slice(), symbol };
  }
}

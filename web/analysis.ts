// What the viewer shows, computed from a ByteSource with the same library the CLI uses. Pure (no
// DOM, no Node): runs in the browser worker, and in Node for tests. Results are plain data.
import type { KernelDump } from '../src/analyze/kernel-dump.ts';
import { openKernelDump } from '../src/analyze/open-kernel-dump.ts';
import { ConsoleSession } from '../src/analyze/console/session.ts';
import { apiConsoleCommands } from '../src/api/console-commands.ts';
import { formatRecord } from '../src/analyze/printk.ts';
import { backtraceGap, backtraceOfTask, cpuBacktrace, taskTable, type TaskTable } from '../src/analyze/stacks.ts';
import { backtraceLines, buildSummary, describeCpuBacktrace, memoryCounters, memoryRows, pageUsage, pageUsageRows, type BacktraceLine, type NamedBacktrace } from '../src/analyze/summary.ts';
import { formatDate, formatUptime, systemInfo } from '../src/analyze/system-info.ts';
import { dumpLevelMeaning, Gaps, type Completeness } from '../src/analyze/completeness.ts';
import { NotInDumpError, ParseError } from '../src/errors.ts';
import type { ByteSource } from '../src/io/source.ts';
import { hex, hexPadded } from '../src/text.ts';

/**
 * What a result lacks (src/analyze/completeness.ts), in two: what the dump level left out on
 * purpose (information, said once) and what is missing (a truncated file, a damaged structure).
 */
export type Notes = Pick<Completeness, 'excluded' | 'missing'>;

const notesOf = (c: Completeness): Notes => ({ excluded: c.excluded, missing: c.missing });

/** A backtrace as lines (crash's text); the panic frame is marked on the crashing CPU. */
export interface TraceView {
  cpu: number | undefined;
  pid: number | undefined;
  comm: string | undefined;
  /** task_struct address in hex, as in TaskRow.task. */
  task: string | undefined;
  lines: BacktraceLine[];
  /** Index of the frame that is the panic (panic, oops_end, __die, …): the crashing CPU only. */
  panicFrame: number | undefined;
}

export interface Overview {
  file: string;
  /** Label/value pairs: crash, where, when, kernel, dump. */
  facts: [string, string][];
  panicMessage: string | undefined;
  release: string | undefined;
  cpus: number;
  crashingCpu: number | undefined;
  /** The crashing CPU's backtrace. */
  backtrace: TraceView | undefined;
  /** The kernel's memory counters (total, free, page cache …). */
  memory: { label: string; bytes: number }[];
  dumpLevel: number | undefined;
  /** "dump level 31 left out: zero pages, …": undefined for an unfiltered dump. */
  dumpLevelText: string | undefined;
  incomplete: boolean;
  notes: Notes;
}

export interface LogData {
  lines: string[];
  /** Console level of each line (0 emerg .. 7 debug). */
  levels: number[];
  /** Seconds since boot of each line. */
  times: number[];
  notes: Notes;
}

export interface CpuTrace extends TraceView {
  cpu: number;
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
  notes: Notes;
}

export interface HexData {
  address: string;
  bytes: Uint8Array;
  symbol: string | undefined;
  /** Set when the dump level left the page out on purpose (information, not an error). */
  excluded?: string;
}

const problem = (e: unknown): string => {
  if (e instanceof ParseError || e instanceof NotInDumpError) return e.message;
  throw e;
};

/** "dump level 31 left out zero pages, …" (makedumpfile -d bits); undefined for an unfiltered dump. */
export function dumpLevelText(level: number | undefined): string | undefined {
  return level ? `dump level ${level} left out ${dumpLevelMeaning(level)}` : undefined;
}

/** Functions whose frame is "the panic" in a crashing CPU's backtrace, the most telling first. */
const PANIC_FUNCTIONS = ['panic', 'nmi_panic', 'oops_end', '__die', 'die', 'crash_kexec', '__crash_kexec'];

function panicFrame(bt: NamedBacktrace): number | undefined {
  let best: number | undefined;
  let rank = PANIC_FUNCTIONS.length;
  bt.frames.forEach((f, i) => {
    const r = PANIC_FUNCTIONS.indexOf(f.symbol?.name ?? '');
    if (r >= 0 && r < rank) [best, rank] = [i, r];
  });
  return best;
}

function traceView(bt: NamedBacktrace, crashing: boolean): TraceView {
  return {
    cpu: bt.cpu,
    pid: bt.pid,
    comm: bt.comm,
    task: bt.task === undefined ? undefined : hexPadded(bt.task),
    lines: backtraceLines(bt),
    panicFrame: crashing ? panicFrame(bt) : undefined,
  };
}

/** A console command's result (src/analyze/console/): its text and what it lacks, one line each. */
export interface ConsoleOutput {
  text: string;
  notes: string[];
}

export class DumpAnalysis {
  readonly kd: KernelDump;
  private session: ConsoleSession | undefined;

  /** Runs one console command (crash's names, as in vmcore-ts shell; no `|` or `>` here). */
  console(line: string): ConsoleOutput {
    this.session ??= new ConsoleSession(this.kd, apiConsoleCommands);
    let r;
    try {
      r = this.session.runLine(line);
    } catch (e) {
      // one line naming the command, as the shell prints it
      const name = line.trim().split(/\s+/)[0]!;
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(msg.startsWith(`${name}:`) ? msg : `${name}: ${msg}`);
    }
    return { text: r.quit ? 'quit: close the tab or open another dump\n' : r.text, notes: r.notes };
  }

  /** TAB completion for the console: candidates for the word before the end of `line`, and that word. */
  complete(line: string): { candidates: string[]; word: string } {
    this.session ??= new ConsoleSession(this.kd, apiConsoleCommands);
    const [candidates, word] = this.session.complete(line);
    return { candidates, word };
  }

  constructor(src: ByteSource) {
    this.kd = openKernelDump(src);
    this.kd.loadSymbols(); // every page but the log needs them: a dump without any says so when opened
  }

  private crashCpu: number | undefined | null = null;
  /** The CPU that crashed (from the dump's notes or the log's panic report), when known. */
  private crashingCpu(): number | undefined {
    if (this.crashCpu === null) {
      try {
        this.crashCpu = systemInfo(this.kd).crashingCpu ?? this.kd.panicCpu();
      } catch (e) {
        problem(e);
        this.crashCpu = undefined;
      }
    }
    return this.crashCpu;
  }

  overview(): Overview {
    const s = buildSummary(this.kd);
    const sys = s.system;
    this.crashCpu = s.backtrace?.cpu ?? sys.crashingCpu;
    const who = [
      sys.crashingCpu !== undefined ? `CPU ${sys.crashingCpu}` : undefined,
      sys.pid !== undefined ? `PID ${sys.pid}` : undefined,
      sys.comm !== undefined ? `"${sys.comm}"` : undefined,
    ].filter(Boolean);
    const d = sys.dump;
    const facts: [string, string][] = [['crash', sys.panicMessage ?? 'no panic message in the log']];
    if (who.length) facts.push(['in', who.join('  ')]);
    if (sys.crashTime !== undefined) facts.push(['when', `${formatDate(sys.crashTime)}${sys.uptimeNsec !== undefined ? `  (uptime ${formatUptime(sys.uptimeNsec)})` : ''}`]);
    facts.push(['kernel', `${[sys.release, sys.version, sys.machine].filter(Boolean).join('  ')}${sys.nodename ? `  on ${sys.nodename}` : ''}`]);
    facts.push(['dump', `${d.file}, ${d.format}${d.dumpLevel !== undefined ? `, dump level ${d.dumpLevel}` : ''}${d.incomplete ? ', INCOMPLETE' : ''}`]);
    const crashing = s.backtrace?.cpu;
    const overviewGaps = new Gaps(d.dumpLevel);
    overviewGaps.merge(s.completeness);
    for (const w of d.warnings) overviewGaps.note('dump file', 'damaged', w);
    const bt = s.backtrace ? traceView(s.backtrace, true) : undefined;
    return {
      file: this.kd.dump.source.name,
      facts,
      panicMessage: sys.panicMessage,
      release: sys.release,
      cpus: this.kd.cpus.length,
      crashingCpu: crashing,
      backtrace: bt,
      memory: s.memory.map((r) => ({ label: r.label, bytes: Number(r.bytes) })),
      dumpLevel: d.dumpLevel,
      dumpLevelText: dumpLevelText(d.dumpLevel),
      incomplete: d.incomplete,
      notes: notesOf(overviewGaps.result()),
    };
  }

  log(): LogData {
    const log = this.kd.log;
    const recs = log.records;
    return {
      lines: recs.map((r) => formatRecord(r)),
      levels: recs.map((r) => r.level),
      times: recs.map((r) => Number(r.tsNsec) / 1e9),
      notes: notesOf(log.completeness),
    };
  }

  /** Every CPU's backtrace; the crashing CPU's panic frame is marked. */
  backtraces(): { traces: CpuTrace[]; notes: Notes } {
    const crashing = this.crashingCpu();
    const gaps = new Gaps(this.kd.dump.dumpLevel);
    const traces = this.kd.cpus.map((_, cpu): CpuTrace => {
      try {
        const bt = describeCpuBacktrace(this.kd, cpuBacktrace(this.kd, cpu));
        backtraceGap(gaps, bt, `CPU ${cpu}`);
        return { ...traceView(bt, cpu === crashing), cpu };
      } catch (e) {
        const why = problem(e);
        gaps.add('backtrace', e as NotInDumpError | ParseError, `CPU ${cpu}`);
        return { cpu, pid: undefined, comm: undefined, task: undefined, lines: [{ text: `CPU ${cpu}: ${why}` }], panicFrame: undefined };
      }
    });
    return { traces, notes: notesOf(gaps.result()) };
  }

  private table: TaskTable | undefined;

  tasks(): { tasks: TaskRow[]; notes: Notes } {
    const t = (this.table ??= taskTable(this.kd));
    return {
      tasks: t.tasks.map((x) => ({
        pid: x.pid,
        ppid: x.ppid,
        cpu: x.cpu,
        state: x.state,
        comm: x.comm,
        task: hexPadded(x.task),
        running: t.current.includes(x.task),
        idle: !!x.idle,
      })),
      notes: notesOf(t.completeness),
    };
  }

  /** The backtrace of one task (`task`: its task_struct address in hex, as in TaskRow). */
  taskBacktrace(task: string): TraceView {
    const t = (this.table ??= taskTable(this.kd));
    const x = t.tasks.find((y) => y.task === BigInt('0x' + task));
    if (!x) throw new ParseError(`no task at 0x${task}`);
    try {
      const bt = backtraceOfTask(this.kd, x, t.current);
      return traceView({ ...bt, pid: x.pid, comm: x.comm, task: x.task, cpu: x.cpu }, bt.cpu !== undefined && bt.cpu === this.crashingCpu());
    } catch (e) {
      return { cpu: x.cpu, pid: x.pid, comm: x.comm, task, lines: [{ text: `${x.comm}: ${problem(e)}` }], panicFrame: undefined };
    }
  }

  memory(): MemoryData {
    const gaps = new Gaps(this.kd.dump.dumpLevel);
    const ps = this.kd.dump.pageSize;
    const u = gaps.attempt('page type table', () => pageUsage(this.kd));
    if (u) {
      gaps.merge(u.completeness);
      for (const w of u.warnings) gaps.note('page type', 'damaged', w);
    }
    const counters = gaps.attempt('memory counters', () => memoryRows(memoryCounters(this.kd))) ?? [];
    return {
      pageSize: ps,
      byType: u ? pageUsageRows(u).map((r) => ({ label: r.label, bytes: r.pages * ps })) : [],
      counters: counters.map((r) => ({ label: r.label, bytes: Number(r.bytes) })),
      notes: notesOf(gaps.result()),
    };
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
      const s = this.kd.symbols.byName(w);
      if (!s) throw new ParseError(`no symbol '${w}'`);
      addr = s.address;
    }
    const n = Math.max(1, Math.min(length, 65536));
    let excluded: string | undefined;
    let bytes: Uint8Array;
    try {
      bytes = physical ? this.kd.dump.readPhys(addr, n) : this.kd.memory.readVirt(addr, n);
    } catch (e) {
      if (!(e instanceof NotInDumpError && e.reason === 'excluded')) throw e;
      bytes = new Uint8Array(0);
      excluded = e.message;
    }
    let symbol: string | undefined;
    if (!physical) {
      try {
        const hit = this.kd.symbols.byAddress(addr);
        if (hit) symbol = `${hit.symbol.name}+${hex(hit.offset)}`;
      } catch (e) {
        problem(e);
      }
    }
    return { address: (physical ? 'p:' : '') + addr.toString(16), bytes: bytes.slice(), symbol, excluded };
  }
}

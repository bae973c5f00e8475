// The console of `vmcore-ts shell` and of the viewer's Console tab: crash's command names and common
// flags over one open KernelDump. Pure: a command line in, text out (no I/O), so the Node shell and
// the viewer's worker run the same code; the Node side adds `| cmd`, `> file`, history and `js`.
// Output follows crash 9's layout where we know the same fields (ps, bt, sys, mod, sym, rd, log).
import { isDumpDataError, ParseError, UsageError } from '../../errors.ts';
import { describeCompleteness, Gaps, type Completeness } from '../completeness.ts';
import type { KernelDump } from '../kernel-dump.ts';
import { formatLog, type FormatOptions } from '../printk.ts';
import { CRASH_STATE_NAMES, crashState, formatPs, formatPsSummary, psRows } from '../ps-format.ts';
import { backtraceGap, backtraceOfTask, cpuBacktrace, taskTable, type TaskTable } from '../stacks.ts';
import { describeCpuBacktrace, formatBacktrace, type NamedBacktrace } from '../summary.ts';
import { formatCrashSys, formatDate, systemInfo } from '../system-info.ts';
import type { Task } from '../tasks.ts';
import { formatStructAt, formatTypeLayout, formatValue } from '../types-print.ts';
import type { BtfType } from '../btf.ts';
import { getopt, type Opts } from './getopt.ts';
import { parseLine, type CommandLine, type Word } from './line.ts';
import { hex, hexPadded } from '../../text.ts';

export interface ConsoleResult {
  text: string;
  /** What the result lacks (excluded by the dump level, lost), one line each: the shell prints them on stderr. */
  notes: string[];
  /** The command was quit/exit/q. */
  quit?: boolean;
}

export interface ConsoleCommand {
  /** "bt [-a | -p | -c CPU] [PID | TASK ...]" */
  usage: string;
  summary: string;
  run(s: ConsoleSession, o: Words): string;
}

/** A command's words, with the command name. */
export interface Words {
  name: string;
  words: Word[];
  /** The text after the command name, as typed (p takes an expression). */
  rest: string;
}

const MAX_COMPLETIONS = 200;

export class ConsoleSession {
  readonly kd: KernelDump;
  readonly commands: Record<string, ConsoleCommand>;
  /** The task commands default to (crash's context): the panic task until `set` changes it. */
  private context: bigint | undefined;
  private table: TaskTable | undefined;
  private gaps: Gaps;
  private symbolNames: string[] | undefined;
  private warned = false;
  private structNames: string[] | undefined;

  constructor(kd: KernelDump, extra: Record<string, ConsoleCommand> = {}) {
    this.kd = kd;
    this.commands = { ...COMMANDS, ...extra };
    this.gaps = new Gaps(kd.dump.dumpLevel);
  }

  /** Every command name, aliases included, sorted. */
  commandNames(): string[] {
    return [...Object.keys(this.commands), ...Object.keys(ALIASES), 'quit', 'exit', 'q'].sort();
  }

  /** Runs a line that may not use `|` or `>` (the viewer's console). */
  runLine(line: string): ConsoleResult {
    const cl = parseLine(line);
    if (cl.pipe !== undefined || cl.redirect) throw new UsageError("'|' and '>' work in vmcore-ts shell only");
    return this.run(cl);
  }

  /** Runs the command part of a parsed line; a typed error (usage, not in dump, parse) is thrown for the caller to print as one line. */
  run(cl: CommandLine): ConsoleResult {
    const [first, ...words] = cl.words;
    if (!first) return { text: '', notes: [] };
    const name = ALIASES[first.text] ?? first.text;
    if (name === 'quit' || name === 'exit' || name === 'q') return { text: '', notes: [], quit: true };
    const cmd = Object.hasOwn(this.commands, name) ? this.commands[name] : undefined;
    if (!cmd) {
      const close = this.commandNames().filter((n) => n.startsWith(first.text.slice(0, 2)));
      throw new UsageError(`${first.text}: command not found${close.length ? ` (did you mean ${close.slice(0, 4).join(', ')}?)` : ''}; 'help' lists the commands`);
    }
    this.gaps = new Gaps(this.kd.dump.dumpLevel);
    const rest = cl.command.replace(/^\s*\S+\s?/, '');
    const text = cmd.run(this, { name, words, rest });
    // the dump's warnings (truncated, a forced symbol file) once a session, with its first result
    const notes = this.warned ? [] : [...this.kd.dump.warnings, ...this.kd.warnings].map((w) => `warning: ${w}`);
    this.warned = true;
    notes.push(...describeCompleteness(this.gaps.result()));
    return { text, notes };
  }

  /** Records what a result lacks (said after the output). */
  lacks(c: Completeness): void {
    this.gaps.merge(c);
  }

  backtraceGap(bt: NamedBacktrace, label: string): void {
    backtraceGap(this.gaps, bt, label);
  }

  addGap(item: string, e: unknown, label: string): void {
    if (isDumpDataError(e)) this.gaps.add(item, e, label);
    else throw e;
  }

  tasks(): TaskTable {
    this.table ??= taskTable(this.kd);
    this.lacks(this.table.completeness);
    return this.table;
  }

  /** The context task: set by `set`, else the task running on the panic CPU. */
  contextTask(): Task {
    const t = this.tasks();
    const want = this.context ?? t.current[this.kd.panicCpu()];
    const hit = t.tasks.find((x) => x.task === want);
    if (!hit) throw new ParseError(`the context task ${want === undefined ? '(unknown)' : hex(want)} is not among the tasks read`);
    return hit;
  }

  setContext(t: Task): void {
    this.context = t.task;
  }

  /** Tasks by PID, task address (hex) or command name ('regex' words as regular expressions). */
  findTasks(w: Word): Task[] {
    const t = this.tasks().tasks;
    if (w.regex) {
      let re: RegExp;
      try {
        re = new RegExp(w.text);
      } catch {
        throw new UsageError(`'${w.text}' is not a regular expression`);
      }
      return t.filter((x) => re.test(x.comm));
    }
    if (/^\d+$/.test(w.text)) {
      const hits = t.filter((x) => x.pid === Number(w.text));
      if (!hits.length) throw new UsageError(`invalid task or pid value: ${w.text}`);
      return hits;
    }
    if (/^(0x)?[0-9a-f]{8,16}$/i.test(w.text)) {
      const addr = BigInt(w.text.startsWith('0x') ? w.text : '0x' + w.text);
      const hits = t.filter((x) => x.task === addr);
      if (hits.length) return hits;
    }
    const name = w.text.startsWith('\\') ? w.text.slice(1) : w.text;
    const hits = t.filter((x) => x.comm === name);
    if (!hits.length) throw new UsageError(`invalid task, pid or command name: ${w.text}`);
    return hits;
  }

  /** A backtrace of a task with crash's header fields. */
  taskBacktrace(t: Task): NamedBacktrace {
    const table = this.tasks();
    const bt = backtraceOfTask(this.kd, t, table.current);
    const running = table.current.indexOf(t.task);
    const named = { ...bt, cpu: running >= 0 ? running : t.cpu, pid: t.pid, comm: t.comm, task: t.task };
    backtraceGap(this.gaps, named, `PID ${t.pid}`);
    return named;
  }

  /** An address: hex (0x optional), or a symbol name. */
  address(w: string): bigint {
    if (/^(0x)?[0-9a-f]+$/i.test(w) && (w.startsWith('0x') || /^[0-9a-f]{8,16}$/i.test(w) || !this.kd.symbols.byName(w))) return BigInt(w.startsWith('0x') ? w : '0x' + w);
    const a = this.kd.symbols.byName(w)?.address;
    if (a === undefined) throw new UsageError(`symbol not found: ${w}`);
    return a;
  }

  /** Tab completion for node:readline: candidates for the word before the cursor, and that word. */
  complete(line: string): [string[], string] {
    const m = /(\S*)$/.exec(line)!;
    const word = m[1]!;
    const before = line.slice(0, line.length - word.length).trim().split(/\s+/).filter(Boolean);
    const pick = (all: readonly string[], prefix: string, add = '') => [all.filter((n) => n.startsWith(prefix)).slice(0, MAX_COMPLETIONS).map((n) => add + n), word] as [string[], string];
    if (before.length === 0 || (before.length === 1 && before[0] === 'help') || before[before.length - 1] === 'foreach') {
      const [names] = pick(this.commandNames(), word);
      // a command name completed alone gets its blank, as a shell does
      return [names.length === 1 ? [names[0] + ' '] : names, word];
    }
    const cmd = ALIASES[before[0]!] ?? before[0]!;
    try {
      if ((cmd === 'struct' || cmd === 'union') && !word.startsWith('-')) {
        const dot = word.indexOf('.');
        if (dot >= 0 && before.filter((b) => !b.startsWith('-')).length === 1) {
          const type = this.findType(cmd, word.slice(0, dot));
          const path = word.slice(dot + 1).split(',').pop()!;
          const head = word.slice(0, word.length - path.length);
          return [this.memberNames(type).filter((n) => n.startsWith(path)).slice(0, MAX_COMPLETIONS).map((n) => head + n), word];
        }
        if (before.filter((b) => !b.startsWith('-')).length === 1) return pick(this.typeNames(cmd), word);
        return this.completeSymbol(word);
      }
      if (cmd === 'sym' || cmd === 'rd' || cmd === 'p' || cmd === 'print' || cmd === 'px' || cmd === 'pd') return this.completeSymbol(word.replace(/^[&*]/, ''), word.startsWith('&') || word.startsWith('*') ? word[0] : '');
    } catch (e) {
      if (!isDumpDataError(e)) throw e;
    }
    return [[], word];
  }

  private completeSymbol(prefix: string, add = ''): [string[], string] {
    if (prefix.length < 1) return [[], add + prefix];
    this.symbolNames ??= [...new Set(this.kd.symbols.all().map((s) => s.name))].sort();
    const names = this.symbolNames;
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (names[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < names.length && names[i]!.startsWith(prefix) && out.length < MAX_COMPLETIONS; i++) out.push(add + names[i]!);
    return [out.length === 1 ? [out[0] + ' '] : out, add + prefix];
  }

  private typeNames(kind: string): string[] {
    if (!this.structNames) {
      const btf = this.kd.btf;
      const s = new Set<string>();
      const u = new Set<string>();
      for (let id = 1; id < btf.count; id++) {
        const t = btf.type(id);
        if (t.name && t.kind === 'struct') s.add(t.name);
        if (t.name && t.kind === 'union') u.add(t.name);
      }
      this.structNames = [...s].sort();
      this.unionNames = [...u].sort();
    }
    return kind === 'union' ? this.unionNames! : this.structNames;
  }
  private unionNames: string[] | undefined;
  private values = 0;

  /** crash's (gdb's) value history label: "$1", "$2", ... */
  nextValue(): string {
    return `$${++this.values}`;
  }

  private memberNames(t: BtfType): string[] {
    const btf = this.kd.btf;
    const out: string[] = [];
    const walk = (x: BtfType) => {
      for (const m of btf.resolve(x.id).members ?? []) {
        if (m.name) out.push(m.name);
        else walk(btf.resolve(m.typeId));
      }
    };
    walk(t);
    return out;
  }

  findType(kind: string, name: string): BtfType {
    const t = this.kd.btf.find(`${kind} ${name}`);
    if (!t) throw new UsageError(`invalid data structure reference: ${name}`);
    return t;
  }
}

/** crash's other spellings. */
const ALIASES: Record<string, string> = { dmesg: 'log', print: 'p', '?': 'help', h: 'help' };

const COMMANDS: Record<string, ConsoleCommand> = {
  help: {
    usage: 'help [COMMAND]',
    summary: 'the commands, or one command\'s usage',
    run(s, o) {
      const name = o.words[0]?.text;
      if (name) {
        const c = s.commands[ALIASES[name] ?? name];
        if (!c) throw new UsageError(`help: no command ${name}`);
        return `${c.usage}\n  ${c.summary}\n`;
      }
      const names = Object.keys(s.commands).sort();
      return names.map((n) => `${n.padEnd(8)} ${s.commands[n]!.summary}`).join('\n') + '\nquit     leave the shell (also exit, q, ^D)\n';
    },
  },

  sys: {
    usage: 'sys',
    summary: 'system data: release, CPUs, date, uptime, load average, tasks, memory, panic message',
    run(s) {
      const kd = s.kd;
      const info = systemInfo(kd);
      s.lacks(info.completeness);
      let tasks: number | undefined;
      try {
        tasks = s.tasks().tasks.length;
      } catch (e) {
        s.addGap('task list', e, 'TASKS');
      }
      const kernel = kd.symbolsLoaded()?.source.replace(/^(vmlinux|System\.map) /, '');
      return formatCrashSys(info, { tasks, loadAverage: loadAverage(s), mhz: cpuMhz(s), kernel: kernel && !kernel.startsWith('kallsyms') ? kernel : undefined });
    },
  },

  log: {
    usage: 'log [-t] [-T] [-m] [-d]',
    summary: 'the kernel log (-t: no timestamps, -T: wall-clock times, -m: <level> prefix, -d: dev_info lines)',
    run(s, o) {
      const g = getopt('log', o.words, 'tTmd');
      if (g.args.length) throw new UsageError('log: takes no arguments');
      const log = s.kd.log;
      s.lacks(log.completeness);
      const opts: FormatOptions = { raw: g.flags.has('m'), dict: g.flags.has('d') };
      if (g.flags.has('t')) opts.time = () => '';
      else if (g.flags.has('T')) {
        const crash = s.kd.info.crashTime;
        const last = log.records.at(-1)?.tsNsec ?? 0n;
        if (crash === undefined) throw new UsageError('log -T: the dump has no crash time');
        const boot = crash * 1_000_000_000n - last;
        opts.time = (ts) => `[${formatDate((boot + ts) / 1_000_000_000n)}] `;
      }
      return formatLog(log, opts);
    },
  },

  bt: {
    usage: 'bt [-a | -p | -c CPU[,CPU...]] [PID | TASK | COMMAND ...]',
    summary: 'backtrace of the context task (-a: the active task of every CPU, -p: the panic task, -c: CPUs, or these tasks)',
    run(s, o) {
      const g = getopt('bt', o.words, 'apc:');
      const kd = s.kd;
      const modes = [g.flags.has('a'), g.flags.has('p'), g.values.has('c'), g.args.length > 0].filter(Boolean).length;
      if (modes > 1) throw new UsageError('bt: -a, -p, -c and tasks choose different stacks: give one of them');
      let traces: NamedBacktrace[];
      if (g.flags.has('a') || g.values.has('c')) {
        const cpus = g.flags.has('a') ? kd.cpus.map((_, i) => i) : cpuList(g.values.get('c')!.join(','), kd.cpus.length);
        traces = cpus.map((cpu) => {
          const bt = describeCpuBacktrace(kd, cpuBacktrace(kd, cpu));
          s.backtraceGap(bt, `CPU ${cpu}`);
          return bt;
        });
      } else if (g.args.length) {
        traces = g.args.flatMap((w) => s.findTasks(w)).map((t) => s.taskBacktrace(t));
      } else if (g.flags.has('p')) {
        const cpu = kd.panicCpu();
        const t = s.tasks().tasks.find((x) => x.task === s.tasks().current[cpu]);
        traces = [t ? s.taskBacktrace(t) : describeCpuBacktrace(kd, cpuBacktrace(kd, cpu))];
      } else traces = [s.taskBacktrace(s.contextTask())];
      return traces.map(formatBacktrace).join('\n');
    },
  },

  ps: {
    usage: "ps [-k | -u | -G] [-y POLICY[,POLICY]] [-A] [-S] [-H] [PID | TASK | COMMAND | 'REGEX' ...]",
    summary: 'process status: PID, PPID, CPU, task, state, %MEM, VSZ, RSS, command (-k kernel threads, -u user tasks, -G group leaders, -y scheduling policy: NORMAL FIFO RR BATCH ISO IDLE DEADLINE or 0-6, -A active, -S states summary)',
    run(s, o) {
      const g = getopt('ps', o.words, 'kuGASHy:');
      const only = ['k', 'u', 'G'].filter((f) => g.flags.has(f));
      if (only.length > 1) throw new UsageError('ps: -k, -u and -G exclude each other');
      if (g.flags.has('S') && (only.length || g.args.length)) throw new UsageError('ps: -S option cannot be used with other options');
      const table = s.tasks();
      let tasks = g.args.length ? dedupe(g.args.flatMap((w) => s.findTasks(w))) : table.tasks;
      tasks = filterTasks(tasks, g, table);
      const policies = g.values.get('y');
      if (policies) {
        const want = new Set(policies.join(',').split(',').map(policyNumber));
        const off = s.kd.btf.offsetOf('struct task_struct', 'policy');
        tasks = tasks.filter((t) => want.has(s.kd.memory.u32(t.task + BigInt(off))));
      }
      if (g.flags.has('S')) return formatPsSummary(tasks);
      return formatPs(s.kd, psRows(s.kd, table, tasks), g.flags.has('H'));
    },
  },

  set: {
    usage: 'set [PID | TASK]',
    summary: 'show or change the context task (what bt with no argument shows)',
    run(s, o) {
      if (o.words.length > 1) throw new UsageError('set: give one PID or task address');
      let t = s.contextTask();
      if (o.words[0]) {
        const hits = s.findTasks(o.words[0]);
        if (hits.length > 1) throw new UsageError(`set: ${o.words[0].text} names ${hits.length} tasks: give a task address`);
        t = hits[0]!;
        s.setContext(t);
      }
      const running = s.tasks().current.indexOf(t.task);
      return [
        `    PID: ${t.pid}`,
        `COMMAND: "${t.comm}"`,
        `   TASK: ${hexPadded(t.task)}  [THREAD_INFO: ${hexPadded(t.task)}]`, // x86_64 keeps thread_info in task_struct
        `    CPU: ${running >= 0 ? running : t.cpu}`,
        `  STATE: TASK_${stateWord(crashState(t))}${running >= 0 ? ' (ACTIVE)' : ''}`,
      ].join('\n') + '\n';
    },
  },

  foreach: {
    usage: "foreach [PID | TASK | COMMAND | 'REGEX' | STATE | kernel | user | gleader | active ...] bt|ps [FLAGS]",
    summary: `run bt or ps for each of the chosen tasks (all by default); STATE is one of ${CRASH_STATE_NAMES.join(', ')}`,
    run(s, o) {
      const at = o.words.findIndex((w) => !w.regex && (w.text === 'bt' || w.text === 'ps'));
      if (at < 0) throw new UsageError('foreach: give a command: bt or ps');
      const table = s.tasks();
      const sel = o.words.slice(0, at);
      const cmd = o.words[at]!.text;
      let tasks: Task[] = table.tasks;
      const picks: Task[] = [];
      const classes: ((t: Task) => boolean)[] = [];
      for (const w of sel) {
        if (!w.regex && CRASH_STATE_NAMES.includes(w.text)) classes.push((t) => crashState(t) === w.text);
        else if (!w.regex && w.text === 'kernel') classes.push((t) => t.kthread || !!t.idle);
        else if (!w.regex && w.text === 'user') classes.push((t) => !t.kthread && !t.idle);
        else if (!w.regex && w.text === 'gleader') classes.push((t) => !t.kthread && !t.idle && t.pid === t.tgid);
        else if (!w.regex && w.text === 'active') classes.push((t) => table.current.includes(t.task));
        else picks.push(...s.findTasks(w));
      }
      if (sel.length) tasks = tasks.filter((t) => picks.includes(t) || classes.some((f) => f(t)));
      const rest = o.words.slice(at + 1);
      if (cmd === 'ps') {
        const g = getopt('ps', rest, 'kuGH');
        return formatPs(s.kd, psRows(s.kd, table, filterTasks(tasks, g, table)), g.flags.has('H'));
      }
      if (rest.length) throw new UsageError('foreach bt: takes no flags here');
      return tasks.map((t) => formatBacktrace(s.taskBacktrace(t))).join('\n');
    },
  },

  struct: structCommand('struct'),
  union: structCommand('union'),

  p: {
    usage: 'p SYMBOL | p PERCPU_VAR[:CPU|:a] | p *(struct TYPE *)ADDR | p ((struct TYPE *)ADDR)->MEMBER | p &SYMBOL',
    summary: 'print a variable: a per-CPU variable with its type (BTF); any other global as an unsigned long (no DWARF: no type); a structure by address',
    run(s, o) {
      return printExpression(s, o.rest.trim());
    },
  },

  rd: {
    usage: 'rd [-8 | -16 | -32 | -64] [-p] [-a] [-d | -D] [-s] ADDRESS | SYMBOL [COUNT]',
    summary: 'read memory: hex words and ASCII (-p physical, -a ASCII only, -d/-D decimal, -s symbolic)',
    run(s, o) {
      const g = getopt('rd', o.words, 'padDsuxN', ['-8', '-16', '-32', '-64']);
      if (g.args.length < 1 || g.args.length > 2) throw new UsageError(`rd: usage: ${this.usage}`);
      const sizes = ['-8', '-16', '-32', '-64'].filter((f) => g.flags.has(f));
      if (sizes.length > 1) throw new UsageError('rd: give one of -8, -16, -32, -64');
      const unit = sizes.length ? Number(sizes[0]!.slice(1)) / 8 : 8;
      const addr = g.flags.has('p') ? parseHex(g.args[0]!.text) : s.address(g.args[0]!.text);
      const read = (a: bigint, n: number) => (g.flags.has('p') ? s.kd.memory.readPhys(a, n) : s.kd.memory.readVirt(a, n));
      if (g.flags.has('a')) {
        // a string: up to the NUL (or COUNT bytes), read a page at a time so the end of a mapping is no error
        const max = g.args[1] ? parseCount(g.args[1].text) : 1 << 16;
        const parts: Uint8Array[] = [];
        let got = 0;
        while (got < max) {
          const n = Math.min(max - got, 4096 - Number((addr + BigInt(got)) & 4095n));
          const b = read(addr + BigInt(got), n);
          // crash stops at the first byte that is not printable (the NUL, a newline) unless given a count
          const nul = g.args[1] ? b.indexOf(0) : b.findIndex((c) => c < 0x20 || c >= 0x7f);
          parts.push(nul < 0 ? b : b.subarray(0, nul));
          got += n;
          if (nul >= 0) break;
        }
        const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) bytes.set(p, (o += p.length) - p.length);
        return asciiDump(addr, bytes);
      }
      const count = g.args[1] ? parseCount(g.args[1].text) : 1;
      const len = count * unit;
      if (len > 1 << 20) throw new UsageError('rd: at most 1 MiB at a time');
      const bytes = read(addr, len);
      return formatWords(s, addr, bytes, unit, g);
    },
  },

  sym: {
    usage: 'sym [-l] [-q STRING] SYMBOL | ADDRESS ...',
    summary: 'symbol to address or address to symbol+offset (-l: every symbol, -q: names containing STRING)',
    run(s, o) {
      const g = getopt('sym', o.words, 'lq:');
      const table = s.kd.symbols;
      const line = (a: bigint, type: string, name: string) => `${hexPadded(a)} (${type}) ${name}`;
      if (g.flags.has('l')) return table.all().map((x) => line(x.address, x.type, x.name)).join('\n') + '\n';
      const q = g.values.get('q');
      if (q) return table.all().filter((x) => q.some((v) => x.name.includes(v))).map((x) => line(x.address, x.type, x.name)).join('\n') + '\n';
      if (!g.args.length) throw new UsageError(`sym: usage: ${this.usage}`);
      const out: string[] = [];
      for (const w of g.args) {
        const byName = table.byName(w.text);
        if (byName) {
          out.push(line(byName.address, byName.type, byName.name));
          continue;
        }
        if (!/^(0x)?[0-9a-f]+$/i.test(w.text)) throw new UsageError(`sym: ${w.text}: no such symbol`);
        const a = parseHex(w.text);
        const hit = s.kd.symbolizer.symbolize(a);
        if (!hit) throw new UsageError(`sym: ${w.text}: no symbol at this address`);
        const symType = 'module' in hit && hit.module ? undefined : table.byAddress(a)?.symbol.type;
        out.push(`${line(a, symType ?? 't', `${hit.name}${hit.offset ? `+${hit.offset}` : ''}`)}${'module' in hit && hit.module ? ` [${hit.module}]` : ''}`);
      }
      return out.join('\n') + '\n';
    },
  },

  mod: {
    usage: 'mod',
    summary: 'loaded modules: struct module address, name, text base, size (crash\'s mod)',
    run(s, o) {
      if (o.words.length) throw new UsageError('mod: only the list is supported (no -s/-S: there are no module object files to load)');
      const kd = s.kd;
      const mods = kd.modules;
      s.lacks(kd.moduleGaps.result());
      if (!mods.length) return 'no modules loaded\n';
      const nameW = Math.max(4, ...mods.map((m) => m.name.length));
      const sizeW = Math.max(4, ...mods.map((m) => String(m.coreSize).length));
      const newLayout = kd.btf.hasMember('struct module', 'mem');
      const lines = [`${center('MODULE', 16)}  ${'NAME'.padEnd(nameW)}  ${center(newLayout ? 'TEXT_BASE' : 'BASE', 16)}  ${'SIZE'.padStart(sizeW)}  OBJECT FILE`];
      for (const m of [...mods].sort((x, y) => (x.address < y.address ? -1 : 1))) lines.push(`${hexPadded(m.address)}  ${m.name.padEnd(nameW)}  ${hexPadded(m.base)}  ${String(m.coreSize).padStart(sizeW)}  (not loaded)  [CONFIG_KALLSYMS]`);
      return lines.join('\n') + '\n';
    },
  },
};

function structCommand(kind: 'struct' | 'union'): ConsoleCommand {
  return {
    usage: `${kind} [-o] NAME[.MEMBER[,MEMBER...]] [ADDRESS | SYMBOL] [COUNT]`,
    summary: `a ${kind}'s layout with offsets, or its contents at an address (only the MEMBERs given)`,
    run(s, o) {
      const g = getopt(kind, o.words, 'ox');
      if (!g.args.length || g.args.length > 3) throw new UsageError(`${kind}: usage: ${this.usage}`);
      const [spec, where, countW] = g.args as [Word, Word | undefined, Word | undefined];
      const dot = spec.text.indexOf('.');
      const typeName = dot < 0 ? spec.text : spec.text.slice(0, dot);
      const members = dot < 0 ? [] : spec.text.slice(dot + 1).split(',').filter(Boolean);
      const btf = s.kd.btf;
      const type = s.findType(kind, typeName);
      for (const m of members) if (!btf.hasMember(type, m)) throw new UsageError(`${kind}: invalid data structure member reference: ${m}`);
      if (!where) return formatTypeLayout(btf, type, 1) + '\n';
      const size = btf.sizeOf(type.id);
      const count = countW ? parseCount(countW.text) : 1;
      if (count > 1024) throw new UsageError(`${kind}: at most 1024 at a time`);
      let addr = s.address(where.text);
      const out: string[] = [];
      for (let i = 0; i < count; i++, addr += BigInt(size)) {
        if (!members.length) {
          out.push(formatStructAt(btf, type, addr, (a, n) => s.kd.memory.readVirt(a, n)));
          continue;
        }
        if (count > 1) out.push(`${btf.typeName(type.id)} at ${hex(addr)}:`);
        for (const m of members) {
          const mm = btf.member(type, m);
          const msize = mm.bitSize ? 8 : btf.sizeOf(mm.typeId);
          const bytes = s.kd.memory.readVirt(addr + BigInt(mm.offset), Math.max(1, msize));
          const v = mm.bitSize ? String(bitsOf(bytes, mm.bitOffset & 7, mm.bitSize)) : formatValue(btf, mm.typeId, bytes, {}, '  ');
          out.push(`  ${m} = ${v},`);
        }
      }
      return out.join('\n') + '\n';
    },
  };
}

function bitsOf(b: Uint8Array, bit: number, n: number): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return (v >> BigInt(bit)) & ((1n << BigInt(n)) - 1n);
}

function printExpression(s: ConsoleSession, expr: string): string {
  const kd = s.kd;
  const btf = kd.btf;
  if (!expr) throw new UsageError('p: give an expression (help p)');
  // p *(struct TYPE *)ADDR, p ((struct TYPE *)ADDR)->member
  const cast = /^(\*)?\(\s*\(?\s*(struct|union)\s+(\w+)\s*\*\s*\)\s*([0-9a-fx]+|\w+)\s*\)?(?:->([\w.]+))?$/i.exec(expr);
  if (cast) {
    const [, star, kind, name, where, member] = cast;
    const type = s.findType(kind!, name!);
    const addr = s.address(where!);
    if (member) {
      const mm = btf.member(type, member);
      const bytes = kd.memory.readVirt(addr + BigInt(mm.offset), Math.max(1, btf.sizeOf(mm.typeId)));
      return `${s.nextValue()} = ${mm.bitSize ? String(bitsOf(bytes, mm.bitOffset & 7, mm.bitSize)) : formatValue(btf, mm.typeId, bytes)}\n`;
    }
    if (!star) return `${s.nextValue()} = (${kind} ${name} *) ${hex(addr)}\n`;
    return `${s.nextValue()} = ${formatValue(btf, type.id, kd.memory.readVirt(addr, btf.sizeOf(type.id)))}\n`;
  }
  const amp = /^&(\w+)$/.exec(expr);
  if (amp) return `${s.nextValue()} = (void *) ${hex(s.address(amp[1]!))} <${amp[1]}>\n`;
  const m = /^(\w+)(?::(a|all|\d+(?:,\d+)*))?$/.exec(expr);
  if (!m) throw new UsageError(`p: cannot evaluate '${expr}': give SYMBOL, PERCPU_VAR:CPU, *(struct TYPE *)ADDR or ((struct TYPE *)ADDR)->MEMBER`);
  const [, name, cpus] = m;
  const sym = kd.symbols.byName(name!);
  if (!sym) throw new UsageError(`p: no symbol "${name}" in current context`);
  const v = btf.find(name!, 'var');
  if (v) {
    // BTF describes the per-CPU variables (pahole encodes only those): crash's PER-CPU layout.
    const tname = btf.typeName(v.typeId);
    const size = btf.sizeOf(v.typeId);
    const list = cpus === undefined ? undefined : cpus === 'a' || cpus === 'all' ? kd.cpus.map((_, i) => i) : cpuList(cpus, kd.cpus.length);
    if (!list) {
      const lines = ['PER-CPU DATA TYPE:', `  ${declareVar(tname, name!)};`, 'PER-CPU ADDRESSES:'];
      for (let cpu = 0; cpu < kd.cpus.length; cpu++) lines.push(`  [${cpu}]: ${hexPadded(kd.perCpu(name!, cpu) ?? 0n).replace(/^0+(?=.)/, '')}`);
      return lines.join('\n') + '\n';
    }
    return list.map((cpu) => {
      const a = kd.perCpu(name!, cpu)!;
      return `per_cpu(${name}, ${cpu}) = ${formatValue(btf, v.typeId, kd.memory.readVirt(a, Math.max(1, size)))}`;
    }).join('\n') + '\n';
  }
  if (sym.address < kd.arch.kernelSpace && kd.perCpu(name!, 0) !== undefined) {
    // a per-CPU symbol (an offset into the per-CPU area) that BTF does not describe (5.10 and older)
    const lines = ['PER-CPU DATA TYPE:', `  (unknown: this kernel's BTF has no type for ${name})`, 'PER-CPU ADDRESSES:'];
    for (let cpu = 0; cpu < kd.cpus.length; cpu++) lines.push(`  [${cpu}]: ${hexPadded(kd.perCpu(name!, cpu)!).replace(/^0+(?=.)/, '')}`);
    return lines.join('\n') + '\n';
  }
  if (cpus !== undefined) throw new UsageError(`p: ${name} is not a per-CPU variable`);
  // No DWARF: a plain global has no type here; its first 8 bytes as an unsigned long (help p says so).
  return `${name} = ${s.nextValue()} = ${kd.memory.u64(sym.address)}\n`;
}

function declareVar(type: string, name: string): string {
  const arr = /^(.*?)((\[\d+\])+)$/.exec(type);
  if (arr) return `${arr[1]} ${name}${arr[2]}`;
  return type.endsWith('*') ? `${type}${name}` : `${type} ${name}`;
}

function filterTasks(tasks: Task[], g: Opts, table: TaskTable): Task[] {
  let out = tasks;
  if (g.flags.has('k')) out = out.filter((t) => t.kthread || t.idle);
  if (g.flags.has('u')) out = out.filter((t) => !t.kthread && !t.idle);
  if (g.flags.has('G')) out = out.filter((t) => t.pid === t.tgid);
  if (g.flags.has('A')) out = out.filter((t) => table.current.includes(t.task));
  return out;
}

const POLICIES = ['NORMAL', 'FIFO', 'RR', 'BATCH', 'ISO', 'IDLE', 'DEADLINE'];
function policyNumber(p: string): number {
  const n = /^\d$/.test(p) ? Number(p) : POLICIES.indexOf(p.toUpperCase());
  if (n < 0 || n >= POLICIES.length) throw new UsageError(`ps: invalid scheduling policy: ${p} (${POLICIES.join(', ')} or 0-6)`);
  return n;
}

function dedupe(tasks: Task[]): Task[] {
  return [...new Set(tasks)];
}

const STATE_WORDS: Record<string, string> = { RU: 'RUNNING', IN: 'INTERRUPTIBLE', UN: 'UNINTERRUPTIBLE', ST: 'STOPPED', TR: 'TRACED', ZO: 'EXIT_ZOMBIE', DE: 'EXIT_DEAD', PA: 'PARKED', ID: 'IDLE' };
function stateWord(s: string): string {
  return STATE_WORDS[s] ?? s;
}

function cpuList(s: string, n: number): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`invalid cpu specification: ${s}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) {
      if (c >= n) throw new UsageError(`invalid cpu: ${c} (the dump has CPUs 0 to ${n - 1})`);
      out.push(c);
    }
  }
  return out;
}

function parseHex(w: string): bigint {
  if (!/^(0x)?[0-9a-f]{1,16}$/i.test(w)) throw new UsageError(`not a hex address: ${w}`);
  return BigInt(w.startsWith('0x') || w.startsWith('0X') ? w : '0x' + w);
}

function parseCount(w: string): number {
  const n = /^0x[0-9a-f]+$/i.test(w) ? parseInt(w, 16) : /^\d+$/.test(w) ? Number(w) : NaN;
  if (!(n >= 1)) throw new UsageError(`not a count: ${w}`);
  return n;
}

function center(s: string, w: number): string {
  const left = Math.floor((w - s.length) / 2);
  return (' '.repeat(Math.max(0, left)) + s).padEnd(w);
}

const printable = (b: number) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');

/** crash's rd: "ADDR:  word word ...  ascii", 16 bytes a line. */
function formatWords(s: ConsoleSession, addr: bigint, bytes: Uint8Array, unit: number, g: Opts): string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const perLine = 16 / unit;
  const lines: string[] = [];
  const read = (o: number): bigint => (unit === 8 ? dv.getBigUint64(o, true) : BigInt(unit === 4 ? dv.getUint32(o, true) : unit === 2 ? dv.getUint16(o, true) : dv.getUint8(o)));
  const signed = g.flags.has('d');
  const dec = signed || g.flags.has('D');
  const symbolic = g.flags.has('s');
  const width = dec ? (unit === 8 ? (signed ? 15 : 20) : unit === 4 ? 12 : unit === 2 ? 5 : 3) : unit * 2;
  for (let o = 0; o < bytes.length; o += 16) {
    const n = Math.min(16, bytes.length - o);
    const cells: string[] = [];
    for (let i = 0; i < n; i += unit) {
      const v = read(o + i);
      if (symbolic && unit === 8) {
        const hit = s.kd.symbolizer.symbolize(v);
        cells.push((hit ? `${hit.name}${hit.offset ? `+${hit.offset}` : ''}` : hexPadded(v)).padEnd(16));
      } else if (dec) cells.push(String(signed ? BigInt.asIntN(unit * 8, v) : v).padStart(width));
      else cells.push(v.toString(16).padStart(width, '0'));
    }
    let line = `${hexPadded(addr + BigInt(o))}:  ${cells.join(' ')} `;
    if (!dec && !symbolic) {
      line = line.padEnd(19 + perLine * (width + 1));
      line += '  ' + Array.from(bytes.subarray(o, o + n), printable).join('');
    }
    lines.push(line.trimEnd());
  }
  return lines.join('\n') + '\n';
}

/** rd -a: 60 characters a line. */
function asciiDump(addr: bigint, bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let o = 0; o < bytes.length || o === 0; o += 60) lines.push(`${hexPadded(addr + BigInt(o))}:  ${Array.from(bytes.subarray(o, o + 60), printable).join('')}`);
  return lines.join('\n') + '\n';
}

/** cpu_khz / 1000 (crash's MHz after MACHINE), undefined when not readable or 0. */
function cpuMhz(s: ConsoleSession): number | undefined {
  try {
    const a = s.kd.symbols.byName('cpu_khz')?.address;
    const khz = a === undefined ? 0 : s.kd.memory.u32(a);
    return khz ? Math.floor(khz / 1000) : undefined;
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
}

/** avenrun[3] as "0.08, 0.02, 0.01" (fixed point, FSHIFT 11), undefined when not readable. */
function loadAverage(s: ConsoleSession): string | undefined {
  try {
    const a = s.kd.symbols.byName('avenrun')?.address;
    if (a === undefined) return undefined;
    const parts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = s.kd.memory.u64(a + BigInt(i * 8)) + 10n; // + FIXED_1/200: rounded as /proc/loadavg and crash
      const int = v >> 11n;
      const frac = ((v & 2047n) * 100n) >> 11n;
      parts.push(`${int}.${String(frac).padStart(2, '0')}`);
    }
    return parts.join(', ');
  } catch (e) {
    if (isDumpDataError(e)) return undefined;
    throw e;
  }
}

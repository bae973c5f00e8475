// The one screen an on-call engineer needs first: what crashed and when, the panic message, the
// panic CPU's backtrace, the last log lines and memory use — plus the backtrace/memory formatting
// the bt, mem and serve commands share.
import { NotInDumpError, ParseError } from '../errors.ts';
import { MAX_DUMP_LEVEL, PageClassifier, classifyWindows, emptyCounts, findMemMap, pageLayout, type ExclusionCounts } from './page-class.ts';
import { Gaps, type Completeness } from './completeness.ts';
import type { KernelDump } from './kernel-dump.ts';
import { formatRecord, type LogRecord } from './printk.ts';
import { backtraceGap, cpuBacktrace, type CpuBacktrace } from './stacks.ts';
import { attemptInto, problemLines, formatDate, formatMemory, formatUptime, systemInfo, type SystemInfo } from './system-info.ts';
import { TaskReader } from './tasks.ts';
import type { Regs } from './arch/x86_64/regs.ts';
import { frameLabel } from './arch/x86_64/unwind.ts';
import { archOfRegs, type ArchRegs, type Backtrace } from './arch/arch.ts';
import { hexPadded } from '../text.ts';
import { crashSignature, formatSignature, type CrashSignature } from './signature.ts';

export interface NamedBacktrace extends Backtrace {
  cpu?: number;
  pid?: number;
  comm?: string;
  task?: bigint;
}


/** Adds the running task's comm (from BTF) to a CPU backtrace; without BTF it stays unnamed. */
export function describeCpuBacktrace(kd: KernelDump, bt: CpuBacktrace): NamedBacktrace {
  let comm: string | undefined;
  if (bt.task !== undefined) {
    try {
      comm = new TaskReader(kd.memory, kd.btf).read(bt.task).comm;
    } catch (e) {
      if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
    }
  }
  return { ...bt, comm };
}

function formatRegs(regs: ArchRegs, indent: string): string[] {
  if (!('rip' in regs)) return archOfRegs(regs).formatRegs(regs, indent);
  const r = regs as Regs;
  const row = (names: (keyof Regs)[]) => indent + names.map((n) => `${n.toUpperCase().padStart(3)}: ${hexPadded(r[n])}`).join('  ');
  return [
    row(['rip', 'rsp', 'eflags']),
    row(['rax', 'rbx', 'rcx']),
    row(['rdx', 'rsi', 'rdi']),
    row(['rbp', 'r8', 'r9']),
    row(['r10', 'r11', 'r12']),
    row(['r13', 'r14', 'r15']),
    `${indent}ORIG_RAX: ${hexPadded(r.orig_rax)}  CS: ${hexPadded(r.cs, 4)}  SS: ${hexPadded(r.ss, 4)}`,
  ];
}

/** One line of a crash-style backtrace; `frame` is set on the line of frame #N (the viewer links it). */
export interface BacktraceLine {
  text: string;
  frame?: number;
}

/** crash-style lines: a header line, "#N [sp] func+off at pc" frames, register frames, the stop reason. */
export function backtraceLines(bt: NamedBacktrace): BacktraceLine[] {
  const head = [
    bt.pid !== undefined ? `PID: ${bt.pid}` : undefined,
    bt.task !== undefined ? `TASK: ${hexPadded(bt.task)}` : undefined,
    bt.cpu !== undefined ? `CPU: ${bt.cpu}` : undefined,
    bt.comm !== undefined ? `COMMAND: "${bt.comm}"` : undefined,
  ].filter(Boolean);
  const lines: BacktraceLine[] = [{ text: head.join('  ') }];
  const text = (t: string) => ({ text: t });
  bt.frames.forEach((f, i) => {
    lines.push({ frame: i, text: `${`#${i}`.padStart(3)} [${hexPadded(f.sp)}] ${frameLabel(f)} at ${hexPadded(f.pc)}${f.method === 'frame pointer' || f.method === 'prologue' ? `  (found by ${f.method})` : ''}` });
    if (f.regs && f.regs !== bt.userRegs) {
      lines.push(text(`    --- ${f.partialRegs ? 'interrupt (iret frame)' : 'exception/interrupt'} registers ---`), ...formatRegs(f.regs, '    ').map(text));
    }
  });
  if (bt.userRegs) lines.push(text('    --- user-space registers (entry from user mode) ---'), ...formatRegs(bt.userRegs, '    ').map(text));
  else if (bt.error) lines.push(text(`    [unwinding stopped: ${bt.stop}]`));
  return lines;
}

export function formatBacktrace(bt: NamedBacktrace): string {
  return backtraceLines(bt).map((l) => l.text).join('\n') + '\n';
}

export function backtraceJson(bt: NamedBacktrace): unknown {
  return {
    cpu: bt.cpu,
    pid: bt.pid,
    comm: bt.comm,
    task: bt.task,
    frames: bt.frames.map((f) => ({
      pc: f.pc,
      sp: f.sp,
      function: f.symbol?.name,
      offset: f.symbol?.offset,
      module: f.symbol?.module,
      method: f.method,
      regs: f.regs && f.regs !== bt.userRegs ? f.regs : undefined,
    })),
    userRegs: bt.userRegs,
    stop: bt.stop,
    error: bt.error,
  };
}

/** Memory counters the kernel keeps (what /proc/meminfo shows), in pages. */
export interface MemoryCounters {
  pageSize: number;
  total: bigint | undefined;
  free: bigint | undefined;
  fileCache: bigint | undefined;
  shmem: bigint | undefined;
  anon: bigint | undefined;
  slabReclaimable: bigint | undefined;
  slabUnreclaimable: bigint | undefined;
  pageTables: bigint | undefined;
  kernelStackKb: bigint | undefined;
}

/**
 * vm_zone_stat / vm_node_stat counters (what /proc/meminfo adds up) and _totalram_pages. The item
 * indexes change between kernel versions; the kernel's own vmstat_text[] names them in order (zone
 * items from index 0, node items from "nr_inactive_anon", Linux 4.8+), so no BTF is needed.
 */
export function memoryCounters(kd: KernelDump): MemoryCounters {
  const mem = kd.memory;
  const sym = (n: string) => kd.symbols.byName(n)?.address;
  const textAddr = sym('vmstat_text');
  if (textAddr === undefined) throw new ParseError('symbol vmstat_text not found: cannot name the memory counters');
  const want = new Set(['nr_free_pages', 'nr_inactive_anon', 'nr_file_pages', 'nr_shmem', 'nr_anon_pages', 'nr_slab_reclaimable', 'nr_slab_unreclaimable', 'nr_page_table_pages', 'nr_kernel_stack']);
  const index = new Map<string, number>();
  const ptrs = mem.readVirt(textAddr, MAX_VMSTAT_ITEMS * 8);
  const pv = new DataView(ptrs.buffer, ptrs.byteOffset, ptrs.byteLength);
  for (let i = 0; i < MAX_VMSTAT_ITEMS && index.size < want.size; i++) {
    const p = pv.getBigUint64(i * 8, true);
    if (p < kd.arch.kernelSpace) break;
    const name = mem.cstring(p, 64);
    if (want.has(name) && !index.has(name)) index.set(name, i);
  }
  const nodeBase = index.get('nr_inactive_anon');
  const read = (arraySym: string, idx: number): bigint | undefined => {
    const base = sym(arraySym);
    if (base === undefined) return undefined;
    try {
      // The global counters lag the per-CPU deltas a little and can even read below zero.
      const v = BigInt.asIntN(64, mem.u64(base + BigInt(idx) * 8n));
      return v < 0n ? 0n : v;
    } catch (err) {
      if (err instanceof NotInDumpError) return undefined;
      throw err;
    }
  };
  const counter = (name: string): bigint | undefined => {
    const i = index.get(name);
    if (i === undefined) return undefined;
    if (nodeBase !== undefined && i >= nodeBase) return read('vm_node_stat', i - nodeBase);
    return read('vm_zone_stat', i);
  };
  let total: bigint | undefined;
  const tr = sym('_totalram_pages') ?? sym('totalram_pages');
  try {
    if (tr !== undefined) total = mem.u64(tr);
  } catch (err) {
    if (!(err instanceof NotInDumpError)) throw err;
  }
  return {
    pageSize: kd.dump.pageSize,
    total,
    free: counter('nr_free_pages'),
    fileCache: counter('nr_file_pages'),
    shmem: counter('nr_shmem'),
    anon: counter('nr_anon_pages'),
    slabReclaimable: counter('nr_slab_reclaimable'),
    slabUnreclaimable: counter('nr_slab_unreclaimable'),
    pageTables: counter('nr_page_table_pages'),
    kernelStackKb: counter('nr_kernel_stack'),
  };
}

const MAX_VMSTAT_ITEMS = 256;

/** Rows "label, bytes" for display (and the viewer's chart). */
export function memoryRows(m: MemoryCounters): { label: string; bytes: bigint }[] {
  const ps = BigInt(m.pageSize);
  const rows: { label: string; bytes: bigint | undefined }[] = [
    { label: 'total', bytes: m.total !== undefined ? m.total * ps : undefined },
    { label: 'free', bytes: m.free !== undefined ? m.free * ps : undefined },
    { label: 'page cache', bytes: m.fileCache !== undefined ? m.fileCache * ps : undefined },
    { label: 'anonymous', bytes: m.anon !== undefined ? m.anon * ps : undefined },
    {
      label: 'slab',
      bytes: m.slabReclaimable !== undefined && m.slabUnreclaimable !== undefined ? (m.slabReclaimable + m.slabUnreclaimable) * ps : undefined,
    },
    { label: 'page tables', bytes: m.pageTables !== undefined ? m.pageTables * ps : undefined },
    { label: 'kernel stacks', bytes: m.kernelStackKb !== undefined ? m.kernelStackKb * 1024n : undefined },
  ];
  return rows.filter((r): r is { label: string; bytes: bigint } => r.bytes !== undefined);
}

export interface Summary {
  system: SystemInfo;
  backtrace: NamedBacktrace | undefined;
  lastLog: string[];
  memory: { label: string; bytes: bigint }[];
  problems: string[];
  completeness: Completeness;
  /** What buckets this crash with others of the same bug (src/analyze/signature.ts). */
  signature: CrashSignature;
}

export const SUMMARY_LOG_LINES = 30;

export function buildSummary(kd: KernelDump, logLines = SUMMARY_LOG_LINES): Summary {
  const gaps = new Gaps(kd.dump.dumpLevel);
  const attempt = attemptInto(gaps);
  kd.loadSymbols(); // first, so the system report names the table and reads the online CPUs
  const system = systemInfo(kd);
  gaps.merge(system.completeness);
  const cpu = system.crashingCpu ?? attempt('panic CPU', () => kd.panicCpu());
  // The comm comes from the log's panic report here: loading BTF for one name would double the time.
  const backtrace: NamedBacktrace | undefined =
    cpu !== undefined && kd.cpus[cpu] ? attempt('backtrace', () => ({ ...cpuBacktrace(kd, cpu), comm: system.comm })) : undefined;
  if (backtrace) backtraceGap(gaps, backtrace, `CPU ${cpu}`);
  // The log's gaps are already in the system report's.
  const records: LogRecord[] = system.kernel.logFormat ? kd.log.records : [];
  const lastLog = records.slice(-logLines).map((r) => formatRecord(r));
  const memory = attempt('memory counters', () => memoryRows(memoryCounters(kd))) ?? [];
  const completeness = gaps.result();
  const signature = crashSignature({ records, panicMessage: system.panicMessage, frames: backtrace?.frames, release: system.release });
  return { system, backtrace, lastLog, memory, problems: problemLines(completeness), completeness, signature };
}

export function formatSummary(s: Summary): string {
  const sys = s.system;
  const out: string[] = [];
  const what = sys.panicMessage ?? 'no panic message in the log';
  out.push(`CRASH: ${what}`);
  const who = [
    sys.crashingCpu !== undefined ? `CPU ${sys.crashingCpu}` : undefined,
    sys.pid !== undefined ? `PID ${sys.pid}` : undefined,
    (s.backtrace?.comm ?? sys.comm) !== undefined ? `"${s.backtrace?.comm ?? sys.comm}"` : undefined,
  ].filter(Boolean);
  if (who.length) out.push(`   IN: ${who.join('  ')}`);
  if (sys.crashTime !== undefined) out.push(` WHEN: ${formatDate(sys.crashTime)}${sys.uptimeNsec !== undefined ? `  (uptime ${formatUptime(sys.uptimeNsec)})` : ''}`);
  out.push(`KERNEL: ${[sys.release, sys.version, sys.machine].filter(Boolean).join('  ')}${sys.nodename ? `  on ${sys.nodename}` : ''}`);
  out.push(
    `  DUMP: ${sys.dump.file}, ${sys.dump.format}${sys.dump.dumpLevel !== undefined ? `, dump level ${sys.dump.dumpLevel}` : ''}${sys.dump.incomplete ? ', INCOMPLETE' : ''}`,
  );
  out.push(` BUCKET: ${formatSignature(s.signature)}`);
  if (s.memory.length) {
    out.push('', 'MEMORY:', '  ' + s.memory.map((r) => `${r.label} ${formatMemory(r.bytes)}`).join(', '));
  }
  out.push('', 'BACKTRACE:');
  if (s.backtrace) out.push(...formatBacktrace(s.backtrace).trimEnd().split('\n').map((l) => '  ' + l));
  else out.push('  (none)');
  out.push('', `LAST ${s.lastLog.length} LOG LINES:`, ...s.lastLog.map((l) => '  ' + l));
  for (const g of s.completeness.missing) for (const p of g.examples) out.push(`UNREADABLE: ${p}`);
  for (const g of s.completeness.excluded) for (const p of g.examples) out.push(`EXCLUDED (dump level): ${p}`);
  return out.join('\n') + '\n';
}

export function summaryJson(s: Summary): unknown {
  return {
    system: s.system,
    signature: s.signature,
    backtrace: s.backtrace ? backtraceJson(s.backtrace) : undefined,
    lastLog: s.lastLog,
    memory: s.memory,
    problems: s.problems,
  };
}

/** The page frames by class (ExclusionCounts: free, cache, user, …; `unknown` = struct pages that could not be read). */
export interface PageUsage extends ExclusionCounts {
  pageSize: number;
  /** Page frames described by struct pages. */
  pages: number;
  /** Everything else: kernel allocations, slab, page tables, reserved. */
  kernel: number;
  warnings: string[];
  /** The struct pages that could not be read, and why. */
  completeness: Completeness;
}

const WINDOW = 1 << 18;

/**
 * Memory by page type from `struct page`, with the same classification the saver's dump-level
 * filter uses (src/analyze/page-class.ts, the same `classifyWindows` walk): every page frame that has a struct page is classified.
 */
export function pageUsage(kd: KernelDump): PageUsage {
  const info = kd.memory.info;
  const readVirt = (a: bigint, n: number) => kd.memory.readVirt(a, n);
  const maxPfn = Number(kd.dump.maxPfn);
  const ranges = findMemMap(info, readVirt, maxPfn);
  const cls = new PageClassifier(pageLayout(info), ranges, readVirt);
  const counts = emptyCounts();
  let pages = 0;
  const walk = classifyWindows({
    maxPfn,
    windowPfns: WINDOW,
    stepPfns: WINDOW,
    level: MAX_DUMP_LEVEL,
    classifier: cls,
    counts,
    keep: new Uint8Array(WINDOW / 8),
    // Every page frame that has a struct page.
    fill: (keep, start, end) => {
      keep.fill(0);
      for (const r of ranges) {
        for (let p = Math.max(start, r.startPfn); p < Math.min(end, r.endPfn); p++) keep[(p - start) >> 3]! |= 1 << ((p - start) & 7);
        pages += Math.max(0, Math.min(end, r.endPfn) - Math.max(start, r.startPfn));
      }
    },
  });
  for (const _ of walk);
  const known = counts.free + counts.cache + counts.cachePrivate + counts.user + counts.hwpoison + counts.offline + counts.unknown;
  const gaps = new Gaps(kd.dump.dumpLevel);
  if (cls.unreadable) gaps.note('page frame', cls.unreadable.reason, cls.unreadable.example, counts.unknown);
  return { pageSize: kd.dump.pageSize, pages, ...counts, kernel: pages - known, warnings: cls.warnings, completeness: gaps.result() };
}

export function pageUsageRows(u: PageUsage): { label: string; pages: number }[] {
  return [
    { label: 'free', pages: u.free },
    { label: 'page cache', pages: u.cache },
    { label: 'page cache (private)', pages: u.cachePrivate },
    { label: 'user (anon, hugetlb)', pages: u.user },
    { label: 'kernel, slab, reserved', pages: u.kernel },
    { label: 'hwpoison', pages: u.hwpoison },
    { label: 'offline', pages: u.offline },
    { label: 'unreadable', pages: u.unknown },
  ].filter((r) => r.pages > 0 || r.label === 'free');
}

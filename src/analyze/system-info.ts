// What crash's `sys` shows, from the dump alone: uts name, CPUs, memory, crash time, uptime, panic
// message, crashing CPU and task, plus facts about the dump file itself.
// Every item says nothing (undefined) rather than fail when its source is missing or not in the dump.
import { isDumpDataError, NotInDumpError } from '../errors.ts';
import { Gaps, type Completeness } from './completeness.ts';
import { hasKallsyms } from './kallsyms.ts';
import type { KernelDump } from './kernel-dump.ts';
import type { LogRecord } from './printk.ts';
import { readStruct, struct } from '../format/struct.ts';
import { hex } from '../text.ts';

/** struct new_utsname: six char[65]. */
const newUtsname = struct('new_utsname', 390, {
  sysname: { off: 0, type: 'cstr:65' },
  nodename: { off: 65, type: 'cstr:65' },
  release: { off: 130, type: 'cstr:65' },
  version: { off: 195, type: 'cstr:65' },
  machine: { off: 260, type: 'cstr:65' },
  domainname: { off: 325, type: 'cstr:65' },
});

export interface SystemInfo {
  release: string | undefined;
  version: string | undefined;
  machine: string | undefined;
  nodename: string | undefined;
  domainname: string | undefined;
  /** Online CPUs (cpu_online_mask), else the number of CPUs that saved registers. */
  cpus: number | undefined;
  /** Sum of the nodes' spanned pages × page size. */
  memoryBytes: bigint | undefined;
  /** CRASHTIME (or the dump header's timestamp), seconds since the epoch. */
  crashTime: bigint | undefined;
  /** Timestamp of the last kernel log record: time since boot at the crash, in ns. */
  uptimeNsec: bigint | undefined;
  panicMessage: string | undefined;
  crashingCpu: number | undefined;
  /** How the crashing CPU was found. */
  crashingCpuSource: string | undefined;
  pid: number | undefined;
  comm: string | undefined;
  dump: {
    file: string;
    format: string;
    compression: string[];
    dumpLevel: number | undefined;
    pageSize: number;
    pagesPresent: bigint;
    maxPfn: bigint;
    incomplete: boolean;
    warnings: string[];
  };
  kernel: {
    pagingLevels: number | undefined;
    kaslrOffset: bigint | undefined;
    physBase: bigint | undefined;
    directMapBase: bigint | undefined;
    symbols: string | undefined;
    logFormat: string | undefined;
  };
  /** What could not be read, one line each (the examples of `completeness`). */
  problems: string[];
  /** The items that could not be read, excluded by the dump level apart from lost. */
  completeness: Completeness;
}

/**
 * Runs one item of a report: a page not in the dump or a damaged structure loses that item (it goes
 * to `gaps`), not the whole report.
 */
export function attemptInto(gaps: Gaps) {
  return <T>(what: string, f: () => T): T | undefined => gaps.attempt(what, f, what);
}

/** The one-line problems of a report, from its completeness. */
export function problemLines(c: Completeness): string[] {
  return [...c.missing, ...c.excluded].flatMap((g) => g.examples);
}

export function systemInfo(kd: KernelDump): SystemInfo {
  const gaps = new Gaps(kd.dump.dumpLevel);
  // Each item is tried on its own: a missing page or key loses that item, not the report.
  const attempt = attemptInto(gaps);
  const d = kd.dump;
  const header = d.header;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const info = attempt('VMCOREINFO', () => kd.info);
  const uts = info ? attempt('utsname', () => readUts(kd)) : undefined;
  const log = info ? attempt('kernel log', () => kd.log) : undefined;
  if (log) gaps.merge(log.completeness);
  const records = log?.records ?? [];
  const memory = info ? attempt('kernel memory', () => kd.memory) : undefined;
  const cpus = attempt('NT_PRSTATUS notes', () => kd.cpus) ?? [];
  const crash = findCrashingCpu(kd, records);
  const prstatus = crash.cpu !== undefined ? cpus[crash.cpu] : undefined;
  // The log line first: QEMU's dump-guest-memory numbers pr_pid by CPU (index + 1), not by task.
  const pid = crash.pid ?? prstatus?.pid;

  return {
    release: str(uts?.release) ?? info?.osrelease ?? str(header.release),
    version: str(uts?.version) ?? str(header.version),
    machine: str(uts?.machine) ?? str(header.machine),
    nodename: str(uts?.nodename) ?? str(header.nodename),
    domainname: str(uts?.domainname) ?? str(header.domainname),
    // cpu_online_mask only with a symbol table at hand; decoding kallsyms for it costs more than
    // the rest of `info` together, and the CPUs' notes give the same count (one per online CPU).
    cpus: (info && kd.symbolsLoaded() && attempt('online CPUs', () => onlineCpus(kd))) || (cpus.length || undefined),
    memoryBytes: info ? attempt('memory size', () => memorySize(kd)) : undefined,
    // QEMU's kdump-compressed dumps leave the header's timestamp 0: no time, not 1970.
    crashTime: info?.crashTime ?? (typeof header.timestampSec === 'bigint' && header.timestampSec !== 0n ? header.timestampSec : undefined),
    uptimeNsec: records.length ? records[records.length - 1]!.tsNsec : undefined,
    panicMessage: panicMessage(records),
    crashingCpu: crash.cpu,
    crashingCpuSource: crash.source,
    pid,
    comm: crash.pid === pid ? crash.comm : undefined,
    dump: {
      file: d.source.name,
      format: d.format,
      compression: d.compression,
      dumpLevel: d.dumpLevel,
      pageSize: d.pageSize,
      pagesPresent: d.pagesPresent(),
      maxPfn: d.maxPfn,
      incomplete: d.incomplete,
      warnings: d.warnings,
    },
    kernel: {
      pagingLevels: memory?.pagingLevels,
      kaslrOffset: info?.kernelOffset,
      physBase: memory?.physBase,
      directMapBase: memory ? attempt('direct map', () => (kd.symbolsLoaded() ? kd.directMap() : memory.directMap())?.base) : undefined,
      symbols: kd.symbolsLoaded()?.source ?? (info && hasKallsyms(info) ? 'kallsyms in the dump' : undefined),
      logFormat: log?.format,
    },
    problems: problemLines(gaps.result()),
    completeness: gaps.result(),
  };
}

function readUts(kd: KernelDump): Record<keyof typeof newUtsname.fields, string> | undefined {
  const addr = kd.info.symbol('init_uts_ns');
  if (addr === undefined) return undefined;
  // OFFSET(uts_namespace.name) is exported since 6.0 (name first, 0); before, `name` followed a
  // 4-byte struct kref. The right one spells "Linux" in sysname.
  const bytes = kd.memory.readVirt(addr, newUtsname.size + 8);
  const given = kd.offsetOf('uts_namespace', 'name');
  for (const off of given !== undefined ? [given] : [4, 0, 8]) {
    const uts = readStruct(newUtsname, bytes, off);
    if (uts.sysname === 'Linux') return uts;
  }
  return undefined;
}

function onlineCpus(kd: KernelDump): number | undefined {
  const syms = kd.symbolsIfAny();
  const mask = syms?.byName('__cpu_online_mask') ?? syms?.byName('cpu_online_mask');
  const nrSym = syms?.byName('nr_cpu_ids');
  if (!mask || !nrSym) return undefined;
  const nr = kd.memory.u32(nrSym.address);
  if (nr === 0 || nr > 65536) return undefined;
  const bytes = kd.memory.readVirt(mask.address, Math.ceil(nr / 64) * 8);
  let n = 0;
  for (let cpu = 0; cpu < nr; cpu++) if (bytes[cpu >> 3]! & (1 << (cpu & 7))) n++;
  return n || undefined;
}

function memorySize(kd: KernelDump): bigint | undefined {
  const info = kd.info;
  const nodeData = info.symbol('node_data');
  const spannedOff = kd.offsetOf('pglist_data', 'node_spanned_pages');
  const pageSize = BigInt(info.pageSize ?? kd.dump.pageSize);
  if (nodeData === undefined || spannedOff === undefined) {
    // No node_data in VMCOREINFO (arm64 exports none): the RAM the dump records (kdump-compressed:
    // its 1st bitmap; an unfiltered ELF core: its pages), else everything up to the highest frame.
    const runs = kd.dump.ramRuns?.() ?? (kd.dump.dumpLevel ? undefined : kd.dump.presentRuns());
    if (!runs) return kd.dump.maxPfn * pageSize;
    let frames = 0n;
    for (const r of runs) frames += r.endPfn - r.startPfn;
    return frames * BigInt(kd.dump.pageSize);
  }
  const nodes = Math.min(info.length('node_data') ?? 1, 1024);
  let pages = 0n;
  const ptrs = kd.memory.readVirt(nodeData, nodes * 8);
  const dv = new DataView(ptrs.buffer, ptrs.byteOffset, ptrs.byteLength);
  for (let i = 0; i < nodes; i++) {
    const pgdat = dv.getBigUint64(i * 8, true);
    if (pgdat !== 0n) pages += kd.memory.u64(pgdat + BigInt(spannedOff));
  }
  return pages * pageSize;
}

const text = (r: LogRecord) => new TextDecoder().decode(r.text);

/** The last "Kernel panic - not syncing: ..." line, else the last oops/BUG line. */
export function panicMessage(records: readonly LogRecord[]): string | undefined {
  const find = (re: RegExp) => {
    for (let i = records.length - 1; i >= 0; i--) {
      const line = text(records[i]!).split('\n')[0]!;
      if (re.test(line)) return line.trim();
    }
    return undefined;
  };
  return (
    find(/^Kernel panic - not syncing/) ??
    find(/^(BUG: |Oops|general protection fault|kernel BUG at|Unable to handle kernel)/)
  );
}

/**
 * The CPU that crashed. First the "CPU: N PID: P Comm: C" line the panicking CPU printed right after
 * "Kernel panic - not syncing" (no symbols needed); else the kernel's `crashing_cpu` (x86, set by
 * the crash shutdown path) or `panic_cpu`, read through the symbol table; else the last such log line.
 */
export function findCrashingCpu(
  kd: KernelDump,
  records: readonly LogRecord[],
): { cpu?: number; source?: string; pid?: number; comm?: string } {
  const cpuCount = kd.dump.notes.filter((n) => n.name === 'CORE' && n.type === 1).length;
  const valid = (cpu: number | undefined) => cpu !== undefined && cpu >= 0 && cpu < Math.max(cpuCount, 1);
  const afterPanic = logCpuLine(records, true);
  if (valid(afterPanic.cpu)) return { ...afterPanic, source: 'the panic message in the kernel log' };
  let syms;
  try {
    syms = kd.symbolsIfAny();
  } catch (e) {
    if (!isDumpDataError(e)) throw e;
    syms = undefined;
  }
  for (const name of ['crashing_cpu', 'panic_cpu']) {
    const s = syms?.byName(name);
    if (!s) continue;
    try {
      const cpu = kd.memory.i32(s.address);
      if (valid(cpu)) {
        const line = logCpuLine(records, false);
        return { ...(line.cpu === cpu ? line : {}), cpu, source: `${name} (${syms!.source})` };
      }
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
    }
  }
  const last = logCpuLine(records, false);
  if (valid(last.cpu)) return { ...last, source: 'the last oops in the kernel log' };
  return {};
}

/** "CPU: 1 PID: 1 Comm: init Kdump: loaded Not tainted ..." (dump_stack's header line). */
export function logCpuLine(records: readonly LogRecord[], afterPanicOnly: boolean): { cpu?: number; pid?: number; comm?: string } {
  let start = records.length - 1;
  let end = 0;
  if (afterPanicOnly) {
    const panic = records.findLastIndex((r) => /^Kernel panic - not syncing/.test(text(r)));
    if (panic < 0) return {};
    [end, start] = [panic, Math.min(records.length - 1, panic + 4)];
  }
  for (let i = start; i >= end; i--) {
    // 6.12+ print "CPU: 0 UID: 0 PID: 145 Comm: init ..."
    const m = /^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.{1,16}?)(?: (?:Kdump|Tainted|Not tainted)|$)/.exec(text(records[i]!));
    if (m) return { cpu: Number(m[1]), pid: Number(m[2]), comm: m[3] };
  }
  return {};
}

// ---------------------------------------------------------------- formatting like crash's `sys`

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Thu Nov 26 21:35:45 UTC 2026" */
export function formatDate(epochSec: bigint): string {
  const d = new Date(Number(epochSec) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/** "00:00:05", or "3 days, 04:05:06" */
export function formatUptime(nsec: bigint): string {
  let s = Number(nsec / 1_000_000_000n);
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const p = (n: number) => String(n).padStart(2, '0');
  const hms = `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
  return days ? `${days} day${days > 1 ? 's' : ''}, ${hms}` : hms;
}

/** "1 GB", "512 MB", "1.5 GB" */
export function formatMemory(bytes: bigint): string {
  const units: [string, number][] = [['TB', 2 ** 40], ['GB', 2 ** 30], ['MB', 2 ** 20], ['KB', 2 ** 10]];
  const b = Number(bytes);
  for (const [u, size] of units) {
    if (b >= size * 0.95) return `${Number((b / size).toFixed(1))} ${u}`;
  }
  return `${b} bytes`;
}

/** The `info` text: one "LABEL: value" line per known item. */
export function formatSystemInfo(s: SystemInfo): string {
  const rows: [string, string | undefined][] = [
    ['DUMPFILE', `${s.dump.file}${s.dump.incomplete ? '  [INCOMPLETE]' : s.dump.dumpLevel ? '  [PARTIAL DUMP]' : ''}`],
    ['CPUS', s.cpus?.toString()],
    ['DATE', s.crashTime !== undefined ? formatDate(s.crashTime) : undefined],
    ['UPTIME', s.uptimeNsec !== undefined ? formatUptime(s.uptimeNsec) : undefined],
    ['NODENAME', s.nodename],
    ['RELEASE', s.release],
    ['VERSION', s.version],
    ['MACHINE', s.machine],
    ['MEMORY', s.memoryBytes !== undefined ? formatMemory(s.memoryBytes) : undefined],
    ['PANIC', s.panicMessage !== undefined ? `"${s.panicMessage}"` : undefined],
    ['CRASH CPU', s.crashingCpu !== undefined ? `${s.crashingCpu}  (from ${s.crashingCpuSource})` : undefined],
    ['PID', s.pid?.toString()],
    ['COMMAND', s.comm !== undefined ? `"${s.comm}"` : undefined],
    ['FORMAT', s.dump.format],
    ['COMPRESSION', s.dump.compression.length ? s.dump.compression.join(', ') : 'none'],
    ['DUMP LEVEL', s.dump.dumpLevel?.toString()],
    [
      'PAGES',
      `${s.dump.pagesPresent} present of ${s.dump.maxPfn} (${s.dump.pageSize}-byte pages, ${formatMemory(s.dump.pagesPresent * BigInt(s.dump.pageSize))} in dump)`,
    ],
    ['PAGING', s.kernel.pagingLevels !== undefined ? `${s.kernel.pagingLevels}-level` : undefined],
    ['KASLR', s.kernel.kaslrOffset !== undefined ? hex(s.kernel.kaslrOffset) : undefined],
    ['PHYS_BASE', s.kernel.physBase !== undefined ? hex(s.kernel.physBase) : undefined],
    ['DIRECT MAP', s.kernel.directMapBase !== undefined ? hex(s.kernel.directMapBase) : undefined],
    ['SYMBOLS', s.kernel.symbols],
    ['LOG', s.kernel.logFormat],
  ];
  const lines = rows.filter(([, v]) => v !== undefined).map(([k, v]) => `${k.padStart(12)}: ${v}`);
  for (const w of s.dump.warnings) lines.push(`     WARNING: ${w}`);
  for (const g of s.completeness.missing) for (const p of g.examples) lines.push(`   UNREADABLE: ${p}`);
  for (const g of s.completeness.excluded) for (const p of g.examples) lines.push(`     EXCLUDED: ${p}`);
  return lines.join('\n') + '\n';
}

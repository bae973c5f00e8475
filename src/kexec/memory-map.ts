// The physical memory map a kexec plan is placed against: parsed from /proc/iomem (a nested tree of
// named resources) or /sys/firmware/memmap (the firmware's e820 as booted, one directory per range
// with start/end/type files). Pure: takes text, returns typed ranges; reading the files is in host.ts.
//
// All ranges are inclusive [start, end] like the kernel prints them.
import { ParseError } from '../errors.ts';

/** What a range of physical memory is, as far as a kexec loader cares. */
export type RangeType = 'ram' | 'reserved' | 'acpi' | 'nvs' | 'uncached' | 'unusable' | 'pmem' | 'pram';

export interface MemoryRange {
  start: bigint;
  /** Inclusive. */
  end: bigint;
  type: RangeType;
}

/** One line of /proc/iomem with its children (indented lines under it). */
export interface IomemResource {
  start: bigint;
  end: bigint;
  name: string;
  /** Nesting depth: 0 for top-level lines. */
  depth: number;
  children: IomemResource[];
}

export interface MemoryMap {
  /** Where the ranges came from. */
  source: 'memmap' | 'iomem';
  /** Sorted by start; RAM and the non-RAM ranges the e820 passes on. */
  ranges: MemoryRange[];
  /** "Crash kernel" reservations from /proc/iomem (kdump's region), sorted; empty if none / unknown. */
  crashKernel: { start: bigint; end: bigint }[];
  /** The parsed /proc/iomem tree when we had it (pictures, crash logic). */
  iomem?: IomemResource[];
}

/** kexec-tools' RANGE_* numbers, printed by `kexec -d` under "MEMORY RANGES". */
export const KEXEC_RANGE_CODE: Record<RangeType, number> = {
  ram: 0,
  reserved: 1,
  acpi: 2,
  nvs: 3,
  uncached: 4,
  unusable: 1,
  pmem: 6,
  pram: 11,
};

/** e820 type numbers (boot_params e820_table, `E820 memmap:` in `kexec -d`). */
export const E820_TYPE: Record<RangeType, number> = {
  ram: 1,
  reserved: 2,
  acpi: 3,
  nvs: 4,
  unusable: 5,
  uncached: 2,
  pmem: 7,
  pram: 12,
};

/** Maps a resource / firmware-memmap name to a range type; undefined for names a loader ignores. */
export function rangeTypeOf(name: string): RangeType | undefined {
  switch (name.trim().toLowerCase()) {
    case 'system ram':
      return 'ram';
    case 'reserved':
    case 'unknown e820 type':
      return 'reserved';
    case 'acpi tables':
      return 'acpi';
    case 'acpi non-volatile storage':
      return 'nvs';
    case 'uncached ram':
      return 'uncached';
    case 'unusable memory':
      return 'unusable';
    case 'persistent memory':
      return 'pmem';
    case 'persistent memory (legacy)':
      return 'pram';
    default:
      return undefined;
  }
}

const IOMEM_LINE = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$/;

/** The highest physical address: a range ending above it is not this machine's (or the file is damaged). */
export const MAX_PHYS_ADDR = (1n << 64n) - 1n;

/** Parses /proc/iomem text into a tree (indentation = 2 spaces per level). */
export function parseIomem(text: string, source = '/proc/iomem'): IomemResource[] {
  const roots: IomemResource[] = [];
  const stack: IomemResource[] = [];
  const lines = text.split('\n');
  let offset = 0;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    const lineOffset = offset;
    offset += raw.length + 1;
    if (line.trim() === '') continue;
    const m = IOMEM_LINE.exec(line);
    if (!m) throw new ParseError(`not an iomem line: ${JSON.stringify(line.slice(0, 80))}`, { offset: lineOffset, source });
    const depth = Math.floor(m[1]!.length / 2);
    const r: IomemResource = { start: BigInt('0x' + m[2]), end: BigInt('0x' + m[3]), name: m[4]!, depth, children: [] };
    if (r.end < r.start) throw new ParseError(`range ends before it starts: ${line.trim()}`, { offset: lineOffset, source });
    if (r.end > MAX_PHYS_ADDR) throw new ParseError(`range beyond 64 bits: ${line.trim()}`, { offset: lineOffset, source, hint: 'physical addresses have at most 16 hex digits' });
    while (stack.length > depth) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(r);
    else roots.push(r);
    stack.push(r);
  }
  if (roots.length > 0 && walkIomem(roots).every((r) => r.start === 0n && r.end === 0n)) {
    throw new ParseError('all addresses in iomem read as 0', {
      source,
      hint: 'the kernel hides /proc/iomem addresses without CAP_SYS_ADMIN: run as root',
    });
  }
  return roots;
}

/** Every resource of the tree, depth first, in file order. */
export function walkIomem(tree: IomemResource[]): IomemResource[] {
  const out: IomemResource[] = [];
  const visit = (rs: IomemResource[]) => {
    for (const r of rs) {
      out.push(r);
      visit(r.children);
    }
  };
  visit(tree);
  return out;
}

/** The "Crash kernel" reservations (any depth), sorted by start. */
export function crashKernelRanges(tree: IomemResource[]): { start: bigint; end: bigint }[] {
  return walkIomem(tree)
    .filter((r) => r.name === 'Crash kernel')
    .map((r) => ({ start: r.start, end: r.end }))
    .sort((a, b) => cmp(a.start, b.start));
}

/**
 * The crash kernel region kexec_load confines a crash load to: the highest of the sorted "Crash
 * kernel" reservations (crashkernel=…,high sits above its ,low part). The one rule for every
 * architecture and for the kdump side.
 */
export function mainCrashRegion<T extends { start: bigint; end: bigint }>(sorted: readonly T[]): T | undefined {
  return sorted[sorted.length - 1];
}

/** The first resource (any depth) with this name, e.g. "Kernel code". */
export function findIomem(tree: IomemResource[], name: string): IomemResource | undefined {
  return walkIomem(tree).find((r) => r.name === name);
}

/**
 * Memory map from /proc/iomem the way kexec-tools reads it on x86: every line (nested ones too) whose
 * name is a known memory type; other names (PCI, ROMs, kernel code…) are ignored.
 */
export function memoryMapFromIomem(text: string, source = '/proc/iomem'): MemoryMap {
  const tree = parseIomem(text, source);
  const ranges: MemoryRange[] = [];
  for (const r of walkIomem(tree)) {
    const type = rangeTypeOf(r.name);
    if (type) ranges.push({ start: r.start, end: r.end, type });
  }
  return { source: 'iomem', ranges: sortRanges(ranges), crashKernel: crashKernelRanges(tree), iomem: tree };
}

/** One /sys/firmware/memmap/N directory's three files (their text). */
export interface FirmwareMemmapEntry {
  start: string;
  end: string;
  type: string;
}

/** Memory map from /sys/firmware/memmap entries; `iomemText` (optional) adds the crash-kernel region. */
export function memoryMapFromFirmware(entries: FirmwareMemmapEntry[], iomemText?: string, source = '/sys/firmware/memmap'): MemoryMap {
  const ranges: MemoryRange[] = [];
  entries.forEach((e, i) => {
    const start = parseHex(e.start, `${source}/${i}/start`);
    const end = parseHex(e.end, `${source}/${i}/end`);
    if (end < start) throw new ParseError(`range ends before it starts: ${e.start.trim()}-${e.end.trim()}`, { source: `${source}/${i}` });
    // Unknown firmware types are never RAM: treat as reserved so the e820 still carries them.
    ranges.push({ start, end, type: rangeTypeOf(e.type) ?? 'reserved' });
  });
  const tree = iomemText !== undefined ? parseIomem(iomemText) : undefined;
  return {
    source: 'memmap',
    ranges: sortRanges(ranges),
    crashKernel: tree ? crashKernelRanges(tree) : [],
    ...(tree ? { iomem: tree } : {}),
  };
}

/**
 * Parses the compact text form "START END TYPE" per line (what `--memmap` fixtures and our guest probe
 * record: `0x100000 0x3ffdffff System RAM`).
 */
export function parseMemmapListing(text: string, source = 'memmap'): FirmwareMemmapEntry[] {
  const out: FirmwareMemmapEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const m = /^(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(.+)$/.exec(t);
    if (!m) throw new ParseError(`not a memmap line: ${JSON.stringify(t.slice(0, 80))}`, { source });
    out.push({ start: m[1]!, end: m[2]!, type: m[3]! });
  }
  return out;
}

function parseHex(text: string, source: string): bigint {
  const t = text.trim();
  if (!/^(0x)?[0-9a-fA-F]+$/.test(t)) throw new ParseError(`not a hex address: ${JSON.stringify(t.slice(0, 40))}`, { source });
  const v = BigInt(t.startsWith('0x') ? t : '0x' + t);
  if (v > MAX_PHYS_ADDR) throw new ParseError(`address beyond 64 bits: ${t}`, { source, hint: 'physical addresses have at most 16 hex digits' });
  return v;
}

export function sortRanges<T extends { start: bigint }>(ranges: T[]): T[] {
  return [...ranges].sort((a, b) => cmp(a.start, b.start));
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The ranges a kexec_load x86 loader works with (kexec-tools' get_memory_ranges): as read, with the
 * first RAM range below 0x400 starting at 0x400 (the real-mode interrupt vector table stays).
 */
export function x86LoaderRanges(map: MemoryMap): MemoryRange[] {
  let bumped = false;
  const out: MemoryRange[] = [];
  for (const r of map.ranges) {
    if (!bumped && r.type === 'ram' && r.start < 0x400n) {
      bumped = true;
      if (r.end < 0x400n) continue;
      out.push({ ...r, start: 0x400n });
    } else out.push({ ...r });
  }
  return out;
}

/** RAM ranges only, sorted. */
export function ramRanges(ranges: MemoryRange[]): MemoryRange[] {
  return sortRanges(ranges.filter((r) => r.type === 'ram'));
}

/** Total bytes of RAM. */
export function totalRam(ranges: MemoryRange[]): bigint {
  return ramRanges(ranges).reduce((n, r) => n + (r.end - r.start + 1n), 0n);
}

// The `crashkernel=` boot parameter (kernel/crash_reserve.c, parse_crashkernel) and where the kernel
// actually reserved the memory ("Crash kernel" lines in /proc/iomem). Pure: text in, values out.
//
// Syntaxes the kernel accepts (Documentation/admin-guide/kdump/kdump.rst):
//   crashkernel=256M                      size, the kernel picks the place
//   crashkernel=256M@16M                  size at a fixed offset
//   crashkernel=512M-2G:64M,2G-:128M      size by total RAM: range start-[end] (end exclusive), size
//   crashkernel=512M-2G:64M,2G-:128M@16M  …at an offset
//   crashkernel=1G,high                   above 4 GiB (x86_64, arm64); a low part is added by default
//   crashkernel=128M,low                  the low (below 4 GiB) part for ,high
//   crashkernel=256M,cma                  extra CMA-backed memory (6.16+)
// Several crashkernel= may appear; the kernel takes the LAST one of each kind (plain / ,high / ,low / ,cma).
import { ParseError } from '../errors.ts';
import type { IomemResource } from '../kexec/memory-map.ts';
import { crashKernelRanges, mainCrashRegion } from '../kexec/memory-map.ts';

export interface CrashkernelRangeRule {
  /** Total RAM at least this… */
  start: bigint;
  /** …and below this (undefined: no upper bound). */
  end?: bigint;
  size: bigint;
}

export type CrashkernelSuffix = 'high' | 'low' | 'cma';

export interface CrashkernelSpec {
  /** The text after `crashkernel=`. */
  text: string;
  /** 'fixed': one size; 'ranges': size chosen by total RAM; 'auto': RHEL's old keyword (not in mainline). */
  kind: 'fixed' | 'ranges' | 'auto';
  size?: bigint;
  ranges?: CrashkernelRangeRule[];
  /** `@offset`: the physical base asked for. */
  offset?: bigint;
  suffix?: CrashkernelSuffix;
}

/** memparse(): a number (decimal, or 0x hex, or 0 octal) with an optional K/M/G/T/P/E suffix. */
export function parseMemSize(text: string, what = 'size'): bigint {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)$/.exec(text);
  if (!m) throw new ParseError(`bad ${what} ${JSON.stringify(text)}`, { hint: 'expected a number with an optional K, M, G or T suffix, e.g. 256M' });
  const digits = m[1]!;
  let v = digits.length > 1 && digits[0] === '0' && !/[xX]/.test(digits) ? BigInt('0o' + digits.slice(1)) : BigInt(digits);
  const shift = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n }[m[2]!.toLowerCase()]!;
  v <<= shift;
  return v;
}

/** Parses the value of one `crashkernel=` parameter. */
export function parseCrashkernel(text: string): CrashkernelSpec {
  const spec: CrashkernelSpec = { text, kind: 'fixed' };
  let body = text.trim();
  if (body === '') throw new ParseError('empty crashkernel=', { hint: 'e.g. crashkernel=256M' });
  if (body === 'auto') return { text, kind: 'auto' };
  const suffix = /,(high|low|cma)$/.exec(body);
  if (suffix) {
    spec.suffix = suffix[1] as CrashkernelSuffix;
    body = body.slice(0, suffix.index);
  }
  const at = body.lastIndexOf('@');
  if (at >= 0) {
    if (spec.suffix) throw new ParseError(`crashkernel=${text}: an @offset cannot be combined with ,${spec.suffix}`);
    spec.offset = parseMemSize(body.slice(at + 1), 'crashkernel offset');
    body = body.slice(0, at);
  }
  if (body.includes(':')) {
    if (spec.suffix) throw new ParseError(`crashkernel=${text}: ranges cannot be combined with ,${spec.suffix}`);
    spec.kind = 'ranges';
    spec.ranges = body.split(',').map((rule) => {
      const m = /^([^-:]+)-([^:]*):(.+)$/.exec(rule);
      if (!m) throw new ParseError(`crashkernel=${text}: bad range ${JSON.stringify(rule)}`, { hint: 'ranges look like 512M-2G:64M,2G-:128M' });
      const r: CrashkernelRangeRule = { start: parseMemSize(m[1]!, 'range start'), size: parseMemSize(m[3]!, 'range size') };
      if (m[2] !== '') {
        r.end = parseMemSize(m[2]!, 'range end');
        if (r.end <= r.start) throw new ParseError(`crashkernel=${text}: range ${rule} ends before it starts`);
      }
      return r;
    });
  } else {
    spec.size = parseMemSize(body, 'crashkernel size');
  }
  return spec;
}

/**
 * Every `crashkernel=` on a kernel command line, the last of each kind (plain / high / low / cma), as
 * the kernel picks them. Empty when there is none.
 */
export function crashkernelFromCmdline(cmdline: string): CrashkernelSpec[] {
  const last = new Map<string, CrashkernelSpec>();
  for (const word of splitCmdline(cmdline)) {
    if (!word.startsWith('crashkernel=')) continue;
    const spec = parseCrashkernel(word.slice('crashkernel='.length));
    last.set(spec.suffix ?? 'plain', spec);
  }
  return [...last.values()];
}

/** The size a spec reserves on a machine with `totalRam` bytes (0 when no range rule matches). */
export function crashkernelSize(spec: CrashkernelSpec, totalRam: bigint): bigint | undefined {
  if (spec.kind === 'auto') return undefined;
  if (spec.kind === 'fixed') return spec.size!;
  for (const r of spec.ranges!) {
    if (totalRam >= r.start && (r.end === undefined || totalRam < r.end)) return r.size;
  }
  return 0n;
}

/** Splits a kernel command line into words, keeping "quoted values" together like the kernel does. */
export function splitCmdline(cmdline: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (const ch of cmdline) {
    if (ch === '"') {
      quoted = !quoted;
      cur += ch;
      has = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

export interface CrashRegion {
  start: bigint;
  /** Inclusive. */
  end: bigint;
  size: bigint;
}

/**
 * The memory the kernel reserved, from the /proc/iomem tree: every "Crash kernel" range (a ,high
 * reservation plus its ,low part give two). `main` is the last (highest) one, where kexec_load must
 * put every segment and the entry point; `low` the others.
 */
export function reservedCrashRegions(iomem: IomemResource[]): { main?: CrashRegion; low: CrashRegion[]; all: CrashRegion[] } {
  const all = crashKernelRanges(iomem)
    .filter((r) => r.end > r.start)
    .map((r) => ({ start: r.start, end: r.end, size: r.end - r.start + 1n }));
  const main = mainCrashRegion(all);
  return { ...(main ? { main } : {}), low: all.slice(0, -1), all };
}

/** "256 MiB" / "1.5 GiB" / "4 KiB" for people. */
export function formatSize(bytes: bigint): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let div = 1n;
  while (i < units.length - 1 && bytes >= div * 1024n) {
    div *= 1024n;
    i++;
  }
  if (i === 0) return `${bytes} bytes`;
  const whole = bytes / div;
  const tenth = ((bytes % div) * 10n) / div;
  return tenth === 0n ? `${whole} ${units[i]}` : `${whole}.${tenth} ${units[i]}`;
}

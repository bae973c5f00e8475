// A kexec plan: what goes where in physical memory, the entry point, the flags and the syscall —
// built by a loader (pure), checked by validatePlan, printed by --dry-run / -d, then handed to the
// syscall module. Also the segment allocator loaders place buffers with (kexec-tools' locate_hole).
import { KexecError } from '../errors.ts';
import { hex } from '../text.ts';
import { mainCrashRegion, type MemoryMap, type MemoryRange } from './memory-map.ts';
import type { Sha256 } from '../sha256.ts';
import type { EfiFacts } from './arch/x86_64/efi.ts';

export const PAGE_SIZE = 0x1000n;
/** KEXEC_SEGMENT_MAX (include/uapi/linux/kexec.h). */
export const KEXEC_SEGMENT_MAX = 16;

export type KexecArch = 'x86_64' | 'arm64' | 'ia64';
export type KexecKind = 'load' | 'crash';
export type KexecSyscall = 'kexec_load' | 'kexec_file_load';

/** kexec_load flags (uapi). The arch goes in the high 16 bits: ELF machine << 16. */
export const KEXEC_ON_CRASH = 0x1n;
export const KEXEC_PRESERVE_CONTEXT = 0x2n;
export const KEXEC_ARCH_X86_64 = 62n << 16n;
export const KEXEC_ARCH_IA_64 = 50n << 16n;
export const KEXEC_ARCH_AARCH64 = 183n << 16n;
export const KEXEC_ARCH_OF: Record<KexecArch, bigint> = {
  x86_64: KEXEC_ARCH_X86_64,
  arm64: KEXEC_ARCH_AARCH64,
  ia64: KEXEC_ARCH_IA_64,
};
/** kexec_file_load flags. */
export const KEXEC_FILE_UNLOAD = 0x1n;
export const KEXEC_FILE_ON_CRASH = 0x2n;
export const KEXEC_FILE_NO_INITRAMFS = 0x4n;

export interface KexecSegment {
  /** Bytes to copy; the rest of memsz is zero-filled by the kernel. */
  buf: Uint8Array;
  /** Physical destination, page aligned. */
  mem: bigint;
  /** Size in memory, page aligned, >= buf.length. */
  memsz: bigint;
  /** What this is, for people: "kernel", "initrd", "purgatory", "boot params + cmdline", "setup_data RNG seed"… */
  what: string;
}

export interface KexecPlan {
  arch: KexecArch;
  kind: KexecKind;
  syscall: KexecSyscall;
  /** The loader that made it ("x86_64 bzImage", "x86_64 ELF vmlinux", …). */
  loader: string;
  /** Physical address the kernel jumps to (kexec_load); 0n for kexec_file_load. */
  entry: bigint;
  /** Sorted by mem. Empty for kexec_file_load (the kernel places them). */
  segments: KexecSegment[];
  /** The final command line the new kernel gets (without the NUL). */
  cmdline: string;
  /** The syscall's flags argument (kexec_load: arch bits | KEXEC_ON_CRASH…; kexec_file_load: KEXEC_FILE_*). */
  flags: bigint;
  /** Lines a person should know ("initrd placed top-down below…", "no EFI", differences to kexec-tools). */
  notes: string[];
  /** The memory ranges the plan was placed in (RAM, or the crash region for crash loads). */
  usable: MemoryRange[];
  /** kexec_file_load only: the files the kernel reads (it gets their fds). */
  files?: { kernel: string; kernelSize: number; initrd?: string; initrdSize?: number };
  /** `kexec -d`-style lines the loader printed while planning (Loaded … at …, E820 memmap …). */
  debug: string[];
  /** SHA-256 regions the purgatory verifies (start, len) — for tests and --json. */
  sha256Regions?: { start: bigint; len: bigint }[];
}

/**
 * Crash (kdump) loads: the kdump side (src/kdump/) gives the loader the region to stay in, and a
 * callback that places its own segments (ELF core header, …) with the same allocator and returns
 * what to add to the command line (e.g. `elfcorehdr=…K`) and, for x86, the e820 the capture kernel
 * should see.
 */
export interface CrashHook {
  /** Ranges every segment must lie in (the "Crash kernel" reservation); inclusive ends. */
  region: { start: bigint; end: bigint }[];
  /** Called once, before the kernel is placed. */
  addSegments(alloc: SegmentAllocator): { cmdlineAppend?: string; e820?: MemoryRange[]; notes?: string[] };
}

export interface PlanInput {
  /** The kernel file as read (already decompressed if it was a compressed container). */
  image: Uint8Array;
  imageName: string;
  initrd?: Uint8Array;
  initrdName?: string;
  dtb?: Uint8Array;
  /** The command line the user asked for (before crash additions). */
  cmdline: string;
  kind: KexecKind;
  memory: MemoryMap;
  /** --mem-min / --mem-max: keep every segment inside [memMin, memMax]. */
  memMin?: bigint;
  memMax?: bigint;
  /** -i/--no-checks: the purgatory skips its SHA-256 verification. */
  noChecks?: boolean;
  crash?: CrashHook;
  /** Facts about the running machine a loader may copy (x86: /sys/kernel/boot_params/data, /sys/firmware/efi). */
  host?: { bootParams?: Uint8Array; rngSeed?: Uint8Array; efi?: EfiFacts };
  /** The purgatory object (relocatable ELF) for loaders that need one. */
  purgatory?: Uint8Array;
  /** Test hook: flip one byte of the named segment after digests are computed (the purgatory must stop). */
  corruptSegment?: string;
  /** A fast SHA-256 from the host (node:crypto); the pure-TS one otherwise. */
  sha256?: Sha256;
}

export interface KexecLoader {
  /** e.g. "bzImage64", "elf-x86_64". The name `-t/--type` matches. */
  name: string;
  arch: KexecArch;
  /** Cheap check of the image's header: is this a file this loader handles? */
  probe(image: Uint8Array): boolean;
  /** Builds the plan; throws ParseError / KexecError with one clear line on bad input. */
  plan(input: PlanInput): KexecPlan;
}

/**
 * Where each architecture's loader takes the crash kernel region from, and what to reserve without
 * one: x86_64 and arm64 from the kdump side (`input.crash.region`, the ELF core header goes there
 * too); IA-64, like kexec-tools, from the memory map's "Crash kernel" (the kernel is mapped with one
 * 64 MiB translation register, so the region must be 64 MiB aligned).
 */
const CRASH_REGION_RULES: Record<KexecArch, { from: 'kdump side' | 'iomem'; reserve: string }> = {
  x86_64: { from: 'kdump side', reserve: 'crashkernel=256M (or more) to reserve one' },
  arm64: { from: 'kdump side', reserve: 'crashkernel=256M (or more) to reserve one' },
  ia64: { from: 'iomem', reserve: 'crashkernel=512M (a 64 MiB-aligned region)' },
};

/** The crash kernel region a crash plan must stay in (inclusive ends). The one place a loader finds it. */
export function crashRegion(input: PlanInput, arch: KexecArch): { start: bigint; end: bigint }[] {
  const rule = CRASH_REGION_RULES[arch];
  const main = mainCrashRegion(input.memory.crashKernel);
  const region = rule.from === 'iomem' ? (main ? [main] : []) : (input.crash?.region ?? []);
  if (region.length === 0) throw new KexecError(`no crash kernel region${rule.from === 'iomem' ? ' in /proc/iomem' : ''}`, { hint: `boot with ${rule.reserve}` });
  return region;
}

/** Where a plan's segments may go: RAM, or for a crash load the crash kernel region (crashRegion), as RAM ranges. */
export function usableRanges(input: PlanInput, ranges: MemoryRange[], arch: KexecArch): MemoryRange[] {
  const ram = ranges.filter((r) => r.type === 'ram');
  if (input.kind !== 'crash') return ram;
  return crashRegion(input, arch).map((r) => ({ start: r.start, end: r.end, type: 'ram' as const }));
}

export function alignUp(v: bigint, align: bigint): bigint {
  return ((v + align - 1n) / align) * align;
}

export function alignDown(v: bigint, align: bigint): bigint {
  return (v / align) * align;
}


export interface PlaceRequest {
  buf: Uint8Array;
  /** Memory size (defaults to buf.length); rounded up to a page. */
  memsz?: bigint;
  /** Alignment; at least a page. */
  align?: bigint;
  /** Lowest acceptable start address. */
  min?: bigint;
  /** Highest acceptable end address (inclusive). */
  max?: bigint;
  /** Highest fitting address (kexec-tools end=-1, the default) or lowest (end=+1). */
  topDown?: boolean;
  what: string;
}

/**
 * Places segments in holes: usable ranges minus segments already placed, clipped to
 * [memMin, memMax] and the request's [min, max]; page aligned; highest or lowest fit.
 */
export class SegmentAllocator {
  readonly usable: { start: bigint; end: bigint }[];
  readonly memMin: bigint;
  readonly memMax: bigint;
  private readonly placed: KexecSegment[] = [];

  constructor(usable: { start: bigint; end: bigint }[], opts: { memMin?: bigint; memMax?: bigint } = {}) {
    this.usable = [...usable].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.memMin = opts.memMin ?? 0n;
    this.memMax = opts.memMax ?? (1n << 64n) - 1n;
  }

  /** Segments placed so far, sorted by mem. */
  get segments(): KexecSegment[] {
    return [...this.placed].sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
  }

  /** The free holes (inclusive ends) left inside the usable ranges. */
  holes(): { start: bigint; end: bigint }[] {
    const out: { start: bigint; end: bigint }[] = [];
    const segs = this.segments;
    for (const r of this.usable) {
      let start = r.start;
      for (const s of segs) {
        const sEnd = s.mem + s.memsz - 1n;
        if (sEnd < start || s.mem > r.end) continue;
        if (s.mem > start) out.push({ start, end: s.mem - 1n });
        start = sEnd + 1n;
        if (start > r.end) break;
      }
      if (start <= r.end) out.push({ start, end: r.end });
    }
    return out;
  }

  /** Finds an address for `memsz` bytes, or undefined. */
  locate(memsz: bigint, align: bigint, min: bigint, max: bigint, topDown: boolean): bigint | undefined {
    let best: bigint | undefined;
    const lo = min > this.memMin ? min : this.memMin;
    const hi = max < this.memMax ? max : this.memMax;
    for (const h of this.holes()) {
      const start = alignUp(h.start > lo ? h.start : lo, align);
      const end = h.end < hi ? h.end : hi;
      if (end < start || end - start + 1n < memsz) continue;
      const at = topDown ? alignDown(end - memsz + 1n, align) : start;
      if (at < start) continue;
      if (best === undefined || (topDown ? at > best : at < best)) best = at;
    }
    return best;
  }

  /** Places a buffer; throws KexecError naming it when nothing fits. */
  place(req: PlaceRequest): KexecSegment {
    const memsz = alignUp(req.memsz ?? BigInt(req.buf.length), PAGE_SIZE);
    if (BigInt(req.buf.length) > memsz) throw new Error(`${req.what}: buffer larger than its memory size`);
    const align = req.align !== undefined && req.align > PAGE_SIZE ? req.align : PAGE_SIZE;
    const at = this.locate(memsz, align, req.min ?? 0n, req.max ?? (1n << 64n) - 1n, req.topDown ?? true);
    if (at === undefined) {
      const largest = this.holes().reduce((m, h) => (h.end - h.start + 1n > m ? h.end - h.start + 1n : m), 0n);
      throw new KexecError(`no room for the ${req.what} (${hex(memsz)} bytes, alignment ${hex(align)})`, {
        hint: `the largest free usable hole is ${hex(largest)} bytes${req.min !== undefined ? `; it must start at or above ${hex(req.min)}` : ''} — use a smaller file or free memory range (--mem-min/--mem-max, crashkernel=)`,
      });
    }
    return this.add({ buf: req.buf, mem: at, memsz, what: req.what });
  }

  /** Adds a segment at a fixed address (checked by validatePlan later). */
  add(seg: KexecSegment): KexecSegment {
    this.placed.push(seg);
    return seg;
  }
}

/**
 * The kernel's own checks (sanity_check_segment_list) plus kexec-tools' valid_memory_segment, so a
 * broken plan never reaches a syscall. Throws a KexecError naming the first problem.
 */
export function validatePlan(plan: KexecPlan, opts: { totalRam?: bigint; crashRegion?: { start: bigint; end: bigint }[] } = {}): void {
  if (plan.syscall === 'kexec_file_load') {
    if (!plan.files) throw new KexecError('kexec_file_load plan without a kernel file');
    return;
  }
  const segs = plan.segments;
  if (segs.length === 0) throw new KexecError('the plan has no segments');
  if (segs.length > KEXEC_SEGMENT_MAX) {
    throw new KexecError(`${segs.length} segments: the kernel takes at most ${KEXEC_SEGMENT_MAX}`, { hint: 'drop --dtb or extra setup data' });
  }
  let total = 0n;
  for (const s of segs) {
    const name = `${s.what} segment at ${hex(s.mem)}`;
    if (s.mem % PAGE_SIZE !== 0n) throw new KexecError(`${name} is not page aligned`);
    if (s.memsz % PAGE_SIZE !== 0n || s.memsz === 0n) throw new KexecError(`${name}: size ${hex(s.memsz)} is not a whole number of pages`);
    if (BigInt(s.buf.length) > s.memsz) throw new KexecError(`${name}: ${hex(s.buf.length)} bytes do not fit in ${hex(s.memsz)}`);
    const end = s.mem + s.memsz - 1n;
    const inside = (rs: { start: bigint; end: bigint }[]) => rs.some((r) => s.mem >= r.start && end <= r.end);
    if (!inside(plan.usable)) {
      throw new KexecError(`${name}-${hex(end)} is not inside usable memory`, { hint: 'the memory map has no RAM there' });
    }
    if (plan.kind === 'crash' && opts.crashRegion && !inside(opts.crashRegion)) {
      throw new KexecError(`${name} lies outside the crash kernel region`);
    }
    total += s.memsz;
    if (opts.totalRam !== undefined && s.memsz > opts.totalRam / 2n) {
      throw new KexecError(`${name} (${hex(s.memsz)} bytes) is larger than half of RAM`, { hint: 'the kernel refuses segments over totalram/2' });
    }
  }
  if (opts.totalRam !== undefined && total > opts.totalRam / 2n) {
    throw new KexecError(`the segments take ${hex(total)} bytes, more than half of RAM (${hex(opts.totalRam)})`, {
      hint: 'the kernel refuses loads over totalram/2: use a smaller initrd',
    });
  }
  const sorted = [...segs].sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (a.mem + a.memsz > b.mem) throw new KexecError(`the ${a.what} and ${b.what} segments overlap at ${hex(b.mem)}`);
  }
  if (plan.kind === 'crash' && opts.crashRegion && !opts.crashRegion.some((r) => plan.entry >= r.start && plan.entry <= r.end)) {
    throw new KexecError(`entry ${hex(plan.entry)} is outside the crash kernel region`);
  }
  if (!sorted.some((s) => plan.entry >= s.mem && plan.entry < s.mem + s.memsz)) {
    throw new KexecError(`entry ${hex(plan.entry)} is in no segment`);
  }
}

// A kexec load, planned: the loader, kexec_file_load's plan or our own segments (kexec_load), the
// kdump side's hook for crash loads, and every check — from what the user asked (LoadRequest) and
// what the machine is (LoadFacts). No I/O and no syscalls here: the facts are read by the edge
// (src/host/kexec-load.ts) on demand, so a kexec_file_load of a bzImage reads 64 KiB of the kernel
// and nothing else. What only some loads need (loaders, purgatory, decompression, the IA-64 EFI
// map) is imported where it is used: start-up is most of a load's time (BENCHMARKS.md).
import { KexecError, UsageError } from '../errors.ts';
import { hex } from '../text.ts';
import { isBzImage, parseBzImageHead } from '../format/bzimage.ts';
import type { EfiFacts } from './arch/x86_64/efi.ts';
import { mainCrashRegion, totalRam, x86LoaderRanges, type MemoryMap, type MemoryRange } from './memory-map.ts';
import {
  KEXEC_FILE_NO_INITRAMFS,
  KEXEC_FILE_ON_CRASH,
  validatePlan,
  type CrashHook,
  type KexecArch,
  type KexecKind,
  type KexecLoader,
  type KexecPlan,
  type KexecSyscall,
  type PlanInput,
} from './plan.ts';
import type { Sha256 } from '../sha256.ts';
import { JSON_SCHEMA } from '../json-schema.ts';

/** -s, -c, -a: kexec_file_load only, kexec_load only, or the first falling back to the second. */
export type SyscallChoice = 'file' | 'load' | 'auto';

export interface LoadRequest {
  /** File names, as given (the facts read them). */
  kernel: string;
  initrd?: string;
  dtb?: string;
  /** IA-64: the machine's EFI memory map as text (--efi-memmap). */
  efiMemmap?: string;
  kind: KexecKind;
  syscall: SyscallChoice;
  /** The command line the user asked for (before crash additions). */
  cmdline: string;
  /** -t: the loader by name instead of probing. */
  type?: string;
  memMin?: bigint;
  memMax?: bigint;
  noChecks?: boolean;
  /** Test hook (e2e): damage one segment after its digest is taken. */
  corruptSegment?: string;
  /** Plan only (no syscall follows): no host-architecture check, missing crash facts become a note. */
  dryRun: boolean;
  /** Whose memory map: this machine's (nothing set), the one under `root`, or another's files alone. */
  machine?: { root?: string; iomem?: string; memmap?: string };
}

/** A crash load's hook, and the `kexec -d` lines of its ELF core header once the loader placed it. */
export interface CrashSide {
  hook: CrashHook;
  debugLines(plan: KexecPlan): string[];
}

/** What a plan needs to know of the machine and the files; each read only when the plan needs it. */
export interface LoadFacts {
  /** The kernel file's first bytes (64 KiB or all of a shorter file) and its size. */
  kernelHead(): { head: Uint8Array; size: number };
  /** The whole kernel image, decompressed when it is a gzip or zstd file. */
  kernelImage(): Promise<Uint8Array>;
  initrdSize(): number;
  initrd(): Uint8Array;
  /** --dtb's bytes, or on a load (arm64) the firmware's device tree; undefined when neither. */
  dtb(arch: KexecArch): Uint8Array | undefined;
  /** The --efi-memmap file's text. */
  efiMemmapText(): string;
  memoryMap(): MemoryMap;
  /**
   * The kdump side built from the running kernel's facts (of `root`) for a kernel of `arch` (the
   * loader's, from the image); throws when one is missing.
   */
  crashSide(arch: KexecArch): Promise<CrashSide>;
  /** x86: the zero page and EFI state a kexec_load copies. */
  bootState(): Promise<{ bootParams?: Uint8Array; efi?: EfiFacts }>;
  rngSeed(): Uint8Array;
  purgatory(arch: KexecArch): Promise<Uint8Array | undefined>;
  sha256(): Promise<Sha256>;
  /** The architecture this machine loads, undefined where kexec-ts cannot load. */
  hostArch(): KexecArch | undefined;
}

export interface PlannedLoad {
  plan: KexecPlan;
  /** The memory map a kexec_load plan was placed in (pictures, -d). */
  map?: MemoryMap;
  /** The kernel's size as `kexec -d` prints it (the image as loaded for kexec_load). */
  kernelSize: number;
}

/**
 * The largest initrd: kexec_file_load reads it with kernel_read_file (INT_MAX bytes at most, EFBIG
 * above), and one read here takes no more either; a kexec_load segment must also fit in half of RAM.
 */
export const MAX_INITRD = 0x7fffffff;

/** The syscall a --dry-run plans for: -s kexec_file_load, else kexec_load (what -a falls back to). */
export const dryRunSyscall = (choice: SyscallChoice): KexecSyscall => (choice === 'file' ? 'kexec_file_load' : 'kexec_load');

/** The plan for one syscall: kexec_file_load (the kernel parses the image) or our segments. */
export async function planLoad(req: LoadRequest, facts: LoadFacts, syscall: KexecSyscall): Promise<PlannedLoad> {
  checkRequest(req);
  if (syscall === 'kexec_file_load') {
    const plan = await planFileLoad(req, facts);
    return { plan, kernelSize: plan.files!.kernelSize };
  }
  return planSegmentLoad(req, facts);
}

function checkRequest(req: LoadRequest): void {
  if (req.memMin !== undefined && req.memMax !== undefined && req.memMin > req.memMax) {
    throw new UsageError(`--mem-min ${hex(req.memMin)} is above --mem-max ${hex(req.memMax)}: no memory is left to place the segments in`);
  }
}

function checkInitrdSize(req: LoadRequest, size: number, ramHalf?: bigint): void {
  const gib = (n: number | bigint) => `${(Number(n) / 2 ** 30).toFixed(2)} GiB`;
  if (size > MAX_INITRD) {
    throw new KexecError(`initrd ${req.initrd} is ${size} bytes (${gib(size)}): the largest initrd the kernel reads is ${MAX_INITRD} bytes (2 GiB - 1)`, {
      hint: 'use a smaller initramfs (fewer modules and firmware, a stronger compression)',
    });
  }
  if (ramHalf !== undefined && BigInt(size) > ramHalf) {
    throw new KexecError(`initrd ${req.initrd} is ${size} bytes (${gib(size)}): more than half of RAM (${gib(ramHalf)}), which the kernel refuses for a kexec_load segment`, {
      hint: 'use a smaller initramfs',
    });
  }
}

/** The loader for the image: -t or probing; on a load, one for this machine's architecture. */
async function pickLoader(req: LoadRequest, facts: LoadFacts): Promise<KexecLoader> {
  const image = await facts.kernelImage();
  const { pickLoader: pick } = await import('./loaders.ts');
  const l = await pick(image, { ...(req.type ? { type: req.type } : {}), source: req.kernel });
  const here = facts.hostArch();
  if (!req.dryRun && l.arch !== here) {
    throw new KexecError(`${req.kernel} is an ${l.arch} kernel; this machine is ${here ?? 'not one kexec-ts loads on'}`, { hint: 'use --dry-run to plan it' });
  }
  return req.efiMemmap ? withEfiMemmap(l, facts.efiMemmapText(), req.efiMemmap) : l;
}

/** IA-64: the same loader, told the machine's EFI memory map (test/fixtures/ia64/*.efi-memmap format). */
async function withEfiMemmap(l: KexecLoader, text: string, source: string): Promise<KexecLoader> {
  const { loaderTakes } = await import('./loaders.ts');
  if (!loaderTakes(l.name, 'efi-memmap')) throw new UsageError('--efi-memmap is for IA-64 kernels');
  const { makeIa64Loader } = await import('./arch/ia64/elf-ia64.ts');
  const { parseEfiMemmapText } = await import('./arch/ia64/efi-memmap.ts');
  return makeIa64Loader({ efiMemmap: parseEfiMemmapText(text, source) });
}

/** kexec_file_load: the kernel parses the image; we check what it would refuse so the error is ours. */
export async function planFileLoad(req: LoadRequest, facts: LoadFacts): Promise<KexecPlan> {
  const { head, size: kernelSize } = facts.kernelHead();
  // Only a bzImage's header is read for kexec_file_load; other images are probed in full.
  const l = isBzImage(head) && !req.type ? { name: 'bzImage64', arch: 'x86_64' as const } : await pickLoader(req, facts);
  const initrdSize = req.initrd !== undefined ? facts.initrdSize() : undefined;
  if (initrdSize !== undefined) checkInitrdSize(req, initrdSize);
  const notes: string[] = [];
  if (isBzImage(head)) {
    const limit = parseBzImageHead(head, kernelSize, req.kernel).cmdline_size;
    const len = new TextEncoder().encode(req.cmdline).length + 1;
    // The kernel keeps 30 bytes for " elfcorehdr=0x…" even on normal loads.
    if (len + 30 > limit) {
      throw new KexecError(`command line too long for kexec_file_load: ${len} bytes with its NUL, the kernel accepts ${limit - 30}`, { hint: 'shorten it, or use -c (kexec_load)' });
    }
  } else if (l.arch === 'x86_64') notes.push(`${l.name} images are not accepted by kexec_file_load on x86_64; -a falls back to kexec_load`);
  const crash = req.kind === 'crash';
  return {
    arch: l.arch,
    kind: req.kind,
    syscall: 'kexec_file_load',
    loader: `${l.name} (parsed by the kernel)`,
    entry: 0n,
    segments: [],
    cmdline: req.cmdline,
    flags: (crash ? KEXEC_FILE_ON_CRASH : 0n) | (req.initrd !== undefined ? 0n : KEXEC_FILE_NO_INITRAMFS),
    notes,
    usable: [],
    debug: [],
    files: { kernel: req.kernel, kernelSize, ...(req.initrd !== undefined ? { initrd: req.initrd, initrdSize } : {}) },
  };
}

/** kexec_load: our loader places every segment; the plan is validated before it is returned. */
export async function planSegmentLoad(req: LoadRequest, facts: LoadFacts): Promise<PlannedLoad> {
  const loader = await pickLoader(req, facts);
  const image = await facts.kernelImage();
  const map = facts.memoryMap();
  checkMemoryMap(map);
  const elsewhere = !!(req.machine?.iomem || req.machine?.memmap);
  const crashInfo = req.kind === 'crash' ? await crashSide(req, facts, map, elsewhere, loader.arch) : undefined;
  if (req.initrd !== undefined) checkInitrdSize(req, facts.initrdSize(), totalRam(map.ranges) / 2n);
  const dtb = facts.dtb(loader.arch);
  // A dry run for another machine's map (--iomem/--memmap) has no zero page or EFI state of it.
  const bootState = req.dryRun && elsewhere ? {} : await facts.bootState();
  const purgatory = await facts.purgatory(loader.arch);
  const input: PlanInput = {
    image,
    imageName: req.kernel,
    ...(req.initrd !== undefined ? { initrd: facts.initrd(), initrdName: req.initrd } : {}),
    ...(dtb ? { dtb } : {}),
    cmdline: req.cmdline,
    kind: req.kind,
    memory: map,
    ...(req.memMin !== undefined ? { memMin: req.memMin } : {}),
    ...(req.memMax !== undefined ? { memMax: req.memMax } : {}),
    noChecks: !!req.noChecks,
    ...(crashInfo ? { crash: crashInfo.hook } : {}),
    host: { rngSeed: facts.rngSeed(), ...bootState },
    ...(purgatory ? { purgatory } : {}),
    sha256: await facts.sha256(),
    ...(req.corruptSegment ? { corruptSegment: req.corruptSegment } : {}),
  };
  const plan = loader.plan(input);
  validatePlan(plan, { totalRam: totalRam(map.ranges), ...(crashInfo ? { crashRegion: crashInfo.hook.region } : {}) });
  // kexec -d prints the crash side (core header program headers, elfcorehdr=) before the loader's lines.
  if (crashInfo) plan.debug.unshift(...crashInfo.debugLines(plan));
  return { plan, map, kernelSize: image.length };
}

/**
 * Physical addresses are at most 52 bits wide on x86_64 and arm64 (MAXPHYADDR, 52-bit PA), 50 on
 * IA-64: RAM above that is a damaged or made-up map, and a plan in it (the allocator places top-down)
 * would name addresses no CPU has.
 */
export const MAX_PHYS_BITS = 52n;

function checkMemoryMap(map: MemoryMap): void {
  const bad = map.ranges.find((r) => r.type === 'ram' && r.end >> MAX_PHYS_BITS !== 0n);
  if (bad) {
    throw new KexecError(`RAM at ${hex(bad.start)}-${hex(bad.end)} lies beyond ${MAX_PHYS_BITS}-bit physical addresses, which no CPU kexec-ts loads on has: the memory map is damaged`, {
      hint: 'give the iomem/memmap of a real machine',
    });
  }
}

async function crashSide(req: LoadRequest, facts: LoadFacts, map: MemoryMap, elsewhere: boolean, arch: KexecArch): Promise<CrashSide> {
  const regions = map.crashKernel;
  for (let i = 1; i < regions.length; i++) {
    if (regions[i]!.start <= regions[i - 1]!.end) {
      const [a, b] = [regions[i - 1]!, regions[i]!];
      throw new KexecError(`the "Crash kernel" ranges ${hex(a.start)}-${hex(a.end)} and ${hex(b.start)}-${hex(b.end)} overlap: the memory map is damaged or not this machine's`, {
        hint: 'give the iomem of one running machine',
      });
    }
  }
  // On this machine (a load, or --dry-run without --iomem/--memmap; --root: the machine under DIR)
  // the kdump side reads the running kernel's facts and builds the ELF core header. Of another
  // machine's map we only know its crash region: the hook adds nothing but the region.
  let why = 'the ELF core header and elfcorehdr= are left out (they need the running kernel: plan on it as root)';
  if (!elsewhere) {
    try {
      return await facts.crashSide(arch);
    } catch (e) {
      // A real load needs every fact; a dry run shows what it can and says what is missing.
      if (!req.dryRun || !(e instanceof Error)) throw e;
      why = `the ELF core header is left out: ${e.message}`;
    }
  }
  const last = mainCrashRegion(regions);
  if (!last) throw new KexecError('no memory is reserved for a crash kernel (no "Crash kernel" in iomem)', { hint: 'boot with crashkernel=256M' });
  return { hook: { region: [last], addSegments: () => ({ notes: [`--dry-run: ${why}`] }) }, debugLines: () => [] };
}

/** The MEMORY RANGES kexec-tools prints: x86 bumps the first RAM range to 0x400. */
export const debugRanges = (arch: KexecArch, map: MemoryMap): MemoryRange[] => (arch === 'x86_64' ? x86LoaderRanges(map) : map.ranges);

/** What --dry-run prints: the plan as JSON, kexec -d's lines (-d), or the table and the picture. */
export async function dryRunText(p: PlannedLoad, opts: { json?: boolean; debug?: boolean } = {}): Promise<string> {
  const { formatPlan, kexecDebugLines, planToJson } = await import('./plan-text.ts');
  if (opts.json) return JSON.stringify({ schema: JSON_SCHEMA, ...(planToJson(p.plan) as object) }, null, 2) + '\n';
  if (opts.debug && p.map) return kexecDebugLines(p.plan, debugRanges(p.plan.arch, p.map), p.kernelSize).join('\n') + '\n';
  const lines = formatPlan(p.plan);
  if (p.map) lines.push('', (await import('./plan-picture.ts')).planPicture(p.plan, p.map));
  return lines.join('\n') + '\n';
}

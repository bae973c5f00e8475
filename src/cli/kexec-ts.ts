// kexec-ts: load a kernel to boot into (kexec-tools' `kexec` options), boot it, unload it, report
// status — or plan a load for this or another machine without touching the kernel (--dry-run).
// Start-up is most of a load's wall time (BENCHMARKS.md): what only some paths need (the loaders,
// the purgatory, printing, the kdump side, decompression) is imported where it is used.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KexecError, UsageError } from '../errors.ts';
import { currentBootParams, currentCmdline, kexecLoaded, readMemoryMap, rngSeed } from '../kexec/host.ts';
import type { EfiFacts } from '../kexec/arch/x86_64/efi.ts';
import { totalRam, x86LoaderRanges, type MemoryMap } from '../kexec/memory-map.ts';
import { KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_ON_CRASH, hex, validatePlan, type CrashHook, type KexecArch, type KexecLoader, type KexecPlan, type PlanInput } from '../kexec/plan.ts';
import { buildCmdline } from '../kexec/cmdline.ts';
import { ERRNO, SyscallError, loadSyscalls, type KexecSyscalls } from '../kexec/syscalls.ts';
import { isBzImage, parseBzImageHead } from '../format/bzimage.ts';
import { runCli } from './run.ts';

const USAGE = `usage: kexec-ts [options] [KERNEL]
  -l, --load               load KERNEL to boot with -e
  -p, --load-panic         load KERNEL as the crash (kdump) kernel
  -e, --exec               boot the loaded kernel now (sync, then reboot(LINUX_REBOOT_CMD_KEXEC))
  -f, --force              with KERNEL: load it and boot it at once
  -u, --unload             unload the kernel (with -p: the crash kernel)
  -S, --status             exit 0 if a kernel is loaded (crash kernel unless -l), 1 if not
  -x, --no-ifdown          accepted for kexec-tools compatibility (interfaces are never taken down)
  -s, --kexec-file-syscall use kexec_file_load only
  -c, --kexec-syscall      use kexec_load only (our loaders + purgatory)
  -a, --kexec-syscall-auto kexec_file_load, falling back to kexec_load (default)
      --command-line=TEXT  the new kernel's command line
      --append=TEXT        add to the command line
      --reuse-cmdline      start from this kernel's /proc/cmdline
      --initrd=FILE, --ramdisk=FILE
      --dtb=FILE           device tree (arm64)
  -t, --type=TYPE          kernel type (elf-x86_64, bzImage64, …) instead of probing
      --mem-min=ADDR, --mem-max=ADDR  keep segments inside this physical range
  -i, --no-checks          the purgatory skips its SHA-256 checks
  -d, --debug              print kexec-tools' -d lines (segment list) on stderr
      --dry-run            plan and print; no syscall (with --iomem FILE / --memmap DIR: another machine's map)
      --root=DIR           with --dry-run: plan for the machine whose /proc and /sys are under DIR
                           (memory map, and for -p the crash notes, VMCOREINFO, kernel text)
      --svg=FILE           with --dry-run: also draw the plan over the memory map as SVG
      --efi-memmap=FILE    IA-64: the machine's EFI memory map (text), to show it as the purgatory patches it
      --json               print the plan (or status) as JSON
  -h, --help`;

const OPTIONS = {
  load: { type: 'boolean', short: 'l' },
  'load-panic': { type: 'boolean', short: 'p' },
  exec: { type: 'boolean', short: 'e' },
  force: { type: 'boolean', short: 'f' },
  unload: { type: 'boolean', short: 'u' },
  status: { type: 'boolean', short: 'S' },
  'no-ifdown': { type: 'boolean', short: 'x' },
  'kexec-file-syscall': { type: 'boolean', short: 's' },
  'kexec-syscall': { type: 'boolean', short: 'c' },
  'kexec-syscall-auto': { type: 'boolean', short: 'a' },
  'command-line': { type: 'string' },
  append: { type: 'string' },
  'reuse-cmdline': { type: 'boolean' },
  initrd: { type: 'string' },
  ramdisk: { type: 'string' },
  dtb: { type: 'string' },
  type: { type: 'string', short: 't' },
  'mem-min': { type: 'string' },
  'mem-max': { type: 'string' },
  'no-checks': { type: 'boolean', short: 'i' },
  debug: { type: 'boolean', short: 'd' },
  'dry-run': { type: 'boolean' },
  iomem: { type: 'string' },
  memmap: { type: 'string' },
  root: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  'efi-memmap': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // Test hook (e2e): damage one segment after its digest is taken; our purgatory must then halt.
  'debug-corrupt-segment': { type: 'string' },
} as const;

type Opts = ReturnType<typeof parse>['values'];

/** kexec_file_load errors after which -a tries kexec_load (as kexec-tools does). */
const FALLBACK_ERRNOS = new Set<number>([ERRNO.ENOSYS, ERRNO.EINVAL, ERRNO.ENOEXEC, ERRNO.EOPNOTSUPP]);

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}\n${USAGE}`);
  }
}

function parseAddress(text: string, what: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new UsageError(`${what}: not an address: ${text}`);
  return BigInt(text);
}

function requireRoot(what: string): void {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
    throw new KexecError(`${what} needs root (CAP_SYS_BOOT)`, { hint: 'run it with sudo, or use --dry-run to plan' });
  }
}

/** node:crypto's SHA-256 (loaded only for kexec_load plans). */
async function nodeSha256(): Promise<(b: Uint8Array) => Uint8Array> {
  const { createHash } = await import('node:crypto');
  return (b) => createHash('sha256').update(b).digest();
}

/** The first `n` bytes of a file and its size (kexec_file_load needs no more of the kernel). */
function readHead(path: string, n: number): { head: Uint8Array; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(Math.min(n, size));
    readSync(fd, head, 0, head.length, 0);
    return { head, size };
  } finally {
    closeSync(fd);
  }
}

/** The kernel file, decompressed when it is gzip or zstd (as kexec-tools' slurp_decompress_file). */
async function readKernel(path: string, debug: boolean): Promise<Uint8Array> {
  const raw = readFileSync(path);
  const { decompressImage, imageCompression, MAX_DECOMPRESSED_IMAGE } = await import('../kexec/image-compression.ts');
  if (!imageCompression(raw)) return raw;
  const { gunzipSync } = await import('node:zlib');
  const r = await decompressImage(raw, path, { gzip: (d) => gunzipSync(d, { maxOutputLength: MAX_DECOMPRESSED_IMAGE }) });
  if (debug) process.stderr.write(`${path}: ${r.compression}-compressed, ${hex(r.fileSize)} bytes -> ${hex(r.data.length)}\n`);
  return r.data;
}

/** A crash load's hook, and the `kexec -d` lines of its ELF core header once the loader has placed it. */
interface CrashSide {
  hook: CrashHook;
  debugLines(plan: KexecPlan): string[];
}

async function crashSide(map: MemoryMap, root: string, where: 'load' | 'dry-run here' | 'dry-run elsewhere'): Promise<CrashSide> {
  // On this machine (a load, or --dry-run without --iomem/--memmap; --root: the machine under DIR)
  // the kdump side (src/kdump) reads the running kernel's facts and builds the ELF core header. Of
  // another machine's map we only know its crash region: the hook adds nothing but the region.
  let why = 'the ELF core header and elfcorehdr= are left out (they need the running kernel: plan on it as root)';
  if (where !== 'dry-run elsewhere') {
    const { readCrashFacts } = await import('../kdump/host.ts');
    const { planCrashLoad, coreHeaderDebugLines } = await import('../kdump/crash-load.ts');
    try {
      const load = planCrashLoad(readCrashFacts(root));
      return {
        hook: load.hook,
        debugLines: (plan) => {
          const placed = load.placed;
          if (!placed) return [];
          return [...coreHeaderDebugLines(placed.header), `Created elf header segment at ${hex(placed.addr)}`, 'Command line after adding elfcorehdr', plan.cmdline];
        },
      };
    } catch (e) {
      // A real load needs every fact; a dry run shows what it can and says what is missing.
      if (where === 'load' || !(e instanceof Error)) throw e;
      why = `the ELF core header is left out: ${e.message}`;
    }
  }
  if (map.crashKernel.length === 0) {
    throw new KexecError('no memory is reserved for a crash kernel (no "Crash kernel" in iomem)', { hint: 'boot with crashkernel=256M' });
  }
  const last = map.crashKernel[map.crashKernel.length - 1]!;
  return { hook: { region: [last], addSegments: () => ({ notes: [`--dry-run: ${why}`] }) }, debugLines: () => [] };
}

async function main(argv: string[]): Promise<number> {
  const { values: o, positionals } = parse(argv);
  if (o.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one kernel file, not ${positionals.length}: ${positionals.join(' ')}`);
  const kernelPath = positionals[0];
  const crash = !!o['load-panic'];
  if (o.status) return status(o, crash);
  if (o.unload) {
    if (o['dry-run']) throw new UsageError('--dry-run plans loads; -u has nothing to plan');
    return unload(o, crash);
  }
  if (!o.load && !crash && !o.exec && !o.force) {
    throw new UsageError(kernelPath ? `what to do with ${kernelPath}? give -l (load, then -e to boot), -p (crash kernel) or -f (load and boot now)` : USAGE);
  }
  if (o.load || crash || (o.force && kernelPath)) {
    if (!kernelPath) throw new UsageError('no kernel file given');
    await load(o, kernelPath, crash);
    if ((o.force || o.exec) && !crash && !o['dry-run']) return exec();
    return 0;
  }
  if (o.exec || o.force) {
    if (o['dry-run']) throw new UsageError('--dry-run plans loads; -e has nothing to plan');
    return exec();
  }
  return 0;
}

function syscallChoice(o: Opts): 'auto' | 'file' | 'load' {
  const n = [o['kexec-file-syscall'], o['kexec-syscall'], o['kexec-syscall-auto']].filter(Boolean).length;
  if (n > 1) throw new UsageError('give only one of -s, -c, -a');
  return o['kexec-file-syscall'] ? 'file' : o['kexec-syscall'] ? 'load' : 'auto';
}

async function load(o: Opts, kernelPath: string, crash: boolean): Promise<void> {
  const dryRun = !!o['dry-run'];
  const choice = syscallChoice(o);
  if (!dryRun) requireRoot(crash ? 'loading a crash kernel' : 'loading a kernel');
  if ((o.iomem || o.memmap || o.root) && !dryRun) throw new UsageError('--iomem/--memmap/--root plan for another machine: use them with --dry-run');
  if (o.root && (o.iomem || o.memmap)) throw new UsageError('--root reads DIR/proc/iomem and DIR/sys/firmware/memmap: give it without --iomem/--memmap');
  const { head, size: kernelSize } = readHead(kernelPath, 0x10000);
  const initrdPath = o.initrd ?? o.ramdisk;
  // kexec_file_load hands the kernel an fd: the initrd is only read when we place it ourselves.
  const initrdSize = initrdPath !== undefined ? statSync(initrdPath).size : undefined;
  const cmdline = buildCmdline({
    ...(o['reuse-cmdline'] ? { reuse: currentCmdline() } : {}),
    ...(o['command-line'] !== undefined ? { commandLine: o['command-line'] } : {}),
    ...(o.append !== undefined ? { append: o.append } : {}),
    crash,
  });
  if (o.svg && !dryRun) throw new UsageError('--svg draws a --dry-run plan');
  // Only a bzImage's header is read for kexec_file_load; other images are probed in full.
  let image: Uint8Array | undefined;
  const pick = async () => {
    image ??= await readKernel(kernelPath, !!o.debug);
    const { hostArch, pickLoader } = await import('../kexec/loaders.ts');
    const l = await pickLoader(image, { ...(o.type ? { type: o.type } : {}), source: kernelPath });
    if (!dryRun && l.arch !== hostArch()) {
      throw new KexecError(`${kernelPath} is an ${l.arch} kernel; this machine is ${hostArch() ?? process.arch}`, { hint: 'use --dry-run to plan it' });
    }
    return o['efi-memmap'] ? withEfiMemmap(l, o['efi-memmap']) : l;
  };

  if (choice === 'file' || (choice === 'auto' && !dryRun)) {
    let filePlan: KexecPlan | undefined;
    try {
      const l = isBzImage(head) && !o.type ? { name: 'bzImage64', arch: 'x86_64' as const } : await pick();
      filePlan = planFileLoad(head, { kernel: kernelPath, kernelSize, ...(initrdPath !== undefined ? { initrd: initrdPath, initrdSize } : {}) }, cmdline, crash, l.name, l.arch);
    } catch (e) {
      // -a: what kexec_file_load would refuse goes to kexec_load, as kexec-tools does on EINVAL.
      if (choice === 'file') throw e;
      if (o.debug) process.stderr.write(`${(e as Error).message}; using kexec_load\n`);
    }
    if (filePlan && dryRun) return printPlan(o, filePlan, undefined, kernelSize);
    if (filePlan) {
      try {
        fileLoad(loadSyscalls(), filePlan);
        if (o.debug) process.stderr.write(`kexec_file_load: flags = ${hex(filePlan.flags)}\n`);
        return;
      } catch (e) {
        const fallback = e instanceof SyscallError && FALLBACK_ERRNOS.has(e.errno ?? 0);
        if (choice === 'file' || !fallback) throw e;
        if (o.debug) process.stderr.write(`${e.message}; falling back to kexec_load\n`);
      }
    }
  }

  const loader = await pick();
  image ??= await readKernel(kernelPath, !!o.debug);
  const root = o.root ?? '/';
  const map = o.root
    ? readMemoryMap({ iomem: join(root, 'proc/iomem'), memmap: join(root, 'sys/firmware/memmap') })
    : readMemoryMap({ ...(o.iomem ? { iomem: o.iomem } : {}), ...(o.memmap ? { memmap: o.memmap } : {}) });
  const crashInfo = crash ? await crashSide(map, root, !dryRun ? 'load' : o.iomem || o.memmap ? 'dry-run elsewhere' : 'dry-run here') : undefined;
  const input: PlanInput = {
    image,
    imageName: kernelPath,
    ...(initrdPath !== undefined ? { initrd: readFileSync(initrdPath), initrdName: initrdPath } : {}),
    ...dtbFor(loader.arch, o.dtb, dryRun),
    cmdline,
    kind: crash ? 'crash' : 'load',
    memory: map,
    ...(o['mem-min'] ? { memMin: parseAddress(o['mem-min'], '--mem-min') } : {}),
    ...(o['mem-max'] ? { memMax: parseAddress(o['mem-max'], '--mem-max') } : {}),
    noChecks: !!o['no-checks'],
    ...(crashInfo ? { crash: crashInfo.hook } : {}),
    // A dry run for another machine's map (--iomem/--memmap) has no zero page or EFI state of it.
    host: { rngSeed: rngSeed(), ...(dryRun && (o.iomem || o.memmap) ? {} : await optionalBootParams(root)) },
    purgatory: (await import('../kexec/purgatory-file.ts')).readPurgatoryObject(loader.arch),
    sha256: await nodeSha256(),
    ...(o['debug-corrupt-segment'] ? { corruptSegment: o['debug-corrupt-segment'] } : {}),
  };
  const plan = loader.plan(input);
  validatePlan(plan, { totalRam: totalRam(map.ranges), ...(crash ? { crashRegion: input.crash!.region } : {}) });
  // kexec -d prints the crash side (core header program headers, elfcorehdr=) before the loader's lines.
  if (crashInfo) plan.debug.unshift(...crashInfo.debugLines(plan));
  if (dryRun) return printPlan(o, plan, map, image.length);
  if (o.debug) {
    const { kexecDebugLines } = await import('../kexec/plan-text.ts');
    process.stderr.write(kexecDebugLines(plan, debugRanges(plan.arch, map), image.length).join('\n') + '\n');
  }
  loadSyscalls().kexecLoad(plan.entry, plan.segments, plan.flags);
}

/** IA-64: the same loader, told the machine's EFI memory map (test/fixtures/ia64/*.efi-memmap format). */
async function withEfiMemmap(l: KexecLoader, path: string): Promise<KexecLoader> {
  if (l.arch !== 'ia64') throw new UsageError('--efi-memmap is for IA-64 kernels');
  const { makeIa64Loader } = await import('../kexec/arch/ia64/elf-ia64.ts');
  const { parseEfiMemmapText } = await import('../kexec/arch/ia64/efi-memmap.ts');
  return makeIa64Loader({ efiMemmap: parseEfiMemmapText(readFileSync(path, 'utf8'), path) });
}

/** arm64 needs a device tree: --dtb, else (loading on this machine) the firmware's /sys/firmware/fdt. */
function dtbFor(arch: KexecArch, path: string | undefined, dryRun: boolean): { dtb?: Uint8Array } {
  if (path) return { dtb: readFileSync(path) };
  if (arch === 'arm64' && !dryRun && existsSync('/sys/firmware/fdt')) return { dtb: readFileSync('/sys/firmware/fdt') };
  return {};
}

/** The MEMORY RANGES kexec-tools prints: x86 bumps the first RAM range to 0x400. */
const debugRanges = (arch: KexecArch, map: MemoryMap) => (arch === 'x86_64' ? x86LoaderRanges(map) : map.ranges);

/** The zero page and EFI state of the machine at `root` (x86: what a kexec_load zero page copies). */
async function optionalBootParams(root: string): Promise<{ bootParams?: Uint8Array; efi?: EfiFacts }> {
  const bp = currentBootParams(root);
  const efi = (await import('../kexec/arch/x86_64/efi-host.ts')).readEfiFacts(join(root, 'sys/firmware/efi'));
  return { ...(bp ? { bootParams: bp } : {}), ...(efi ? { efi } : {}) };
}

/** kexec_file_load: the kernel parses the image; we check what it would refuse so the error is ours. */
function planFileLoad(head: Uint8Array, files: NonNullable<KexecPlan['files']>, cmdline: string, crash: boolean, loaderName: string, arch: KexecArch): KexecPlan {
  const notes: string[] = [];
  if (isBzImage(head)) {
    const limit = parseBzImageHead(head, files.kernelSize, files.kernel).cmdline_size;
    const len = new TextEncoder().encode(cmdline).length + 1;
    // The kernel keeps 30 bytes for " elfcorehdr=0x…" even on normal loads.
    if (len + 30 > limit) {
      throw new KexecError(`command line too long for kexec_file_load: ${len} bytes with its NUL, the kernel accepts ${limit - 30}`, { hint: 'shorten it, or use -c (kexec_load)' });
    }
  } else if (arch === 'x86_64') notes.push(`${loaderName} images are not accepted by kexec_file_load on x86_64; -a falls back to kexec_load`);
  return {
    arch,
    kind: crash ? 'crash' : 'load',
    syscall: 'kexec_file_load',
    loader: `${loaderName} (parsed by the kernel)`,
    entry: 0n,
    segments: [],
    cmdline,
    flags: (crash ? KEXEC_FILE_ON_CRASH : 0n) | (files.initrd ? 0n : KEXEC_FILE_NO_INITRAMFS),
    notes,
    usable: [],
    debug: [],
    files,
  };
}

function fileLoad(sys: KexecSyscalls, plan: KexecPlan): void {
  const kfd = openSync(plan.files!.kernel, 'r');
  const ifd = plan.files!.initrd !== undefined ? openSync(plan.files!.initrd, 'r') : -1;
  try {
    sys.kexecFileLoad(kfd, ifd, plan.cmdline, plan.flags);
  } finally {
    closeSync(kfd);
    if (ifd >= 0) closeSync(ifd);
  }
}

async function printPlan(o: Opts, plan: KexecPlan, map: MemoryMap | undefined, kernelSize: number): Promise<void> {
  const { formatPlan, kexecDebugLines, planToJson } = await import('../kexec/plan-text.ts');
  const { planPicture, planSvg } = await import('../kexec/plan-picture.ts');
  if (o.json) {
    process.stdout.write(JSON.stringify(planToJson(plan), null, 2) + '\n');
    return;
  }
  if (o.svg && map) writeFileSync(o.svg, planSvg(plan, map));
  const lines = o.debug && map ? kexecDebugLines(plan, debugRanges(plan.arch, map), kernelSize) : formatPlan(plan);
  if (!o.debug && map) lines.push('', planPicture(plan, map));
  writeSync(1, lines.join('\n') + '\n');
}

function unload(o: Opts, crash: boolean): number {
  requireRoot('unloading');
  const sys = loadSyscalls();
  const choice = syscallChoice(o);
  if (choice !== 'load') {
    try {
      sys.unloadKexecFile(crash ? KEXEC_FILE_ON_CRASH : 0n);
      return 0;
    } catch (e) {
      if (choice === 'file' || !(e instanceof SyscallError) || !FALLBACK_ERRNOS.has(e.errno ?? 0)) throw e;
    }
  }
  sys.unloadKexecLoad(crash ? KEXEC_ON_CRASH : 0n);
  return 0;
}

function status(o: Opts, crash: boolean): number {
  const kind = o.load && !crash ? 'load' : 'crash';
  const loaded = kexecLoaded(kind);
  const crashLoaded = kexecLoaded('crash');
  const normal = kexecLoaded('load');
  if (o.json) process.stdout.write(JSON.stringify({ kexecLoaded: normal ?? null, crashLoaded: crashLoaded ?? null }) + '\n');
  else process.stdout.write(`kexec kernel: ${word(normal)}\ncrash kernel: ${word(crashLoaded)}\n`);
  if (loaded === undefined) throw new KexecError(`cannot tell: ${kind === 'crash' ? '/sys/kernel/kexec_crash_loaded' : '/sys/kernel/kexec_loaded'} is missing`, { hint: 'this kernel has no kexec support' });
  return loaded ? 0 : 1;
}

const word = (b: boolean | undefined) => (b === undefined ? 'unknown (no sysfs file)' : b ? 'loaded' : 'not loaded');

function exec(): number {
  requireRoot('booting a loaded kernel');
  const loaded = kexecLoaded('load');
  if (loaded === false) throw new KexecError('nothing has been loaded', { hint: 'load a kernel first with kexec-ts -l KERNEL' });
  if (loaded === undefined) throw new KexecError('cannot tell whether a kernel is loaded (/sys/kernel/kexec_loaded is missing)', { hint: 'this kernel has no kexec support' });
  const sys = loadSyscalls();
  sys.sync();
  sys.rebootKexec();
  return 0; // not reached when the new kernel starts
}

// Not awaited: no top-level await, so the same source bundles as CommonJS too (runCli never rejects).
void runCli('kexec-ts', main);

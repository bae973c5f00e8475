// The Node edge of a kexec load: reads the files and the machine's facts the pure planner
// (src/kexec/load.ts) asks for, then makes the syscalls through the KexecSyscalls it is given.
// Nothing here constructs the real syscalls (src/host/syscalls.ts `hostSyscalls`): the CLIs do,
// only for an operation on this machine, so --dry-run, --root and tests cannot reach the kernel.
// `kexec-ts` and `kdump-ts load` both load through `loadKernel`, in-process.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync, type Stats } from 'node:fs';
import { KexecError } from '../errors.ts';
import { currentBootParams, FIRMWARE_MEMMAP, IOMEM, kexecLoaded, readMemoryMap, rngSeed } from './kexec-facts.ts';
import { machinePath } from './machine-files.ts';
import { dryRunSyscall, debugRanges, planLoad, type CrashSide, type LoadFacts, type LoadRequest, type PlannedLoad, type SyscallChoice } from '../kexec/load.ts';
import { hostArch } from '../kexec/loaders.ts';
import { KEXEC_FILE_ON_CRASH, KEXEC_ON_CRASH, type KexecArch, type KexecKind, type KexecPlan } from '../kexec/plan.ts';
import { hex } from '../text.ts';
import { ERRNO, SyscallError, type KexecSyscalls } from '../kexec/syscalls.ts';

/** kexec_file_load errors after which -a tries kexec_load (as kexec-tools does). */
const FALLBACK_ERRNOS = new Set<number>([ERRNO.ENOSYS, ERRNO.EINVAL, ERRNO.ENOEXEC, ERRNO.EOPNOTSUPP]);

/** The largest file read whole (kernel, DTB): what one Node read can take. */
const MAX_READ = 0x7fffffff;

export interface LoadOptions {
  /** Where -d lines go (kexec-ts: stderr); none without -d. */
  debug?: (line: string) => void;
}

const kindOf = (st: Stats) =>
  st.isDirectory() ? 'a directory' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a file';

/**
 * Opens a kernel, initrd or DTB for reading when it is a regular file: /dev/zero as a kernel would
 * be read until memory runs out, a FIFO would block the open, a directory reads as an error later.
 * Checked by path before the open (so a FIFO is never opened) and on the open fd.
 */
export function openRegularFile(path: string, what: string): { fd: number; size: number } {
  const refuse = (st: Stats) => new KexecError(`${what} ${path} is ${kindOf(st)}, not a regular file`, { hint: `give the ${what} file itself` });
  const before = statSync(path);
  if (!before.isFile()) throw refuse(before);
  const fd = openSync(path, 'r');
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw refuse(st);
  }
  return { fd, size: st.size };
}

/** The first `max` bytes of a regular file (all of it when `max` is undefined, at most MAX_READ) and its size. */
function readRegularFile(path: string, what: string, max?: number): { data: Uint8Array; size: number } {
  const { fd, size } = openRegularFile(path, what);
  try {
    if (max === undefined && size > MAX_READ) {
      throw new KexecError(`${what} ${path} is ${size} bytes: more than kexec-ts reads (${MAX_READ} bytes)`, { hint: `is it really a ${what}?` });
    }
    // all of it as readFileSync reads it (to EOF: a sysfs file such as /sys/firmware/fdt may state no size)
    if (max === undefined) return { data: readFileSync(fd), size };
    const data = new Uint8Array(Math.min(max, size));
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { data: data.subarray(0, off), size };
  } finally {
    closeSync(fd);
  }
}

/** The kernel file, decompressed when it is gzip or zstd (as kexec-tools' slurp_decompress_file). */
async function readKernel(path: string, debug?: (line: string) => void): Promise<Uint8Array> {
  const raw = readRegularFile(path, 'kernel').data;
  const { decompressImage, imageCompression } = await import('../kexec/image-compression.ts');
  if (!imageCompression(raw)) return raw;
  const { gunzipSync } = await import('node:zlib');
  const r = await decompressImage(raw, path, { gzip: (d, max) => gunzipSync(d, { maxOutputLength: max }) });
  debug?.(`${path}: ${r.compression}-compressed, ${hex(r.fileSize)} bytes -> ${hex(r.data.length)}`);
  return r.data;
}

/** The facts of this machine, or of the one under `req.machine.root`, or of --iomem/--memmap files. */
export function hostLoadFacts(req: LoadRequest, opts: LoadOptions = {}): LoadFacts {
  const root = req.machine?.root ?? '/';
  let image: Promise<Uint8Array> | undefined;
  return {
    kernelHead: () => {
      const { data, size } = readRegularFile(req.kernel, 'kernel', 0x10000);
      return { head: data, size };
    },
    kernelImage: () => (image ??= readKernel(req.kernel, opts.debug)),
    initrdSize: () => {
      const { fd, size } = openRegularFile(req.initrd!, 'initrd');
      closeSync(fd);
      return size;
    },
    initrd: () => readRegularFile(req.initrd!, 'initrd').data,
    dtb: (arch: KexecArch) => {
      if (req.dtb) return readRegularFile(req.dtb, 'device tree').data;
      // arm64 needs one: the machine's firmware's (--root's copy), also in a dry run, unless that
      // dry run describes another machine by --iomem/--memmap alone.
      const fdt = machinePath(root, '/sys/firmware/fdt');
      const m = req.machine ?? {};
      const thisMachine = !req.dryRun || !!m.root || (!m.iomem && !m.memmap);
      if (arch === 'arm64' && thisMachine && existsSync(fdt)) return readRegularFile(fdt, 'device tree').data;
      return undefined;
    },
    efiMemmapText: () => new TextDecoder().decode(readRegularFile(req.efiMemmap!, 'EFI memory map').data),
    memoryMap: () => {
      const m = req.machine ?? {};
      if (m.root) return readMemoryMap({ iomem: machinePath(root, IOMEM), memmap: machinePath(root, FIRMWARE_MEMMAP), memmapOptional: true });
      return readMemoryMap({ ...(m.iomem ? { iomem: m.iomem } : {}), ...(m.memmap ? { memmap: m.memmap } : {}) });
    },
    crashSide: async (arch: KexecArch): Promise<CrashSide> => {
      if (arch !== 'x86_64' && arch !== 'arm64') throw new KexecError(`kexec-ts builds no ELF core header for ${arch} kernels`, { hint: 'crash loads are for x86_64 and arm64' });
      const { readCrashFacts } = await import('./crash-facts.ts');
      const { planCrashLoad, coreHeaderDebugLines, arm64CrashRangeDebugLines } = await import('../kdump/crash-load.ts');
      const load = planCrashLoad(readCrashFacts(root, arch), arch);
      return {
        hook: load.hook,
        debugLines: (plan: KexecPlan) => {
          const placed = load.placed;
          if (!placed) return [];
          if (arch === 'arm64') {
            // kexec-tools arm64 prints the ranges and the header (the loader adds where it went; no
            // command line change: the DTB names it).
            return [...arm64CrashRangeDebugLines(load, load.hook.region), ...coreHeaderDebugLines(placed.header)];
          }
          return [...coreHeaderDebugLines(placed.header), `Created elf header segment at ${hex(placed.addr)}`, 'Command line after adding elfcorehdr', plan.cmdline];
        },
      };
    },
    bootState: async () => {
      const bp = currentBootParams(root);
      const { readEfiFacts, SYS_FIRMWARE_EFI } = await import('./efi-facts.ts');
      const efi = readEfiFacts(machinePath(root, SYS_FIRMWARE_EFI));
      return { ...(bp ? { bootParams: bp } : {}), ...(efi ? { efi } : {}) };
    },
    rngSeed,
    purgatory: async (arch: KexecArch) => (await import('./purgatory-file.ts')).readPurgatoryObject(arch),
    sha256: async () => {
      // node:crypto's SHA-256, loaded only for kexec_load plans.
      const { createHash } = await import('node:crypto');
      return (b: Uint8Array) => createHash('sha256').update(b).digest();
    },
    hostArch: () => hostArch(),
  };
}

/** --dry-run: the plan a load would make, from this machine's facts or another's; no syscall object exists here. */
export async function planKernelLoad(req: LoadRequest, opts: LoadOptions = {}): Promise<PlannedLoad> {
  return planLoad({ ...req, dryRun: true }, hostLoadFacts(req, opts), dryRunSyscall(req.syscall));
}

/**
 * Loads a kernel (or with kind 'crash' the capture kernel) through `sys`: kexec_file_load,
 * kexec_load, or (auto) the first falling back to the second as kexec-tools does. The facts are
 * this machine's, or with `req.machine` a recorded one's (tests, with a fake `sys`: the CLIs never
 * pass both). Returns the plan that was loaded.
 */
export async function loadKernel(req: LoadRequest, sys: KexecSyscalls, opts: LoadOptions = {}): Promise<KexecPlan> {
  if (req.dryRun) throw new KexecError('internal: a dry run has no syscalls: use planKernelLoad');
  const facts = hostLoadFacts(req, opts);
  const debug = opts.debug;
  if (req.syscall !== 'load') {
    let filePlan: KexecPlan | undefined;
    try {
      filePlan = (await planLoad(req, facts, 'kexec_file_load')).plan;
    } catch (e) {
      // -a: what kexec_file_load would refuse goes to kexec_load, as kexec-tools does on EINVAL.
      if (req.syscall === 'file') throw e;
      debug?.(`${(e as Error).message}; using kexec_load`);
    }
    if (filePlan) {
      try {
        fileLoad(sys, filePlan);
        debug?.(`kexec_file_load: flags = ${hex(filePlan.flags)}`);
        return filePlan;
      } catch (e) {
        const fallback = e instanceof SyscallError && FALLBACK_ERRNOS.has(e.errno ?? 0);
        if (req.syscall === 'file' || !fallback) throw e;
        debug?.(`${e.message}; falling back to kexec_load`);
      }
    }
  }
  const planned = await planLoad(req, facts, 'kexec_load');
  if (debug) {
    const { kexecDebugLines } = await import('../kexec/plan-text.ts');
    for (const line of kexecDebugLines(planned.plan, debugRanges(planned.plan.arch, planned.map!), planned.kernelSize)) debug(line);
  }
  sys.kexecLoad(planned.plan.entry, planned.plan.segments, planned.plan.flags);
  return planned.plan;
}

function fileLoad(sys: KexecSyscalls, plan: KexecPlan): void {
  const files = plan.files!;
  const kernel = openRegularFile(files.kernel, 'kernel');
  let initrd = -1;
  try {
    if (files.initrd !== undefined) initrd = openRegularFile(files.initrd, 'initrd').fd;
    sys.kexecFileLoad(kernel.fd, initrd, plan.cmdline, plan.flags);
  } finally {
    closeSync(kernel.fd);
    if (initrd >= 0) closeSync(initrd);
  }
}

/** Unloads the kernel (kind 'crash': the capture kernel) through the syscall `choice` picks (auto: file, then kexec_load). */
export function unloadKernel(kind: KexecKind, choice: SyscallChoice, sys: KexecSyscalls): void {
  const crash = kind === 'crash';
  if (choice !== 'load') {
    try {
      sys.unloadKexecFile(crash ? KEXEC_FILE_ON_CRASH : 0n);
      return;
    } catch (e) {
      if (choice === 'file' || !(e instanceof SyscallError) || !FALLBACK_ERRNOS.has(e.errno ?? 0)) throw e;
    }
  }
  sys.unloadKexecLoad(crash ? KEXEC_ON_CRASH : 0n);
}

/** Boots the loaded kernel: sync, then reboot(LINUX_REBOOT_CMD_KEXEC). Refuses when /sys says nothing is loaded. */
export function execKernel(sys: KexecSyscalls, root = '/'): void {
  const loaded = kexecLoaded('load', root);
  if (loaded === false) throw new KexecError('nothing has been loaded', { hint: 'load a kernel first with kexec-ts -l KERNEL' });
  if (loaded === undefined) throw new KexecError('cannot tell whether a kernel is loaded (/sys/kernel/kexec_loaded is missing)', { hint: 'this kernel has no kexec support' });
  sys.sync();
  sys.rebootKexec();
}

// Facts about the running machine a kexec load needs, read from /proc and /sys (or from another
// machine's copies: --iomem FILE, --memmap DIR). The only file reading the kexec planner does.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readBytes, readText } from './machine-files.ts';
import { join } from 'node:path';
import { KexecError } from '../errors.ts';
import { memoryMapFromFirmware, memoryMapFromIomem, parseMemmapListing, type FirmwareMemmapEntry, type MemoryMap } from '../kexec/memory-map.ts';

export const IOMEM = '/proc/iomem';
export const FIRMWARE_MEMMAP = '/sys/firmware/memmap';
export const KEXEC_LOADED = '/sys/kernel/kexec_loaded';
export const KEXEC_CRASH_LOADED = '/sys/kernel/kexec_crash_loaded';
export const BOOT_PARAMS = '/sys/kernel/boot_params/data';

/** /sys/firmware/memmap/N/{start,end,type} in N order; a file "START END TYPE" per line is read too. */
export function readFirmwareMemmap(path: string): FirmwareMemmapEntry[] {
  if (!existsSync(path)) throw new KexecError(`${path} does not exist`);
  try {
    const dirs = readdirSync(path).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
    return dirs.map((d) => ({
      start: readFileSync(join(path, d, 'start'), 'utf8'),
      end: readFileSync(join(path, d, 'end'), 'utf8'),
      type: readFileSync(join(path, d, 'type'), 'utf8').trim(),
    }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return parseMemmapListing(readFileSync(path, 'utf8'), path);
    throw e;
  }
}

/**
 * The memory map kexec-tools would use on x86: /sys/firmware/memmap when present (and not overridden),
 * else /proc/iomem. `iomem`/`memmap` name another machine's copies (for --dry-run): then nothing of
 * this machine is read, and a `memmap` given must hold ranges (`memmapOptional`: --root's copy of
 * /sys/firmware/memmap, used when it is there).
 */
export function readMemoryMap(opts: { iomem?: string; memmap?: string; memmapOptional?: boolean } = {}): MemoryMap {
  const memmapPath = opts.memmap ?? (opts.iomem ? undefined : FIRMWARE_MEMMAP);
  const memmapRequired = opts.memmap !== undefined && !opts.memmapOptional;
  const iomemPath = opts.iomem ?? (opts.memmap !== undefined ? undefined : IOMEM);
  const iomemText = iomemPath !== undefined ? readText('/', iomemPath, 'utf8') : undefined;
  if (memmapPath && (memmapRequired || existsSync(memmapPath))) {
    const entries = readFirmwareMemmap(memmapPath);
    if (entries.length > 0) return memoryMapFromFirmware(entries, iomemText, memmapPath);
    if (memmapRequired) {
      throw new KexecError(`${memmapPath} holds no memory ranges`, { hint: 'give a copy of /sys/firmware/memmap (N/start, N/end, N/type) or a file of "START END TYPE" lines' });
    }
  }
  if (iomemText === undefined) {
    throw new KexecError(`cannot read the memory layout (${iomemPath})`, { hint: 'give --iomem FILE or --memmap DIR' });
  }
  return memoryMapFromIomem(iomemText, iomemPath);
}

/** /sys/kernel/kexec_loaded or kexec_crash_loaded: true when "1"; undefined when the file is missing. */
export function kexecLoaded(kind: 'load' | 'crash', root = '/'): boolean | undefined {
  const t = readText(root, kind === 'crash' ? KEXEC_CRASH_LOADED : KEXEC_LOADED, 'utf8');
  return t === undefined ? undefined : t.trim() === '1';
}

export function currentCmdline(): string {
  const t = readText('/', '/proc/cmdline', 'utf8');
  if (t === undefined) throw new KexecError('cannot read /proc/cmdline for --reuse-cmdline');
  return t.trim();
}

/** The running kernel's boot_params (x86), undefined when not readable. */
export function currentBootParams(root = '/'): Uint8Array | undefined {
  return readBytes(root, BOOT_PARAMS);
}

export function rngSeed(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32));
}

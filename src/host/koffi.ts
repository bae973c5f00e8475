// The one place koffi (the FFI) is loaded: the kexec syscalls (syscalls.ts), the native page
// compressors (native-codecs.ts) and single libc calls (libcFunction) bind their C functions through
// it. Loaded at the first call, so everything else works on a machine without koffi.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export type KoffiFunction = (...args: unknown[]) => unknown;

export interface Koffi {
  load(lib: string, opts?: { deep?: boolean }): { func(proto: string): KoffiFunction };
  struct(name: string, fields: Record<string, string>): unknown;
  errno(): number;
}

let koffi: Koffi | undefined;

/**
 * koffi itself; throws the loader's error when it is not installed (callers say what it is for).
 * On glibc Linux its prebuilt addon is loaded directly from the package beside it
 * (@koromix/koffi-OS-ARCH/OS_ARCH/koffi.node): koffi's own loader first reads the node binary's ELF
 * header to tell glibc from musl, 4–15 ms of every save's start-up and of each compression worker's.
 * A machine with musl's loader, or any failure there, takes koffi's loader.
 */
export function loadKoffi(): Koffi {
  return (koffi ??= directAddon() ?? (createRequire(import.meta.url)('koffi') as Koffi));
}

const libcFunctions = new Map<string, KoffiFunction | null>();

/** A C library function bound once through koffi (`proto`: its C prototype), or undefined without the FFI. */
export function libcFunction(proto: string): KoffiFunction | undefined {
  if (!libcFunctions.has(proto)) {
    try {
      libcFunctions.set(proto, loadKoffi().load('libc.so.6').func(proto));
    } catch {
      libcFunctions.set(proto, null);
    }
  }
  return libcFunctions.get(proto) ?? undefined;
}

const MUSL_ARCH: Partial<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64' };

function directAddon(): Koffi | undefined {
  const muslArch = MUSL_ARCH[process.arch];
  if (process.platform !== 'linux' || !muslArch || existsSync(`/lib/ld-musl-${muslArch}.so.1`)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(`@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`) as Partial<Koffi>;
    return typeof addon.load === 'function' && typeof addon.struct === 'function' && typeof addon.errno === 'function' ? (addon as Koffi) : undefined;
  } catch {
    return undefined;
  }
}

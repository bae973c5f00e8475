// The one place koffi (the FFI) is loaded: the kexec syscalls (syscalls.ts) and the native page
// compressors (native-codecs.ts) bind their C functions through it. Loaded at the first call, so
// everything else works on a machine without koffi.
import { createRequire } from 'node:module';

export type KoffiFunction = (...args: unknown[]) => unknown;

export interface Koffi {
  load(lib: string, opts?: { deep?: boolean }): { func(proto: string): KoffiFunction };
  struct(name: string, fields: Record<string, string>): unknown;
  errno(): number;
}

let koffi: Koffi | undefined;

/** koffi itself; throws the loader's error when it is not installed (callers say what it is for). */
export function loadKoffi(): Koffi {
  return (koffi ??= createRequire(import.meta.url)('koffi') as Koffi);
}

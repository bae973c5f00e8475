// Opening a dump for the API from ByteSources (pure: a FileSource in Node, a File in the viewer's
// worker, a buffer in tests).
import { openKernelDump, type KernelDumpFiles } from '../analyze/open-kernel-dump.ts';
import type { ByteSource } from '../io/source.ts';
import { CrashDump } from './dump.ts';

/** What may come with a dump: its kernel's System.map or vmlinux (symbols, and BTF from a vmlinux). */
export type OpenOptions = KernelDumpFiles;

/**
 * Opens a kernel dump (ELF core, kdump-compressed, flattened) from a ByteSource. A System.map or
 * vmlinux given is checked against the dump first (refused when it is of another build, unless
 * `force`). Everything else is read on first use.
 */
export function openCrashDump(source: ByteSource, options: OpenOptions = {}): CrashDump {
  return new CrashDump(openKernelDump(source, options));
}

// The Node opener of the typed API: a dump (and its kernel's vmlinux / System.map) by path or
// file: URL, read with Node's zlib page decoders.
import { fileURLToPath } from 'node:url';
import { CrashDump } from '../api/dump.ts';
import { openCrashDump } from '../api/open.ts';
import { UsageError } from '../errors.ts';
import { FileSource } from './file-source.ts';
import { nodePageDecoders } from './node-codecs.ts';

/** A file by path, or a `file:` URL. */
export type FileLocation = string | URL;

/** The files that may come with a dump. */
export interface OpenKernelDumpOptions {
  /** The vmlinux of the kernel that crashed: its symbols and its .BTF (checked against the dump). */
  vmlinux?: FileLocation;
  /** The System.map of the kernel that crashed: its symbols (checked against the dump). */
  systemMap?: FileLocation;
  /** Use a vmlinux / System.map that does not match the dump (every result then carries a warning). */
  force?: boolean;
}

function pathOf(where: FileLocation): string {
  const url = where instanceof URL ? where : /^[a-z][a-z0-9+.-]+:\/\//i.test(where) ? new URL(where) : undefined;
  if (!url) return where as string;
  if (url.protocol !== 'file:') {
    throw new UsageError(`${url.href}: only paths and file: URLs can be opened in Node (dumps over HTTP open in the viewer: vmcore-ts serve)`);
  }
  return fileURLToPath(url);
}

/**
 * Opens a kernel dump (ELF core, kdump-compressed or flattened; a /proc/vmcore too) for the typed
 * API. Errors are typed: ReadError (the file), ParseError (not a dump, a vmlinux of another build),
 * UsageError (an unsupported URL).
 *
 * @example
 * import { openKernelDump, tasks } from 'kexec-ts';
 * const dump = openKernelDump('/var/crash/vmcore');
 * console.log(dump.object('init_task').member('comm').string());
 */
export function openKernelDump(dump: FileLocation, options: OpenKernelDumpOptions = {}): CrashDump {
  const file = (w: FileLocation | undefined) => (w === undefined ? undefined : new FileSource(pathOf(w)));
  return openCrashDump(new FileSource(pathOf(dump)), {
    vmlinux: file(options.vmlinux),
    systemMap: file(options.systemMap),
    force: options.force,
    decoders: nodePageDecoders,
  });
}

// The Node opener of the typed API: a dump (and its kernel's vmlinux / System.map) by path or
// file: URL, read with Node's zlib page decoders.
import { fileURLToPath } from 'node:url';
import { CrashDump } from '../api/dump.ts';
import { openCrashDump } from '../api/open.ts';
import { UsageError } from '../errors.ts';
import { FileSource } from './file-source.ts';
import { HttpSource, type HttpSourceOptions } from './http-source.ts';
import { BlockCacheSource } from '../io/block-cache.ts';
import type { ByteSource } from '../io/source.ts';
import { nodePageDecoders } from './node-codecs.ts';

/** A file by path, a `file:` URL, or an `http(s):` URL of a server that answers range requests. */
export type FileLocation = string | URL;

/** The files that may come with a dump. */
export interface OpenKernelDumpOptions {
  /** The vmlinux of the kernel that crashed: its symbols and its .BTF (checked against the dump). */
  vmlinux?: FileLocation;
  /** The System.map of the kernel that crashed: its symbols (checked against the dump). */
  systemMap?: FileLocation;
  /** Use a vmlinux / System.map that does not match the dump (every result then carries a warning). */
  force?: boolean;
  /** For http(s) URLs: extra headers (a collector's `authorization: Bearer TOKEN`) and CA certificates (PEM). */
  http?: HttpSourceOptions;
}

/** A file, or a URL read by range requests (behind a block cache). */
function sourceOf(where: FileLocation, http: HttpSourceOptions | undefined): ByteSource {
  const url = where instanceof URL ? where : /^[a-z][a-z0-9+.-]+:\/\//i.test(where) ? new URL(where) : undefined;
  if (!url) return new FileSource(where as string);
  if (url.protocol === 'http:' || url.protocol === 'https:') return new BlockCacheSource(new HttpSource(url.href, http));
  if (url.protocol !== 'file:') throw new UsageError(`${url.href}: open a path, a file: URL or an http(s): URL`);
  return new FileSource(fileURLToPath(url));
}

/**
 * Opens a kernel dump (ELF core, kdump-compressed or flattened; a /proc/vmcore too) for the typed
 * API, from a path, a file: URL or an http(s): URL (read by range requests: only what the analysis
 * touches is fetched). Errors are typed: ReadError (the file, or the HTTP answer), ParseError (not a
 * dump, a vmlinux of another build), UsageError (an unsupported URL).
 *
 * @example
 * import { openKernelDump, tasks } from 'kexec-ts';
 * const dump = openKernelDump('/var/crash/vmcore');
 * console.log(dump.object('init_task').member('comm').string());
 */
export function openKernelDump(dump: FileLocation, options: OpenKernelDumpOptions = {}): CrashDump {
  const file = (w: FileLocation | undefined) => (w === undefined ? undefined : sourceOf(w, options.http));
  return openCrashDump(sourceOf(dump, options.http), {
    vmlinux: file(options.vmlinux),
    systemMap: file(options.systemMap),
    force: options.force,
    decoders: nodePageDecoders,
  });
}

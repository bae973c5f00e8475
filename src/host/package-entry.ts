// The package's entry point (`import { openKernelDump } from 'kexec-ts'`, package.json "exports"):
// the typed API (src/api/) and its Node opener. Built into dist/api.mjs with declarations in dist/types/.
export * from '../api/index.ts';
export { openKernelDump, type FileLocation, type OpenKernelDumpOptions } from './open-dump-file.ts';
export { ReadError, UsageError } from '../errors.ts';

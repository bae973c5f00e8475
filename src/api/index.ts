// The typed library API (issue 17), without I/O: import it in Node through the package entry
// (`import { openKernelDump } from 'kexec-ts'`, which adds the file opener) or in a browser worker
// with openCrashDump over a ByteSource.
export { CrashDump, DECLARED_GLOBALS, isApiError, type ApiSymbol, type LogLine, type SymbolHit } from './dump.ts';
export { KObject, containerOf, parseType, sizeOf, typeName, type BitField, type KType, type ObjectContext, type ObjectJson } from './object.ts';
export { ObjectError } from './errors.ts';
export { openCrashDump, type OpenOptions } from './open.ts';
export * from './helpers/lists.ts';
export * from './helpers/tasks.ts';
export * from './helpers/locks.ts';
export * from './helpers/slab.ts';
export * from './helpers/modules.ts';
export * from './helpers/sched.ts';
export * from './helpers/fs.ts';
export * from './helpers/mm.ts';
export * from './helpers/block.ts';
export { NotInDumpError, ParseError } from '../errors.ts';
export type { ByteSource } from '../io/source.ts';

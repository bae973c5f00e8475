// Shared by the vmcore-ts analysis commands: option parsing (src/cli/args.ts),
// DUMP and the optional --system-map / --vmlinux as FileSources for src/analyze/open-kernel-dump.ts, output.
import { UsageError } from '../../errors.ts';
import { JSON_SCHEMA } from '../../json-schema.ts';
import { parseCommandLine, type Options } from '../args.ts';
import { COMPLETE, completenessJson, describeCompleteness, type Completeness } from '../../analyze/completeness.ts';
import type { KernelDump } from '../../analyze/kernel-dump.ts';
import type { KernelDumpFiles } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { nodePageDecoders } from '../../host/node-codecs.ts';
import { EXIT_OK, EXIT_PARTIAL } from '../run.ts';
import { hex } from '../../text.ts';

export const jsonOption: Options = { json: { type: 'boolean' } };
export const symbolOptions: Options = { 'system-map': { type: 'string' }, vmlinux: { type: 'string' }, force: { type: 'boolean' } };

/**
 * A vmcore-ts command's arguments (src/cli/args.ts: -h/--help prints `usage`, unknown options are
 * one line, exit 2). undefined: help or version was printed, the command returns 0.
 */
export function parseCommand(argv: string[], options: Options, usage: string, positionals: [min: number, max: number]) {
  const prog = usage.split(' ').slice(0, 2).join(' ');
  const parsed = parseCommandLine(argv, { ...jsonOption, ...options }, { prog, usage: `usage: ${usage}`, positionals });
  return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined;
}

/** `--system-map`/`--vmlinux`/`--force` as the library's symbol files (src/analyze/open-kernel-dump.ts), read with Node's page decoders. */
export function symbolFiles(values: Record<string, string | boolean | undefined>): KernelDumpFiles {
  const file = (v: string | boolean | undefined) => (typeof v === 'string' ? new FileSource(v) : undefined);
  return { systemMap: file(values['system-map']), vmlinux: file(values.vmlinux), force: !!values.force, decoders: nodePageDecoders };
}

/** What may make a result wrong: the dump's own warnings (truncation, …) and a forced symbol table. */
export function resultWarnings(kd: KernelDump): string[] {
  return [...kd.dump.warnings, ...kd.warnings];
}

/**
 * After a result is printed: says on stderr what may be wrong with it and what it lacks (one line
 * each: excluded by the dump level as a note, lost as "partial result"), and returns the exit code:
 * EXIT_PARTIAL when something was lost, else 0.
 */
export function finish(kd: KernelDump, c: Completeness = COMPLETE): number {
  for (const w of resultWarnings(kd)) process.stderr.write(`vmcore-ts: warning: ${w}\n`);
  for (const line of describeCompleteness(c)) process.stderr.write(`vmcore-ts: ${line}\n`);
  return c.partial ? EXIT_PARTIAL : EXIT_OK;
}

/** The fields every --json result carries: partial, and when there is something to say missing, excluded, warnings. */
export function statusJson(kd: KernelDump, c: Completeness = COMPLETE): Record<string, unknown> {
  const warnings = resultWarnings(kd);
  return { ...completenessJson(c), warnings: warnings.length ? warnings : undefined };
}

/** For commands printing one JSON object per line: a last line with the status, when it has something to say. */
export function statusLine(kd: KernelDump, c: Completeness = COMPLETE): string {
  const s = statusJson(kd, c);
  return c.partial || c.excluded.length || s.warnings ? toJson(s) + '\n' : '';
}

// A closed pipe (`| head`) is not an error.
let pipeHandled = false;
export function write(text: string): void {
  if (!pipeHandled) {
    pipeHandled = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  process.stdout.write(text);
}

/** JSON with bigints as numbers when exact, else as 0x-hex strings. */
/** A command's --json document: `schema` (src/json-schema.ts) first, then `v`'s fields. */
export function jsonDocument(v: object): string {
  return toJson({ schema: JSON_SCHEMA, ...v });
}

export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint' ? (x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : hex(x)) : x,
  );
}

/** An address argument: hex with or without 0x (as crash takes them). */
export function parseAddress(s: string, what = 'address'): bigint {
  const m = /^(?:0x)?([0-9a-f]{1,16})$/i.exec(s);
  if (!m) throw new UsageError(`${what} '${s}' is not a hex number`);
  return BigInt('0x' + m[1]);
}

/** A length: decimal, or hex with 0x. */
export function parseLength(s: string, max: number): number {
  const v = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!(v > 0 && v <= max)) throw new UsageError(`length '${s}' must be a number from 1 to ${max}`);
  return v;
}

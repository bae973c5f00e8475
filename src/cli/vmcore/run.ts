// vmcore-ts run [--vmlinux FILE | --system-map FILE] [--force] SCRIPT DUMP [ARGS...]: runs a user
// script (TypeScript or JavaScript, no build step) with the dump open through the typed API.
//
// The script's contract: its default export is a function (dump: CrashDump, args: string[]) that
// returns a value (or a Promise of one); `run` prints that value as one JSON document on stdout
// (bigints as numbers when exact, else decimal strings; nothing when it returns undefined). A
// script may print by itself instead. Its errors become one line on stderr and exit code 1.
import { existsSync, statSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NotInDumpError, ParseError, ReadError, UsageError } from '../../errors.ts';
import { parseCommand, symbolOptions } from './kernel-dump-args.ts';
import { EXIT_FAILURE, EXIT_USAGE } from '../run.ts';
import type { Command } from './commands.ts';

const USAGE =
  'vmcore-ts run [--vmlinux FILE | --system-map FILE] [--force] SCRIPT DUMP [ARGS...]\n' +
  '  SCRIPT             a .ts, .mts, .js or .mjs module whose default export is\n' +
  '                     async function (dump, args) { ... }: its result is printed as JSON\n' +
  '  ARGS               given to the script as args (options after DUMP are the script\'s)\n' +
  '  --vmlinux FILE     the crashed kernel\'s vmlinux (symbols, BTF), checked against the dump\n' +
  '  --system-map FILE  its System.map (symbols)\n' +
  '  --force            use a vmlinux / System.map that does not match the dump';

/** The API module this installation runs: the bundle beside this chunk, or the sources in a checkout. */
function apiUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../host/package-entry.ts', import.meta.url) : new URL('./api.mjs', import.meta.url);
}

let hooksRegistered = false;

/** JSON with bigints as numbers when exact (else decimal strings), and kernel objects as their type and address. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => (typeof x === 'bigint' ? (x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(x) : x.toString()) : x),
    undefined,
  );
}

/** One line for what a script threw: typed errors by message (and hint), anything else with where in the script. */
export function scriptErrorLine(script: string, e: unknown): string {
  if (!(e instanceof Error)) return `${script}: threw ${String(e)}`;
  const h = (e as unknown as { hint?: unknown }).hint;
  const hint = typeof h === 'string' ? ` — ${h}` : '';
  if (['ParseError', 'ObjectError', 'NotInDumpError', 'ReadError', 'UsageError'].includes(e.name)) return `${script}: ${e.message}${hint}`;
  const file = pathToFileURL(resolvePath(script)).href;
  const at = (e.stack ?? '').split('\n').find((l) => l.includes(file));
  const where = at ? /:(\d+):(\d+)\)?$/.exec(at) : null;
  return `${script}${where ? `:${where[1]}` : ''}: ${e.name}: ${e.message}`;
}

/**
 * The API bundle (dist/api.mjs) has its own copies of the error classes: give an error from it the
 * CLI's class of the same name, so the one-line messages and exit codes are the other commands'.
 */
function asCliError(e: unknown): unknown {
  const classes: Record<string, { prototype: object }> = { ParseError, NotInDumpError, ReadError, UsageError };
  if (!(e instanceof Error)) return e;
  const cls = classes[e.name];
  if (cls && !Object.prototype.isPrototypeOf.call(cls.prototype, e)) Object.setPrototypeOf(e, cls.prototype);
  return e;
}

/** Where `run` writes: process.stdout/stderr, or a test's capture. */
export interface RunOutput {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: RunOutput = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

export const runCommand: Command = {
  summary: 'run a TypeScript/JavaScript script with the dump open through the typed API (prints its result as JSON)',
  run: (argv) => runScript(argv, processOutput),
};

/** `vmcore-ts run ARGV`, writing to `io`; returns the exit code (usage and dump errors are thrown, as every command's). */
export async function runScript(argv: string[], io: RunOutput): Promise<number> {
  // Our options and SCRIPT DUMP come first; everything after DUMP is the script's (its own -h too).
  let split = argv.length;
  for (let i = 0, seen = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--vmlinux' || a === '--system-map') i++;
    else if (a === '--') {
      split = Math.min(argv.length, i + 3);
      break;
    } else if (!a.startsWith('-') || a === '-') {
      if (++seen === 2) {
        split = i + 1;
        break;
      }
    }
  }
  const a = parseCommand(argv.slice(0, split), symbolOptions, USAGE, [2, 2]);
  if (!a) return 0;
  const [script, dumpPath] = a.positionals as [string, string];
  const args = argv.slice(split);
  const opts = { vmlinux: a.values.vmlinux as string | undefined, systemMap: a.values['system-map'] as string | undefined, force: !!a.values.force };
  if (!/\.(m?ts|m?js)$/.test(script)) throw new UsageError(`${script}: a script is a .ts, .mts, .js or .mjs file`);
  if (!existsSync(script) || !statSync(script).isFile()) throw new UsageError(`${script}: no such script file`);
  const api = apiUrl();
  if (!hooksRegistered) {
    // module.register came in Node 20.6 (a namespace import, so an older Node gets this line, not a link error).
    const register = (nodeModule as { register?: typeof nodeModule.register }).register;
    if (typeof register !== 'function') throw new UsageError(`vmcore-ts run needs Node 20.6 or newer for its module hooks (this is ${process.version})`);
    register(new URL('./ts-hooks.mjs', import.meta.url), { data: { apiUrl: api.href } });
    hooksRegistered = true;
  }
  const lib = (await import(api.href)) as typeof import('../../host/package-entry.ts');
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolvePath(script)).href)) as { default?: unknown };
  } catch (e) {
    io.err(`vmcore-ts run: ${scriptErrorLine(script, e)}\n`);
    return EXIT_FAILURE;
  }
  if (typeof mod.default !== 'function') {
    io.err(`vmcore-ts run: ${script}: has no default export function (export default async function (dump, args) { … })\n`);
    return EXIT_USAGE;
  }
  // Opening the dump: its errors are the CLI's (one line each, from runCli) — typed errors of the API bundle by name.
  let dump;
  try {
    dump = lib.openKernelDump(dumpPath, opts);
  } catch (e) {
    throw asCliError(e);
  }
  let result: unknown;
  try {
    result = await (mod.default as (d: unknown, a: string[]) => unknown)(dump, args);
  } catch (e) {
    io.err(`vmcore-ts run: ${scriptErrorLine(script, e)}\n`);
    return EXIT_FAILURE;
  }
  if (result !== undefined) io.out(scriptJson(result) + '\n');
  for (const w of dump.warnings) io.err(`vmcore-ts run: warning: ${w}\n`);
  return 0;
}

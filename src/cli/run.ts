// The CLI edge: runs a command and turns every error into one clear line and an exit code.
//   0 success, 1 damaged/unsupported input or a refused operation, 2 usage error,
//   3 partial: the command printed what it could read, but some of the result is missing (said on stderr).
import { KexecError, NotInDumpError, OutputError, ParseError, ReadError, UsageError } from '../errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_PARTIAL = 3;

export function describeError(err: unknown): { line: string; code: number } {
  if (err instanceof UsageError) return { line: err.message, code: EXIT_USAGE };
  if (err instanceof ParseError) {
    const where =
      err.line !== undefined
        ? `${err.source ?? ''}:${err.line}`
        : [err.source, err.offset !== undefined ? `offset ${err.offset} (0x${err.offset.toString(16)})` : ''].filter(Boolean).join(' at ');
    const hint = err.hint ? ` — ${err.hint}` : '';
    return { line: `${where ? where + ': ' : ''}${err.message}${hint}`, code: EXIT_FAILURE };
  }
  if (err instanceof NotInDumpError) return { line: err.message, code: EXIT_FAILURE };
  if (err instanceof ReadError) {
    const hint = err.code === 'EIO' ? ' — the disk or file system failed there; copy what still reads (ddrescue) and analyse the copy' : '';
    return { line: err.message + hint, code: EXIT_FAILURE };
  }
  if (err instanceof KexecError || err instanceof OutputError) {
    const hint = err.hint ? ` — ${err.hint}` : '';
    return { line: `${err.message}${hint}`, code: EXIT_FAILURE };
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    // fs errors: ENOENT, EACCES, ENOSPC ... — say what and where, no stack.
    const what = e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '[^']*'(?: -> '[^']*')?$/, '');
    return { line: `${e.path ? `${e.path}: ` : ''}${what} (${e.code})`, code: EXIT_FAILURE };
  }
  if (process.env.KEXEC_TS_DEBUG) console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  return { line: `internal error: ${msg} (set KEXEC_TS_DEBUG=1 for a stack trace and report it)`, code: EXIT_FAILURE };
}

/** Runs `main` and exits with its code; errors become one line on stderr prefixed by the program name. */
export async function runCli(prog: string, main: (argv: string[]) => Promise<number | void> | number | void): Promise<void> {
  let code: number;
  try {
    code = (await main(process.argv.slice(2))) ?? EXIT_OK;
  } catch (err) {
    const d = describeError(err);
    process.stderr.write(`${prog}: ${d.line}\n`);
    code = d.code;
  }
  // Let stdout drain (pipes) before exiting.
  process.exitCode = code;
}

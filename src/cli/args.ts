// The command-line conventions of kexec-ts, kdump-ts and vmcore-ts, in one place:
//   -h/--help anywhere (before `--`) prints the command's help and nothing else runs (exit 0);
//   -V/--version anywhere prints the package version (exit 0);
//   an unknown option or command is one line naming it, with "did you mean" when one is close (exit 2).
// Options are declared as for node:util parseArgs; its own error texts never reach the user.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { UsageError } from '../errors.ts';
import { didYouMean } from '../did-you-mean.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;
export interface Parsed {
  values: Values;
  positionals: string[];
}

export const VERSION: string = pkg.version;

const STANDARD: Options = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

export interface CommandLine {
  /** What the user typed to get here: "vmcore-ts dmesg", "kdump-ts status", "kexec-ts". */
  prog: string;
  /** The help text, printed for -h/--help. */
  usage: string;
  /** How many positional arguments; default none. */
  positionals?: [min: number, max: number];
  /** Extra spellings of an argument, replaced before parsing: kexec-tools' `-v` for --version. */
  aliases?: Record<string, string>;
}

/**
 * Parses `argv` against `options` (+ -h/--help, -V/--version). Returns undefined when help or the
 * version was printed (the command then returns 0 and does nothing else); throws UsageError for
 * anything the user must fix.
 */
export function parseCommandLine(argv: string[], options: Options, cl: CommandLine): Parsed | undefined {
  const all = { ...STANDARD, ...options };
  const args = argv.map((a) => cl.aliases?.[a] ?? a);
  const { values, positionals, tokens } = parseArgs({ args, options: all, strict: false, allowPositionals: true, tokens: true });
  const given = new Set(tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
  if (given.has('help')) {
    process.stdout.write(cl.usage.replace(/\n*$/, '\n'));
    return undefined;
  }
  if (given.has('version')) {
    process.stdout.write(`${cl.prog.split(' ')[0]} ${VERSION}\n`);
    return undefined;
  }
  const seeHelp = `run '${cl.prog} --help' for the options`;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = all[t.name];
    if (!spec) {
      const hint = t.rawName.startsWith('--') ? didYouMean(t.name, Object.keys(all), '--') : undefined;
      throw new UsageError(`unknown option '${t.rawName}'${hint ? ` (did you mean ${hint}?)` : ''}; ${seeHelp}`);
    }
    const long = `--${t.name}`;
    if (spec.type === 'boolean' && t.value !== undefined) throw new UsageError(`option ${long} takes no value (got '${t.value}')`);
    if (spec.type === 'string' && t.value === undefined) throw new UsageError(`option ${t.rawName} needs a value; ${seeHelp}`);
    if (spec.type === 'string' && !t.inlineValue && t.value!.startsWith('-') && t.value !== '-') {
      throw new UsageError(`option ${t.rawName} needs a value but is followed by the option '${t.value}'; write ${long}=VALUE for a value that starts with '-'`);
    }
    if (spec.type === 'string' && !spec.multiple && tokens.filter((x) => x.kind === 'option' && x.name === t.name).length > 1) {
      throw new UsageError(`option ${long} is given more than once`);
    }
  }
  const [min, max] = cl.positionals ?? [0, 0];
  const n = positionals.length;
  if (n < min) throw usageError('missing arguments', cl.usage);
  if (n > max) {
    throw usageError(`unexpected argument${n - max > 1 ? 's' : ''} ${positionals.slice(max).map((p) => `'${p}'`).join(' ')}`, cl.usage);
  }
  delete values.help;
  delete values.version;
  return { values: values as Values, positionals };
}

/** A command name that is not one of `commands`: one line, with the closest name. */
export function unknownCommand(prog: string, name: string, commands: string[]): UsageError {
  const hint = didYouMean(name, commands, '');
  return new UsageError(`unknown command '${name}'${hint ? ` (did you mean ${hint}?)` : ''}; run '${prog} --help' for the list`);
}

/**
 * What a bin does with its first argument before looking up a command: help (exit 0), version
 * (exit 0) or nothing at all (usage on stderr, exit 2). Returns the exit code, or undefined when
 * `first` names a command.
 */
export async function topLevel(prog: string, first: string | undefined, usage: () => string | Promise<string>): Promise<number | undefined> {
  if (first === undefined) {
    process.stderr.write((await usage()).replace(/\n*$/, '\n'));
    return 2;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write((await usage()).replace(/\n*$/, '\n'));
    return 0;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`${prog} ${VERSION}\n`);
    return 0;
  }
  return undefined;
}

/** A usage error as one line: what is wrong, then the command's synopsis. */
export function usageError(what: string, usage: string): UsageError {
  return new UsageError(`${what}; usage: ${usage.replace(/^usage: /, '').split('\n')[0]!}`);
}

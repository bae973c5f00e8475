// Shared by the vmcore-ts analysis commands: option parsing (src/cli/args.ts),
// opening DUMP with FileSource + openDump, optional --system-map / --vmlinux symbol sources, output.
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.ts';
import { parseCommandLine, type Options } from '../args.ts';
import { openDump } from '../../format/open-dump.ts';
import { openElf } from '../../format/elf.ts';
import { KernelDump } from '../../analyze/kernel-dump.ts';
import { parseSystemMap, vmlinuxSymbols, type SymbolTable } from '../../analyze/symbols.ts';
import { VmcoreInfo } from '../../analyze/vmcoreinfo.ts';
import { FileSource } from '../../io/node-file.ts';

export const jsonOption: Options = { json: { type: 'boolean' } };
export const symbolOptions: Options = { 'system-map': { type: 'string' }, vmlinux: { type: 'string' } };

/**
 * A vmcore-ts command's arguments (src/cli/args.ts: -h/--help prints `usage`, unknown options are
 * one line, exit 2). undefined: help or version was printed, the command returns 0.
 */
export function parseCommand(argv: string[], options: Options, usage: string, positionals: [min: number, max: number]) {
  const prog = usage.split(' ').slice(0, 2).join(' ');
  const parsed = parseCommandLine(argv, { ...jsonOption, ...options }, { prog, usage: `usage: ${usage}`, positionals });
  return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined;
}

/** Opens DUMP; `--system-map`/`--vmlinux` replace the dump's kallsyms as the symbol table. */
export function openKernelDump(path: string, values: Record<string, string | boolean | undefined> = {}): KernelDump {
  const dump = openDump(new FileSource(path));
  const systemMap = values['system-map'];
  const vmlinux = values.vmlinux;
  let symbols: SymbolTable | undefined;
  if (typeof systemMap === 'string' || typeof vmlinux === 'string') {
    const offset = dump.vmcoreinfo !== undefined ? (new VmcoreInfo(dump.vmcoreinfo).kernelOffset ?? 0n) : 0n;
    symbols =
      typeof systemMap === 'string'
        ? parseSystemMap(readFileSync(systemMap, 'latin1'), systemMap, offset)
        : vmlinuxSymbols(openElf(new FileSource(vmlinux as string)), vmlinux as string, offset);
  }
  return new KernelDump(dump, symbols);
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
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint' ? (x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : hex(x)) : x,
  );
}

export function hex(v: bigint): string {
  return v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16);
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

// kexec-ts boot [ENTRY] (load an entry; --now boots it at once; --bless for kexec-ts-bless-boot.service)
// and kexec-ts reboot [ENTRY] (load, then `systemctl kexec`): argv -> BootRequest -> src/host/boot-load.ts
// -> print. Only here are the real syscalls and the systemctl runner made, and never for --dry-run.
import { writeSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import type { SyscallChoice } from '../kexec/load.ts';
import type { BootEntry } from '../boot/model.ts';
import type { BootDeps, BootRequest, BootResult, BootThen, CommandRunner } from '../host/boot-load.ts';

/** The load options `kexec-ts boot` and `kexec-ts reboot` share (parseArgs shape). */
export const BOOT_LOAD_OPTIONS = {
  'dry-run': { type: 'boolean' },
  'command-line': { type: 'string' },
  append: { type: 'string' },
  'kexec-file-syscall': { type: 'boolean', short: 's' },
  'kexec-syscall': { type: 'boolean', short: 'c' },
  'kexec-syscall-auto': { type: 'boolean', short: 'a' },
  debug: { type: 'boolean', short: 'd' },
} as const;

export const BOOT_LOAD_USAGE = `      --dry-run            print what would be loaded (entry, files, command line, syscall and why,
                           boot counter) and the plan; nothing is loaded or renamed
      --command-line=TEXT  instead of the entry's command line
      --append=TEXT        added to the command line
  -s, --kexec-file-syscall use kexec_file_load
  -c, --kexec-syscall      use kexec_load
  -a, --kexec-syscall-auto kexec_file_load, falling back to kexec_load
                           (none given: kexec_file_load when lockdown or Secure Boot is on, so the
                           kernel verifies the image; else kexec_load)
  -d, --debug              kexec -d lines on stderr`;

export interface BootCliOptions {
  json?: boolean;
  root?: string;
  boot?: string;
  esp?: string;
  cert?: string[];
  'dry-run'?: boolean;
  'command-line'?: string;
  append?: string;
  'kexec-file-syscall'?: boolean;
  'kexec-syscall'?: boolean;
  'kexec-syscall-auto'?: boolean;
  debug?: boolean;
}

/** The syscall -s/-c/-a ask for, undefined when none is given (kexec-ts -l takes that as auto). */
export function syscallOf(o: Pick<BootCliOptions, 'kexec-file-syscall' | 'kexec-syscall' | 'kexec-syscall-auto'>): SyscallChoice | undefined {
  const n = [o['kexec-file-syscall'], o['kexec-syscall'], o['kexec-syscall-auto']].filter(Boolean).length;
  if (n > 1) throw new UsageError('give only one of -s, -c, -a');
  return o['kexec-file-syscall'] ? 'file' : o['kexec-syscall'] ? 'load' : o['kexec-syscall-auto'] ? 'auto' : undefined;
}

/** The BootRequest of the options (ENTRY `name`, `then`); --root/--boot/--esp only for a dry run. */
export function bootRequest(o: BootCliOptions, name: string | undefined, then: BootThen): BootRequest {
  const dryRun = !!o['dry-run'];
  const syscall = syscallOf(o);
  if ((o.root || o.boot || o.esp) && !dryRun) throw new UsageError('--root/--boot/--esp read another machine\'s entries: use them with --dry-run (a load boots this machine\'s)');
  return {
    dirs: { root: o.root ?? '/', ...(o.boot ? { boot: o.boot } : {}), ...(o.esp ? { esp: o.esp } : {}) },
    ...(name !== undefined ? { name } : {}),
    ...(o.cert?.length ? { certs: o.cert } : {}),
    ...(o['command-line'] !== undefined ? { commandLine: o['command-line'] } : {}),
    ...(o.append !== undefined ? { append: o.append } : {}),
    ...(syscall ? { syscall } : {}),
    dryRun,
    then,
    ...(o.debug ? { debug: (line: string) => void process.stderr.write(line + '\n') } : {}),
  };
}

/**
 * `kexec-ts boot --serve` without --dry-run: a choice on the page is loaded as `kexec-ts boot ID
 * [--command-line EDITED]` loads it (discovered again, so the entry is as the machine has it now);
 * the answer says what was loaded. `base` is the request of the command's options.
 */
export function serveLoader(base: BootRequest, deps: BootDeps): (entry: BootEntry, cmdline: string) => Promise<Record<string, unknown>> {
  return async (entry, cmdline) => {
    const { bootEntry } = await import('../host/boot-load.ts');
    const { JSON_SCHEMA } = await import('../json-schema.ts');
    const { commandLine: _, ...rest } = base;
    const r = await bootEntry({ ...rest, name: entry.id, ...(cmdline !== entry.cmdline ? { commandLine: cmdline } : {}), dryRun: false, then: 'load' }, deps);
    const e = r.spec.entry;
    return {
      schema: JSON_SCHEMA,
      dryRun: false,
      loaded: true,
      entry: { id: e.id, title: e.title, source: e.source, origin: e.origin },
      load: { kernel: e.kernel, initrds: r.spec.initrds, cmdline: r.spec.cmdline, syscall: r.loaded!.syscall },
      edited: cmdline !== entry.cmdline,
      ...(r.counted ? { counted: r.counted.path } : {}),
      ...(r.once ? { once: r.once } : {}),
      message: `loaded ${e.title} (${e.id}) with ${r.loaded!.syscall} and the command line "${r.spec.cmdline}"${r.once ? `; ${r.once}` : ''}`,
    };
  };
}

/** Loads (or plans) ENTRY and does `then`; prints what was (or would be) done. */
export async function bootLoadCommand(o: BootCliOptions, name: string | undefined, then: BootThen): Promise<number> {
  const dryRun = !!o['dry-run'];
  const req = bootRequest(o, name, then);
  const { bootEntry, THEN_TEXT } = await import('../host/boot-load.ts');
  const { bootLoadJson, bootLoadText } = await import('../boot/boot-entry.ts');
  const { dryRunText } = await import('../kexec/load.ts');
  const { planToJson } = await import('../kexec/plan-text.ts');
  let r: BootResult;
  if (dryRun) r = await bootEntry(req);
  else {
    const { hostSyscalls } = await import('../host/syscalls.ts');
    // Only a real `kexec-ts reboot` starts a process: systemctl, with the terminal.
    const { spawnSync } = await import('node:child_process');
    const run: CommandRunner = (argv) => {
      const p = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' });
      return { status: p.status, ...(p.error ? { error: p.error.message } : {}) };
    };
    r = await bootEntry(req, { sys: hostSyscalls(then === 'load' ? 'loading a boot entry' : 'booting an entry'), ...(then === 'systemctl' ? { run } : {}) });
  }
  const thenText = THEN_TEXT[then];
  const plan = r.planned?.plan ?? r.loaded;
  if (o.json) {
    const doc = { ...bootLoadJson(r.spec, thenText, plan ? planToJson(plan) : null), ...(r.planError ? { planError: (r.planError as Error).message } : {}), ...(r.counted ? { counted: r.counted } : {}), ...(r.once ? { once: r.once } : {}) };
    writeSync(1, JSON.stringify(doc, null, 2) + '\n');
  } else if (dryRun) {
    writeSync(1, bootLoadText(r.spec, thenText) + (r.planned ? '\n' + (await dryRunText(r.planned, { debug: !!o.debug })) : ''));
  } else {
    writeSync(1, `loaded ${r.spec.entry.title} (${r.spec.entry.id}) with ${r.loaded!.syscall}${r.counted ? `; boot counter now ${r.counted.path}` : ''}${r.restored ? `; ${r.restored} (loaded before in this boot) got its try back` : ''}${r.once ? `; ${r.once}` : ''}; ${thenText}\n`);
  }
  if (r.planError) throw r.planError;
  return 0;
}

/** kexec-ts boot --bless: the kexec boot's entry blessed after boot-complete.target. */
export async function blessCommand(o: BootCliOptions): Promise<number> {
  const { blessBoot } = await import('../host/boot-load.ts');
  const r = blessBoot(o.root ?? '/');
  writeSync(1, r.message + '\n');
  return 0;
}

export const REBOOT_USAGE = `usage: kexec-ts reboot [ENTRY] [options]
  Load ENTRY (default: the entry the installed boot loader would boot; an id, a title or a GRUB
  "Submenu>Title" path, as kexec-ts boot --list shows them), then \`systemctl kexec\`: a clean
  shutdown into it without firmware or boot loader. The one command after an upgrade.
${BOOT_LOAD_USAGE}
      --root=DIR, --boot=DIR, --esp=DIR, --cert=FILE   as for kexec-ts boot (--root etc. with --dry-run)
      --json               what was (or would be) loaded as JSON
  -h, --help               this help`;

const REBOOT_OPTIONS = {
  ...BOOT_LOAD_OPTIONS,
  json: { type: 'boolean' },
  root: { type: 'string' },
  boot: { type: 'string' },
  esp: { type: 'string' },
  cert: { type: 'string', multiple: true },
} as const;

export async function rebootCommand(argv: string[]): Promise<number> {
  const { parseCommandLine } = await import('./args.ts');
  const parsed = parseCommandLine(argv, REBOOT_OPTIONS, { prog: 'kexec-ts reboot', usage: REBOOT_USAGE, positionals: [0, 1] });
  if (!parsed) return 0;
  return bootLoadCommand(parsed.values as BootCliOptions, parsed.positionals[0], 'systemctl');
}

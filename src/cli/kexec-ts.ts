// kexec-ts: load a kernel to boot into (kexec-tools' `kexec` options), boot it, unload it, report
// status — or plan a load for this or another machine without touching the kernel (--dry-run).
// argv → LoadRequest → the library (src/host/kexec-load.ts, planning in src/kexec/load.ts) → print.
// Only this file and kdump-ts construct the real syscalls, and only to act on this machine.
// Start-up is most of a load's wall time (BENCHMARKS.md): what only some paths need (the loaders,
// the purgatory, printing, the kdump side, decompression) is imported where it is used.
import { writeSync } from 'node:fs';
import { writeOutputFile } from '../host/output-file.ts';
import { KexecError, UsageError } from '../errors.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import { currentCmdline, kexecLoaded } from '../host/kexec-facts.ts';
import { buildCmdline } from '../kexec/cmdline.ts';
import { dryRunText, type LoadRequest, type PlannedLoad, type SyscallChoice } from '../kexec/load.ts';
import { LOADER_OPTIONS, loaderOptionsUsage, type LoaderOptionName } from '../kexec/loaders.ts';
import { hostSyscalls } from '../host/syscalls.ts';
import { execKernel, loadKernel, planKernelLoad, unloadKernel } from '../host/kexec-load.ts';
import { parseCommandLine } from './args.ts';
import { BOOT_LOAD_OPTIONS, BOOT_LOAD_USAGE, blessCommand, bootLoadCommand, bootRequest, rebootCommand, serveLoader, syscallOf, type BootCliOptions } from './boot-command.ts';
import { runCli } from './run.ts';

const USAGE = `usage: kexec-ts [options] [KERNEL]
       kexec-ts boot --list [--json] [--root DIR] [--esp DIR] [--boot DIR]   (kexec-ts boot --help)
       kexec-ts boot [ENTRY] [--now] [--dry-run]   load a boot entry (kexec-ts boot --help)
       kexec-ts reboot [ENTRY] [--dry-run]         load it, then systemctl kexec (kexec-ts reboot --help)
  -l, --load               load KERNEL to boot with -e
  -p, --load-panic         load KERNEL as the crash (kdump) kernel
  -e, --exec               boot the loaded kernel now (sync, then reboot(LINUX_REBOOT_CMD_KEXEC))
  -f, --force              with KERNEL: load it and boot it at once
  -u, --unload             unload the kernel (with -p: the crash kernel)
  -S, --status             exit 0 if a kernel is loaded (crash kernel unless -l), 1 if not
  -x, --no-ifdown          accepted for kexec-tools compatibility (interfaces are never taken down)
  -s, --kexec-file-syscall use kexec_file_load only
  -c, --kexec-syscall      use kexec_load only (our loaders + purgatory)
  -a, --kexec-syscall-auto kexec_file_load, falling back to kexec_load (default)
      --command-line=TEXT  the new kernel's command line
      --append=TEXT        add to the command line
      --reuse-cmdline      start from this kernel's /proc/cmdline
      --initrd=FILE, --ramdisk=FILE
${loaderOptionsUsage()}
  -t, --type=TYPE          kernel type (elf-x86_64, bzImage64, …) instead of probing
      --mem-min=ADDR, --mem-max=ADDR  keep segments inside this physical range
  -i, --no-checks          the purgatory skips its SHA-256 checks
  -d, --debug              print kexec-tools' -d lines (segment list) on stderr
      --dry-run            plan and print; no syscall (with --iomem FILE / --memmap DIR: another machine's map)
      --root=DIR           with --dry-run: plan for the machine whose /proc and /sys are under DIR
                           (memory map, and for -p the crash notes, VMCOREINFO, kernel text)
      --svg=FILE           with --dry-run: also draw the plan over the memory map as SVG
                           (an existing FILE is replaced only with -f)
      --json               print the plan (or status) as JSON
  -h, --help               this help (nothing else runs)
  -v, -V, --version        the version`;

const COMMON_OPTIONS = {
  load: { type: 'boolean', short: 'l' },
  'load-panic': { type: 'boolean', short: 'p' },
  exec: { type: 'boolean', short: 'e' },
  force: { type: 'boolean', short: 'f' },
  unload: { type: 'boolean', short: 'u' },
  status: { type: 'boolean', short: 'S' },
  'no-ifdown': { type: 'boolean', short: 'x' },
  'kexec-file-syscall': { type: 'boolean', short: 's' },
  'kexec-syscall': { type: 'boolean', short: 'c' },
  'kexec-syscall-auto': { type: 'boolean', short: 'a' },
  'command-line': { type: 'string' },
  append: { type: 'string' },
  'reuse-cmdline': { type: 'boolean' },
  initrd: { type: 'string' },
  ramdisk: { type: 'string' },
  type: { type: 'string', short: 't' },
  'mem-min': { type: 'string' },
  'mem-max': { type: 'string' },
  'no-checks': { type: 'boolean', short: 'i' },
  debug: { type: 'boolean', short: 'd' },
  'dry-run': { type: 'boolean' },
  iomem: { type: 'string' },
  memmap: { type: 'string' },
  root: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  // Test hook (e2e): damage one segment after its digest is taken; our purgatory must then halt.
  'debug-corrupt-segment': { type: 'string' },
} as const;
// Options only some kernel types take are declared by their loader (src/kexec/loaders.ts).
const OPTIONS = {
  ...COMMON_OPTIONS,
  ...(Object.fromEntries(LOADER_OPTIONS.map((x) => [x.name, { type: 'string' }])) as Record<LoaderOptionName, { readonly type: 'string' }>),
};

type Opts = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** The options (src/cli/args.ts); undefined: help or the version was printed, nothing else runs. */
function parse(argv: string[]) {
  const parsed = parseCommandLine(argv, OPTIONS, { prog: 'kexec-ts', usage: USAGE, positionals: [0, Infinity], aliases: { '-v': '--version' } });
  return parsed as { values: Opts; positionals: string[] } | undefined;
}

function parseAddress(text: string, what: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new UsageError(`${what}: not an address: ${text}`);
  return BigInt(text);
}

const BOOT_USAGE = `usage: kexec-ts boot --list [--json] [--root DIR] [--esp DIR] [--boot DIR] [--cert FILE]
       kexec-ts boot [ENTRY] [--now] [--dry-run] [--json] [options]
       kexec-ts boot --bless
       kexec-ts boot --menu [--timeout N] [--json] [--dry-run] [--root DIR] [--esp DIR] [--boot DIR]
       kexec-ts boot --serve [--now] [--dry-run] [--port N] [--root DIR] [--esp DIR] [--boot DIR]
  --list: every boot entry the installed boot loader would offer, the one it would boot by default
  and why, and every candidate that cannot be booted with the reason. Reads GRUB's grub.cfg
  (evaluated, with grubenv), Boot Loader Specification entries ($BOOT and ESP /loader/entries,
  loader.conf, the LoaderEntryOneShot/LoaderEntryDefault EFI variables), Unified Kernel Images
  ($ESP/EFI/Linux, with their profiles and add-ons, signatures checked against the machine's
  db/MOK/dbx or --cert) and Debian's /vmlinuz links. Nothing is loaded.
  ENTRY (or the default): load it for a later \`systemctl kexec\` or \`kexec-ts -e\` — kernel, every
  initrd concatenated in order, the entry's command line, its devicetree on arm64; a UKI is verified
  whole first, then cut. A +LEFT-DONE boot counter is decremented as systemd-boot does and blessed
  by kexec-ts-bless-boot.service (kexec-ts boot --bless) once the kexec boot reaches boot-complete.
      --list               list the entries
      --now                boot it at once after the load (reboot syscall: no clean shutdown)
      --bless              bless the entry the previous boot counted for its kexec (after boot-complete.target)
      --menu               choose on the terminal (arrows, Enter, e edits the command line, q quits);
                           prints the chosen entry's id and command line (--json: as JSON)
      --timeout=N          --menu: boot the default after N s (0: at once; none: wait for a key);
                           else the boot loader's timeout, 10 s when it gives none
      --serve              the same choices in the local web viewer (127.0.0.1, a random token in
                           the URL): entries, the default and why, rejected with why, the command
                           line editable; a choice is loaded (then \`systemctl kexec\`; --now: booted
                           once the page has the answer), or with --dry-run answered with what
                           would be loaded
      --port=N             --serve: listen on port N (default: any free port)
${BOOT_LOAD_USAGE}
      --json               one JSON document instead of text
      --root=DIR           read the machine whose / is DIR (its /etc/fstab names the file systems)
      --boot=DIR           what is mounted at /boot is DIR
      --esp=DIR            the EFI system partition is DIR
      --cert=FILE          trust UKIs signed through this certificate (PEM or DER; repeatable);
                           then only verified UKIs and add-ons are offered
  -h, --help               this help`;

const BOOT_OPTIONS = {
  list: { type: 'boolean' },
  json: { type: 'boolean' },
  root: { type: 'string' },
  boot: { type: 'string' },
  esp: { type: 'string' },
  cert: { type: 'string', multiple: true },
  now: { type: 'boolean' },
  bless: { type: 'boolean' },
  menu: { type: 'boolean' },
  timeout: { type: 'string' },
  serve: { type: 'boolean' },
  port: { type: 'string' },
  ...BOOT_LOAD_OPTIONS,
} as const;

/** kexec-ts boot: discovery and the default (src/boot/), read through src/host/boot-files.ts; loading in boot-command.ts. */
async function bootCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, BOOT_OPTIONS, { prog: 'kexec-ts boot', usage: BOOT_USAGE, positionals: [0, 1] });
  if (!parsed) return 0;
  const o = parsed.values as BootCliOptions & { list?: boolean; now?: boolean; bless?: boolean; menu?: boolean; timeout?: string; serve?: boolean; port?: string };
  const entry = parsed.positionals[0];
  // --menu and --serve: the choice is made on the terminal or the page (src/cli/boot-menu.ts, boot-serve.ts).
  const chooser = o.menu ? 'menu' : o.serve ? 'serve' : undefined;
  if (o.menu && o.serve) throw new UsageError('kexec-ts boot: --menu or --serve, not both');
  if (chooser && (o.list || o.bless || entry !== undefined)) throw new UsageError(`--${chooser} takes no ${entry !== undefined ? `ENTRY (${entry})` : o.list ? '--list' : '--bless'}: the entry is chosen there`);
  // The menu and the page load their choice (the command line is edited there: no --append/--command-line).
  const chooserTakes = new Set(['dry-run', 'kexec-file-syscall', 'kexec-syscall', 'kexec-syscall-auto', 'debug']);
  const notHere = chooser && Object.keys(BOOT_LOAD_OPTIONS).find((k) => o[k as keyof typeof o] !== undefined && !chooserTakes.has(k));
  if (notHere) throw new UsageError(`--${chooser} does not take --${notHere}: edit the command line ${chooser === 'menu' ? 'in the menu (e)' : 'on the page'}`);
  if (o.serve && o.now && o['dry-run']) throw new UsageError('--serve: --now or --dry-run, not both');
  if (o.serve && !o['dry-run'] && (o.root || o.boot || o.esp)) throw new UsageError("--serve loads this machine's entries: --root/--boot/--esp only with --dry-run");
  const port = o.port === undefined ? 0 : Number(o.port);
  if (o.port !== undefined && (!o.serve || !/^\d+$/.test(o.port) || port > 65535)) throw new UsageError(o.serve ? '--port wants a number from 0 to 65535' : '--port goes with --serve');
  if (o.timeout !== undefined && !o.menu) throw new UsageError('--timeout goes with --menu');
  const menu = o.menu ? await import('./boot-menu.ts') : undefined;
  const timeout = menu && o.timeout !== undefined ? { timeout: menu.parseMenuTimeout(o.timeout) } : {};
  const { existsSync, statSync } = await import('node:fs');
  for (const k of ['root', 'boot', 'esp'] as const) {
    const dir = o[k];
    if (dir !== undefined && !(existsSync(dir) && statSync(dir).isDirectory())) throw new UsageError(`--${k} ${dir}: not a directory`);
  }
  for (const f of o.cert ?? []) if (!(existsSync(f) && statSync(f).isFile())) throw new UsageError(`--cert ${f}: not a file`);
  const loadOptions = Object.keys(BOOT_LOAD_OPTIONS).filter((k) => o[k as keyof typeof o] !== undefined);
  if ([o.list, o.bless, o.now].filter(Boolean).length > 1) throw new UsageError('give one of --list, --bless, --now');
  if ((o.list || o.bless) && (entry !== undefined || loadOptions.length)) {
    throw new UsageError(`--${o.list ? 'list' : 'bless'} takes no ${entry !== undefined ? `ENTRY (${entry})` : `--${loadOptions[0]}`}; run 'kexec-ts boot --help'`);
  }
  if (o.bless) return blessCommand(o);
  if (!o.list && !chooser) return bootLoadCommand(o, entry, o.now ? 'exec' : 'load');
  const { readBootMachine } = await import('../host/boot-files.ts');
  const { discoverBoot } = await import('../boot/discover.ts');
  const { bootListJson, bootListText } = await import('../boot/list-text.ts');
  const { ukiSource } = await import('../boot/uki.ts');
  const { hostImageTrust } = await import('../host/image-trust.ts');
  const root = o.root ?? '/';
  const list = discoverBoot(readBootMachine({ root, ...(o.boot ? { boot: o.boot } : {}), ...(o.esp ? { esp: o.esp } : {}) }), [ukiSource(hostImageTrust(root, o.cert))]);
  if (o.serve) {
    const { startBootServer, dryRunChoice } = await import('./boot-serve.ts');
    let serve: Parameters<typeof startBootServer>[1] = { port, choose: dryRunChoice };
    if (!o['dry-run']) {
      const { hostSyscalls } = await import('../host/syscalls.ts');
      const { execKernel } = await import('../host/kexec-load.ts');
      const sys = hostSyscalls(o.now ? 'booting an entry' : 'loading a boot entry');
      serve = {
        port,
        choose: serveLoader(bootRequest(o, undefined, 'load'), { sys }),
        // --now: the page gets its answer, then the machine boots what was loaded
        ...(o.now ? { afterAnswer: () => execKernel(sys, '/') } : {}),
      };
    }
    const s = await startBootServer(list, serve);
    writeSync(1, `kexec-ts boot menu (${o['dry-run'] ? '--dry-run' : o.now ? 'a choice is loaded and booted at once' : 'a choice is loaded; `systemctl kexec` boots it'}) for ${root}:\n  ${s.url}\n(listening on 127.0.0.1 only; Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void s.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  }
  if (menu) {
    const choice = await menu.runBootMenu(list, timeout);
    if (!choice) {
      writeSync(2, 'kexec-ts: boot menu left without a choice\n');
      return 1;
    }
    if (o['dry-run']) {
      writeSync(1, o.json ? menu.choiceJson(choice) : menu.choiceText(choice));
      return 0;
    }
    // Load the choice as `kexec-ts boot ENTRY` would (the edited command line, if it was edited); --now boots it.
    const edited = choice.cmdline !== choice.entry.cmdline ? { 'command-line': choice.cmdline } : {};
    return bootLoadCommand({ ...o, ...edited }, choice.entry.id, o.now ? 'exec' : 'load');
  }
  writeSync(1, o.json ? bootListJson(list) : bootListText(list));
  return list.default ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'boot') return bootCommand(argv.slice(1));
  if (argv[0] === 'reboot') return rebootCommand(argv.slice(1));
  const parsed = parse(argv);
  if (!parsed) return 0;
  const { values: o, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`one kernel file, not ${positionals.length}: ${positionals.join(' ')}`);
  const kernelPath = positionals[0];
  const crash = !!o['load-panic'];
  if (o.status) return status(o, crash);
  if (o.unload) {
    if (o['dry-run']) throw new UsageError('--dry-run plans loads; -u has nothing to plan');
    const choice = syscallChoice(o);
    unloadKernel(crash ? 'crash' : 'load', choice, hostSyscalls('unloading'));
    return 0;
  }
  if (!o.load && !crash && !o.exec && !o.force) {
    throw new UsageError(kernelPath ? `what to do with ${kernelPath}? give -l (load, then -e to boot), -p (crash kernel) or -f (load and boot now)` : USAGE);
  }
  if (o.load || crash || (o.force && kernelPath)) {
    if (!kernelPath) throw new UsageError('no kernel file given');
    await load(o, kernelPath, crash);
    if ((o.force || o.exec) && !crash && !o['dry-run']) return exec();
    return 0;
  }
  if (o.exec || o.force) {
    if (o['dry-run']) throw new UsageError('--dry-run plans loads; -e has nothing to plan');
    return exec();
  }
  return 0;
}

const syscallChoice = (o: Opts): SyscallChoice => syscallOf(o) ?? 'auto';

/** The options as a library request (everything but where the output goes). */
function loadRequest(o: Opts, kernelPath: string, crash: boolean): LoadRequest {
  const dryRun = !!o['dry-run'];
  if ((o.iomem || o.memmap || o.root) && !dryRun) throw new UsageError('--iomem/--memmap/--root plan for another machine: use them with --dry-run');
  if (o.root && (o.iomem || o.memmap)) throw new UsageError('--root reads DIR/proc/iomem and DIR/sys/firmware/memmap: give it without --iomem/--memmap');
  if (o.svg && !dryRun) throw new UsageError('--svg draws a --dry-run plan');
  const initrd = o.initrd ?? o.ramdisk;
  const machine = { ...(o.root ? { root: o.root } : {}), ...(o.iomem ? { iomem: o.iomem } : {}), ...(o.memmap ? { memmap: o.memmap } : {}) };
  return {
    kernel: kernelPath,
    ...(initrd !== undefined ? { initrd } : {}),
    ...(o.dtb ? { dtb: o.dtb } : {}),
    ...(o['efi-memmap'] ? { efiMemmap: o['efi-memmap'] } : {}),
    kind: crash ? 'crash' : 'load',
    syscall: syscallChoice(o),
    cmdline: buildCmdline({
      ...(o['reuse-cmdline'] ? { reuse: currentCmdline() } : {}),
      ...(o['command-line'] !== undefined ? { commandLine: o['command-line'] } : {}),
      ...(o.append !== undefined ? { append: o.append } : {}),
      crash,
    }),
    ...(o.type ? { type: o.type } : {}),
    ...(o['mem-min'] ? { memMin: parseAddress(o['mem-min'], '--mem-min') } : {}),
    ...(o['mem-max'] ? { memMax: parseAddress(o['mem-max'], '--mem-max') } : {}),
    noChecks: !!o['no-checks'],
    ...(o['debug-corrupt-segment'] ? { corruptSegment: o['debug-corrupt-segment'] } : {}),
    dryRun,
    ...(Object.keys(machine).length ? { machine } : {}),
  };
}

async function load(o: Opts, kernelPath: string, crash: boolean): Promise<void> {
  const req = loadRequest(o, kernelPath, crash);
  const debug = o.debug ? (line: string) => void process.stderr.write(line + '\n') : undefined;
  if (req.dryRun) return printPlan(o, await planKernelLoad(req, debug ? { debug } : {}));
  await loadKernel(req, hostSyscalls(crash ? 'loading a crash kernel' : 'loading a kernel'), debug ? { debug } : {});
}

async function printPlan(o: Opts, p: PlannedLoad): Promise<void> {
  if (o.svg && p.map && !o.json) writeOutputFile(o.svg, (await import('../kexec/plan-picture.ts')).planSvg(p.plan, p.map), { force: !!o.force, forceHint: 'give -f (with --dry-run it only replaces the SVG)' });
  writeSync(1, await dryRunText(p, { json: !!o.json, debug: !!o.debug }));
}

function status(o: Opts, crash: boolean): number {
  const kind = o.load && !crash ? 'load' : 'crash';
  const loaded = kexecLoaded(kind);
  const crashLoaded = kexecLoaded('crash');
  const normal = kexecLoaded('load');
  if (o.json) process.stdout.write(JSON.stringify({ schema: JSON_SCHEMA, kexecLoaded: normal ?? null, crashLoaded: crashLoaded ?? null }) + '\n');
  else process.stdout.write(`kexec kernel: ${word(normal)}\ncrash kernel: ${word(crashLoaded)}\n`);
  if (loaded === undefined) throw new KexecError(`cannot tell: ${kind === 'crash' ? '/sys/kernel/kexec_crash_loaded' : '/sys/kernel/kexec_loaded'} is missing`, { hint: 'this kernel has no kexec support' });
  return loaded ? 0 : 1;
}

const word = (b: boolean | undefined) => (b === undefined ? 'unknown (no sysfs file)' : b ? 'loaded' : 'not loaded');

function exec(): number {
  execKernel(hostSyscalls('booting a loaded kernel'));
  return 0; // not reached when the new kernel starts
}

// Not awaited: no top-level await, so the same source bundles as CommonJS too (runCli never rejects).
void runCli('kexec-ts', main);

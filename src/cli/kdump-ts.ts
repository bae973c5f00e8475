// kdump-ts: the kdump service — reserve, load, check and test crash dumping.
import type { DumpTarget } from '../kdump/dump-target.ts';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KexecError, UsageError } from '../errors.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import { writeArchive } from '../host/initramfs-collect.ts';
import { DEFAULT_CONFIG_PATH, defaultConfigText } from '../kdump/config.ts';
import { formatSize } from '../kdump/crashkernel.ts';
import { formatEstimate } from '../kdump/estimate.ts';
import { buildCaptureInitramfs, packageRoot, readMountTable, resolveCaptureMode, resolveTarget } from '../host/kdump-initramfs.ts';
import { mkinitrdOutput } from '../kdump/status.ts';
import { captureFiles, crashThisMachine, loadCaptureKernel, planCaptureLoad, readConfig, readStatus, unloadCaptureKernel } from '../host/kdump-service.ts';
import { formatChecks, formatStatus, statusJson } from './kdump-print.ts';
import { dryRunText } from '../kexec/load.ts';
import { hostSyscalls } from '../host/syscalls.ts';
import { parseCommandLine, topLevel, unknownCommand, type Options, type Values } from './args.ts';
import { estimateCapture, readinessChecks } from '../host/kdump-readiness.ts';
import { runCli } from './run.ts';
import { machinePath } from '../host/machine-files.ts';

const COMMON_HELP = `options for every command:
  --config FILE          configuration file (default ${DEFAULT_CONFIG_PATH}; a file named here must exist)
  --root DIR             read /proc, /sys and files under DIR instead of / (for tests and offline checks)
  -h, --help             this help; -V, --version: the version`;

const common: Options = { config: { type: 'string' }, root: { type: 'string' } };
const json: Options = { json: { type: 'boolean' } };

interface KdumpCommand {
  /** The synopsis after "kdump-ts NAME", then lines describing the options. */
  usage: string;
  summary: string;
  options: Options;
  run(o: Values): Promise<number> | number;
}

/** Every kdump-ts command: its help, options and code. Help and unknown options never reach `run`. */
const COMMANDS: Record<string, KdumpCommand> = {
  status: {
    usage: '[--json]',
    summary: 'is memory reserved, is a capture kernel loaded, is the target writable, what would be saved',
    options: json,
    run: (o) => {
      const s = readStatus(root(o), configPath(o));
      process.stdout.write(o.json ? statusJson(s) : formatStatus(s));
      return s.ready ? 0 : 1;
    },
  },
  load: {
    usage: '[-d] [--status]\n  -d, --debug            print the segment list (kexec-ts -d)\n  --status               then print what `kdump-ts status` prints (one process: the unit logs it)\n  with --root DIR: plan the load of the machine under DIR and print it; nothing is loaded',
    summary: 'load the capture kernel the config describes (kexec-ts -p)',
    options: { debug: { type: 'boolean', short: 'd' }, status: { type: 'boolean' } },
    run: async (o) => {
      const config = configPath(o);
      if (typeof o.root === 'string') {
        // --root DIR reads another machine's files: plan that load and print it, never load it here.
        const p = await planCaptureLoad({ root: o.root, ...(config ? { configPath: config } : {}) });
        process.stdout.write(`dry run (--root ${o.root}): nothing is loaded\n${await dryRunText(p, { debug: !!o.debug })}`);
        return 0;
      }
      const debug = o.debug ? (line: string) => void process.stderr.write(line + '\n') : undefined;
      const sys = hostSyscalls('loading a crash kernel', 'run it with sudo; `kdump-ts load --root /` plans without loading');
      const st = await loadCaptureKernel(sys, { ...(config ? { configPath: config } : {}), ...(debug ? { debug } : {}) });
      process.stdout.write(`loaded capture kernel ${st.kernel} with ${st.initrd} (${st.syscall})\ncommand line: ${st.cmdline}\n`);
      if (o.status) process.stdout.write(formatStatus(readStatus('/', config)));
      return 0;
    },
  },
  unload: {
    usage: '',
    summary: 'unload it',
    options: {},
    run: (o) => {
      if (typeof o.root === 'string') throw new UsageError('unload acts on the running kernel: --root DIR has nothing to unload');
      unloadCaptureKernel(hostSyscalls('unloading'));
      process.stdout.write('capture kernel unloaded\n');
      return 0;
    },
  },
  estimate: {
    usage: '[--json] [--bundle FILE]\n  --bundle FILE          the vmcore-ts bundle to measure (default: this package\'s dist/vmcore-ts.mjs)',
    summary: 'the crashkernel= size this machine needs for our capture initramfs',
    options: { ...json, bundle: { type: 'string' } },
    run: estimate,
  },
  mkinitrd: {
    usage:
      '[-o FILE] [--bundle FILE] [--node FILE] [--release R] [--modules-dir DIR]\n' +
      '  -o, --output FILE      where to write it (default: the configured initrd; for another release\n' +
      '                         /var/lib/kdump-ts/initrd.img-R, or -o when initrd = is set)\n' +
      "  --release R            the capture kernel's release (default: the configured kernel's)\n" +
      '  --modules-dir DIR      take its modules from DIR (default /lib/modules/R, under --root DIR)\n' +
      "  --bundle FILE          the vmcore-ts bundle to carry, or with capture = root to run from the root\n" +
      "                         file system (default: this package's dist/vmcore-ts.mjs)\n" +
      '  --node FILE            capture = root: the node to run, a path on the root file system (default:\n' +
      '                         this node; a given path is not checked, for building for another machine)',
    summary: 'build the capture initramfs',
    options: { output: { type: 'string', short: 'o' }, bundle: { type: 'string' }, node: { type: 'string' }, release: { type: 'string' }, 'modules-dir': { type: 'string' } },
    run: mkinitrd,
  },
  test: {
    usage: '[--json]',
    summary: 'check, without crashing anything, that a crash now would be captured (memory, kernel, initramfs, modules, target, loaded)',
    options: json,
    run: (o) => {
      const checks = readinessChecks(root(o), { configPath: configPath(o) });
      const ready = !checks.some((c) => c.result === 'FAIL');
      process.stdout.write(o.json ? JSON.stringify({ schema: JSON_SCHEMA, ready, checks }, null, 2) + '\n' : formatChecks(checks));
      return ready ? 0 : 1;
    },
  },
  crash: {
    usage: '--yes-crash-this-machine',
    summary: 'crash this machine NOW (sysrq-c) to test the whole chain for real; run `kdump-ts test` first',
    options: { 'yes-crash-this-machine': { type: 'boolean' } },
    run: (o) => {
      if (!o['yes-crash-this-machine']) {
        throw new KexecError('refusing to crash this machine', { hint: 'pass --yes-crash-this-machine if you mean it (check `kdump-ts test` first)' });
      }
      const s = readStatus(root(o), configPath(o));
      if (!s.loaded) throw new KexecError('no capture kernel is loaded: the crash would only reboot (or hang) the machine', { hint: 'run `kdump-ts load` first' });
      process.stdout.write('crashing now (sysrq-c)\n');
      crashThisMachine(root(o));
      return 0;
    },
  },
  'default-config': {
    usage: '',
    summary: 'print a commented configuration file',
    options: {},
    run: () => {
      process.stdout.write(defaultConfigText());
      return 0;
    },
  },
};

function usage(): string {
  const lines = ['usage: kdump-ts COMMAND [OPTIONS]', '       kdump-ts --version', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) {
    const synopsis = `${name} ${c.usage.split('\n')[0]}`.trim();
    lines.push(synopsis.length < 23 ? `  ${synopsis.padEnd(22)} ${c.summary}` : `  ${synopsis}\n  ${''.padEnd(22)} ${c.summary}`);
  }
  lines.push('', COMMON_HELP, '', "run 'kdump-ts COMMAND --help' for a command's options");
  return lines.join('\n');
}

const root = (o: Values) => (typeof o.root === 'string' ? o.root : '/');
const configPath = (o: Values) => (typeof o.config === 'string' ? o.config : undefined);

async function estimate(o: Values): Promise<number> {
  const { kernel, initrd, mode, estimate: e } = estimateCapture(root(o), { configPath: configPath(o), ...(typeof o.bundle === 'string' ? { bundle: o.bundle } : {}) });
  if (o.json) {
    process.stdout.write(JSON.stringify({ schema: JSON_SCHEMA, kernel, initrd, mode, ...e }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n');
    return 0;
  }
  process.stdout.write(
    [`capture kernel ${kernel}, initramfs: ${initrd}`, `capture mode: ${mode} (${mode === 'root' ? 'node runs from the root file system' : 'Node.js in the initramfs'})`, ...formatEstimate(e), `add ${e.param} to the kernel command line (e.g. GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot`, ''].join('\n'),
  );
  return 0;
}

async function mkinitrd(o: Values): Promise<number> {
  const root = typeof o.root === 'string' ? o.root : '/';
  const { config } = readConfig(root, configPath(o));
  const files = captureFiles(config, root);
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const release = str('release') ?? files.release;
  const out = str('output') ?? mkinitrdOutput(config, files, release, configPath(o));
  const target = resolveTarget(config, root);
  const bundle = str('bundle') ?? `${packageRoot()}/dist/vmcore-ts.mjs`;
  const built = buildCaptureInitramfs({
    config,
    target,
    release,
    modulesDir: str('modules-dir') ?? machinePath(root, `/lib/modules/${release}`),
    bundle,
    root,
    mode: resolveCaptureMode(config, root, { bundle: str('bundle'), node: str('node') }),
  });
  mkdirSync(dirname(out), { recursive: true });
  const size = await writeArchive(built.archive.encode(), out, 1);
  process.stdout.write(
    [
      `wrote ${out}: ${formatSize(BigInt(size))} (unpacks to ${formatSize(BigInt(built.archive.dataSize()))})`,
      `  dump target: ${targetText(target)}`,
      ...(config.targetDevice && (config.rootDevice || config.capture === 'initramfs') ? [] : [`  mounts read from: ${readMountTable(root).from}`]),
      `  capture mode: ${built.mode.mode}: ${built.mode.mode === 'root' ? `${built.mode.why}; runs ${built.mode.node} ${built.mode.bundle}` : `Node.js in the initramfs (${built.mode.why})`}`,
      `  modules: ${built.modules.length ? built.modules.map((m) => m.replace(/^.*\//, '')).join(' ') : 'none needed'}${built.wanted.length ? ` (for ${built.wanted.join(', ')})` : ''}`,
      `  firmware: ${built.firmware.carried.length ? built.firmware.carried.map((f) => f.replace(/^lib\/firmware\//, '')).join(' ') : 'none'}`,
      ...(built.firmware.missing.length ? [`  warning: firmware the modules declare but this host lacks (often optional): ${built.firmware.missing.join(' ')}`] : []),
      `  page compressors: ${built.mode.mode === 'root' ? 'those of the root file system' : built.nativeCodecs.length ? `${built.nativeCodecs.join(', ')} through koffi` : "Node's zlib and the built-in LZO1X (install libdeflate0 / liblzo2-2 for faster saves)"}`,
      '',
    ].join('\n'),
  );
  return 0;
}

await runCli('kdump-ts', async (argv) => {
  const [name, ...rest] = argv;
  const done = await topLevel('kdump-ts', name, usage);
  if (done !== undefined) return done;
  const cmd = Object.hasOwn(COMMANDS, name!) ? COMMANDS[name!]! : undefined;
  if (!cmd) throw unknownCommand('kdump-ts', name!, Object.keys(COMMANDS));
  const [synopsis, ...optionLines] = cmd.usage.split('\n');
  const help = [`usage: kdump-ts ${name} ${synopsis}`.trimEnd(), '', cmd.summary, '', ...(optionLines.length ? [...optionLines, ''] : []), COMMON_HELP].join('\n');
  const o = parseCommandLine(rest, { ...common, ...cmd.options }, { prog: `kdump-ts ${name}`, usage: help });
  return o ? cmd.run(o.values) : 0;
});

/** How mkinitrd reports the dump target: a device, an NFS export, an ssh or S3 URL, with the network when there is one. */
function targetText(t: DumpTarget): string {
  const n = t.network;
  const net = n ? ` (network: ${n.netDevice}, ${typeof n.net === 'string' ? n.net : `${n.net.address} via ${n.net.gateway}`})` : '';
  if (t.ssh) return `${t.ssh.url}${net}${t.ssh.encryptTo ? `; sealed to ${t.ssh.encryptTo}` : ''}`;
  if (t.s3) return `${t.s3.url} at ${t.s3.endpoint ?? 'AWS'}${net}${t.s3.encryptTo ? `; sealed to ${t.s3.encryptTo}` : ''}`;
  return `${t.device} (${t.fstype}) ${t.dir}${net}`;
}

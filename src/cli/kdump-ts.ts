// kdump-ts: the kdump service — reserve, load, check and test crash dumping.
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { KexecError, UsageError } from '../errors.ts';
import { writeArchive } from '../initramfs/collect-node.ts';
import { DEFAULT_CONFIG_PATH, defaultConfigText } from '../kdump/config.ts';
import { formatSize } from '../kdump/crashkernel.ts';
import { estimateCrashkernel, formatEstimate } from '../kdump/estimate.ts';
import { bzImageInitSize, initrdUnpackedSize } from '../kdump/initrd-size.ts';
import { hostPath } from '../kdump/host.ts';
import { buildCaptureInitramfs, fileSize, packageRoot, resolveTarget } from '../kdump/initramfs.ts';
import { captureFiles, crashThisMachine, formatStatus, loadCaptureKernel, planCaptureLoad, readConfig, readStatus, statusJson, unloadCaptureKernel } from '../kdump/service.ts';
import { dryRunText } from '../kexec/load.ts';
import { hostSyscalls } from '../kexec/syscalls.ts';
import { runCli } from './run.ts';

const USAGE = `usage: kdump-ts COMMAND [OPTIONS]

commands:
  status [--json]        is memory reserved, is a capture kernel loaded, is the target writable, what would be saved
  load [-d]              load the capture kernel the config describes (kexec-ts -p)
  unload                 unload it
  estimate [--json]      the crashkernel= size this machine needs for our capture initramfs
  mkinitrd [-o FILE] [--bundle FILE] [--release R] [--modules-dir DIR]
                         build the capture initramfs (for the capture kernel's release R; modules from DIR)
  test --yes-crash-this-machine        crash the machine now (sysrq-c) to test the whole chain
  default-config         print a commented configuration file

options for every command:
  --config FILE          configuration file (default ${DEFAULT_CONFIG_PATH})
  --root DIR             read /proc, /sys and files under DIR instead of / (for tests and offline checks)
`;

const common = {
  config: { type: 'string' },
  root: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(argv: string[], extra: T) {
  try {
    return parseArgs({ args: argv, options: { ...common, ...extra }, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
}

async function estimate(argv: string[]): Promise<number> {
  const o = parse(argv, { bundle: { type: 'string' } });
  const root = o.root ?? '/';
  const { config } = readConfig(root, o.config);
  const files = captureFiles(config, root);
  const kernelPath = hostPath(root, files.kernel);
  const initrdPath = hostPath(root, files.initrd);
  const kernelInitSize = bzImageInitSize(readFileSync(kernelPath), kernelPath);
  let initrdSize = fileSize(initrdPath);
  let unpacked: bigint;
  let source: string;
  if (initrdSize !== undefined) {
    unpacked = initrdUnpackedSize(readFileSync(initrdPath), initrdPath);
    source = files.initrd;
  } else {
    // Not built yet: assemble it in memory to measure what mkinitrd would write.
    const built = buildCaptureInitramfs({
      config,
      target: resolveTarget(config, root),
      release: files.release,
      modulesDir: `/lib/modules/${files.release}`,
      bundle: o.bundle ?? `${packageRoot()}/dist/vmcore-ts.mjs`,
    });
    unpacked = BigInt(built.archive.dataSize());
    initrdSize = BigInt(gzipSync(Buffer.concat(built.archive.encode()), { level: 1 }).length);
    source = 'what `kdump-ts mkinitrd` would build (measured in memory)';
  }
  const e = estimateCrashkernel({ kernelInitSize, initrdSize, initrdUnpacked: unpacked });
  if (o.json) {
    process.stdout.write(JSON.stringify({ kernel: files.kernel, initrd: source, ...e }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n');
    return 0;
  }
  process.stdout.write(
    [`capture kernel ${files.kernel}, initramfs: ${source}`, ...formatEstimate(e), `add ${e.param} to the kernel command line (e.g. GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot`, ''].join('\n'),
  );
  return 0;
}

async function mkinitrd(argv: string[]): Promise<number> {
  const o = parse(argv, { output: { type: 'string', short: 'o' }, bundle: { type: 'string' }, release: { type: 'string' }, 'modules-dir': { type: 'string' } });
  const root = o.root ?? '/';
  const { config } = readConfig(root, o.config);
  const files = captureFiles(config, root);
  const release = o.release ?? files.release;
  const out = o.output ?? files.initrd;
  const target = resolveTarget(config, root);
  const built = buildCaptureInitramfs({
    config,
    target,
    release,
    modulesDir: o['modules-dir'] ?? `/lib/modules/${release}`,
    bundle: o.bundle ?? `${packageRoot()}/dist/vmcore-ts.mjs`,
    root,
  });
  mkdirSync(dirname(out), { recursive: true });
  const size = await writeArchive(built.archive.encode(), out, 1);
  process.stdout.write(
    [
      `wrote ${out}: ${formatSize(BigInt(size))} (unpacks to ${formatSize(BigInt(built.archive.dataSize()))})`,
      `  dump target: ${target.device} (${target.fstype}) ${target.dir}`,
      `  modules: ${built.modules.length ? built.modules.map((m) => m.replace(/^.*\//, '')).join(' ') : 'none needed'}${built.wanted.length ? ` (for ${built.wanted.join(', ')})` : ''}`,
      `  page compressors: ${built.nativeCodecs.length ? `${built.nativeCodecs.join(', ')} through koffi` : "Node's zlib and the built-in LZO1X (install libdeflate0 / liblzo2-2 for faster saves)"}`,
      '',
    ].join('\n'),
  );
  return 0;
}

await runCli('kdump-ts', async (argv) => {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'status': {
      const o = parse(rest, {});
      const s = readStatus(o.root ?? '/', o.config ?? DEFAULT_CONFIG_PATH);
      process.stdout.write(o.json ? statusJson(s) : formatStatus(s));
      return s.ready ? 0 : 1;
    }
    case 'load': {
      const o = parse(rest, { debug: { type: 'boolean', short: 'd' } });
      const debug = o.debug ? (line: string) => void process.stderr.write(line + '\n') : undefined;
      if (o.root) {
        // --root DIR reads another machine's files: plan that load and print it, never load it here.
        const p = await planCaptureLoad({ root: o.root, ...(o.config ? { configPath: o.config } : {}) });
        process.stdout.write(`dry run (--root ${o.root}): nothing is loaded\n${await dryRunText(p, { debug: !!o.debug })}`);
        return 0;
      }
      const sys = hostSyscalls('loading a crash kernel', 'run it with sudo; `kdump-ts load --root /` plans without loading');
      const st = await loadCaptureKernel(sys, { ...(o.config ? { configPath: o.config } : {}), ...(debug ? { debug } : {}) });
      process.stdout.write(`loaded capture kernel ${st.kernel} with ${st.initrd}\ncommand line: ${st.cmdline}\n`);
      return 0;
    }
    case 'unload': {
      const o = parse(rest, {});
      if (o.root) throw new UsageError('unload acts on the running kernel: --root DIR has nothing to unload');
      unloadCaptureKernel(hostSyscalls('unloading'));
      process.stdout.write('capture kernel unloaded\n');
      return 0;
    }
    case 'estimate':
      return estimate(rest);
    case 'mkinitrd':
      return mkinitrd(rest);
    case 'test': {
      const o = parse(rest, { 'yes-crash-this-machine': { type: 'boolean' } });
      if (!o['yes-crash-this-machine']) {
        throw new KexecError('refusing to crash this machine', { hint: 'pass --yes-crash-this-machine if you mean it (check `kdump-ts status` first)' });
      }
      const s = readStatus(o.root ?? '/', o.config ?? DEFAULT_CONFIG_PATH);
      if (!s.loaded) throw new KexecError('no capture kernel is loaded: the crash would only reboot (or hang) the machine', { hint: 'run `kdump-ts load` first' });
      process.stdout.write('crashing now (sysrq-c)\n');
      crashThisMachine(o.root ?? '/');
      return 0;
    }
    case 'default-config':
      process.stdout.write(defaultConfigText());
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd ? 0 : 2;
    default:
      throw new UsageError(`unknown command '${cmd}'\n\n${USAGE}`);
  }
});

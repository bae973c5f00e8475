// Issue 16: speed IN the capture kernel. A real x86_64 kdump cycle under QEMU (TCG) through the e2e
// harness (e2e/scenarios.ts captureSpeed): kexec -p, sysrq-c, and in ONE capture kernel (nr_cpus=1,
// crashkernel=256M, as kdump) N rounds of makedumpfile -c -d 31, vmcore-ts save -c -d 31,
// makedumpfile -l -d 31, vmcore-ts save -l -d 31 from /proc/vmcore to the scratch disk, each cold
// (output removed, sync, page cache dropped) and timed in the guest to the exit and to the sync
// after it. vmcore-ts runs with node from the scratch disk (chroot: kdump-ts's capture = root, the
// default) or, with --capture initramfs, from the capture initramfs (needs crashkernel=384M).
// Prints per mode the medians, their ratio (issue 16's goal: ours ≤ 0.8× makedumpfile), the sizes,
// "panic → dump written" (sysrq-c → capture kernel start on the host clock, + the capture kernel's
// uptime when its /init has the disk mounted, + the save), node's start-up, and where the time of
// one more profiled vmcore-ts save per mode goes (node --cpu-prof in the guest, copied out, sorted
// by bench/save-profile.mjs --classify). Under TCG the guest CPU is emulated: both tools alike.
// Usage: node --import tsx bench/capture-speed.ts [--suite bookworm|trixie] [--memory MiB] [--runs N]
//          [--capture root|initramfs] [--crashkernel MiB] [--cpu qemu64] [--no-profile] [--no-builtin] [--jitless] [--esm] [--no-codecs] [--no-floor]
//          [--host-vmcore FILE | --no-host] [--keep] [--verbose]
// Also, unless --no-builtin: vmcore-ts with VMCORE_TS_NATIVE_CODECS=0 (Node's zlib, our LZO1X in JS)
// in each round; with --esm, vmcore-ts from its ESM bundle too (dist/vmcore-ts.mjs, what the capture ran
// before it ran the CommonJS launcher dist/vmcore-ts.cjs, here and natively);
// with --jitless, vmcore-ts under node --jitless too (here and natively: how much of
// TCG's cost is V8's run-time machine code); unless --no-codecs, bench/capture-codecs.mjs (each
// compressor's cost per page through koffi) in the guest and natively; unless --no-host: the same alternation natively on this host, on one CPU (taskset),
// on the cached unfiltered ELF vmcore of the same suite and CPU (e2e's raw vmcore,
// ~/.cache/kexec-ts/vmcore/SUITE-CPU[-Ng].elf, bench/make-vmcore.ts) or --host-vmcore FILE: how far TCG
// moves the ratio. Unless --no-floor: the machine's floor in the capture kernel, per mode
// (bench/save-floor.ts, bundled, run there on its one CPU against /proc/vmcore and a makedumpfile
// dump of it: the time to read the kept pages + compress them as vmcore-ts does), beside 0.8×
// makedumpfile: below the floor, no collector could meet the goal in that guest.
import './fleet-env.mjs';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runScenario, type Marker } from '../e2e/harness/scenario.ts';
import { REPO, type FileSpec } from '../e2e/harness/initramfs.ts';
import { e2eSkipReason } from '../e2e/harness/host.ts';
import { E2EStepError } from '../e2e/harness/steps.ts';
import { recordTimings } from '../e2e/harness/testing.ts';
import { koffiBinaryFiles } from '../e2e/kexec-ts-files.ts';
import { cacheDir } from '../e2e/harness/cache.ts';
import { CAPTURE_SPEED_MODES, captureSpeed, type CaptureNodeFrom } from '../e2e/scenarios.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const USAGE = 'usage: node --import tsx bench/capture-speed.ts [--suite bookworm|trixie] [--memory MiB] [--runs N] [--capture root|initramfs] [--crashkernel MiB] [--cpu MODEL] [--no-profile] [--no-builtin] [--jitless] [--esm] [--no-codecs] [--no-floor] [--host-vmcore FILE | --no-host] [--keep] [--verbose]';

function usage(why: string): never {
  process.stderr.write(`capture-speed: ${why}\n${USAGE}\n`);
  process.exit(2);
}

const OPTIONS = {
  suite: { type: 'string', default: 'bookworm' },
  memory: { type: 'string', default: '1024' },
  runs: { type: 'string', default: '3' },
  capture: { type: 'string', default: 'root' },
  crashkernel: { type: 'string' },
  cpu: { type: 'string', default: 'qemu64' },
  'no-profile': { type: 'boolean', default: false },
  'no-builtin': { type: 'boolean', default: false },
  jitless: { type: 'boolean', default: false },
  esm: { type: 'boolean', default: false },
  'no-codecs': { type: 'boolean', default: false },
  'no-floor': { type: 'boolean', default: false },
  'host-vmcore': { type: 'string' },
  'no-host': { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
function parse() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (e) {
    return usage((e as Error).message);
  }
}
const values = parse();
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}
const int = (name: string, v: string, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return n;
};
const memoryMiB = int('memory', values.memory, 512, 16384);
const runs = int('runs', values.runs, 1, 50);
if (values.capture !== 'root' && values.capture !== 'initramfs') usage(`--capture must be root or initramfs, not '${values.capture}'`);
const nodeFrom: CaptureNodeFrom = values.capture;
const crashkernelMiB = values.crashkernel === undefined ? undefined : int('crashkernel', values.crashkernel, 96, memoryMiB - 256);
const { suite, cpu } = values;
const profile = !values['no-profile'];
const builtinCodecs = !values['no-builtin'];
const hostVmcore = values['no-host'] ? undefined : (values['host-vmcore'] ?? join(cacheDir('vmcore'), `${rawVmcoreName(suite, cpu, memoryMiB)}.elf`));
if (values['host-vmcore'] !== undefined && !existsSync(values['host-vmcore'])) usage(`--host-vmcore ${values['host-vmcore']}: no such file`);
const skip = e2eSkipReason({ referenceTools: true });
if (skip) usage(`cannot run QEMU guests here: ${skip}`);

if (!existsSync(join(REPO, 'dist', 'vmcore-ts.mjs'))) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim();

/** The name bench/make-vmcore.ts (and the e2e kdump test, for 1 GiB) caches a guest's raw vmcore under. */
function rawVmcoreName(suite: string, cpu: string, memoryMiB: number): string {
  return memoryMiB === 1024 ? `${suite}-${cpu}` : `${suite}-${cpu}-${memoryMiB % 1024 === 0 ? `${memoryMiB / 1024}g` : `${memoryMiB}m`}`;
}

/** The native page compressors kdump-ts mkinitrd carries (src/kdump/capture-initramfs.ts NATIVE_CODEC_LIBS) and koffi's binary. */
function nativeFiles(): Record<string, FileSpec> {
  const files = koffiBinaryFiles();
  for (const lib of ['libdeflate.so.0', 'liblzo2.so.2']) {
    const host = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu'].map((d) => join(d, lib)).find(existsSync);
    if (host) files[`lib/x86_64-linux-gnu/${lib}`] = { host: realpathSync(host), mode: 0o755 };
    else process.stderr.write(`capture-speed: the host has no ${lib}: vmcore-ts falls back to its built-in compressor\n`);
  }
  return files;
}

/** Where bench/capture-codecs.mjs goes in the guest: beside the bundle, so it finds its koffi. */
const CODEC_BENCH = 'opt/kexec-ts/bench/capture-codecs.mjs';
/** Where bench/save-floor.ts goes in the guest, bundled into one file (the guest has node, not tsx). */
const FLOOR_BENCH = 'opt/kexec-ts/bench/save-floor.mjs';
/** bench/save-floor.ts and the library code it uses as one ES module (koffi stays outside: the guest's, beside the bundle). */
async function floorBundle(): Promise<string> {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'capture-floor-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'save-floor.mjs');
  await build({
    entryPoints: [join(REPO, 'bench', 'save-floor.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = load();
const log = (s: string) => process.stderr.write(s + '\n');
const marker = `E2E-CAPTURE-SPEED-${randomBytes(6).toString('hex')}`;
const spec = captureSpeed(suite, cpu, marker, {
  memoryMiB,
  runs,
  nodeFrom,
  crashkernelMiB,
  profile,
  builtinCodecs,
  jitless: values.jitless,
  esm: values.esm,
  ...(values['no-codecs'] ? {} : { codecBench: `/${CODEC_BENCH}` }),
  ...(values['no-floor'] ? {} : { floorBench: `/${FLOOR_BENCH}` }),
  files: {
    ...nativeFiles(),
    ...(values['no-codecs'] ? {} : { [CODEC_BENCH]: { host: join(REPO, 'bench', 'capture-codecs.mjs') } }),
    ...(values['no-floor'] ? {} : { [FLOOR_BENCH]: { host: await floorBundle() } }),
  },
});
log(`capture-speed: ${suite} -cpu ${cpu}, ${memoryMiB} MiB, ${spec.cmdline}, node from the ${nodeFrom === 'root' ? 'scratch root' : 'capture initramfs'}, ${runs} rounds; load ${loadBefore}`);
let result;
try {
  result = await runScenario({ ...spec, log: values.verbose ? log : (s) => (/\] (capture|first):(run|boot|crashing|node-start|profiled|done) /.test(s) ? log(s) : undefined) });
} catch (e) {
  // the harness's report (step, missing markers, console tail) without a stack trace
  process.stderr.write(`capture-speed: ${e instanceof E2EStepError ? e.message : String((e as Error).stack ?? e)}\n`);
  process.exit(1);
}
const loadAfter = load();

// --- the runs
interface Run {
  tool: 'makedumpfile' | 'vmcore-ts' | 'vmcore-ts-builtin' | 'vmcore-ts-jitless' | 'vmcore-ts-esm';
  mode: string;
  round: number;
  exitMs: number;
  syncMs: number;
  bytes: number;
}
const all: Run[] = result.markers
  .filter((m) => m.stage === 'capture' && m.name === 'run')
  .map((m) => {
    const [tool, mode, round, exitMs, syncMs, bytes] = m.value.split(' ');
    return { tool: tool as Run['tool'], mode: mode!, round: Number(round), exitMs: Number(exitMs), syncMs: Number(syncMs), bytes: Number(bytes) };
  });
// the logs off the scratch disk: vmcore-ts's own clock ("saved … in 4.1 s": from before the save to its end, without node's start-up, module loading and opening the dump)
const keep = join(result.outDir, 'capbench');
mkdirSync(keep, { recursive: true });
for (const f of result.disk.list('/capbench-logs')) result.disk.copyOut(`capbench-logs/${f}`, join(keep, f));
const ownMs = (r: Run): number | undefined => {
  const f = join(keep, `${r.tool}-${r.mode}-${r.round}.log`);
  const m = existsSync(f) ? / in ([0-9.]+) s$/m.exec(readFileSync(f, 'utf8')) : null;
  return m ? Number(m[1]) * 1000 : undefined;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const of = (tool: Run['tool'], mode: string) => all.filter((r) => r.tool === tool && r.mode === mode);

const m = (name: string): Marker => result.marker('capture', name);
const vmcoreBytes = Number(m('vmcore-size').value);
const [nodeCold, nodeWarm] = m('node-start').value.split(' ').map(Number) as [number, number];
const hostCpu = cpus()[0]?.model ?? '?';
const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.replace(/^QEMU emulator version /, '') ?? '?';

const out: string[] = [];
const say = (s = '') => out.push(s);
say(`## capture-speed: ${suite} (${result.kernel.release}), QEMU ${qemu} TCG -cpu ${cpu}, -smp 1, guest ${memoryMiB} MiB, ${spec.cmdline}, capture nr_cpus=1`);
say(`- /proc/vmcore ${mib(vmcoreBytes)}; capture kernel: ${m('capture-facts').value}; vmcore-ts (commit ${commit}) with node ${m('node-start').value.split(' ').slice(2).join(' ') || '?'} from the ${nodeFrom === 'root' ? 'scratch disk (chroot, kdump-ts capture = root)' : 'capture initramfs'}; ${m('vmcore-ts-codecs').value.replace(/;$/, '').replace(/;/g, ', ')}; makedumpfile ${spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' }).stdout.match(/version (\S+)/)?.[1] ?? '?'} from the capture initramfs`);
say(`- host: ${hostCpu}, ${cpus().length} cores; load before ${loadBefore}, after ${loadAfter}`);
say(`- ${runs} rounds in one capture kernel, alternating; each run cold (output removed, sync, drop_caches), timed in the guest (/proc/uptime, 10 ms) to the tool's exit and to the sync after it`);
say('- under TCG the guest CPU is emulated, both tools alike: absolute times are far above hardware; the ratio is the comparison');
say();
say(`| mode | makedumpfile: exit / synced (median of ${runs}) | vmcore-ts: exit / synced | ratio ours/theirs (synced) | goal ≤ 0.8 | makedumpfile size | vmcore-ts size | size Δ (≤ +2 %) |`);
say('|---|---|---|---|---|---|---|---|');
const ratios: Record<string, number> = {};
for (const mode of CAPTURE_SPEED_MODES) {
  const md = of('makedumpfile', mode);
  const ts = of('vmcore-ts', mode);
  const [mdExit, mdSync, tsExit, tsSync] = [median(md.map((r) => r.exitMs)), median(md.map((r) => r.syncMs)), median(ts.map((r) => r.exitMs)), median(ts.map((r) => r.syncMs))];
  const ratio = (ratios[mode] = tsSync / mdSync);
  const [mdBytes, tsBytes] = [median(md.map((r) => r.bytes)), median(ts.map((r) => r.bytes))];
  const d = (100 * (tsBytes - mdBytes)) / mdBytes;
  say(`| -${mode} -d 31 | ${sec(mdExit)} / ${sec(mdSync)} | ${sec(tsExit)} / ${sec(tsSync)} | **${ratio.toFixed(2)}** | ${ratio <= 0.8 ? 'met' : 'not met'} | ${mib(mdBytes)} | ${mib(tsBytes)} | ${d >= 0 ? '+' : ''}${d.toFixed(1)} % ${d <= 2 ? 'ok' : 'over'} |`);
}
say();
say('vmcore-ts split by its own clock (median of the runs): before the save (node start-up from a dropped page cache, module loading, opening /proc/vmcore, VMCOREINFO) and the save itself (scan, struct page walk, reads, compression, writes):');
say();
say('| mode | vmcore-ts synced | before the save | the save (its own clock, 0.1 s) | makedumpfile synced | save alone / makedumpfile |');
say('|---|---|---|---|---|---|');
for (const mode of CAPTURE_SPEED_MODES) {
  const runsOf = of('vmcore-ts', mode);
  const split = runsOf.flatMap((r) => {
    const own = ownMs(r);
    return own === undefined ? [] : [{ before: r.syncMs - own, own }];
  });
  if (split.length === 0) continue;
  const [total, before, inside, md] = [median(runsOf.map((r) => r.syncMs)), median(split.map((x) => x.before)), median(split.map((x) => x.own)), median(of('makedumpfile', mode).map((r) => r.syncMs))];
  say(`| -${mode} -d 31 | ${sec(total)} | ${sec(before)} | ${sec(inside)} | ${sec(md)} | ${(inside / md).toFixed(2)} |`);
}
say();
if (nodeFrom === 'root') {
  // what the cold page cache costs us: node + bundle start-up cold minus warm, taken off each median
  const penalty = nodeCold - nodeWarm;
  const est = CAPTURE_SPEED_MODES.map((mode) => {
    const [ts, md] = [median(of('vmcore-ts', mode).map((r) => r.syncMs)), median(of('makedumpfile', mode).map((r) => r.syncMs))];
    return `-${mode} ${sec(ts - penalty)} (ratio ${((ts - penalty) / md).toFixed(2)})`;
  });
  say(`Estimate with node's files already in the page cache (each median less the start-up's cold − warm, ${sec(penalty)}): ${est.join(', ')}`);
  say();
}
const nodeRead = result.find('capture', 'node-read')?.value.split(' ').map(Number);
say(`node + save's start-up in the capture kernel (vmcore-ts save --version): ${sec(nodeCold)} cold (${nodeFrom === 'root' ? 'page cache dropped' : "the kernel's first node process; its files stay in the initramfs"}), ${sec(nodeWarm)} warm${nodeRead ? `; reading the node binary (${mib(nodeRead[1]!)}) from the disk alone, cold: ${sec(nodeRead[0]!)}, and the start-up after it: ${sec(nodeRead[2]!)}` : ''}`);
say();
if (builtinCodecs) {
  say(`vmcore-ts without the native libraries (VMCORE_TS_NATIVE_CODECS=0: ${m('vmcore-ts-builtin-codecs').value.replace(/;$/, '').replace(/;/g, ', ')}), same rounds:`);
  say();
  say('| mode | makedumpfile synced | vmcore-ts (native codecs) | vmcore-ts (built-in codecs) | ratio built-in/makedumpfile | built-in size Δ |');
  say('|---|---|---|---|---|---|');
  for (const mode of CAPTURE_SPEED_MODES) {
    const [md, ts, bi] = (['makedumpfile', 'vmcore-ts', 'vmcore-ts-builtin'] as const).map((t) => median(of(t, mode).map((r) => r.syncMs)));
    const [mdB, biB] = [median(of('makedumpfile', mode).map((r) => r.bytes)), median(of('vmcore-ts-builtin', mode).map((r) => r.bytes))];
    say(`| -${mode} -d 31 | ${sec(md!)} | ${sec(ts!)} | ${sec(bi!)} | ${(bi! / md!).toFixed(2)} | ${((100 * (biB - mdB)) / mdB).toFixed(1)} % |`);
  }
  say();
}

// --- the machine's floor in the capture kernel
const floorMarkers = result.markers.filter((x) => x.stage === 'capture' && x.name === 'floor');
if (floorMarkers.length) {
  say("The machine's floor in this capture kernel (bench/save-floor.ts on its one CPU: read the pages a makedumpfile dump of /proc/vmcore kept, each tested for zero, + compress them as vmcore-ts does; once, after the rounds):");
  say();
  say('| mode | pages kept (zero) | read | compress | floor | makedumpfile synced (median) | 0.8× makedumpfile | makedumpfile ÷ floor | vmcore-ts synced ÷ floor |');
  say('|---|---|---|---|---|---|---|---|---|');
  for (const fm of floorMarkers) {
    const [mode, json] = [fm.value.slice(0, fm.value.indexOf(' ')), fm.value.slice(fm.value.indexOf(' ') + 1)];
    const f = JSON.parse(json) as { pages: number; zeroPages: number; readWall: number; compressWall: number; floor: number };
    const [md, ts] = [median(of('makedumpfile', mode).map((r) => r.syncMs)), median(of('vmcore-ts', mode).map((r) => r.syncMs))];
    const floorMs = f.floor * 1000;
    say(`| -${mode} -d 31 | ${f.pages} (${f.zeroPages}) | ${sec(f.readWall * 1000)} | ${sec(f.compressWall * 1000)} | **${sec(floorMs)}** | ${sec(md)} | ${sec(0.8 * md)}${0.8 * md < floorMs ? ' (below the floor)' : ''} | ${(md / floorMs).toFixed(2)} | ${(ts / floorMs).toFixed(2)} |`);
  }
  say();
}

// --- panic → dump written: the host clock from the crash to the capture kernel's start, its uptime to the stage (disk mounted), the save
const crashing = result.marker('first', 'crashing');
const boot = m('boot');
const stage = m('stage-start');
const kernelStartHostMs = boot.hostMs - boot.uptime * 1000;
const toKernel = kernelStartHostMs - crashing.hostMs;
const toStage = stage.uptime * 1000;
say('| mode | tool | sysrq-c → capture kernel start (host clock) | capture kernel start → /init with the disk mounted (uptime) | save to synced (median) | panic → dump written | ratio |');
say('|---|---|---|---|---|---|---|');
for (const mode of CAPTURE_SPEED_MODES) {
  const total = (tool: Run['tool']) => toKernel + toStage + median(of(tool, mode).map((r) => r.syncMs));
  for (const tool of ['makedumpfile', 'vmcore-ts'] as const) {
    say(`| -${mode} -d 31 | ${tool} | ${sec(toKernel)} | ${sec(toStage)} | ${sec(median(of(tool, mode).map((r) => r.syncMs)))} | ${sec(total(tool))} | ${tool === 'vmcore-ts' ? `**${(total('vmcore-ts') / total('makedumpfile')).toFixed(2)}**` : '1'} |`);
  }
}
say();
say('| round | tool | mode | to exit | to synced | bytes |');
say('|---|---|---|---|---|---|');
for (const r of all) say(`| ${r.round} | ${r.tool} | -${r.mode} | ${sec(r.exitMs)} | ${sec(r.syncMs)} | ${r.bytes} |`);

// --- the same alternation natively on this host, one CPU
let nativeMedian: ((t: Run['tool'], mode: string) => number) | undefined;
// Compare only a dump of about the guest's size, unless one is given.
const hostComparable = hostVmcore !== undefined && existsSync(hostVmcore) && (values['host-vmcore'] !== undefined || Math.abs(statSync(hostVmcore).size - vmcoreBytes) < vmcoreBytes * 0.02);
if (hostVmcore && hostComparable) {
  const dir = join(result.outDir, 'host-native');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'vmcore');
  const cmd = (tool: Run['tool'], mode: string): string[] =>
    tool === 'makedumpfile'
      ? ['makedumpfile', `-${mode}`, '-d', '31', hostVmcore, file]
      : [process.execPath, ...NODE_ARGS, ...(tool === 'vmcore-ts-jitless' ? ['--jitless'] : []), join(REPO, 'dist', tool === 'vmcore-ts-esm' ? 'vmcore-ts.mjs' : 'vmcore-ts.cjs'), 'save', `-${mode}`, '-d', '31', hostVmcore, file];
  const hostTools = ['makedumpfile', 'vmcore-ts', ...(values.jitless ? ['vmcore-ts-jitless' as const] : []), ...(values.esm ? ['vmcore-ts-esm' as const] : [])] as const;
  const host: Run[] = [];
  const hostLoad = load();
  for (let round = 1; round <= runs; round++) {
    for (const mode of CAPTURE_SPEED_MODES) {
      for (const tool of hostTools) {
        rmSync(file, { force: true });
        const t0 = performance.now();
        const r = spawnSync('taskset', ['-c', '0', ...cmd(tool, mode)], { encoding: 'utf8' });
        const t1 = performance.now();
        if (r.status !== 0) throw new Error(`host: ${cmd(tool, mode).join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
        spawnSync('sync', [file]);
        host.push({ tool, mode, round, exitMs: t1 - t0, syncMs: performance.now() - t0, bytes: statSync(file).size });
      }
    }
  }
  rmSync(file, { force: true });
  say(`The same alternation natively on this host (${hostCpu}, \`taskset -c 0\`: one CPU, so vmcore-ts starts no workers; no page cache drop on a shared host: the input is warm after the first read), on ${hostVmcore} (${mib(statSync(hostVmcore).size)}); load ${hostLoad} → ${load()}:`);
  say();
  say(`| mode | makedumpfile synced (median of ${runs}) | vmcore-ts synced | ratio ours/theirs | in the TCG capture kernel |`);
  say('|---|---|---|---|---|');
  const hostMedian = (t: Run['tool'], mode: string) => median(host.filter((r) => r.tool === t && r.mode === mode).map((r) => r.syncMs));
  for (const mode of CAPTURE_SPEED_MODES) {
    const [md, ts] = [hostMedian('makedumpfile', mode), hostMedian('vmcore-ts', mode)];
    say(`| -${mode} -d 31 | ${sec(md)} | ${sec(ts)} | **${(ts / md).toFixed(2)}** | ${ratios[mode]!.toFixed(2)} |`);
  }
  say();
  nativeMedian = hostMedian;
} else if (hostVmcore) say(`(no host-native comparison: ${existsSync(hostVmcore) ? `${hostVmcore} is not of this guest's size` : `${hostVmcore} is missing`}; make one with \`node --import tsx bench/make-vmcore.ts ${suite} ${memoryMiB}\`, or pass --host-vmcore FILE)\n`);

/** One variant of vmcore-ts against the default, natively and in the TCG capture kernel (medians, synced). */
function variantTable(tool: Run['tool'], what: string, base: string, name: string): void {
  say(`${what} against ${base}, natively and in the TCG capture kernel (medians, synced):`);
  say();
  say(`| mode | native: ${base} / ${name} | ${name} ÷ ${base} | TCG: ${base} / ${name} | ${name} ÷ ${base} |`);
  say('|---|---|---|---|---|');
  for (const mode of CAPTURE_SPEED_MODES) {
    const [hb, hv] = nativeMedian ? [nativeMedian('vmcore-ts', mode), nativeMedian(tool, mode)] : [NaN, NaN];
    const [gb, gv] = [median(of('vmcore-ts', mode).map((r) => r.syncMs)), median(of(tool, mode).map((r) => r.syncMs))];
    say(`| -${mode} -d 31 | ${nativeMedian ? `${sec(hb)} / ${sec(hv)} | ${(hv / hb).toFixed(2)}` : '— | —'} | ${sec(gb)} / ${sec(gv)} | ${(gv / gb).toFixed(2)} |`);
  }
  say();
}
if (values.jitless) variantTable('vmcore-ts-jitless', 'node --jitless (no machine code generated at run time)', 'JIT', 'jitless');
if (values.esm) variantTable('vmcore-ts-esm', 'save from the ESM bundle (dist/vmcore-ts.mjs)', 'CommonJS', 'ESM');

// --- each compressor's cost per page, in the guest and natively
const codecsMarker = result.find('capture', 'codecs');
if (codecsMarker) {
  type Codecs = { pages: number; usPerPage: Record<string, number>; bytes: Record<string, number> };
  const guest = JSON.parse(codecsMarker.value) as Codecs;
  const r = spawnSync('taskset', ['-c', '0', process.execPath, join(REPO, 'bench', 'capture-codecs.mjs')], { encoding: 'utf8' });
  const native = r.status === 0 ? (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Codecs) : undefined;
  say(`Each compressor per page, called from node through koffi as vmcore-ts does (bench/capture-codecs.mjs: ${guest.pages} pages of the node binary, the same bytes in both; natively \`taskset -c 0\`${native ? '' : `: failed, ${r.stderr.trim().split('\n').at(-1)}`}):`);
  say();
  say('| call | native µs/page | TCG capture kernel µs/page | TCG ÷ native |');
  say('|---|---|---|---|');
  for (const [name, us] of Object.entries(guest.usPerPage)) {
    const n = native?.usPerPage[name];
    say(`| ${name} | ${n ?? '—'} | ${us} | ${n ? (us / n).toFixed(1) : '—'} |`);
  }
  say();
}

// --- the profiles, copied off the scratch disk
if (profile) {
  for (const mode of CAPTURE_SPEED_MODES) {
    const files = result.disk.list(`/capbench-prof/${mode}`).filter((f) => f.endsWith('.cpuprofile'));
    const copied = files.map((f) => result.disk.copyOut(`capbench-prof/${mode}/${f}`, join(keep, `${mode}-${f}`)));
    const r = spawnSync(process.execPath, [join(REPO, 'bench', 'save-profile.mjs'), '--classify', ...copied], { encoding: 'utf8' });
    say();
    say(`Where one more vmcore-ts save -${mode} -d 31 spends its time in the capture kernel (node --cpu-prof, main thread; the only thread on one CPU; profiling adds its own cost):`);
    say('```');
    say((r.stdout + r.stderr).trim().replaceAll(`${keep}/`, ''));
    say('```');
  }
}
say();
say(`logs${profile ? ' and profiles' : ''}: ${keep}; console: ${join(result.outDir, 'console.log')}`);
process.stdout.write(out.join('\n') + '\n');

recordTimings(result, 'capture-speed', { memoryMiB, runs, ratioC: ratios.c ?? NaN, ratioL: ratios.l ?? NaN });
if (!values.keep) result.cleanup();

// issue 16's save table: vmcore-ts save against makedumpfile 1.7.8 (Debian sid, in the cached sid
// root, run through chroot) and the host's makedumpfile (Debian 12: 1.7.2), on the same inputs in
// one run, with the machine's floor (bench/save-floor.ts: read the kept pages + compress them on
// every core) beside each case.
//   node --import tsx bench/save-scale.ts [--runs N] [--cases c31,l31,Fl31,z31,c1] [--cpus N] [--json FILE] INPUT.elf...
// --cpus N: every tool, and the floor, on the first N CPUs only (taskset; a save then starts a worker
// per CPU it may use, none on one): --cpus 1 is a capture kernel's one CPU (nr_cpus=1), natively.
// Each case runs N times (default 3) with the tools interleaved; medians of wall and CPU (user+sys),
// peak RSS (max), output size; -F cases pipe into `wc -c`. The load average before and after each
// case. Wall ratios are ours / makedumpfile's, CPU ratios likewise; floor ratio = our wall / floor.
// "Output alone": the time to write as many bytes to the same sink (a pipe into wc -c, or a file,
// fsynced), beside the floor, which leaves the output out.
// A save fsyncs the file it writes and makedumpfile does not: for cases that write a file, the table
// also gives makedumpfile's wall time plus a `sync` of its output, and our wall time over that.
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { debianRootTarball, openDebianRoot } from '../test/packaging/debian-root.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const argv = process.argv.slice(2);
const opt = (f: string, d: string) => (argv.includes(f) ? argv.splice(argv.indexOf(f), 2)[1]! : d);
const runs = Number(opt('--runs', '3'));
const caseNames = opt('--cases', 'c31,l31,Fl31,z31,c1').split(',');
const jsonOut = opt('--json', '');
const cli = opt('--vmcore-ts', 'dist/vmcore-ts.cjs');
const cpus = opt('--cpus', '');
/** The command on the first --cpus CPUs, or as it is. */
const onCpus = (cmd: string[]) => (cpus ? ['taskset', '-c', `0-${Number(cpus) - 1}`, ...cmd] : cmd);
const inputs = argv;
if (!inputs.length) throw new Error('usage: save-scale.ts [--runs N] [--cases ...] INPUT.elf...');

const root = openDebianRoot(debianRootTarball('sid', ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools']).tarball);
const work = mkdtempSync(join(tmpdir(), 'bench-scale-'));
process.on('exit', () => {
  rmSync(work, { recursive: true, force: true });
  root.dispose();
});
const mdf178Version = root.run(['makedumpfile', '-v'], 20_000, { allowFail: true }).stdout.split('\n')[0];
const mdf172Version = spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];

interface Result { wall: number; cpu: number; rss: number; size: number; sync?: number }
const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
/** One command under /usr/bin/time (-F: stdout piped into wc -c). */
function timed(cmd: string[], out: string | undefined, flat: boolean, env: Record<string, string> = {}): Result {
  if (out) rmSync(out, { force: true });
  // Every run starts with no dirty pages: none pays for the writeback of the run before it (3.5 GB
  // at 64 GiB -l), which otherwise shares the 2 CPUs with it.
  spawnSync('sync');
  const sizeFile = join(work, 'size.txt');
  const argvRun = flat ? ['sh', '-c', `${onCpus(cmd).map(q).join(' ')} | wc -c > ${q(sizeFile)}`] : onCpus(cmd);
  const tf = join(work, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S %M', ...argvRun], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${argvRun.join(' ')}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
  const [wall, user, sys, rssKb] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number) as [number, number, number, number];
  const size = flat ? Number(readFileSync(sizeFile, 'utf8')) : out && existsSync(out) ? statSync(out).size : 0;
  return { wall, cpu: user + sys, rss: rssKb / 1024, size };
}
/**
 * The time to put `size` bytes where the case puts its output, in 512 KiB writes as a save does: into
 * a pipe read by `wc -c` (-F), or into a file, fsynced. Not in the issue's floor; beside it, since
 * the output has to go somewhere. (The bytes come from /dev/zero: no reading or compression.)
 */
function outputAlone(size: number, flat: boolean): number {
  const count = Math.ceil(size / 524288);
  const dd = `dd if=/dev/zero bs=512K count=${count} status=none`;
  spawnSync('sync');
  const t = performance.now();
  const r = spawnSync('sh', ['-c', flat ? `${dd} | wc -c > /dev/null` : `${dd} of=${q(join(work, 'output'))} conv=fsync`]);
  const took = (performance.now() - t) / 1000;
  rmSync(join(work, 'output'), { force: true });
  if (r.status !== 0) throw new Error(`${dd}: exit ${r.status}`);
  return took;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (rs: Result[]): Result => ({
  wall: median(rs.map((r) => r.wall)),
  cpu: median(rs.map((r) => r.cpu)),
  rss: Math.max(...rs.map((r) => r.rss)),
  size: rs.at(-1)!.size,
  ...(rs[0]!.sync !== undefined ? { sync: median(rs.map((r) => r.wall + r.sync!)) } : {}),
});
/**
 * Adds to a makedumpfile run that wrote `out` the time `sync out` then takes: makedumpfile does not
 * fsync its output and a save does (a dump is written when it is on the disk: kdump services sync
 * before they reboot), so "makedumpfile + sync" is the time to the same state.
 */
function withSync(r: Result, out: string): Result {
  const t = performance.now();
  const s = spawnSync('sync', [out]);
  if (s.status !== 0) throw new Error(`sync ${out}: exit ${s.status}`);
  return { ...r, sync: (performance.now() - t) / 1000 };
}
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const CODEC: Record<string, string> = { c: 'zlib', l: 'lzo', z: 'zstd', p: 'snappy' };

const rows: unknown[] = [];
console.log(`vmcore-ts ${cli}; ${mdf178Version} (sid root, chroot); host ${mdf172Version}; ${runs} runs each, interleaved${cpus ? `; every tool and the floor on ${cpus} CPU(s) (taskset)` : ''}`);
for (const input of inputs) {
  const inRoot = join(root.dir, 'tmp', basename(input));
  linkSync(input, inRoot);
  const size = statSync(input);
  console.log(`\n## ${input}: ${(size.size / 2 ** 30).toFixed(1)} GiB, ${(size.blocks * 512 / 2 ** 30).toFixed(2)} GiB on disk`);
  console.log('| case | makedumpfile 1.7.8 wall / CPU | 1.7.2 wall / CPU | vmcore-ts wall / CPU, RSS | wall ratio 1.7.8 / 1.7.2 | with sync: makedumpfile 1.7.8 / 1.7.2 + sync, ratio | CPU ratio 1.7.8 / 1.7.2 | floor (read + compress) | wall / floor | output alone, wall / (floor + output) | size vs 1.7.8 / 1.7.2 | load |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const floors = new Map<string, { floor: number; readWall: number; compressWall: number; readCpu: number; compressCpu: number; cores: number }>();
  for (const name of caseNames) {
    const m = /^(F?)([clpz])(\d+)$/.exec(name);
    if (!m) throw new Error(`--cases: ${name} is not like c1, l31, Fl31`);
    const flat = m[1] === 'F';
    const flags = [...(flat ? ['-F'] : []), `-${m[2]}`, '-d', m[3]!];
    const load0 = load();
    const r = { m178: [] as Result[], m172: [] as Result[], ours: [] as Result[] };
    const ours = join(work, 'ours.out');
    const outRoot = '/tmp/mdf.out';
    for (let i = 0; i < runs; i++) {
      const m178 = timed(['chroot', root.dir, 'makedumpfile', ...flags, `/tmp/${basename(input)}`, ...(flat ? [] : [outRoot])], join(root.dir, outRoot), flat);
      r.m178.push(flat ? m178 : withSync(m178, join(root.dir, outRoot)));
      rmSync(join(root.dir, outRoot), { force: true });
      const m172 = timed(['makedumpfile', ...flags, input, ...(flat ? [] : [join(work, 'mdf.out')])], join(work, 'mdf.out'), flat);
      r.m172.push(flat ? m172 : withSync(m172, join(work, 'mdf.out')));
      rmSync(join(work, 'mdf.out'), { force: true });
      const keep = i === runs - 1 && !flat;
      r.ours.push(timed([process.execPath, ...NODE_ARGS, cli, 'save', ...flags, '--message-level', '0', input, ...(flat ? [] : [ours])], undefined, flat));
      if (!flat) r.ours.at(-1)!.size = statSync(ours).size;
      if (!keep) rmSync(ours, { force: true });
    }
    // The floor of this codec and level, from the pages our last save kept.
    const key = `${m[2]}${m[3]}`;
    if (!floors.has(key)) {
      if (flat) timed([process.execPath, ...NODE_ARGS, cli, 'save', `-${m[2]}`, '-d', m[3]!, '--message-level', '0', input, ours], undefined, false);
      // (save-floor compresses on every core it may use: the --cpus ones)
      const [exe, ...floorArgs] = onCpus([process.execPath, '--import', 'tsx', 'bench/save-floor.ts', input, ours, CODEC[m[2]!]!]);
      const f = spawnSync(exe!, floorArgs, { encoding: 'utf8' });
      if (f.status !== 0) throw new Error(`save-floor: ${f.stderr}`);
      floors.set(key, JSON.parse(f.stdout.trim().split('\n').pop()!));
    }
    rmSync(ours, { force: true });
    const fl = floors.get(key)!;
    const [a, b, o] = [summary(r.m178), summary(r.m172), summary(r.ours)];
    const output = outputAlone(o.size, flat);
    const pct = (x: number, y: number) => `${x >= y ? '+' : '−'}${Math.abs((100 * x) / y - 100).toFixed(2)} %`;
    const row = {
      input, case: flags.join(' '), load: `${load0} → ${load()}`, m178: a, m172: b, ours: o, floor: fl,
      output, outputFloorRatio: o.wall / (fl.floor + output),
      wallRatio: [o.wall / a.wall, o.wall / b.wall], syncedRatio: a.sync !== undefined ? [o.wall / a.sync, o.wall / b.sync!] : undefined, cpuRatio: [o.cpu / a.cpu, o.cpu / b.cpu], floorRatio: o.wall / fl.floor,
    };
    rows.push(row);
    console.log(
      `| \`${flags.join(' ')}\` | ${a.wall.toFixed(2)} / ${a.cpu.toFixed(2)} s | ${b.wall.toFixed(2)} / ${b.cpu.toFixed(2)} s | **${o.wall.toFixed(2)}** / ${o.cpu.toFixed(2)} s, ${o.rss.toFixed(0)} MB | **${row.wallRatio[0]!.toFixed(2)}** / ${row.wallRatio[1]!.toFixed(2)} | ${row.syncedRatio ? `${a.sync!.toFixed(2)} / ${b.sync!.toFixed(2)} s, **${row.syncedRatio[0]!.toFixed(2)}** / ${row.syncedRatio[1]!.toFixed(2)}` : '— (a pipe)'} | ${row.cpuRatio[0]!.toFixed(2)} / ${row.cpuRatio[1]!.toFixed(2)} | ${fl.floor.toFixed(2)} s (${fl.readWall.toFixed(2)} + ${fl.compressWall.toFixed(2)}; CPU ${fl.readCpu.toFixed(2)} + ${fl.compressCpu.toFixed(2)}) | **${row.floorRatio.toFixed(2)}** | ${output.toFixed(2)} s, **${row.outputFloorRatio.toFixed(2)}** | ${pct(o.size, a.size)} / ${pct(o.size, b.size)} | ${row.load} |`,
    );
  }
  rmSync(inRoot);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 1));

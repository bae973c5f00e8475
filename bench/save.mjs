// Benchmark: `vmcore-ts save` against `makedumpfile` on the same raw ELF vmcore, in one run:
// -c -d 1, -c -d 31, -l -d 31 — wall time, CPU time, peak RSS, output size; makedumpfile single
// threaded and with --num-threads 2 (its best counts). Then peak RSS on a 64 GiB sparse synthetic
// ELF vmcore (PT_LOADs over holes, mostly zero pages) to show memory does not grow with the dump.
//   node bench/save.mjs [RAW_ELF_VMCORE] [--runs N] [--no-pure] [--no-sparse] [--sparse-gib N]
//   [--vmcore-ts PATH] (another build's vmcore-ts.cjs or .mjs) [--cases c1,c31,l31,Fl31,z31]
//   (c1 = -c -d 1, l31 = -l -d 31, Fl31 = -F -l -d 31 into a pipe (| wc -c), ...)
//   [--baseline PATH] (an older build's vmcore-ts.cjs or .mjs, run in the same interleaving: before/after)
// Each case runs N times (default 3), the tools interleaved; medians are shown. Ours runs twice:
// as installed (native libdeflate/liblzo2 when present) and with VMCORE_TS_NATIVE_CODECS=0.
// Default input: the unfiltered 2 GiB guest vmcore bench/make-vmcore.ts caches
// (~/.cache/kexec-ts/vmcore/*-2g.elf), else a 1 GiB one the e2e kdump test caches; without one,
// only the sparse part runs.
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const cacheDir = join(process.env.KEXEC_TS_CACHE || join(homedir(), '.cache', 'kexec-ts'), 'vmcore');
const positional = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && ['--sparse-gib', '--runs', '--vmcore-ts', '--baseline', '--cases'].includes(argv[i - 1])));
// The 2 GiB guest's vmcore of the issue (bench/make-vmcore.ts) when there is one, else a 1 GiB one.
const cached = existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.endsWith('.elf')).sort((a, b) => Number(b.includes('-2g')) - Number(a.includes('-2g'))) : [];
const raw = positional ?? (cached[0] && join(cacheDir, cached[0]));
if (!existsSync('dist/vmcore-ts.mjs') || !existsSync('dist/compress-worker.mjs')) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
const work = mkdtempSync(join(tmpdir(), 'bench-save-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** Runs a command under /usr/bin/time; returns wall s, CPU s, peak RSS MB, output bytes. */
function timed(cmd, args, out, env) {
  if (out) rmSync(out, { force: true });
  // -F: the flattened stream goes into a pipe (the ssh case), counted by the reader at its end.
  if (args.includes('-F')) {
    const q = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
    args = ['-c', `${[cmd, ...args.filter((a) => a !== out)].map(q).join(' ')} | wc -c > ${q(join(work, 'size.txt'))}`];
    cmd = 'sh';
  }
  const tf = join(work, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const [wall, user, sys, rssKb] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number);
  const size = cmd === 'sh' ? Number(readFileSync(join(work, 'size.txt'), 'utf8')) : out && existsSync(out) ? statSync(out).size : 0;
  if (out) rmSync(out, { force: true });
  return { wall, cpu: user + sys, rss: rssKb / 1024, size };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The median wall and CPU time of several runs (max RSS, last size). */
function summary(rs) {
  if (rs.length === 0) return { wall: Infinity, cpu: Infinity, rss: 0, size: 0 };
  return { wall: median(rs.map((r) => r.wall)), cpu: median(rs.map((r) => r.cpu)), rss: Math.max(...rs.map((r) => r.rss)), size: rs.at(-1).size };
}

const fmt = (r) => `${r.wall.toFixed(2).padStart(6)} s wall ${r.cpu.toFixed(2).padStart(6)} s CPU ${r.rss.toFixed(0).padStart(4)} MB RSS ${(r.size / 1e6).toFixed(1).padStart(7)} MB`;
const load = () => loadavg()[0].toFixed(1);
const runs = Number(opt('--runs', '3'));
// Another build of vmcore-ts to compare (e.g. an older commit's dist/vmcore-ts.cjs).
const cli = opt('--vmcore-ts', 'dist/vmcore-ts.cjs');
// An older build run beside it (kept inside the work tree so it finds node_modules, e.g. dist/before/).
const baseline = opt('--baseline', undefined);

if (raw) {
  console.log(`vmcore-ts: ${cli}; input: ${raw} (${(statSync(raw).size / 2 ** 30).toFixed(2)} GiB), ${runs} runs each (medians), load average ${load()}`);
  // The floor under any Node program: Node's own start, and the save command's (vmcore-ts save --help).
  const nodeStart = summary(Array.from({ length: 5 }, () => timed(process.execPath, ['-e', '0'])));
  const bundleStart = summary(Array.from({ length: 5 }, () => timed(process.execPath, [cli, 'save', '--help'])));
  console.log(`node -e 0: ${nodeStart.wall.toFixed(3)} s wall, ${nodeStart.cpu.toFixed(3)} s CPU; vmcore-ts save --help: ${bundleStart.wall.toFixed(3)} s wall, ${bundleStart.cpu.toFixed(3)} s CPU`);
  const caseNames = opt('--cases', 'c1,c31,l31,Fl31').split(',');
  const cases = caseNames.map((n) => {
    const m = /^(F?)([clpz])(\d+)$/.exec(n);
    if (!m) throw new Error(`--cases: ${n} is not like c1, l31, Fl31`);
    return [...(m[1] ? ['-F'] : []), `-${m[2]}`, '-d', m[3]];
  });
  for (const c of cases) {
    const out = join(work, 'out');
    const loadBefore = load();
    const rows = { mdf1: [], mdf2: [], ours: [], pure: [], base: [] };
    let mdf2Failed;
    // Interleaved, so a change in the machine's load hits every tool alike.
    for (let i = 0; i < runs; i++) {
      rows.mdf1.push(timed('makedumpfile', [...c, raw, out], out));
      // Once it is clearly not makedumpfile's best (its threads spin on 2 CPUs), one run is enough.
      if (!mdf2Failed && !(i > 0 && rows.mdf2[0].wall > 2 * rows.mdf1[0].wall)) {
        try {
          rows.mdf2.push(timed('makedumpfile', [...c, '--num-threads', '2', raw, out], out));
        } catch (e) {
          mdf2Failed = String(e.message).split('\n').pop().slice(-120);
        }
      }
      if (baseline) rows.base.push(timed(process.execPath, [baseline, 'save', ...c, '--message-level', '0', raw, out], out));
      rows.ours.push(timed(process.execPath, [cli, 'save', ...c, '--message-level', '0', raw, out], out));
      if (!flag('--no-pure')) rows.pure.push(timed(process.execPath, [cli, 'save', ...c, '--message-level', '0', raw, out], out, { VMCORE_TS_NATIVE_CODECS: '0' }));
    }
    const [mdf1, mdf2, ours, pure, base] = [rows.mdf1, rows.mdf2, rows.ours, rows.pure, rows.base].map(summary);
    const best = mdf1.wall <= mdf2.wall ? mdf1 : mdf2;
    const ratio = (r) => `wall ${(r.wall / best.wall).toFixed(2)}, CPU ${(r.cpu / mdf1.cpu).toFixed(2)} (vs single-threaded), size ${((100 * r.size) / best.size - 100).toFixed(2)} %`;
    console.log(`\n${c.join(' ')}   (load average ${loadBefore} -> ${load()})`);
    console.log(`  makedumpfile                 ${fmt(mdf1)}`);
    if (mdf2Failed) console.log(`  (makedumpfile --num-threads 2 failed: ${mdf2Failed})`);
    if (rows.mdf2.length) console.log(`  makedumpfile --num-threads 2 ${fmt(mdf2)}`);
    if (baseline) {
      console.log(`  baseline (${baseline}) ${fmt(base)}`);
      console.log(`    ratio vs makedumpfile's best: ${ratio(base)}`);
    }
    console.log(`  vmcore-ts save               ${fmt(ours)}`);
    console.log(`    ratio vs makedumpfile's best: ${ratio(ours)}`);
    if (rows.pure.length) {
      console.log(`  vmcore-ts save, no native    ${fmt(pure)}   (VMCORE_TS_NATIVE_CODECS=0: Node's zlib, our LZO1X)`);
      console.log(`    ratio vs makedumpfile's best: ${ratio(pure)}`);
    }
  }
} else {
  console.log(`no raw ELF vmcore given or cached in ${cacheDir}: skipping the makedumpfile comparison`);
}

if (!flag('--no-sparse')) {
  const gib = Number(opt('--sparse-gib', '64'));
  const sparse = join(work, `sparse-${gib}g.elf`);
  const mk = spawnSync(process.execPath, ['--import', 'tsx', 'bench/sparse-vmcore.ts', sparse, String(gib)], { stdio: 'inherit' });
  if (mk.status !== 0) throw new Error('making the sparse vmcore failed');
  console.log(`\nsparse synthetic ELF vmcore: ${gib} GiB of physical memory, ${(statSync(sparse).blocks * 512 / 2 ** 20).toFixed(0)} MiB allocated, load average ${load()}`);
  const out = join(work, 'sparse-out');
  for (const c of [['-c', '-d', '1'], ['-l', '-d', '1']]) {
    const ours = timed(process.execPath, [cli, 'save', ...c, '--message-level', '0', sparse, out], out);
    console.log(`  vmcore-ts save ${c.join(' ')}  ${fmt(ours)}`);
    try {
      console.log(`  makedumpfile ${c.join(' ')}    ${fmt(timed('makedumpfile', [...c, sparse, out], out))}`);
    } catch (e) {
      console.log(`  makedumpfile ${c.join(' ')}    failed: ${String(e.message).split('\n').slice(-3).join(' ').trim()}`);
    }
  }
}

// Benchmark: `vmcore-ts save` against `makedumpfile` on the same raw ELF vmcore, in one run:
// -c -d 1, -c -d 31, -l -d 31 — wall time, CPU time, peak RSS, output size; makedumpfile single
// threaded and with --num-threads 2 (its best counts). Then peak RSS on a 64 GiB sparse synthetic
// ELF vmcore (PT_LOADs over holes, mostly zero pages) to show memory does not grow with the dump.
//   node bench/save.mjs [RAW_ELF_VMCORE] [--no-sparse] [--sparse-gib N]
// Default input: the unfiltered 2 GiB guest vmcore bench/make-vmcore.ts caches
// (~/.cache/kexec-ts/vmcore/*-2g.elf), else a 1 GiB one the e2e kdump test caches; without one,
// only the sparse part runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const cacheDir = join(process.env.KEXEC_TS_CACHE || join(homedir(), '.cache', 'kexec-ts'), 'vmcore');
const positional = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1] === '--sparse-gib'));
// The 2 GiB guest's vmcore of the issue (bench/make-vmcore.ts) when there is one, else a 1 GiB one.
const cached = existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.endsWith('.elf')).sort((a, b) => Number(b.includes('-2g')) - Number(a.includes('-2g'))) : [];
const raw = positional ?? (cached[0] && join(cacheDir, cached[0]));
if (!existsSync('dist/vmcore-ts.mjs') || !existsSync('dist/compress-worker.mjs')) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
const work = mkdtempSync(join(tmpdir(), 'bench-save-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** Runs a command under /usr/bin/time; returns wall s, CPU s, peak RSS MB, output bytes. */
function timed(cmd, args, out) {
  rmSync(out, { force: true });
  const tf = join(work, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const [wall, user, sys, rssKb] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number);
  const size = existsSync(out) ? statSync(out).size : 0;
  rmSync(out, { force: true });
  return { wall, cpu: user + sys, rss: rssKb / 1024, size };
}

const fmt = (r) => `${r.wall.toFixed(2).padStart(6)} s wall ${r.cpu.toFixed(2).padStart(6)} s CPU ${r.rss.toFixed(0).padStart(4)} MB RSS ${(r.size / 1e6).toFixed(1).padStart(7)} MB`;
const load = () => loadavg()[0].toFixed(1);

if (raw) {
  console.log(`input: ${raw} (${(statSync(raw).size / 2 ** 30).toFixed(2)} GiB), load average ${load()}`);
  for (const c of [['-c', '-d', '1'], ['-c', '-d', '31'], ['-l', '-d', '31']]) {
    const out = join(work, 'out');
    const mdf1 = timed('makedumpfile', [...c, raw, out], out);
    let mdf2;
    try {
      mdf2 = timed('makedumpfile', [...c, '--num-threads', '2', raw, out], out);
    } catch (e) {
      console.log(`  (makedumpfile --num-threads 2 failed: ${String(e.message).split('\n').pop().slice(-120)})`);
      mdf2 = { wall: Infinity, cpu: Infinity, rss: 0, size: mdf1.size };
    }
    const ours = timed(process.execPath, ['dist/vmcore-ts.mjs', 'save', ...c, '--message-level', '0', raw, out], out);
    const best = mdf1.wall <= mdf2.wall ? mdf1 : mdf2;
    console.log(`\n${c.join(' ')}   (load average ${load()})`);
    console.log(`  makedumpfile               ${fmt(mdf1)}`);
    if (Number.isFinite(mdf2.wall)) console.log(`  makedumpfile --num-threads 2 ${fmt(mdf2)}`);
    console.log(`  vmcore-ts save             ${fmt(ours)}`);
    console.log(
      `  ratio vs makedumpfile's best: wall ${(ours.wall / best.wall).toFixed(2)}, CPU ${(ours.cpu / mdf1.cpu).toFixed(2)} (vs single-threaded), size ${((100 * ours.size) / best.size - 100).toFixed(2)} %`,
    );
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
    const ours = timed(process.execPath, ['dist/vmcore-ts.mjs', 'save', ...c, '--message-level', '0', sparse, out], out);
    console.log(`  vmcore-ts save ${c.join(' ')}  ${fmt(ours)}`);
    try {
      console.log(`  makedumpfile ${c.join(' ')}    ${fmt(timed('makedumpfile', [...c, sparse, out], out))}`);
    } catch (e) {
      console.log(`  makedumpfile ${c.join(' ')}    failed: ${String(e.message).split('\n').slice(-3).join(' ').trim()}`);
    }
  }
}

// Peak RSS of `vmcore-ts save` on sparse synthetic ELF vmcores (bench/sparse-vmcore.ts): memory must
// not grow with the dump. Three shapes:
//   64g  64 GiB of RAM (the case): 16.8 M page frames, one page in 4,096 holding data
//   4t   16 GiB of RAM in 4 nodes over 4 TiB of physical address space: 2^30 page frames, so one
//        whole page bitmap is 128 MiB (the saver holds a 4 MiB window of each)
//   64t  the same RAM over 64 TiB, x86_64's largest physical address space with 4-level paging
//        (MAX_PHYSMEM_BITS 46): 2^34 page frames, 2 GiB per whole bitmap
// Wall and CPU time and peak RSS from /usr/bin/time, the load average before each run.
//   node bench/save-sparse.mjs [--cases 64g,4t,64t] [--vmcore-ts PATH/vmcore-ts.cjs] [--dir DIR]
// --vmcore-ts runs another build (e.g. an older commit's, to compare); default dist/ (built if absent).
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const cases = opt('--cases', '64g,4t,64t').split(',');
const cli = opt('--vmcore-ts', 'dist/vmcore-ts.cjs');
if (cli === 'dist/vmcore-ts.cjs' && !existsSync(cli)) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
const work = opt('--dir', undefined) ?? mkdtempSync(join(tmpdir(), 'bench-sparse-'));
process.on('exit', () => opt('--dir', undefined) || rmSync(work, { recursive: true, force: true }));

const shapes = {
  '64g': { args: ['64'], runs: [['-c', '-d', '1'], ['-c', '-d', '31'], ['-E', '-d', '31']] },
  '4t': { args: ['16', '4', '4096'], runs: [['-c', '-d', '31'], ['-l', '-d', '1'], ['-E', '-d', '31'], ['-F', '-c', '-d', '31']] },
  '64t': { args: ['16', '4', '65536'], runs: [['-c', '-d', '31'], ['-E', '-d', '31']] },
};

/** One save under /usr/bin/time: wall s, CPU s, peak RSS MB, output size and bytes allocated. -F writes to a file through stdout. */
function save(flags, input) {
  const out = join(work, 'out');
  rmSync(out, { force: true });
  const tf = join(work, 'time.txt');
  const flat = flags.includes('-F');
  const fd = flat ? openSync(out, 'w') : 'ignore';
  const args = ['-o', tf, '-f', '%e %U %S %M', process.execPath, cli, 'save', ...flags, '--message-level', '0', input, ...(flat ? [] : [out])];
  const r = spawnSync('/usr/bin/time', args, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  if (flat) closeSync(fd);
  if (r.status !== 0) throw new Error(`vmcore-ts save ${flags.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const [wall, user, sys, rssKb] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number);
  const st = statSync(out);
  rmSync(out);
  return { wall, cpu: user + sys, rss: rssKb / 1024, size: st.size, disk: st.blocks * 512 };
}

for (const c of cases) {
  const shape = shapes[c];
  if (!shape) throw new Error(`unknown case ${c}: one of ${Object.keys(shapes).join(', ')}`);
  const input = join(work, `sparse-${c}.elf`);
  if (!existsSync(input)) {
    const mk = spawnSync(process.execPath, ['--import', 'tsx', 'bench/sparse-vmcore.ts', input, ...shape.args], { stdio: 'inherit' });
    if (mk.status !== 0) throw new Error('making the sparse vmcore failed');
  }
  console.log(`\n${c}: ${input}, ${((statSync(input).blocks * 512) / 2 ** 20).toFixed(0)} MiB allocated, ${cli}`);
  for (const flags of shape.runs) {
    const load = loadavg()[0].toFixed(1);
    const r = save(flags, input);
    console.log(
      `  save ${flags.join(' ').padEnd(12)} ${r.wall.toFixed(1).padStart(6)} s wall ${r.cpu.toFixed(1).padStart(6)} s CPU ${r.rss.toFixed(0).padStart(4)} MB RSS ${(r.size / 1e6).toFixed(1).padStart(8)} MB out (${(r.disk / 1e6).toFixed(1)} MB on disk)  (load ${load})`,
    );
  }
}

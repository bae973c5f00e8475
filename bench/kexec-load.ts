// Benchmark: `kexec-ts -l` vs kexec-tools' `kexec -l` wall time, same kernel and initrd, in the same
// QEMU guest (TCG), both syscalls (kexec_load: -c, kexec_file_load: -s). Each load is followed by an
// unload; the median of RUNS alternating runs is reported. Goal: kexec-ts ≤ 1.2× kexec.
//
// --startup: where kexec-ts's start-up goes under TCG instead: `node -e 0`, an empty ES module, the
// bundle as built, and bundles built here another way (one ESM file minified, ESM with code
// splitting, CommonJS, the bundle of BEFORE_REV), with -h, -s -l and -c -l; koffi's load alone; and
// a CPU profile of one `kexec-ts -s -l` (by module). (A V8 start-up snapshot of the CommonJS bundle,
// `node --build-snapshot`, aborts in Node 20.20: module-scope TextDecoders are not serialisable.)
// --profile: only CPU profiles of one `kexec-ts -s -l` and one `kexec-ts -c -l` in the guest.
// Usage: node --import tsx bench/kexec-load.ts [--startup|--profile] [RUNS] [SUITE]
import './fleet-env.mjs';
import { cpus, loadavg, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { runScenario } from '../e2e/harness/scenario.ts';
import { koffiBinaryFiles } from '../e2e/kexec-ts-files.ts';
import type { FileSpec } from '../e2e/harness/initramfs.ts';

const args = process.argv.slice(2);
const startup = args.includes('--startup');
const profileOnly = args.includes('--profile');
const [runsArg, suiteArg] = args.filter((a) => !a.startsWith('--'));
const runs = Number(runsArg ?? 7);
const suite = suiteArg ?? 'bookworm';

const K = '/scratch/boot/vmlinuz';
const I = '--initrd=/scratch/boot/initrd.img';
const C = '--command-line=console=ttyS0 e2e.stage=never';

// Runs in the guest: times each command with node's clock, prints JSON {name: [ms...]}.
const guestBench = (cases: Record<string, [string, string[]]>) => `
const { spawnSync } = require('child_process');
const cases = ${JSON.stringify(cases)};
const out = {};
for (let i = 0; i < ${runs}; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(name + ' failed: ' + r.status);
    (out[name] ??= []).push(ms);
    spawnSync('kexec', ['-u'], { stdio: 'ignore' });
    spawnSync('kexec', ['-s', '-u'], { stdio: 'ignore' });
  }
}
console.log(JSON.stringify(out));
`;

const LOAD_CASES: Record<string, [string, string[]]> = {
  'kexec -c -l': ['kexec', ['-c', '-l', K, I, C]],
  'kexec-ts -c -l': ['kexec-ts', ['-c', '-l', K, I, C]],
  'kexec -s -l': ['kexec', ['-s', '-l', K, I, C]],
  'kexec-ts -s -l': ['kexec-ts', ['-s', '-l', K, I, C]],
};

const VARIANTS = 'opt/kexec-ts/variants';
/** The last commit before kexec-ts imported its loaders lazily. */
const BEFORE_REV = '6005ed6';

/** kexec-ts bundled other ways, placed beside dist/ in the guest (so koffi and the purgatory resolve the same). */
async function variantFiles(): Promise<Record<string, FileSpec>> {
  const out = mkdtempSync(join(tmpdir(), 'kexec-ts-variants-'));
  const common: BuildOptions = { entryPoints: { 'kexec-ts': 'src/cli/kexec-ts.ts' }, bundle: true, platform: 'node', target: 'node20', external: ['koffi'], logLevel: 'warning' };
  const esmBanner = { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" };
  await build({ ...common, outdir: join(out, 'min'), outExtension: { '.js': '.mjs' }, format: 'esm', minify: true, banner: esmBanner });
  await build({ ...common, outdir: join(out, 'split'), outExtension: { '.js': '.mjs' }, format: 'esm', splitting: true, banner: esmBanner });
  await build({
    ...common,
    outdir: join(out, 'cjs'),
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    define: { 'import.meta.url': '__import_meta_url' },
    banner: { js: "const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  });
  // The bundle as it was before start-up work (BEFORE_REV), for an A/B in the same guest.
  const old = join(out, 'old-src');
  mkdirSync(old);
  execFileSync('sh', ['-c', `git archive ${BEFORE_REV} src | tar -x -C ${old}`]);
  await build({ ...common, entryPoints: { 'kexec-ts': join(old, 'src/cli/kexec-ts.ts') }, nodePaths: [join(process.cwd(), 'node_modules')], outdir: join(out, 'old'), outExtension: { '.js': '.mjs' }, format: 'esm', banner: esmBanner });
  rmSync(old, { recursive: true });
  const files: Record<string, FileSpec> = { [`${VARIANTS}/empty.mjs`]: '', [`${VARIANTS}/empty.cjs`]: '' };
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files[`${VARIANTS}/${relative(out, p)}`] = readFileSync(p);
    }
  };
  walk(out);
  rmSync(out, { recursive: true, force: true });
  return files;
}

function startupCases(): Record<string, [string, string[]]> {
  const V = `/${VARIANTS}`;
  const cases: Record<string, [string, string[]]> = {
    'node -e 0': ['node', ['-e', '0']],
    'node empty.mjs': ['node', [`${V}/empty.mjs`]],
    'node empty.cjs': ['node', [`${V}/empty.cjs`]],
    'node -e require(koffi)': ['node', ['-e', "require('/opt/kexec-ts/node_modules/koffi')"]],
    'kexec-ts -h (sh + bin/)': ['kexec-ts', ['-h']],
    'dist esm -h': ['node', ['/opt/kexec-ts/dist/kexec-ts.mjs', '-h']],
    'min esm -h': ['node', [`${V}/min/kexec-ts.mjs`, '-h']],
    'split esm -h': ['node', [`${V}/split/kexec-ts.mjs`, '-h']],
    'cjs -h': ['node', [`${V}/cjs/kexec-ts.cjs`, '-h']],
    'before esm -h': ['node', [`${V}/old/kexec-ts.mjs`, '-h']],
    'kexec -s -l': ['kexec', ['-s', '-l', K, I, C]],
    'dist esm -s -l': ['node', ['/opt/kexec-ts/dist/kexec-ts.mjs', '-s', '-l', K, I, C]],
    'cjs -s -l': ['node', [`${V}/cjs/kexec-ts.cjs`, '-s', '-l', K, I, C]],
    'before esm -s -l': ['node', [`${V}/old/kexec-ts.mjs`, '-s', '-l', K, I, C]],
    'kexec -c -l': ['kexec', ['-c', '-l', K, I, C]],
    'dist esm -c -l': ['node', ['/opt/kexec-ts/dist/kexec-ts.mjs', '-c', '-l', K, I, C]],
    'before esm -c -l': ['node', [`${V}/old/kexec-ts.mjs`, '-c', '-l', K, I, C]],
  };
  return cases;
}

/** Self time per module (bundle file, node:internal, native) of a V8 .cpuprofile. */
function profileByModule(profile: { nodes: { id: number; callFrame: { url: string; functionName: string } }[]; samples: number[]; timeDeltas: number[] }): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const fn = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const url = n.callFrame.url || `(${n.callFrame.functionName || 'native'})`;
    const key = url.replace(/^file:\/\//, '').replace(/^node:internal\/.*/, 'node:internal/*');
    const us = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + us);
    const f = `${n.callFrame.functionName || '(anonymous)'} ${url.replace(/^file:\/\//, '')}`;
    fn.set(f, (fn.get(f) ?? 0) + us);
  });
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  return ['by module (self time):', ...top(self, 12), 'by function (self time):', ...top(fn, 15)];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load0 = loadavg();
const cases = profileOnly ? {} : startup ? startupCases() : LOAD_CASES;
const profiled = startup || profileOnly;
const profileRun = ['-s', '-c']
  .map((via) => `mkdir -p /scratch/prof${via}\nnode --cpu-prof --cpu-prof-dir=/scratch/prof${via} /opt/kexec-ts/dist/kexec-ts.mjs ${via} -l ${K} ${I} "${C}"\nkexec -s -u; kexec -u\n`)
  .join('');
const r = await runScenario({
  name: startup ? 'bench-kexec-startup' : 'bench-kexec-load',
  suite,
  cpu: 'max',
  memoryMiB: 1024,
  files: { 'e2e/bench.js': guestBench(cases), ...koffiBinaryFiles(), ...(startup ? await variantFiles() : {}) },
  stages: { first: `mark result "$(node /e2e/bench.js)"\n${profiled ? profileRun : ''}` },
  expect: ['first:result'],
  timeoutMs: 30 * 60_000,
});
const result = JSON.parse(r.marker('first', 'result').value) as Record<string, number[]>;
const load1 = loadavg();
console.log(`host: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after (1 min); guest: ${r.kernel.release}, QEMU TCG -cpu max, 1 GiB`);
for (const [name, xs] of Object.entries(result)) console.log(`${name.padEnd(26)} median ${median(xs).toFixed(0).padStart(6)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`);
if (!startup && !profileOnly) {
  for (const via of ['-c', '-s']) {
    const ratio = median(result[`kexec-ts ${via} -l`]!) / median(result[`kexec ${via} -l`]!);
    console.log(`kexec-ts ${via} -l / kexec ${via} -l = ${ratio.toFixed(2)}x (goal <= 1.2x)`);
  }
} else {
  for (const via of ['-s', '-c']) {
    const prof = r.disk.list(`/prof${via}`).find((f) => f.endsWith('.cpuprofile'));
    if (prof) console.log([`CPU profile of kexec-ts ${via} -l in the guest:`, ...profileByModule(JSON.parse(r.disk.readFile(`prof${via}/${prof}`).toString()))].join('\n'));
    else console.log(`no CPU profile of ${via} -l was written`);
  }
}
r.cleanup();

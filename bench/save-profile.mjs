// Where a `vmcore-ts save` spends its time: runs the built CLI under `node --cpu-prof` and sorts the
// main thread's samples into phases (start-up and module loading, VMCOREINFO and page tables,
// struct page classification, page reads, zero-page checks, compression, writes, fsync, GC), each
// sample to the innermost known function on its stack. Worker threads (zlib's compression workers)
// get a line each. Means over N runs.
//   node bench/save-profile.mjs VMCORE [--runs N] [--interval US] [--mode "-l -d 31"] [--vmcore-ts PATH]
//   node bench/save-profile.mjs --classify FILE.cpuprofile...   (profiles made elsewhere, e.g. in the
//   capture kernel by bench/capture-speed.ts: the same phases, per file, nothing run)
// Sampling is wall time on the thread: under load the numbers inflate together; read the shares.
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmcoreTsNode } from './reference-tools.mjs';

// Innermost match wins. Names are the functions of src/ as esbuild keeps them.
const rules = [
  [/^\(garbage collector\)$/, 'GC'],
  [/^fsync$|^commit$|^rename$|^syncDir$/, 'fsync + rename of the output'],
  [/^isZeroPage$|^compareOffset$/, 'zero-page checks'],
  [/^compressBatch$|^checked$|^liblzoCompressor$|^libdeflateCompressor$|^pageCompressor$/, 'compression (codec call through koffi)'],
  [/^readRun$|^readPhysInto$|^readSpan$/, 'page reads (pread)'],
  [/^fill$/, 'batching (pack pages)'],
  [/^writeBitmaps$/, 'bitmap writes'],
  [/^write$|^drain$|^writeStoredPage$|^writeZeroPage$|^writeLostPage$|^store$|^addDesc$|^descAdded$|^flushDescs$|^checkPfn$|^pwriteAll$|^writeAllSync$/, 'page data and descriptor writes'],
  [/^excludeChunk$|^exclude$|^clear$|^anyBitSet$/, 'struct page walk and classification'],
  [/^findMemMap$|^pageLayout$/, 'mem_map location (mem_section)'],
  [/^filterFor$|^VmcoreInfo$|^KernelMemory$|^dumpIdentity$/, 'VMCOREINFO, page tables, identity'],
  [/^scanDump$|^walkWindows$|^classifyWindows$/, 'scan: present bits, counts'],
  [/^openDump$/, 'open the dump (ELF headers, notes)'],
  [/^postMessage$/, 'batches to and from workers (postMessage)'],
  [/^prestartWorkers$|^WorkerPool$|^takeWorker$|^startWorker$/, 'worker start'],
  [/^window$|^submit$|^writeKdumpCompressed$|^saveDump$|^saveAndReport$|^run$|^main$/, 'pipeline and CLI, other'],
];
const loading = /compileSourceTextModule|^evaluate$|^link$|instantiate|loadESM|^import$|require|compileFor|wrapSafe|finalizeResolution|moduleResolve|defaultResolve|getModuleJob/;

function phases(file) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map();
  const cat = (id) => {
    if (memo.has(id)) return memo.get(id);
    const chain = [];
    for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x).callFrame.functionName);
    let c;
    for (const name of chain) {
      c = rules.find(([re]) => re.test(name))?.[1];
      if (c) break;
    }
    c ??= chain[0] === '(idle)' ? 'idle (waiting)' : chain.some((n) => loading.test(n)) ? 'module loading and compiling' : 'Node start-up, other';
    memo.set(id, c);
    return c;
  };
  const out = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const c = cat(p.samples[i]);
    out.set(c, (out.get(c) ?? 0) + (p.timeDeltas[i + 1] ?? 0) / 1000);
  }
  return { out, total: (p.endTime - p.startTime) / 1000 };
}

const argv = process.argv.slice(2);
if (argv[0] === '--classify') {
  for (const file of argv.slice(1)) {
    const { out, total } = phases(file);
    console.log(`${file}: ${total.toFixed(0)} ms profiled`);
    for (const [k, v] of [...out].sort((a, b) => b[1] - a[1])) console.log(`${v.toFixed(1).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
  }
  process.exit(0);
}
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const input = argv.find((a, i) => !a.startsWith('-') && !['--runs', '--interval', '--mode', '--vmcore-ts'].includes(argv[i - 1]));
if (!input) throw new Error('usage: node bench/save-profile.mjs VMCORE [--runs N] [--interval US] [--mode "-l -d 31"] [--vmcore-ts PATH]');
const runs = Number(opt('--runs', '3'));
const mode = opt('--mode', '-l -d 31').split(/\s+/);
const cli = opt('--vmcore-ts', 'dist/vmcore-ts.cjs');
const work = mkdtempSync(join(tmpdir(), 'save-profile-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const sums = new Map();
const workers = [];
let total = 0;
for (let r = 0; r < runs; r++) {
  const dir = join(work, `p${r}`);
  const out = join(work, 'out');
  const args = ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', opt('--interval', '100'), ...vmcoreTsNode(cli), 'save', ...mode, '--message-level', '0', input];
  const res = mode.includes('-F') ? spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 2 ** 31 }) : spawnSync(process.execPath, [...args, out], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`vmcore-ts save exited ${res.status}`);
  rmSync(out, { force: true });
  // The main thread's profile is the one with thread id 0 in its name.
  for (const f of readdirSync(dir).sort()) {
    const { out: ph, total: t } = phases(join(dir, f));
    if (/\.0\.\d+\.cpuprofile$/.test(f)) {
      total += t;
      for (const [k, v] of ph) sums.set(k, (sums.get(k) ?? 0) + v);
    } else workers.push(ph);
  }
}
console.log(`vmcore-ts save ${mode.join(' ')} ${input}: main thread, mean of ${runs} runs (${(total / runs).toFixed(0)} ms profiled each)`);
for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1])) console.log(`${(v / runs).toFixed(1).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
if (workers.length) {
  const w = new Map();
  for (const ph of workers) for (const [k, v] of ph) w.set(k, (w.get(k) ?? 0) + v);
  console.log(`worker threads (${workers.length / runs} per run), summed, mean per run:`);
  for (const [k, v] of [...w].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`${(v / runs).toFixed(1).padStart(8)} ms  ${k}`);
}

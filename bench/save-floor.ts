// The machine's floor for one save (issue 16): the time to read the pages a save kept from its
// input, plus the time to compress them with the same compressor on every core. The pages kept are
// those a saved kdump-compressed dump holds (its 2nd bitmap: the dump level's pages), so the floor is
// the same whichever tool saved it. Its zero pages (one shared descriptor each in our saves, at any
// level with 1) are found while reading, as a save must, and never compressed, as a save does not.
//   node --import tsx bench/save-floor.ts INPUT.elf SAVED.kdump CODEC [--cores N]   (CODEC: zlib, lzo, zstd, snappy)
// Prints one JSON line: {pages, zeroPages, readWall, readCpu, compressWall, compressCpu, cores, floor} (seconds).
// Read: one thread, the kept pages in runs of up to 1 MiB (pread through Dump.readPhysInto), as a save
// reads, each tested for zero.
// Compress: N processes (default: every core), each compressing every Nth run of pages (read first,
// untimed) with pageCompressor(CODEC) as the save at the saved dump's level compresses (libdeflate
// level 1 or 2 / liblzo2 when installed);
// the time is the slowest one's compression time, its CPU the sum.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { pageCompressor } from '../src/host/page-compress.ts';
import { isZeroPage } from '../src/dump/batch.ts';
import { kernelPagesOnly } from '../src/analyze/page-class.ts';
import type { CodecName } from '../src/format/codecs/index.ts';

const args = process.argv.slice(2);
const opt = (f: string, d: string) => (args.includes(f) ? args.splice(args.indexOf(f), 2)[1]! : d);
const cores = Number(opt('--cores', String(availableParallelism())));
const part = opt('--part', ''); // internal: "k/N", a compression child
const [input, saved, codec] = args as [string, string, CodecName];
if (!input || !saved || !codec) throw new Error('usage: save-floor.ts INPUT.elf SAVED.kdump CODEC [--cores N]');
const RUN = 256;

const savedDump = openDump(new FileSource(saved));

/** The kept page frames as runs of at most RUN pages. */
function keptRuns(): [number, number][] {
  const runs: [number, number][] = [];
  for (const r of savedDump.presentRuns()) {
    for (let p = Number(r.startPfn); p < Number(r.endPfn); p += RUN) runs.push([p, Math.min(RUN, Number(r.endPfn) - p)]);
  }
  return runs;
}

const src = openDump(new FileSource(input));
const PS = src.pageSize;
const buf = Buffer.alloc(RUN * PS);
const read = (p: number, n: number) => {
  if (src.readPhysInto) src.readPhysInto(BigInt(p * PS), buf, 0, n * PS);
  else buf.set(src.readPhys(BigInt(p * PS), n * PS));
};
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

if (part) {
  const [k, n] = part.split('/').map(Number) as [number, number];
  const compress = await pageCompressor(codec, { kernelPagesOnly: kernelPagesOnly(savedDump.dumpLevel ?? 0) });
  const out = new Uint8Array(PS + 1024);
  let t = 0;
  let c = 0;
  let bytes = 0;
  const runs = keptRuns();
  for (let i = k; i < runs.length; i += n) {
    const [p, len] = runs[i]!;
    read(p, len);
    const data = Array.from({ length: len }, (_, j) => j).filter((j) => !isZeroPage(buf, j * PS, PS));
    const t0 = process.hrtime.bigint();
    const c0 = cpu();
    for (const j of data) bytes += Math.min(PS, compress(buf.subarray(j * PS, (j + 1) * PS), out));
    c += cpu() - c0;
    t += Number(process.hrtime.bigint() - t0) / 1e9;
  }
  console.log(JSON.stringify({ t, c, bytes }));
} else {
  const runs = keptRuns();
  let pages = 0;
  let zeroPages = 0;
  const t0 = process.hrtime.bigint();
  const c0 = cpu();
  for (const [p, n] of runs) {
    read(p, n);
    for (let j = 0; j < n; j++) if (isZeroPage(buf, j * PS, PS)) zeroPages++;
    pages += n;
  }
  const readWall = Number(process.hrtime.bigint() - t0) / 1e9;
  const readCpu = cpu() - c0;
  const children = Array.from({ length: cores }, (_, k) =>
    new Promise<{ t: number; c: number; bytes: number }>((resolve, reject) => {
      const ch = spawn(process.execPath, [...process.execArgv, process.argv[1]!, input, saved, codec, '--part', `${k}/${cores}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      ch.stdout.on('data', (d) => (s += d));
      ch.on('exit', (code) => (code === 0 ? resolve(JSON.parse(s)) : reject(new Error(`compression part ${k}: exit ${code}`))));
    }),
  );
  const parts = await Promise.all(children);
  const compressWall = Math.max(...parts.map((p) => p.t));
  const compressCpu = parts.reduce((a, p) => a + p.c, 0);
  const compressedBytes = parts.reduce((a, p) => a + p.bytes, 0);
  console.log(JSON.stringify({ pages, zeroPages, readWall, readCpu, compressWall, compressCpu, cores, compressedBytes, floor: readWall + compressWall }));
}

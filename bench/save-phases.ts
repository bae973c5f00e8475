// One save's phases timed in-process, the first save (cold: code not yet optimised, as in every
// CLI run) against later ones in the same process (warm: the per-page cost a long dump converges
// to): filter set-up and scan (pass 1), pages (pass 2), and the compressor calls inside it (each
// timed; in this thread, no workers). Output to /dev/null-like scratch file.
//   node --import tsx bench/save-phases.ts VMCORE [--codec lzo|zlib|zstd|snappy] [--level 31] [--reps 4]
import { closeSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CodecName } from '../src/format/codecs/index.ts';
import type { PageCompressor } from '../src/format/codecs/compress.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { FdSink } from '../src/host/file-sink.ts';
import { nodePageDecoders } from '../src/host/node-codecs.ts';
import { hostCompression } from '../src/host/worker-pool.ts';
import { saveDump } from '../src/dump/save.ts';

const argv = process.argv.slice(2);
const opt = (f: string, d: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1]! : d);
const input = argv.find((a, i) => !a.startsWith('--') && !['--codec', '--level', '--reps'].includes(argv[i - 1] ?? ''));
if (!input) throw new Error('usage: node --import tsx bench/save-phases.ts VMCORE [--codec lzo] [--level 31] [--reps 4]');
const codec = opt('--codec', 'lzo') as CodecName;
const level = Number(opt('--level', '31'));
let ctime = 0;
let calls = 0;
const compression = {
  compressor: async (c: CodecName): Promise<PageCompressor> => {
    const f = await hostCompression.compressor(c);
    return (page, out) => {
      const a = performance.now();
      const n = f(page, out);
      ctime += performance.now() - a;
      calls++;
      return n;
    };
  },
};
const outPath = join(tmpdir(), `save-phases-${process.pid}`);
for (let rep = 0; rep < Number(opt('--reps', '4')); rep++) {
  ctime = 0;
  calls = 0;
  let scanEnd = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const dump = openDump(new FileSource(input), { decoders: nodePageDecoders });
  const fd = openSync(outPath, 'w');
  await saveDump(dump, { levels: [level], elf: false, codec, threads: 0, compression }, new FdSink(fd), {
    warn() {},
    retry() {},
    progress: () => ({
      update(p) {
        if (p.phase === 'write' && !scanEnd) scanEnd = performance.now();
      },
      done() {},
    }),
  });
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  closeSync(fd);
  const pages = t1 - scanEnd;
  console.log(
    `save ${rep + 1} (${rep ? 'warm' : 'cold'}): ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms CPU; set-up + scan ${(scanEnd - t0).toFixed(1)} ms, ` +
      `pages ${pages.toFixed(1)} ms = compression ${ctime.toFixed(1)} ms (${calls} pages, ${((1000 * ctime) / Math.max(1, calls)).toFixed(2)} us each) + the rest ${(pages - ctime).toFixed(1)} ms`,
  );
}
rmSync(outPath, { force: true });

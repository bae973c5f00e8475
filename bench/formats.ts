// Dump-format layer speed against the reference implementations, on the bundled dump.
// Usage: node --import tsx bench/formats.ts [DUMP]
//   - LZO1X: our codec vs liblzo2 (through koffi, when installed) on every page of the dump
//   - reading every page: kdump-compressed zlib (fflate, then node:zlib), the same as LZO, flattened, ELF
//   - converting the dump to LZO kdump-compressed: ours (reader + writer) vs `makedumpfile -l -d 31`
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { liblzo2 } from '../src/host/native-codecs.ts';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../src/host/file-source.ts';
import { FileSink } from '../src/host/file-sink.ts';
import { nodePageDecoders } from '../src/host/node-codecs.ts';
import { pageDecoders } from '../src/format/codecs/index.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { Dump } from '../src/format/dump.ts';
import { lzo1xCompress, lzo1xDecompress } from '../src/format/codecs/lzo1x.ts';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { presentPfns, writeElf, writeKdump } from '../test/format-helpers.ts';

const dumpPath = process.argv[2] ?? 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const dir = mkdtempSync(join(tmpdir(), 'bench-formats-'));
const rows: string[][] = [];

function time(f: () => void, runs = 3): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    f();
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}
const ms = (x: number) => `${x.toFixed(0)} ms`;

const fixture = openDump(new FileSource(dumpPath));
const pfns = presentPfns(fixture);
const pages = pfns.map((p) => fixture.readPage!(p));
console.log(`${dumpPath}: ${pages.length} pages; load average ${loadavg()[0]!.toFixed(1)}`);

const liblzo = liblzo2();
const ours = pages.map((p) => lzo1xCompress(p));
const tOursC = time(() => pages.forEach((p) => lzo1xCompress(p)));
const tOursD = time(() => ours.forEach((c) => lzo1xDecompress(c, 4096)));
if (liblzo) {
  const theirs = pages.map((p) => liblzo!.compress(p));
  const tLibC = time(() => pages.forEach((p) => liblzo!.compress(p)));
  const tLibD = time(() => theirs.forEach((c) => liblzo!.decompress(c, 4096)));
  const size = (xs: Uint8Array[]) => xs.reduce((s, c) => s + c.length, 0) / (pages.length * 4096);
  rows.push(['LZO1X compress, all pages', ms(tOursC), ms(tLibC), (tOursC / tLibC).toFixed(2), `size ${size(ours).toFixed(3)} vs ${size(theirs).toFixed(3)}`]);
  rows.push(['LZO1X decompress, all pages', ms(tOursD), ms(tLibD), (tOursD / tLibD).toFixed(2), '']);
}

// Files in each format (made by makedumpfile where it can, else by our writers).
const lzoPath = join(dir, 'lzo.kdump');
const mdf = spawnSync('makedumpfile', ['-l', '-d', '31', dumpPath, lzoPath]);
const haveMdf = mdf.status === 0;
if (!haveMdf) {
  const sink = new FileSink(lzoPath);
  writeKdump(fixture, sink, pfns, { codec: 'lzo', compress: purePageCompressor('lzo') });
  sink.close();
}
const flat = spawnSync('makedumpfile', ['-F', '-c', '-d', '31', dumpPath], { maxBuffer: 1 << 30 });
const elfSink = new FileSink(join(dir, 'dump.elf'));
writeElf(fixture, elfSink).finish();
elfSink.close();

function readAll(path: string, decoders = nodePageDecoders): number {
  return time(() => {
    const d: Dump = openDump(new FileSource(path), { decoders });
    for (const p of pfns) d.readPage!(p);
  });
}
rows.push(['read every page: kdump-compressed zlib (fflate)', ms(readAll(dumpPath, pageDecoders)), '', '', '']);
rows.push(['read every page: kdump-compressed zlib (node:zlib)', ms(readAll(dumpPath)), '', '', '']);
rows.push(['read every page: kdump-compressed LZO', ms(readAll(lzoPath)), '', '', '']);
if (flat.status === 0) {
  writeFileSync(join(dir, 'flat.kdump'), flat.stdout);
  rows.push(['read every page: flattened zlib', ms(readAll(join(dir, 'flat.kdump'))), '', '', '']);
}
rows.push(['read every page: ELF core', ms(readAll(join(dir, 'dump.elf'))), '', '', '']);

if (haveMdf) {
  const tOurs = time(() => {
    const sink = new FileSink(join(dir, 'ours.kdump'));
    const d = openDump(new FileSource(dumpPath));
    writeKdump(d, sink, pfns, { codec: 'lzo', compress: purePageCompressor('lzo') });
    sink.close();
  }, 1);
  const tMdf = time(() => void spawnSync('makedumpfile', ['-l', '-d', '31', dumpPath, join(dir, 'mdf.kdump')]), 1);
  rows.push(['convert zlib dump to LZO kdump-compressed', ms(tOurs), ms(tMdf), (tOurs / tMdf).toFixed(2), 'makedumpfile -l -d 31']);
}

console.log('| what | ours | reference | ratio | note |\n|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
rmSync(dir, { recursive: true, force: true });

// Makes a sparse synthetic ELF vmcore for the save benchmarks: PT_LOADs shaped like a PC's RAM map
// over N GiB of physical memory, every page zero (a hole in the file) except one in 4096, which
// holds pseudo-random or text-like bytes; the notes (VMCOREINFO, PRSTATUS) come from the fixture.
// With NODES and SPAN_GIB the RAM is split into NODES equal nodes spread over SPAN_GIB of physical
// address space, the last one ending at its top (a large NUMA machine: a huge pfn range, little RAM).
//   node --import tsx bench/sparse-vmcore.ts OUT GIB [NODES SPAN_GIB]
import { FdSink } from '../src/host/file-sink.ts';
import { OutputFile } from '../src/host/output-file.ts';
import { encodeNotes } from '../src/format/elf.ts';
import { ElfCoreWriter } from '../src/format/elf-core-writer.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';

const [out, gibArg, nodesArg, spanArg] = process.argv.slice(2);
if (!out) throw new Error('usage: sparse-vmcore.ts OUT GIB [NODES SPAN_GIB]');
const gib = BigInt(gibArg ?? '64');
const nodes = BigInt(nodesArg ?? '1');
const GiB = 1n << 30n;
const perNode = gib / nodes;
const span = BigInt(spanArg ?? String(perNode + 1n)) * GiB;
if (perNode < 4n || span < nodes * (perNode + 1n) * GiB) throw new Error('each node needs 4 GiB or more, and the nodes must fit in SPAN_GIB');
const fixture = openDump(new FileSource('fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump'));
const DIRECT_MAP = 0xffff888000000000n;
// Node 0: the PC's low memory, the 3 GiB below the PCI hole, the rest above 4 GiB.
const ranges: [bigint, bigint][] = [
  [0x1000n, 0x9fc00n],
  [0x100000n, 3n * GiB],
  [4n * GiB, (perNode + 1n) * GiB],
];
const stride = span / nodes;
for (let k = 1n; k < nodes; k++) ranges.push([(k + 1n) * stride - perNode * GiB, (k + 1n) * stride]);
const segments = ranges.map(([s, e]) => ({ paddr: s, vaddr: DIRECT_MAP + s, memSize: Number(e - s) }));
const file = OutputFile.create(out, { force: true });
const w = new ElfCoreWriter(new FdSink(file.fd), { notes: encodeNotes(fixture.notes), segments });
const page = new Uint8Array(4096);
let seed = 12345;
let n = 0;
for (const [s, e] of ranges) {
  for (let p = (s + 0xfffn) & ~0xfffn; p + 4096n <= e; p += 4096n * 4096n) {
    if (n % 2 === 0) for (let i = 0; i < 4096; i++) page[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    else for (let i = 0; i < 4096; i++) page[i] = 'the quick brown fox jumps over the lazy dog '.charCodeAt(i % 44) ^ (i >> 9);
    w.writePhys(p, page);
    n++;
  }
}
w.finish();
file.commit();
console.log(`${out}: ${gib} GiB of physical memory${nodes > 1n ? ` in ${nodes} nodes over ${span / GiB} GiB of address space` : ''}, ${n} non-zero pages, ${w.fileSize} bytes (sparse)`);

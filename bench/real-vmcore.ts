// Makes a large synthetic raw ELF vmcore from a real one (issue 16's goal (b)): the real dump's RAM
// is kept as it is, and RAM above 4 GiB is added, made of the real RAM replicated in 4 MiB blocks
// (1024 page frames: the largest buddy block, so every free block and compound page stays aligned).
// Each new page frame gets the contents *and* the struct page of its source frame (tail pages'
// compound_head moved with it), so the page classes (free, page cache, anon, slab, reserved, zero)
// and the compression ratios are those of the real machine. The crashed kernel is made to describe
// the new RAM the way Linux does: mem_section entries (new roots where needed) whose mem maps are
// vmemmap, vmemmap mapped with 2 MiB PMDs onto struct page arrays at the top of RAM (pages marked
// reserved, as memblock's are), so makedumpfile and vmcore-ts both walk them. Zero pages are holes.
//   node --import tsx bench/real-vmcore.ts REAL.elf OUT GIB [--replicas F]
// --replicas F (0 < F <= 1, default 1): the fraction of new 4 MiB blocks that replicate any real
// block; the rest replicate only the real dump's wholly free, zero blocks (order-10 buddies). F < 1
// makes a machine with as much kernel memory as the real one per replica but more free memory, so
// that a 256 GiB vmcore fits on a small disk.
import { closeSync, openSync, writeSync } from 'node:fs';
import { encodeNotes } from '../src/format/elf.ts';
import { ElfCoreWriter } from '../src/format/elf-core-writer.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import type { ByteSink } from '../src/format/sink.ts';

const args = process.argv.slice(2);
const opt = (f: string, d: string) => (args.includes(f) ? args.splice(args.indexOf(f), 2)[1]! : d);
const replicas = Number(opt('--replicas', '1'));
const [realPath, out, gibArg] = args;
if (!realPath || !out || !gibArg) throw new Error('usage: real-vmcore.ts REAL.elf OUT GIB [--replicas F]');
const gib = Number(gibArg);

const PS = 4096;
const SP = 64; // sizeof(struct page)
const BLOCK = 1024;
const real = openDump(new FileSource(realPath));
const segs = real.loadSegments;
if (!segs) throw new Error(`${realPath}: not an ELF core`);
const vi = new Map<string, string>();
for (const l of (real.vmcoreinfo ?? '').split('\n')) {
  const i = l.indexOf('=');
  if (i > 0) vi.set(l.slice(0, i), l.slice(i + 1));
}
const hexv = (k: string) => {
  const v = vi.get(k);
  if (v === undefined) throw new Error(`VMCOREINFO lacks ${k}`);
  return BigInt('0x' + v);
};
const numv = (k: string) => Number(vi.get(k));
if (numv('SIZE(page)') !== SP || numv('NUMBER(SECTION_SIZE_BITS)') !== 27 || numv('SIZE(mem_section)') !== 16) throw new Error('x86_64 with 64-byte struct page, 128 MiB sections and 16-byte mem_section only');
const M64 = (1n << 64n) - 1n;
const physBase = BigInt(vi.get('NUMBER(phys_base)')!) & M64;
const direct = segs.find((s) => s.vaddr < 0xffffffff80000000n)!;
const pageOffset = direct.vaddr - direct.paddr;
const kvToPhys = (v: bigint) => (v >= 0xffffffff80000000n ? (v - 0xffffffff80000000n + physBase) & M64 : v - pageOffset);

// The real RAM: every page held, in memory (non-zero ones only), plus the pages we change (overlay).
const realMax = Number(real.maxPfn);
const realPage: (Uint8Array | null | undefined)[] = new Array(realMax); // undefined: absent, null: zero
let realNonZero = 0;
for (const run of real.presentRuns()) {
  for (let p = Number(run.startPfn); p < Number(run.endPfn); p++) {
    const b = real.readPhys(BigInt(p * PS), PS);
    let nz = false;
    for (let i = 0; i < PS; i += 8) if (b[i] | b[i + 1] | b[i + 2] | b[i + 3] | b[i + 4] | b[i + 5] | b[i + 6] | b[i + 7]) { nz = true; break; }
    realPage[p] = nz ? b : null;
    if (nz) realNonZero++;
  }
}
const overlay = new Map<number, Uint8Array>();
/** A real page to modify (copied once into the overlay). */
const edit = (pa: bigint): [Uint8Array, DataView, number] => {
  const pfn = Number(pa / BigInt(PS));
  let b = overlay.get(pfn);
  if (!b) {
    b = new Uint8Array(PS);
    const src = realPage[pfn];
    if (src === undefined) throw new Error(`page 0x${pfn.toString(16)} is not in ${realPath}`);
    if (src) b.set(src);
    overlay.set(pfn, b);
  }
  return [b, new DataView(b.buffer), Number(pa % BigInt(PS))];
};
const readU64 = (pa: bigint) => {
  const pfn = Number(pa / BigInt(PS));
  const b = overlay.get(pfn) ?? realPage[pfn];
  if (b === undefined) throw new Error(`physical 0x${pa.toString(16)} is not in ${realPath}`);
  return b ? new DataView(b.buffer, b.byteOffset).getBigUint64(Number(pa % BigInt(PS)), true) : 0n;
};

// Page tables (4-level only), mem_section, vmemmap.
if (numv('NUMBER(pgtable_l5_enabled)') !== 0) throw new Error('4-level paging only');
const pgd = kvToPhys(hexv('SYMBOL(init_top_pgt)'));
const ADDR = 0x000ffffffffff000n;
const translate = (v: bigint): bigint | undefined => {
  const e4 = readU64(pgd + ((v >> 39n) & 511n) * 8n);
  if (!(e4 & 1n)) return undefined;
  const e3 = readU64((e4 & ADDR) + ((v >> 30n) & 511n) * 8n);
  if (!(e3 & 1n)) return undefined;
  if (e3 & 0x80n) return (e3 & ADDR & ~0x3fffffffn) + (v & 0x3fffffffn);
  const e2 = readU64((e3 & ADDR) + ((v >> 21n) & 511n) * 8n);
  if (!(e2 & 1n)) return undefined;
  if (e2 & 0x80n) return (e2 & ADDR & ~0x1fffffn) + (v & 0x1fffffn);
  const e1 = readU64((e2 & ADDR) + ((v >> 12n) & 511n) * 8n);
  return e1 & 1n ? (e1 & ADDR) + (v & 0xfffn) : undefined;
};
const rootArray = kvToPhys(hexv('SYMBOL(mem_section)'));
const root0 = readU64(rootArray);
if (!root0) throw new Error('mem_section root 0 is empty');
const sec1 = kvToPhys(root0) + 16n; // section 1: 128-256 MiB, RAM on every PC
const sec1Map = readU64(sec1);
const sectionFlags = sec1Map & 0x3fn;
const sectionUsage = readU64(sec1 + 8n);
const vmemmap = sec1Map & ~0x3fn;
const pmdOf = (v: bigint) => {
  const e4 = readU64(pgd + ((v >> 39n) & 511n) * 8n);
  const e3 = readU64((e4 & ADDR) + ((v >> 30n) & 511n) * 8n);
  return { e4, e3, e2: readU64((e3 & ADDR) + ((v >> 21n) & 511n) * 8n) };
};
const ref = pmdOf(vmemmap + 32768n * 64n); // section 1's vmemmap PMD
if (!(ref.e2 & 0x80n)) throw new Error('vmemmap is not mapped with 2 MiB pages');
const pmdFlags = ref.e2 & ~ADDR;
const tableFlags3 = ref.e3 & ~ADDR;
const tableFlags4 = ref.e4 & ~ADDR;

// The real struct pages, page frame by page frame.
const realStruct = new Uint8Array(realMax * SP);
for (let p = 0; p < realMax; p += PS / SP) {
  const pa = translate(vmemmap + BigInt(p * SP));
  if (pa === undefined) continue;
  const src = realPage[Number(pa / BigInt(PS))];
  if (src) realStruct.set(src.subarray(0, Math.min(PS, (realMax - p) * SP)), p * SP);
}
const rs = new DataView(realStruct.buffer);
// Blocks to replicate: every 4 MiB block the real dump holds whole; free ones: an order-10 buddy, all zero.
const buddy = BigInt.asUintN(32, BigInt(vi.get('NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)') ?? '-129'));
const blocks: number[] = [];
const freeBlocks: number[] = [];
for (let b = 0; b + BLOCK <= realMax; b += BLOCK) {
  let whole = true;
  let zero = true;
  for (let p = b; p < b + BLOCK; p++) {
    if (realPage[p] === undefined) whole = false;
    else if (realPage[p]) zero = false;
  }
  if (!whole) continue;
  blocks.push(b);
  if (zero && BigInt(rs.getUint32(b * SP + 48, true)) === buddy && rs.getBigUint64(b * SP + 40, true) === 10n) freeBlocks.push(b);
}
if (!blocks.length || (replicas < 1 && !freeBlocks.length)) throw new Error('no whole 4 MiB blocks (or no free ones) in the real dump');
// A reserved page's struct page (the top-level page table's: memblock-reserved kernel image).
const reserved = realStruct.slice(Number(pgd / BigInt(PS)) * SP, Number(pgd / BigInt(PS)) * SP + SP);

// The new RAM: [4 GiB, 4 GiB + (GIB - 1) GiB), whole sections.
const B0 = 0x100000;
const newPfns = (gib - 1) * 262144;
if (newPfns <= 0) throw new Error('GIB must be 2 or more');
const end = B0 + newPfns;
const SECTION = 32768;
const nSec = newPfns / SECTION;
const backBase = end - nSec * 512; // one 2 MiB struct page array per section, at the top of RAM
// Page tables and mem_section roots (reserved): 2 MiB, and whole 4 MiB blocks more past 256 GiB
// (the direct map alone takes a PMD page per GiB).
const miscBase = backBase - 512 - 1024 * Math.ceil(Math.max(0, gib - 256) / 512);
let miscNext = miscBase;
const misc = new Map<number, Uint8Array>();
const alloc = (): bigint => {
  if (miscNext >= backBase) throw new Error('out of room for page tables');
  misc.set(miscNext, new Uint8Array(PS));
  return BigInt(miscNext++ * PS);
};
const setU64 = (pa: bigint, v: bigint) => {
  const pfn = Number(pa / BigInt(PS));
  const m = misc.get(pfn);
  if (m) new DataView(m.buffer).setBigUint64(Number(pa % BigInt(PS)), v, true);
  else {
    const [, dv, off] = edit(pa);
    dv.setBigUint64(off, v, true);
  }
};
for (let k = 0; k < nSec; k++) {
  const sec = B0 / SECTION + k;
  const v = vmemmap + BigInt(sec) * 2n * 1024n * 1024n;
  const i4 = pgd + ((v >> 39n) & 511n) * 8n;
  if (!(readU64OrMisc(i4) & 1n)) setU64(i4, alloc() | tableFlags4);
  const i3 = (readU64OrMisc(i4) & ADDR) + ((v >> 30n) & 511n) * 8n;
  if (!(readU64OrMisc(i3) & 1n)) setU64(i3, alloc() | tableFlags3);
  const i2 = (readU64OrMisc(i3) & ADDR) + ((v >> 21n) & 511n) * 8n;
  setU64(i2, BigInt((backBase + k * 512) * PS) | pmdFlags);
  const r = rootArray + BigInt(Math.floor(sec / 256)) * 8n;
  if (!readU64OrMisc(r)) setU64(r, alloc() + pageOffset);
  const s = (readU64OrMisc(r) - pageOffset) + BigInt((sec % 256) * 16);
  setU64(s, vmemmap | sectionFlags);
  setU64(s + 8n, sectionUsage);
}
// The direct map of the new RAM, as the real one maps its RAM (1 GiB pages, else 2 MiB ones).
const dm = pmdOf(pageOffset + 0x10000000n); // 256 MiB: RAM, away from the first 2 MiB (mapped with 4 KiB pages)
const gbPages = (dm.e3 & 0x80n) !== 0n;
if (!gbPages && !(dm.e2 & 0x80n)) throw new Error("the direct map is not mapped with large pages at 256 MiB");
const leafFlags = (gbPages ? dm.e3 : dm.e2) & ~ADDR & ~(1n << 12n); // PAT bit of a large page off
const dmTableFlags3 = dm.e3 & ~ADDR;
const dmTableFlags4 = dm.e4 & ~ADDR;
for (let pa = BigInt(B0 * PS); pa < BigInt(end * PS); pa += gbPages ? 1n << 30n : 1n << 21n) {
  const v = pageOffset + pa;
  const i4 = pgd + ((v >> 39n) & 511n) * 8n;
  if (!(readU64OrMisc(i4) & 1n)) setU64(i4, alloc() | dmTableFlags4);
  const i3 = (readU64OrMisc(i4) & ADDR) + ((v >> 30n) & 511n) * 8n;
  if (gbPages) {
    setU64(i3, pa | leafFlags);
    continue;
  }
  if (!(readU64OrMisc(i3) & 1n)) setU64(i3, alloc() | dmTableFlags3);
  setU64((readU64OrMisc(i3) & ADDR) + ((v >> 21n) & 511n) * 8n, pa | leafFlags);
}
function readU64OrMisc(pa: bigint): bigint {
  const m = misc.get(Number(pa / BigInt(PS)));
  return m ? new DataView(m.buffer).getBigUint64(Number(pa % BigInt(PS)), true) : readU64(pa);
}

/** The source page frame of new frame p (its block's replica), or -1 for the reserved top. */
let replicaCount = 0;
const blockSource: Int32Array = new Int32Array(Math.ceil(newPfns / BLOCK));
for (let j = 0; j < blockSource.length; j++) {
  const replicate = replicas >= 1 || Math.floor((j + 1) * replicas) > Math.floor(j * replicas);
  blockSource[j] = replicate ? blocks[replicaCount++ % blocks.length]! : freeBlocks[j % freeBlocks.length]!;
}
const sourceOf = (p: number) => (p >= miscBase ? -1 : blockSource[(p - B0) >> 10]! + ((p - B0) & (BLOCK - 1)));

/** The struct page of new frame p into dst at off. */
const structPage = (p: number, dst: Uint8Array, dv: DataView, off: number) => {
  const s = sourceOf(p);
  const self = vmemmap + BigInt(p * SP);
  if (s < 0) {
    dst.set(reserved, off);
    dv.setBigUint64(off + 8, self + 8n, true);
    dv.setBigUint64(off + 16, self + 8n, true);
    return;
  }
  dst.set(realStruct.subarray(s * SP, s * SP + SP), off);
  const w = dv.getBigUint64(off + 8, true);
  if (w & 1n) dv.setBigUint64(off + 8, w + BigInt((p - s) * SP), true); // a tail page: its head moved too
};

// Write: the real segments and one new PT_LOAD; pages batched into runs, zero pages left as holes.
const fd = openSync(out, 'w', 0o600);
const sink: ByteSink = {
  write(offset: number, bytes: Uint8Array) {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
  },
};
const segments = segs.map((s) => ({ paddr: s.paddr, vaddr: s.vaddr, memSize: s.memSize, fileSize: s.fileSize }));
segments.push({ paddr: BigInt(B0 * PS), vaddr: pageOffset + BigInt(B0 * PS), memSize: newPfns * PS, fileSize: newPfns * PS });
const w = new ElfCoreWriter(sink, { notes: encodeNotes(real.notes), segments });
const RUN = 256;
const buf = new Uint8Array(RUN * PS);
let runStart = -1;
let runLen = 0;
const flush = () => {
  if (runLen) w.writePhys(BigInt(runStart * PS), buf.subarray(0, runLen * PS));
  runLen = 0;
};
let written = 0;
const put = (p: number, page: Uint8Array | null | undefined) => {
  if (!page) return flush();
  if (runLen && (runStart + runLen !== p || runLen === RUN)) flush();
  if (!runLen) runStart = p;
  buf.set(page, runLen++ * PS);
  written++;
};
for (let p = 0; p < realMax; p++) put(p, overlay.get(p) ?? realPage[p]);
flush();
const page = new Uint8Array(PS);
const pdv = new DataView(page.buffer);
const kept = { fromReplica: 0 };
for (let p = B0; p < end; p++) {
  if (p >= backBase) {
    // A struct page array: 64 struct pages per page.
    const k = Math.floor((p - backBase) / 512);
    const first = B0 + k * SECTION + ((p - backBase) % 512) * 64;
    for (let i = 0; i < 64; i++) structPage(first + i, page, pdv, i * SP);
    put(p, page);
  } else if (p >= miscBase) put(p, misc.get(p) ?? null);
  else {
    const s = sourceOf(p);
    put(p, realPage[s]);
    if (realPage[s]) kept.fromReplica++;
  }
}
flush();
closeSync(fd);
console.log(
  `${out}: ${gib} GiB of RAM (${realPath} as it is, ${newPfns} page frames added above 4 GiB in ${blockSource.length} blocks of 4 MiB: ${replicaCount} replicas of its ${blocks.length} whole blocks, the rest of its ${freeBlocks.length} free zero blocks), ` +
    `${nSec} sections, ${miscNext - miscBase} page-table/mem_section pages; ${written} non-zero pages written (${(written * PS / 2 ** 30).toFixed(2)} GiB), real dump ${realNonZero} non-zero; file ${w.fileSize} bytes (sparse)`,
);

// Page classification on synthetic struct page arrays: the decisions makedumpfile makes, with the
// page-type numbers of both encodings (4.18-6.11: ~PG_x, 6.12+: PGTY_x << 24) read from VMCOREINFO.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VmcoreInfo } from '../../src/analyze/vmcoreinfo.ts';
import { emptyCounts, findMemMap, PageClassifier, pageLayout } from '../../src/analyze/page-class.ts';

const STRUCT = 64;
const VMEMMAP = 0xffffea0000000000n;

function info(extra: string): VmcoreInfo {
  return new VmcoreInfo(
    [
      'OSRELEASE=6.1.0-test',
      'PAGESIZE=4096',
      'SIZE(page)=64',
      'OFFSET(page.flags)=0',
      'OFFSET(page._refcount)=52',
      'OFFSET(page.mapping)=24',
      'OFFSET(page.lru)=8',
      'OFFSET(page._mapcount)=48',
      'OFFSET(page.private)=40',
      'OFFSET(page.compound_dtor)=16',
      'OFFSET(page.compound_order)=17',
      'OFFSET(page.compound_head)=8',
      'LENGTH(zone.free_area)=11',
      'NUMBER(PG_lru)=4',
      'NUMBER(PG_private)=13',
      'NUMBER(PG_swapcache)=10',
      'NUMBER(PG_swapbacked)=19',
      'NUMBER(PG_slab)=9',
      'NUMBER(PG_head_mask)=65536',
      'NUMBER(HUGETLB_PAGE_DTOR)=2',
      extra,
    ].join('\n'),
  );
}
const OLD_TYPES = 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257';
// 6.12+: PGTY_buddy 0xf0, PGTY_offline 0xf1, PGTY_slab 0xf5, PGTY_hugetlb 0xf4, printed as signed ints
const NEW_TYPES = [
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456',
  'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-251658240',
  'NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-184549376',
  'NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-201326592',
].join('\n');

/** A struct page array for `n` pfns, all "kernel" pages (fields zero, _mapcount -1). */
function memMap(n: number) {
  const bytes = new Uint8Array(n * STRUCT);
  const dv = new DataView(bytes.buffer);
  for (let p = 0; p < n; p++) dv.setInt32(p * STRUCT + 48, -1, true);
  const page = (pfn: number) => ({
    flags: (bit: number) => dv.setUint32(pfn * STRUCT, dv.getUint32(pfn * STRUCT, true) | (1 << bit), true),
    mapping: (v: number) => dv.setUint32(pfn * STRUCT + 24, v, true),
    mapcount: (v: number) => dv.setInt32(pfn * STRUCT + 48, v, true),
    priv: (v: number) => dv.setUint32(pfn * STRUCT + 40, v, true),
    head: (v: number) => dv.setUint32(pfn * STRUCT + 8, v, true),
    u8: (off: number, v: number) => dv.setUint8(pfn * STRUCT + off, v),
  });
  const readVirt = (vaddr: bigint, len: number) => {
    const off = Number(vaddr - VMEMMAP);
    if (off < 0 || off + len > bytes.length) throw new RangeError('outside the test mem_map');
    return bytes.slice(off, off + len);
  };
  return { page, readVirt };
}

function run(vi: VmcoreInfo, n: number, mm: ReturnType<typeof memMap>, level: number, window = n) {
  const c = new PageClassifier(pageLayout(vi), [{ startPfn: 0, endPfn: n, vaddr: VMEMMAP }], mm.readVirt);
  const keep = new Uint8Array(n / 8).fill(0xff);
  const counts = emptyCounts();
  for (let s = 0; s < n; s += window) c.exclude(s, s + window, level, keep.subarray(s / 8, (s + window) / 8), counts);
  const kept = (pfn: number) => ((keep[pfn >> 3]! >> (pfn & 7)) & 1) === 1;
  return { kept, counts };
}

for (const [name, types] of [
  ['4.18-6.11 page types', OLD_TYPES],
  ['6.12+ page types', NEW_TYPES],
] as const) {
  test(`free buddy blocks are excluded whole by their order (${name}), only at dump level 16`, () => {
    const vi = info(types);
    const mm = memMap(2048);
    const buddy = Number(vi.number('PAGE_BUDDY_MAPCOUNT_VALUE'));
    mm.page(1024).mapcount(buddy);
    mm.page(1024).priv(9); // 512 pages
    let r = run(vi, 2048, mm, 31);
    assert.equal(r.counts.free, 512);
    assert.ok(!r.kept(1024) && !r.kept(1535) && r.kept(1536) && r.kept(1023));
    r = run(vi, 2048, mm, 15);
    assert.equal(r.counts.free, 0);
    assert.ok(r.kept(1024));
  });

  test(`offline pages are excluded at every dump level (${name})`, () => {
    const vi = info(types);
    const mm = memMap(512);
    mm.page(7).mapcount(Number(vi.number('PAGE_OFFLINE_MAPCOUNT_VALUE')));
    const r = run(vi, 512, mm, 2);
    assert.equal(r.counts.offline, 1);
    assert.ok(!r.kept(7));
  });
}

test('a buddy block that runs past the window is finished in the next window', () => {
  const vi = info(OLD_TYPES);
  const mm = memMap(4096);
  mm.page(0).mapcount(-129);
  mm.page(0).priv(10); // 1024 pages, windows of 512
  const r = run(vi, 4096, mm, 16, 512);
  assert.equal(r.counts.free, 1024);
  assert.ok(!r.kept(1023) && r.kept(1024));
});

test('page cache: without PG_private at level 2, with it only at level 4; anonymous pages are user data', () => {
  const vi = info(OLD_TYPES);
  const mm = memMap(512);
  mm.page(1).flags(4); // PG_lru: cache
  mm.page(2).flags(4);
  mm.page(2).flags(13); // + PG_private
  mm.page(3).flags(4);
  mm.page(3).mapping(0x1001); // anonymous (PAGE_MAPPING_ANON)
  mm.page(4).flags(10); // swapcache + swapbacked: cache
  mm.page(4).flags(19);
  mm.page(5).flags(10); // swapcache without swapbacked: not cache
  let r = run(vi, 512, mm, 2);
  assert.deepEqual([1, 2, 3, 4, 5].map(r.kept), [false, true, true, false, true]);
  r = run(vi, 512, mm, 4);
  assert.deepEqual([1, 2, 3, 4, 5].map(r.kept), [false, false, true, false, true]);
  assert.equal(r.counts.cachePrivate, 1);
  r = run(vi, 512, mm, 8);
  assert.deepEqual([1, 2, 3, 4, 5].map(r.kept), [true, true, false, true, true]);
});

test('compound pages: an anonymous head excludes its tails; hugetlb by destructor id (6.1)', () => {
  const vi = info(OLD_TYPES);
  const mm = memMap(1024);
  // order-2 anonymous compound page at 8; tails point at the head (bit 0 set)
  mm.page(8).flags(16);
  mm.page(8).mapping(0x2001);
  mm.page(9).u8(17, 2); // compound_order in the first tail
  for (const t of [9, 10, 11]) mm.page(t).head(0x1001);
  // order-9 hugetlb page at 512 (dtor 2), not anonymous
  mm.page(512).flags(16);
  mm.page(513).u8(17, 9);
  mm.page(513).u8(16, 2);
  for (let t = 513; t < 1024; t++) mm.page(t).head(0x1001);
  const r = run(vi, 1024, mm, 8);
  assert.equal(r.counts.user, 4 + 512);
  assert.ok(!r.kept(11) && r.kept(12) && !r.kept(1023));
  // a slab page whose mapping has the anon bit is not user data
  const mm2 = memMap(512);
  mm2.page(3).flags(9);
  mm2.page(3).mapping(0x3001);
  assert.ok(run(vi, 512, mm2, 8).kept(3));
});

test('mem_section (SPARSEMEM_EXTREME) decodes to struct page ranges; absent sections are skipped', () => {
  // Two roots' worth of sections: 128 MiB sections, section 0 and 2 present, 1 absent.
  const vi = new VmcoreInfo(
    [
      'PAGESIZE=4096',
      'SIZE(page)=64',
      'SYMBOL(mem_section)=ffff888000100000',
      'LENGTH(mem_section)=2048',
      'SIZE(mem_section)=16',
      'OFFSET(mem_section.section_mem_map)=0',
      'NUMBER(SECTION_SIZE_BITS)=27',
      'NUMBER(MAX_PHYSMEM_BITS)=46',
    ].join('\n'),
  );
  const roots = 0xffff888000100000n;
  const root0 = 0xffff888000200000n;
  const mem = new Map<bigint, Uint8Array>();
  const u64 = (v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return b;
  };
  mem.set(roots, u64(root0));
  const sections = new Uint8Array(256 * 16);
  const dv = new DataView(sections.buffer);
  // coded mem_map = vmemmap (section start's struct page minus start pfn * 64) | PRESENT | HAS_MEM_MAP
  dv.setBigUint64(0, VMEMMAP | 3n, true);
  dv.setBigUint64(32, VMEMMAP | 3n, true);
  mem.set(root0, sections);
  const readVirt = (vaddr: bigint, len: number) => {
    for (const [base, b] of mem) if (vaddr >= base && vaddr + BigInt(len) <= base + BigInt(b.length)) return b.slice(Number(vaddr - base), Number(vaddr - base) + len);
    throw new RangeError(`unmapped 0x${vaddr.toString(16)}`);
  };
  const ranges = findMemMap(vi, readVirt, 3 * 32768);
  assert.deepEqual(ranges, [
    { startPfn: 0, endPfn: 32768, vaddr: VMEMMAP },
    { startPfn: 65536, endPfn: 98304, vaddr: VMEMMAP + 65536n * 64n },
  ]);
});

test('after a chunk covered whole by one block, the next chunk\'s head is read alone: free memory costs 128 bytes a block, and the pages kept are the same', () => {
  const vi = info(OLD_TYPES);
  const n = 16384;
  const mm = memMap(n);
  for (let b = 0; b < n; b += 1024) {
    if (b === 8192 || b === 12288) continue;
    mm.page(b).mapcount(-129);
    mm.page(b).priv(10);
  }
  mm.page(8200).flags(4); // page cache in a chunk of kernel pages
  mm.page(12288).flags(16); // an anonymous compound page of order 9, then kernel pages
  mm.page(12288).mapping(1);
  mm.page(12289).u8(17, 9);
  const lengths: number[] = [];
  const counted = { ...mm, readVirt: (vaddr: bigint, len: number) => (lengths.push(len), mm.readVirt(vaddr, len)) };
  for (const window of [n, 1024, 512]) {
    lengths.length = 0;
    const r = run(vi, n, counted, 31, window);
    assert.deepEqual([r.counts.free, r.counts.cache, r.counts.user], [14 * 1024, 1, 512], `window ${window}`);
    for (let p = 0; p < n; p++) {
      const kernel = (p >= 8192 && p < 9216 && p !== 8200) || (p >= 12800 && p < 13312);
      assert.equal(r.kept(p), kernel, `pfn ${p}, window ${window}`);
    }
    const read = lengths.reduce((a, b) => a + b, 0);
    assert.ok(lengths.filter((l) => l === 2 * STRUCT).length >= 10, `window ${window}: ${lengths.length} reads`);
    assert.ok(read < (n * STRUCT) / 4, `window ${window}: ${read} of ${n * STRUCT} bytes of struct pages read`);
  }
});

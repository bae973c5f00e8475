import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelMemory } from '../../src/analyze/kernel-memory.ts';
import { VmcoreInfo } from '../../src/analyze/vmcoreinfo.ts';
import { X86_64PageTables } from '../../src/analyze/arch/x86_64/paging.ts';
import { NotInDumpError, ParseError } from '../../src/errors.ts';
import { MemoryDump, SyntheticKernel } from './synthetic-kernel.ts';

const enc = (s: string) => new TextEncoder().encode(s);

for (const levels of [4, 5] as const) {
  // Kernel layout of each mode (Documentation/arch/x86/x86_64/mm.rst), with a KASLR-like shift.
  const directMap = levels === 5 ? 0xff11000000000000n + (7n << 40n) : 0xffff888000000000n + (3n << 30n);
  const vmalloc = levels === 5 ? 0xffa0000000000000n : 0xffffc90000000000n;

  test(`kernel memory, ${levels}-level paging: 4K, 2M and 1G pages, kernel text via phys_base`, () => {
    const k = new SyntheticKernel(levels, 0x2000000n);
    // Direct map: 1 GiB page for physical 0, 2 MiB page for the next 2 MiB of the second GiB.
    k.map(directMap, 0n, 1n << 30n);
    k.map(directMap + (1n << 30n), 1n << 30n, 1n << 21n);
    k.writePhys(0x3456789n, enc('one-gig page'));
    k.writePhys((1n << 30n) + 0x12345n, enc('two-meg page'));
    // vmalloc: two 4K pages mapped to scattered physical pages, a string across the boundary.
    k.map(vmalloc, 0x5000000n);
    k.map(vmalloc + 0x1000n, 0x4000000n);
    k.writePhys(0x5000ffcn, enc('acro'));
    k.writePhys(0x4000000n, enc('ss pages\0'));
    // Kernel text: phys = va - __START_KERNEL_map + phys_base.
    k.writePhys(0x2000000n + 0x1000000n, enc('Linux version 6.99\0'));

    const mem = new KernelMemory(k.dump());
    assert.equal(mem.pagingLevels, levels);
    assert.equal(new TextDecoder().decode(mem.readVirt(directMap + 0x3456789n, 12)), 'one-gig page');
    assert.equal(new TextDecoder().decode(mem.readVirt(directMap + (1n << 30n) + 0x12345n, 12)), 'two-meg page');
    assert.equal(mem.cstring(vmalloc + 0xffcn), 'across pages');
    assert.equal(mem.cstring(0xffffffff81000000n), 'Linux version 6.99');
    assert.equal(mem.virtToPhys(vmalloc + 0x1004n), 0x4000004n);
    assert.equal(mem.pageTables.translate(directMap + (1n << 30n) + 5n).pageSize, 1n << 21n);
    assert.equal(mem.pageTables.translate(directMap + 5n).pageSize, 1n << 30n);
    // The direct map is found from the page tables alone.
    assert.deepEqual(mem.directMap(), { base: directMap, source: 'page tables' });
    assert.equal(mem.physToVirt(0x1234n), directMap + 0x1234n);
  });

  test(`kernel memory, ${levels}-level paging: unmapped and excluded pages are NotInDumpError, never zeros`, () => {
    const k = new SyntheticKernel(levels);
    k.map(vmalloc, 0x5000000n);
    k.writePhys(0x5000000n, enc('x'));
    k.map(vmalloc + 0x1000n, 0x6000000n); // mapped, but its page is not in the dump
    const mem = new KernelMemory(k.dump());
    assert.throws(() => mem.readVirt(vmalloc + 0x1000n, 4), (e: unknown) => e instanceof NotInDumpError && /not in dump \(physical 0x6000000/.test(e.message));
    assert.throws(() => mem.readVirt(vmalloc + 0x2000n, 4), (e: unknown) => e instanceof NotInDumpError && /not mapped \(PTE entry/.test(e.message));
    assert.throws(() => mem.readVirt(vmalloc + (1n << 30n), 4), (e: unknown) => e instanceof NotInDumpError && /not mapped \(P(UD|MD) entry/.test(e.message));
    assert.throws(() => mem.readVirt(vmalloc + 0xffcn, 8), NotInDumpError); // crosses into the excluded page
    // A page table that was filtered out of the dump.
    const k2 = new SyntheticKernel(levels);
    k2.map(vmalloc, 0x5000000n);
    k2.writePhys(0x5000000n, enc('x'));
    const pteTable = new KernelMemory(k2.dump()).pageTables;
    k2.exclude(0x100000n + BigInt(levels - 1) * 4096n); // the last table allocated: the PTE table
    const mem2 = new KernelMemory(k2.dump());
    assert.throws(() => mem2.readVirt(vmalloc, 1), (e: unknown) => e instanceof NotInDumpError && /PTE table at physical 0x\w+ is not in the dump/.test(e.message));
    assert.ok(pteTable);
    // Non-canonical addresses never map.
    assert.throws(() => mem.virtToPhys(levels === 5 ? 0x0100000000000000n : 0x0000800000000000n), /non-canonical/);
  });
}

test('page tables: whole tables are read once and cached', () => {
  const k = new SyntheticKernel(5);
  for (let i = 0n; i < 64n; i++) k.map(0xffa0000000000000n + i * 4096n, 0x5000000n + i * 4096n);
  const dump = k.dump() as ReturnType<SyntheticKernel['dump']> & { reads: number };
  const pt = new X86_64PageTables(dump, k.root, 5);
  for (let i = 0n; i < 64n; i++) pt.translate(0xffa0000000000000n + i * 4096n);
  assert.equal(dump.reads, 5); // PGD, P4D, PUD, PMD, PTE
});

test('page tables: lowestMapped skips empty subtrees and crosses the non-canonical hole', () => {
  const k = new SyntheticKernel(4);
  k.map(0xffff888000000000n + 0x40000000n, 0x40000000n, 1n << 30n);
  const pt = new X86_64PageTables(k.dump(), k.root, 4);
  assert.deepEqual(pt.lowestMapped(0xffff880000000000n, 0xffffc80000000000n), { vaddr: 0xffff888040000000n, paddr: 0x40000000n });
  assert.deepEqual(pt.lowestMapped(0x7fff00000000n, 0xffffc80000000000n), { vaddr: 0xffff888040000000n, paddr: 0x40000000n });
  assert.equal(pt.lowestMapped(0xffffc90000000000n, 0xffffe90000000000n), undefined);
});

test('kernel memory: a VMCOREINFO without the page-table root says which key is missing', () => {
  const k = new SyntheticKernel(4);
  const d = k.dump();
  const info = new VmcoreInfo(d.vmcoreinfo!.replace(/^SYMBOL\(init_top_pgt\).*$/m, ''));
  assert.throws(() => new KernelMemory(d, info), (e: unknown) => e instanceof ParseError && /VMCOREINFO has no SYMBOL\(init_top_pgt\)/.test(e.message));
  const noBase = new VmcoreInfo(d.vmcoreinfo!.replace(/^NUMBER\(phys_base\).*$/m, ''));
  assert.throws(() => new KernelMemory(d, noBase), /VMCOREINFO has no NUMBER\(phys_base\), needed for kernel virtual addresses/);
});

test('kernel memory: a negative NUMBER(phys_base) (kernel loaded physically below its link address) wraps', () => {
  const k = new SyntheticKernel(4, -0x2f000000n);
  k.writePhys(0x200000n, enc('low kernel\0'));
  const mem = new KernelMemory(k.dump());
  assert.equal(mem.physBase, 0xffffffffd1000000n);
  assert.equal(mem.virtToPhys(0xffffffff80000000n + 0x2f200000n), 0x200000n);
  assert.equal(mem.cstring(k.ktextAddress(0x200000n)), 'low kernel');
});

test('kernel memory: pages that follow each other physically are read in one piece; a page missing among them is named by its virtual address', () => {
  const vmalloc = 0xffffc90000000000n;
  const k = new SyntheticKernel(4);
  // Three pages contiguous in physical memory, then one elsewhere.
  k.mapRange(vmalloc, 0x5000000n, 3 * 4096);
  k.map(vmalloc + 0x3000n, 0x4000000n);
  const bytes = new Uint8Array(4 * 4096).map((_, i) => (i * 13) & 0xff);
  for (let p = 0; p < 3; p++) k.writePhys(0x5000000n + BigInt(p * 4096), bytes.subarray(p * 4096, (p + 1) * 4096));
  k.writePhys(0x4000000n, bytes.subarray(3 * 4096));
  const dump = k.dump() as MemoryDump;
  const mem = new KernelMemory(dump);
  for (let p = 0n; p < 4n; p++) mem.virtToPhys(vmalloc + p * 4096n); // page tables read and cached
  dump.reads = 0;
  assert.deepEqual(mem.readVirt(vmalloc + 0x10n, 4 * 4096 - 0x20), bytes.subarray(0x10, 4 * 4096 - 0x10));
  assert.equal(dump.reads, 2, 'one read for the three contiguous pages, one for the fourth');

  // The middle page of a contiguous run is not in the dump: the error names it, as page by page.
  const k2 = new SyntheticKernel(4);
  k2.mapRange(vmalloc, 0x7000000n, 3 * 4096);
  k2.writePhys(0x7000000n, bytes.subarray(0, 4096));
  k2.writePhys(0x7002000n, bytes.subarray(0, 4096));
  const mem2 = new KernelMemory(k2.dump());
  assert.throws(
    () => mem2.readVirt(vmalloc + 8n, 3 * 4096 - 16),
    (e: unknown) => e instanceof NotInDumpError && !e.physical && e.address === vmalloc + 0x1000n && /physical 0x7001000/.test(e.message),
  );
});

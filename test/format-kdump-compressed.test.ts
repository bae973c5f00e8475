import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileSource } from '../src/host/file-source.ts';
import { BufferSource } from '../src/io/source.ts';
import { NotInDumpError, ParseError } from '../src/errors.ts';
import { openDump } from '../src/format/open-dump.ts';
import type { KdumpCompressedDump } from '../src/format/kdump-compressed.ts';
import { BufferSink } from '../src/format/sink.ts';
import { KernelMemory } from '../src/analyze/kernel-memory.ts';
import { VmcoreInfo } from '../src/analyze/vmcoreinfo.ts';
import { readFileSync } from 'node:fs';
import { writeElf } from './format-helpers.ts';

export const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';

function vmcoreinfoValue(text: string, key: string): string {
  const line = text.split('\n').find((l) => l.startsWith(key + '='));
  assert.ok(line, `${key} in VMCOREINFO`);
  return line.slice(key.length + 1);
}

test('kdump-compressed: the fixture header, notes and VMCOREINFO read as makedumpfile wrote them', () => {
  const d = openDump(new FileSource(FIXTURE));
  assert.equal(d.format, 'kdump-compressed');
  assert.deepEqual(d.compression, ['zlib']);
  assert.equal(d.pageSize, 4096);
  assert.equal(d.dumpLevel, 31);
  assert.equal(d.incomplete, false);
  assert.deepEqual(d.warnings, []);
  assert.equal(d.header.release, '6.1.0-56-cloud-amd64');
  assert.equal(d.header.machine, 'x86_64');
  assert.equal(d.header.nrCpus, 2);
  assert.equal(d.notes.filter((n) => n.name === 'CORE' && n.type === 1).length, 2);
  assert.equal(vmcoreinfoValue(d.vmcoreinfo!, 'OSRELEASE'), '6.1.0-56-cloud-amd64');
  assert.equal(d.maxPfn, 262109n);
  let runPages = 0n;
  for (const r of d.presentRuns()) runPages += r.endPfn - r.startPfn;
  assert.equal(runPages, d.pagesPresent());
});

test('kdump-compressed: kernel memory of the fixture reads (init_uts_ns holds the release string)', () => {
  const d = openDump(new FileSource(FIXTURE));
  const info = d.vmcoreinfo!;
  const sym = BigInt('0x' + vmcoreinfoValue(info, 'SYMBOL(init_uts_ns)'));
  const physBase = BigInt(vmcoreinfoValue(info, 'NUMBER(phys_base)'));
  const paddr = sym - 0xffffffff80000000n + physBase + BigInt(vmcoreinfoValue(info, 'OFFSET(uts_namespace.name)'));
  const uts = d.readPhys(paddr, 65 * 3);
  const text = new TextDecoder('latin1').decode(uts);
  assert.equal(text.slice(0, 5), 'Linux');
  assert.equal(text.slice(130, 130 + 20), '6.1.0-56-cloud-amd64');
});

test('kdump-compressed: a page excluded by the dump level is a NotInDumpError saying so', () => {
  const d = openDump(new FileSource(FIXTURE)) as KdumpCompressedDump;
  let pfn = 0n;
  while (d.hasPage(pfn)) pfn++;
  assert.equal(d.hasPage(pfn), false);
  assert.throws(() => d.readPhys(pfn * 4096n, 8), (e: unknown) => e instanceof NotInDumpError && /excluded|hole/.test(e.message));
  assert.throws(() => d.readPhys(d.maxPfn * 4096n, 1), (e: unknown) => e instanceof NotInDumpError && /beyond/.test(e.message));
});

/** The NotInDumpError `read` throws (it must throw one). */
function notInDump(read: () => unknown): NotInDumpError {
  try {
    read();
  } catch (e) {
    if (e instanceof NotInDumpError) return e;
    throw e;
  }
  throw new Error('read did not throw NotInDumpError');
}

test('NotInDumpError.reason: excluded RAM, a hole, beyond max_mapnr, a truncated file, an ELF gap, an unmapped address', () => {
  const d = openDump(new FileSource(FIXTURE)) as KdumpCompressedDump;
  const bit = (off: number, p: number) => (d.source.read(off + (p >> 3), 1)[0]! >> (p & 7)) & 1;
  let excluded = -1;
  let hole = -1;
  for (let p = 0; p < Number(d.maxPfn) && (excluded < 0 || hole < 0); p++) {
    if (excluded < 0 && bit(d.bitmap1Offset, p) && !bit(d.bitmap2Offset, p)) excluded = p;
    if (hole < 0 && !bit(d.bitmap1Offset, p)) hole = p;
  }
  assert.ok(excluded >= 0 && hole >= 0);
  const ex = notInDump(() => d.readPhys(BigInt(excluded) * 4096n, 8));
  assert.equal(ex.reason, 'excluded');
  assert.equal(ex.why, 'excluded from the dump (makedumpfile dump level 31)');
  assert.equal(notInDump(() => d.readPage(BigInt(hole))).reason, 'hole');
  assert.equal(notInDump(() => d.readPhys(d.maxPfn * 4096n, 1)).reason, 'hole');
  assert.equal(notInDump(() => d.storedPage(BigInt(excluded))).reason, 'excluded');
  // Cut the file inside its page data: the last present pages are lost.
  const bytes = readFileSync(FIXTURE);
  const cut = openDump(new BufferSource(bytes.subarray(0, Math.floor(bytes.length * 0.6)), 'cut.kdump'));
  let lastPfn = 0n;
  for (const r of cut.presentRuns()) lastPfn = r.endPfn - 1n;
  assert.equal(notInDump(() => cut.readPhys(lastPfn * 4096n, 8)).reason, 'lost');
  // An ELF core: outside every PT_LOAD is a hole.
  const elf = new BufferSink();
  writeElf(d, elf);
  const e = openDump(new BufferSource(elf.bytes(), 'x.elf'));
  assert.equal(notInDump(() => e.readPhys(BigInt(hole) * 4096n, 8)).reason, 'hole');
  // Kernel virtual memory: an address no page table maps.
  const km = new KernelMemory(d, new VmcoreInfo(d.vmcoreinfo!));
  assert.equal(notInDump(() => km.readVirt(0xffff_8000_0000_0000n + 0x7f00_0000_0000n, 8)).reason, 'unmapped');
});

test('open-dump: random bytes and an empty file are ParseErrors naming the first bytes and the formats', () => {
  const junk = new Uint8Array(4096).map((_, i) => (i * 37 + 11) & 0xff);
  assert.throws(() => openDump(new BufferSource(junk)), (e: unknown) => e instanceof ParseError && /first bytes 0b 30/.test(e.message) && /kdump-compressed/.test(e.message));
  assert.throws(() => openDump(new BufferSource(new Uint8Array(0))), /empty/);
});

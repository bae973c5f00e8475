// src/analyze/open-kernel-dump.ts: the one recipe for opening a dump, shared by vmcore-ts and the
// viewer's worker. It reads through ByteSources only, so it runs on bytes in memory (as in the
// browser) with the same symbol-file check the CLI's --system-map/--vmlinux/--force get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openKernelDump } from '../../src/analyze/open-kernel-dump.ts';
import { ParseError } from '../../src/errors.ts';
import { BufferSource } from '../../src/io/source.ts';
import { DumpAnalysis } from '../../web/analysis.ts';
import { systemMapFromKallsyms } from '../format-helpers.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const dumpBytes = readFileSync(DUMP);
const dump = () => new BufferSource(dumpBytes, DUMP);

const systemMap = (shift: bigint) => new BufferSource(new TextEncoder().encode(systemMapFromKallsyms(openKernelDump(dump()), shift)), 'System.map-mem');

test('openKernelDump on in-memory ByteSources: a System.map of this build replaces kallsyms; of another build it is refused, with force it is used and warned about', () => {
  const good = openKernelDump(dump(), { systemMap: systemMap(0n) });
  assert.equal(good.symbols.source.includes('System.map-mem'), true, good.symbols.source);
  assert.deepEqual(good.warnings, []);
  const other = systemMap(0x1000n);
  assert.throws(() => openKernelDump(dump(), { systemMap: other }), (e: unknown) => e instanceof ParseError && /^System\.map System\.map-mem and vmcore .*vmcore-d31-zlib\.kdump do not match: /.test(e.message) && /--force/.test(e.hint ?? ''));
  const forced = openKernelDump(dump(), { systemMap: other, force: true });
  assert.equal(forced.warnings.length, 1);
  assert.match(forced.warnings[0]!, /do not match: .*\(--force: symbols from it may be wrong\)$/);
});

test('the viewer opens its dump with the same recipe as the CLI (openKernelDump): same symbol table, and the module imports nothing from Node', () => {
  const cli = openKernelDump(dump());
  const viewer = new DumpAnalysis(dump()).kd;
  assert.equal(viewer.symbols.source, cli.symbols.source);
  assert.equal(viewer.symbols.byName('panic')?.address, cli.symbols.byName('panic')?.address);
  const src = readFileSync('src/analyze/open-kernel-dump.ts', 'utf8');
  assert.doesNotMatch(src, /from 'node:/);
});

test('openKernelDump gives one object that reads on first use: no kallsyms decoded when opened; symbols, BTF, ORC and tasks when asked', () => {
  const kd = openKernelDump(dump());
  assert.equal(kd.symbolsLoaded(), undefined);
  assert.ok(kd.btf.find('struct task_struct'));
  assert.equal(kd.symbolsLoaded()?.source, 'kallsyms in the dump');
  assert.ok(kd.orc?.covers(kd.symbols.byName('panic')!.address));
  assert.equal(kd.panicCpu(), 1);
});

test("KernelDump.offsetOf: VMCOREINFO's OFFSET() until BTF is read (never read for an offset alone), then BTF; both give the same number", () => {
  const kd = openKernelDump(dump());
  const fromInfo = kd.offsetOf('pglist_data', 'node_spanned_pages');
  assert.equal(typeof fromInfo, 'number');
  assert.equal(fromInfo, kd.info.offset('pglist_data.node_spanned_pages'));
  assert.equal(kd.offsetOf('task_struct', 'thread.sp'), undefined); // not in VMCOREINFO, and BTF not read
  assert.equal(kd.symbolsLoaded(), undefined);
  const btf = kd.btf;
  assert.equal(kd.offsetOf('pglist_data', 'node_spanned_pages'), fromInfo);
  assert.equal(kd.offsetOf('task_struct', 'thread.sp'), btf.offsetOf('struct task_struct', 'thread.sp'));
  assert.equal(kd.offsetOf('task_struct', 'no_such_member'), undefined);
});

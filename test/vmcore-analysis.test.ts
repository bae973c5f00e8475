// bt, ps, struct, types, mem and summary on the real Debian 6.1 fixture, against the recorded
// oracles of drgn 0.0.22 and crash 8.0.2 (both run with the matching vmlinux).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Btf } from '../src/analyze/btf.ts';
import { locateKallsyms } from '../src/analyze/kallsyms-scan.ts';
import { VmcoreInfo } from '../src/analyze/vmcoreinfo.ts';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { decodeOrcEntry, orcVersionFor, type OrcTable } from '../src/analyze/arch/x86_64/orc.ts';
import { backtraceOfTask, cpuBacktrace, taskTable } from '../src/analyze/stacks.ts';
import { buildSummary, pageUsage } from '../src/analyze/summary.ts';
import { TaskReader } from '../src/analyze/tasks.ts';
import { formatStructAt, formatTypeLayout } from '../src/analyze/types-print.ts';
import { unwind } from '../src/analyze/arch/x86_64/unwind.ts';
import { NotInDumpError } from '../src/errors.ts';
import { Gaps } from '../src/analyze/completeness.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const DIR = 'fixtures/x86_64-debian-6.1';
const DUMP = `${DIR}/vmcore-d31-zlib.kdump`;
const ctx = new KernelDump(openDump(new FileSource(DUMP)));
const drgn = readFileSync(`${DIR}/oracle/drgn-0.0.22-tasks-stack.txt`, 'utf8');
const crash = readFileSync(`${DIR}/oracle/crash-8.0.2-sys-bt-ps-log.txt`, 'utf8');

/** crash `bt` frames of the first block starting with `PID: pid` : [name, address]. */
function crashFrames(pid: number, which = 0): { name: string; pc: bigint }[] {
  const blocks = crash.split(/\n(?=PID: )/).filter((b) => b.startsWith(`PID: ${pid} `));
  const out: { name: string; pc: bigint }[] = [];
  for (const m of blocks[which]!.matchAll(/^\s*#\d+ \[[0-9a-f]+\] (\S+) at ([0-9a-f]+)/gm)) out.push({ name: m[1]!, pc: BigInt('0x' + m[2]) });
  return out;
}

const base = (n: string | undefined) => (n ?? '?').replace(/\.cold$/, '');

test('bt: the panic CPU unwinds through the true call chain drgn shows, inlined frames aside', () => {
  assert.equal(ctx.panicCpu(), 1);
  const bt = cpuBacktrace(ctx, 1);
  assert.equal(bt.error, false, bt.stop);
  assert.equal(bt.stop, 'user mode');
  const ours = bt.frames.map((f) => base(f.symbol?.name));
  // drgn's frames (from DWARF) include inlined functions; ORC frames are real call frames only.
  const INLINED = new Set(['crash_setup_regs', 'pde_write', 'do_syscall_x64']);
  const drgnNames = [...drgn.matchAll(/^#\d+\s+(\S+?)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)? \(/gm)].map((m) => m[1]!);
  assert.ok(drgnNames.length >= 12, 'oracle parsed');
  const expected = drgnNames.filter((n) => !INLINED.has(n));
  // drgn names the entry frame entry_SYSCALL_64+0xa6; that address is entry_SYSCALL_64_after_hwframe+0x6e.
  const last = bt.frames[bt.frames.length - 1]!;
  assert.equal(last.pc, ctx.symbols.byName('entry_SYSCALL_64')!.address + 0xa6n);
  assert.deepEqual(ours.slice(0, -1), expected.slice(0, -1));
  assert.equal(expected[expected.length - 1], 'entry_SYSCALL_64');
  // drgn's last line is the user-space pc.
  assert.equal(bt.userRegs!.rip, BigInt(/^#\d+\s+(0x[0-9a-f]+)$/m.exec(drgn)![1]!));
});

test("bt: the panic CPU matches crash's trustworthy frames by address and leaves out its stale scanned frames", () => {
  const bt = cpuBacktrace(ctx, 1);
  const frames = crashFrames(1);
  // crash frames #2 (panic) .. #9 (do_syscall_64) are real: same return addresses as ours.
  const real = frames.slice(2, 10);
  assert.deepEqual(
    bt.frames.slice(1, 9).map((f) => f.pc),
    real.map((f) => f.pc),
  );
  // crash #13 (entry_SYSCALL_64_after_hwframe) is our last frame; #10-#12 are stale words it scanned.
  assert.equal(bt.frames[bt.frames.length - 1]!.pc, frames[13]!.pc);
  const names = new Set(bt.frames.map((f) => f.symbol?.name));
  for (const stale of ['handle_mm_fault', 'do_user_addr_fault', 'exit_to_user_mode_prepare']) assert.ok(!names.has(stale), stale);
  // The user-space register frame at the bottom is crash's.
  assert.equal(bt.userRegs!.rsp, 0x7ffc0c968518n);
  assert.equal(bt.userRegs!.cs, 0x33n);
});

test("bt -a: the idle CPU's stack matches crash's frames below the NMI", () => {
  const bt = cpuBacktrace(ctx, 0);
  assert.equal(bt.stop, 'end of stack');
  const below = crashFrames(0).slice(4); // crash #4 native_safe_halt .. #12 secondary_startup_64_no_verify
  assert.deepEqual(
    bt.frames.map((f) => [f.symbol?.name, f.pc]),
    below.map((f) => [f.name, f.pc]),
  );
});

test("ps: the task list has drgn's 54 tasks in order, and crash's idle and running task addresses", () => {
  const t = taskTable(ctx);
  assert.deepEqual(t.completeness, { partial: false, missing: [], excluded: [], dumpLevel: undefined });
  const listed = t.tasks.filter((x) => !x.idle);
  const names = JSON.parse(/^\[.*\]$/m.exec(drgn)![0].replace(/'/g, '"')) as string[];
  assert.equal(names.length, 54);
  assert.deepEqual(
    listed.map((x) => x.comm),
    names,
  );
  const byComm = new Map(t.tasks.map((x) => [x.comm, x]));
  let checked = 0;
  for (const m of crash.matchAll(/^>?\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]{16})\s+RU\s+[\d.]+\s+\d+\s+\d+\s+\[?([^\]\n]+)\]?$/gm)) {
    const x = byComm.get(m[5]!);
    assert.ok(x, m[5]);
    assert.equal(x.task, BigInt('0x' + m[4]), m[5]);
    assert.equal(x.pid, Number(m[1]));
    assert.equal(x.cpu, Number(m[3]));
    checked++;
  }
  assert.equal(checked, 3, "crash's ps rows: swapper/0, swapper/1, init");
  const init = byComm.get('init')!;
  assert.deepEqual([init.pid, init.ppid, init.state, init.onCpu], [1, 0, 'R', true]);
  assert.equal(t.current[1], init.task);
  assert.equal(byComm.get('kthreadd')!.ppid, 0);
  assert.equal(byComm.get('ksoftirqd/1')!.ppid, 2);
});

test('bt -p: tasks that were not running unwind from their saved frame down to ret_from_fork or the idle loop', () => {
  const t = taskTable(ctx);
  const names = (comm: string) => {
    const task = t.tasks.find((x) => x.comm === comm)!;
    const bt = backtraceOfTask(ctx, task, t.current);
    assert.equal(bt.error, false, `${comm}: ${bt.stop}`);
    assert.equal(bt.stop, 'end of stack');
    return bt.frames.map((f) => f.symbol?.name);
  };
  assert.deepEqual(names('kthreadd'), ['__schedule', 'schedule', 'kthreadd', 'ret_from_fork']);
  assert.deepEqual(names('ksoftirqd/0'), ['__schedule', 'schedule', 'smpboot_thread_fn', 'kthread', 'ret_from_fork']);
  assert.deepEqual(names('swapper/1'), ['__schedule', 'schedule_idle', 'do_idle', 'cpu_startup_entry', 'start_secondary', 'secondary_startup_64_no_verify']);
  // Every task's stack unwinds to a clean end.
  for (const task of t.tasks) assert.equal(backtraceOfTask(ctx, task, t.current).error, false, task.comm);
});

test("modules: virtio_blk's code is named from its own kallsyms and found in its ORC table", () => {
  assert.equal(ctx.moduleAt(0xffffffff81000000n), undefined, 'kernel image addresses never look at modules');
  const names = ctx.modules.map((m) => m.name);
  assert.ok(names.includes('virtio_blk'), names.join(' '));
  assert.equal(ctx.moduleGaps.result().partial, false);
  const blk = ctx.modules.find((m) => m.name === 'virtio_blk')!;
  const done = blk.symbols!.byName('virtblk_done')!;
  assert.deepEqual(ctx.symbolizer.symbolize(done.address + 4n), { name: 'virtblk_done', offset: 4n, module: 'virtio_blk' });
  assert.equal(ctx.orcFinder.find(done.address)?.type, 'call');
});

test('struct: task_struct of PID 1 prints pid 1 and comm "init"; types prints a layout', () => {
  const btf = ctx.btf;
  const init = taskTable(ctx).tasks.find((x) => x.pid === 1)!;
  const text = formatStructAt(btf, btf.get('struct task_struct'), init.task, (a, n) => ctx.memory.readVirt(a, n), { maxDepth: 2 });
  assert.match(text, /^struct task_struct at 0xff278b50411f20c0 \(9728 bytes\) = \{/);
  assert.match(text, /^ {2}pid = 1,$/m);
  assert.match(text, /^ {2}comm = "init",$/m);
  assert.match(formatTypeLayout(btf, btf.get('struct list_head')), /struct list_head \*prev;\s+\/\*\s+8\s+8 \*\//);
});

test('mem: every page frame with a struct page is classified once', () => {
  const u = pageUsage(ctx);
  assert.equal(u.free + u.cache + u.cachePrivate + u.user + u.hwpoison + u.offline + u.unknown + u.kernel, u.pages);
  assert.ok(u.pages > 250000 && u.pages <= 262144, String(u.pages));
  assert.ok(u.free > u.pages / 2, 'a fresh 1 GiB guest is mostly free');
  assert.equal(u.unknown, 0);
});

test('summary: panic message, crashing task, backtrace, last 30 log lines, memory use', () => {
  const s = buildSummary(ctx);
  assert.equal(s.system.panicMessage, 'Kernel panic - not syncing: sysrq triggered crash');
  assert.equal(s.backtrace!.comm, 'init');
  assert.equal(s.backtrace!.frames[1]!.symbol!.name, 'panic');
  assert.equal(s.lastLog.length, 30);
  assert.match(s.lastLog[29]!, /<\/TASK>/);
  const labels = s.memory.map((r) => r.label);
  for (const l of ['total', 'free', 'page cache', 'slab']) assert.ok(labels.includes(l), l);
});

test('CLI: bt --json and ps --json run end to end', () => {
  const run = (...args: string[]) =>
    JSON.parse(execFileSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args, '--json', DUMP], { encoding: 'utf8' }));
  const { backtraces: bt, partial } = run('bt', '-a');
  assert.equal(partial, false);
  assert.equal(bt.length, 2);
  assert.equal(bt[1].frames[1].function, 'panic');
  assert.equal(bt[1].comm, 'init');
  const ps = run('ps');
  assert.equal(ps.tasks.length, 56);
  const st = JSON.parse(
    execFileSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'struct', '--json', '--depth', '2', DUMP, 'task_struct', 'init_task'], { encoding: 'utf8' }),
  );
  assert.equal(st.type, 'struct task_struct');
  assert.deepEqual([st.value.pid, st.value.comm], [0, 'swapper/0']);
  assert.match(st.value.tasks.next, /^0x[0-9a-f]+$/);
});

test('kallsyms: without the VMCOREINFO keys (kernels before 6.0) the tables are found in the kernel image', () => {
  const dump = openDump(new FileSource(DUMP));
  const stripped = dump.vmcoreinfo!.split('\n').filter((l) => !l.startsWith('SYMBOL(kallsyms_')).join('\n');
  const older = new Proxy(dump, {
    get(t, k) {
      if (k === 'vmcoreinfo') return stripped;
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  const kd = new KernelDump(older);
  assert.equal(kd.symbolsIfAny(), undefined);
  const info = new KernelDump(dump).info;
  const loc = locateKallsyms(kd.memory, kd.info)!;
  for (const n of ['names', 'num_syms', 'token_table', 'token_index', 'offsets', 'relative_base'] as const) {
    const key = ({ num_syms: 'numSyms', token_table: 'tokenTable', token_index: 'tokenIndex', relative_base: 'relativeBase' } as Record<string, keyof typeof loc>)[n] ?? n;
    assert.equal(loc[key], info.symbol(`kallsyms_${n}`), n);
  }
  // The search starts below the kernel's data (swapper_pg_dir, init_uts_ns, prb, nearest first);
  // without those names it goes up from _stext and finds the same tables.
  const noData = stripped.split('\n').filter((l) => !/^SYMBOL\((swapper_pg_dir|init_top_pgt|init_uts_ns|prb|log_buf)\)/.test(l)).join('\n');
  assert.notEqual(noData, stripped);
  assert.deepEqual(locateKallsyms(kd.memory, new VmcoreInfo(noData)), loc);
  const found = kd.symbols;
  assert.equal(found.source, 'kallsyms found in the kernel image');
  assert.equal(found.count, ctx.symbols.count);
  assert.equal(found.byName('panic')!.address, ctx.symbols.byName('panic')!.address);
  // And the commands work on it: the panic backtrace is the same.
  const again = kd;
  assert.deepEqual(
    cpuBacktrace(again, 1).frames.map((f) => f.pc),
    cpuBacktrace(ctx, 1).frames.map((f) => f.pc),
  );
});

// ---- damaged input: stop at the damage, never hang ----

test("ps with damaged BTF: types before the damage still work and the damage is reported; after it, a clear error", () => {
  const good = ctx.btf.bytes;
  const hdrLen = new DataView(good.buffer, good.byteOffset).getUint32(4, true);
  const typeOff = new DataView(good.buffer, good.byteOffset).getUint32(8, true);
  const typeLen = new DataView(good.buffer, good.byteOffset).getUint32(12, true);
  // Damage at 90% of the type section (the last types are big DATASECs whose member lists the
  // index does not look into): 256 bytes of 0xff hit some record header.
  const late = good.slice();
  const at = hdrLen + typeOff + Math.floor(typeLen * 0.9);
  late.fill(0xff, at, at + 256);
  const lateBtf = Btf.parse(late, 'damaged');
  assert.ok(lateBtf.damage);
  const t = taskTable(new KernelDump(ctx.dump, { btf: () => lateBtf }));
  assert.equal(t.tasks.length, 56);
  assert.equal(t.completeness.partial, true);
  assert.match(t.completeness.missing[0]!.examples[0]!, /^BTF damaged \(type \d+ at offset \d+: /);
  // Damage at the first type: nothing to work with, and the error says why.
  const early = good.slice();
  early.fill(0xff, hdrLen + typeOff, hdrLen + typeOff + 64);
  assert.throws(() => taskTable(new KernelDump(ctx.dump, { btf: () => Btf.parse(early, 'damaged') })), /BTF has no type 'struct task_struct' \(BTF damaged: type 1 at offset \d+/);
});

/** Kernel memory made of a few 8-byte words. */
function fakeMemory(words: Map<bigint, bigint>) {
  return {
    readVirt(a: bigint, n: number): Uint8Array {
      const out = new Uint8Array(n);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i += 8) {
        const w = words.get(a + BigInt(i));
        if (w === undefined) throw new NotInDumpError(a + BigInt(i), false, 'unmapped');
        if (i + 8 <= n) dv.setBigUint64(i, w, true);
      }
      return out;
    },
  };
}

test('tasks: a task list that loops without returning to its head stops and says so', () => {
  const words = new Map<bigint, bigint>([
    [0x1000n, 0x2000n], // head -> A
    [0x2000n, 0x3000n], // A -> B
    [0x3000n, 0x2000n], // B -> A (loop, never back to the head)
  ]);
  const reader = new TaskReader(fakeMemory(words), ctx.btf);
  const damage = new Gaps();
  const nodes = [...reader.walkList(0x1000n, 'test list', damage)];
  assert.deepEqual(nodes, [0x2000n, 0x3000n]);
  assert.match(damage.result().missing[0]!.examples[0]!, /loops back to 0x2000 after 2 entries/);
  words.set(0x3000n, 0x4000n); // B -> unreadable
  const missing = new Gaps();
  assert.deepEqual([...reader.walkList(0x1000n, 'test list', missing)], [0x2000n, 0x3000n, 0x4000n]);
  assert.deepEqual(missing.result().missing.map((g) => [g.item, g.reason]), [['task list', 'unmapped']]);
  // A node that cannot be read costs that node only: the rest comes back through prev pointers.
  const ring = new Map<bigint, bigint>([
    [0x1000n, 0x2000n], [0x1008n, 0x4000n], // head: next A, prev C
    [0x2000n, 0x3000n], [0x2008n, 0x1000n], // A
    /* B at 0x3000 is not in the dump */ [0x4000n, 0x1000n], [0x4008n, 0x3000n], // C
  ]);
  const notes = new Gaps();
  assert.deepEqual([...new TaskReader(fakeMemory(ring), ctx.btf).walkList(0x1000n, 'ring', notes)], [0x2000n, 0x3000n, 0x4000n]);
  assert.deepEqual(notes.result().missing, []); // the unreadable entry is the caller's to count: the list itself is whole
});

test('unwind: an address ORC does not cover, with no frame pointer, stops with a marked error', () => {
  const noOrc = { find: () => undefined } as unknown as OrcTable;
  const bt = unwind(fakeMemory(new Map()), noOrc, { symbolize: () => undefined }, { ip: 0xffffffffc0001234n, sp: 0x5000n, bp: 0n, exact: true });
  assert.equal(bt.frames.length, 1);
  assert.equal(bt.error, true);
  assert.match(bt.stop, /no ORC entry for 0xffffffffc0001234 and no frame pointer/);
  // A frame-pointer chain that points at itself stops as "going the wrong way", not in a loop.
  const words = new Map<bigint, bigint>([
    [0x5000n, 0x5000n],
    [0x5008n, 0xffffffffc0000010n],
  ]);
  const bt2 = unwind(fakeMemory(words), noOrc, { symbolize: () => undefined }, { ip: 0xffffffffc0001234n, sp: 0x4ff0n, bp: 0x5000n, exact: true });
  assert.ok(bt2.frames.length <= 3);
  assert.equal(bt2.error, true);
});

test('ORC: entry layouts of the three format versions decode to the same meaning', () => {
  assert.equal(orcVersionFor('5.10.0-30-amd64'), 1);
  assert.equal(orcVersionFor('6.1.0-56-cloud-amd64'), 1);
  assert.equal(orcVersionFor('6.3.13'), 2);
  assert.equal(orcVersionFor('6.12.48+deb13-amd64'), 3);
  const entry = (bits: number) => new Uint8Array([16, 0, 0xf0, 0xff, bits & 0xff, bits >> 8]); // sp+16, bp-16
  // CALL with sp_reg=SP(5), bp_reg=PREV_SP(1)
  const call = { spOffset: 16, bpOffset: -16, spReg: 5, bpReg: 1, type: 'call', signal: false };
  assert.deepEqual(decodeOrcEntry(entry(0x15), 0, 1), call);
  assert.deepEqual(decodeOrcEntry(entry(0x15), 0, 2), call);
  assert.deepEqual(decodeOrcEntry(entry(0x15 | (2 << 8)), 0, 3), call);
  // REGS: v1 type 1, v3 type 3 (+ signal bit 11)
  assert.equal(decodeOrcEntry(entry(0x15 | (1 << 8)), 0, 1).type, 'regs');
  assert.equal(decodeOrcEntry(entry(0x15 | (3 << 8) | (1 << 11)), 0, 3).signal, true);
  // End of stack: v1/v2 sp_reg UNDEFINED + end bit (10 in v1, 11 in v2); v3 type 1.
  assert.equal(decodeOrcEntry(entry(1 << 10), 0, 1).type, 'end');
  assert.equal(decodeOrcEntry(entry(1 << 11), 0, 2).type, 'end');
  assert.equal(decodeOrcEntry(entry(1 << 8), 0, 3).type, 'end');
  assert.equal(decodeOrcEntry(entry(0), 0, 1).type, 'undefined');
  assert.equal(decodeOrcEntry(entry(0), 0, 3).type, 'undefined');
});

// bt and ps on the dumps the kdump scenarios (kdump-ts.test.ts and kdump.test.ts, run before this
// file) saved from real Debian kernels: 5.10 (no kallsyms in VMCOREINFO: found in the kernel image),
// 6.1 (ORC v1), 6.12 (ORC v3), and with --all 5.10 and sid 7.2 (renumbered ORC registers). Each crash
// is sysrq-c written from a process in the first kernel.
//
// Each dump is checked for what its writer is known to keep, never for where pages happen to land:
// - Our `vmcore-ts save -d 31` (the capture /init of kdump-ts.test.ts) keeps every kernel page, so on
//   it bt/ps must list every task with no damage at all. We check "every task" there rather than on a
//   newer makedumpfile's dump: sid's makedumpfile 1.7.8 keeps 6.12's slab pages (fixed in 1.7.6) but
//   still drops the tails of compound slab pages on 7.1+ (fixed only after 1.7.9).
// - makedumpfile 1.7.2's `-d 31` (kdump.test.ts; Debian bookworm's, the host's) keeps every kernel
//   page up to 6.9, and drops some slab pages on 6.10+ (test/dump/makedumpfile-known-drops.ts; 105
//   pages on a 1 GiB 6.12 guest, 254 on 7.2). On its dumps the call chain and modules must be whole,
//   and each piece of the task table it lacks must lie on a page of exactly that known kind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { filterFor } from '../src/dump/scan.ts';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { backtraceOfTask, cpuBacktrace, taskTable, type TaskTable } from '../src/analyze/stacks.ts';
import type { Dump } from '../src/format/dump.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/host/file-source.ts';
import { whyMakedumpfile172Drops, type KnownDrop } from '../test/dump/makedumpfile-known-drops.ts';
import { cpusFor, kdumpTsCpu, suites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';

const open = (path: string) => {
  const dump = openDump(new FileSource(path));
  return { dump, ctx: new KernelDump(dump) };
};

/** bt of the panicking CPU is the sysrq-c chain down to the write(2) from user mode; the guest's virtio_blk module is named and unwound. */
function checkCrashChainAndModules(ctx: KernelDump): number {
  const bt = cpuBacktrace(ctx, ctx.panicCpu());
  assert.equal(bt.stop, 'user mode', `${ctx.release}: ${bt.stop}`);
  const names = bt.frames.map((f) => f.symbol?.name?.replace(/\.cold$/, ''));
  // Since 7.x panic() is a wrapper around vpanic(), which calls __crash_kexec.
  if (names[1] === 'vpanic') names.splice(1, 1);
  const chain = ['__crash_kexec', 'panic', 'sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write', 'ksys_write', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'];
  assert.deepEqual(names, chain, `${ctx.release}`);
  const blk = ctx.modules.find((m) => m.name === 'virtio_blk');
  assert.ok(blk, `modules: ${ctx.modules.map((m) => m.name).join(' ')} ${JSON.stringify(ctx.moduleGaps.result())}`);
  const done = blk.symbols!.byName('virtblk_done')!;
  assert.deepEqual(ctx.symbolizer.symbolize(done.address + 4n), { name: 'virtblk_done', offset: 4n, module: 'virtio_blk' });
  assert.equal(ctx.orcFinder.find(done.address)?.type, 'call');
  return bt.pid;
}

/** Every task listed is unwound; the crashing one, when listed, is current on its CPU. */
function checkListedTasks(ctx: KernelDump, t: TaskTable, crashingPid: number): void {
  const crashing = t.tasks.find((x) => x.pid === crashingPid && !x.idle);
  if (crashing) assert.ok(t.current.includes(crashing.task), 'the crashing task is current on its CPU');
  for (const x of t.tasks) assert.equal(backtraceOfTask(ctx, x, t.current).error, false, `${ctx.release}: ${x.comm}`);
}

for (const suite of suites()) {
  const cpu = kdumpTsCpu();
  for (const syscall of ['kexec_load', 'kexec_file_load']) {
    const path = join(REPO, 'e2e/out', `kdump-ts-${syscall}-${suite}-${cpu}`, 'vmcore.kdump');
    const skip = existsSync(path) ? false : `no dump from the kdump-ts scenario (${path})`;
    test(`e2e ${suite} -cpu ${cpu}: on vmcore-ts save's dump (kdump-ts, ${syscall}) bt follows the sysrq-c call chain and ps lists every task, nothing missing`, { skip }, () => {
      const { ctx } = open(path);
      const pid = checkCrashChainAndModules(ctx);
      const t = taskTable(ctx);
      assert.deepEqual(notes(t), [], `${ctx.release}: our save keeps every kernel page`);
      const byPid = new Map(t.tasks.filter((x) => !x.idle).map((x) => [x.pid, x]));
      assert.equal(byPid.get(1)?.comm, 'init');
      assert.equal(byPid.get(2)?.comm, 'kthreadd');
      assert.ok(byPid.has(pid), `the crashing task (pid ${pid}) is listed`);
      checkListedTasks(ctx, t, pid);
    });
  }
}

/** [major, minor] of a release such as 6.12.117+deb13-cloud-amd64. */
function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  assert.ok(m, `release ${release}`);
  return [Number(m[1]), Number(m[2])];
}
const atLeast = (v: [number, number], major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/** Every task-table item that could not be read, one line each (excluded by the dump level or lost). */
const notes = (t: TaskTable): string[] => [...t.completeness.missing, ...t.completeness.excluded].flatMap((g) => g.examples);

/** The physical address a task-table damage note says is missing. */
function missingAddress(ctx: KernelDump, note: string): bigint {
  const phys = /physical 0x([0-9a-f]+)/.exec(note);
  if (phys) return BigInt('0x' + phys[1]);
  const node = /(?:entry|list head) (0x[0-9a-f]+) not in dump/.exec(note);
  assert.ok(node, `a task-table problem other than a page missing from the dump: ${note}`);
  return ctx.memory.virtToPhys(BigInt(node[1]!));
}

/**
 * makedumpfile 1.7.2's known drops, exactly: every page the task table misses is absent from the
 * dump and is, by its struct page, a slab page (6.10+) or a tail of a compound kernel page whose
 * head it kept (7.1+). Returns how many of each.
 */
function checkKnownDrops(tc: TestContext, dump: Dump, ctx: KernelDump, t: TaskTable): Record<KnownDrop['kind'], number> {
  const v = kernelVersion(ctx.release);
  const kinds = new Set<KnownDrop['kind']>(atLeast(v, 7, 1) ? ['slab', 'tail'] : atLeast(v, 6, 10) ? ['slab'] : []);
  const counts = { slab: 0, tail: 0 };
  const damage = notes(t);
  if (damage.length === 0) return counts;
  assert.ok(kinds.size, `${ctx.release}: makedumpfile 1.7.2 keeps every kernel page before 6.10, yet: ${damage.join('; ')}`);
  const { filter } = filterFor(dump, 31, (w) => assert.fail(w));
  assert.ok(filter, 'the struct pages of the dump');
  const pfns = new Set(damage.map((d) => Number(missingAddress(ctx, d) >> 12n)));
  for (const pfn of pfns) {
    const where = `${ctx.release}: pfn 0x${pfn.toString(16)}`;
    assert.equal(dump.hasPage(BigInt(pfn)), false, `${where} is in the dump`);
    const why = whyMakedumpfile172Drops(filter, pfn);
    assert.ok(why && kinds.has(why.kind), `${where} is missing but is not a page makedumpfile 1.7.2 is known to drop on this kernel (${why?.kind ?? 'neither slab nor tail'})`);
    if (why.kind === 'tail') assert.ok(dump.hasPage(BigInt(why.head)), `${where}: makedumpfile keeps the head 0x${why.head.toString(16)} of this tail`);
    counts[why.kind]++;
  }
  tc.diagnostic(`${ctx.release}: ${damage.length} task-table notes, all on pages makedumpfile 1.7.2 drops wrongly: ${counts.slab} slab, ${counts.tail} compound tail; e.g. ${damage[0]}`);
  return counts;
}

for (const suite of suites()) {
  for (const cpu of cpusFor(suite)) {
    const path = join(REPO, 'e2e/out', `kdump-${suite}-${cpu}`, 'vmcore-zlib.kdump');
    const skip = existsSync(path) ? false : `no dump from the kdump scenario (${path})`;
    test(`e2e ${suite} -cpu ${cpu}: on makedumpfile 1.7.2's dump bt follows the sysrq-c call chain; ps misses only tasks on pages it is known to drop (none before 6.10)`, { skip }, (tc) => {
      const { dump, ctx } = open(path);
      const pid = checkCrashChainAndModules(ctx);
      const t = taskTable(ctx);
      checkKnownDrops(tc, dump, ctx, t);
      if (notes(t).length === 0) {
        const byPid = new Map(t.tasks.filter((x) => !x.idle).map((x) => [x.pid, x]));
        assert.equal(byPid.get(1)?.comm, 'init');
        assert.equal(byPid.get(2)?.comm, 'kthreadd');
      }
      checkListedTasks(ctx, t, pid);
    });
  }
}

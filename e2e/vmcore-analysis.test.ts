// bt and ps on the dumps the kdump scenario (kdump.test.ts, run before this file) saved from real
// Debian kernels: 5.10 (no kallsyms in VMCOREINFO: found in the kernel image), 6.1 (ORC v1),
// 6.12 (ORC v3), and with --all 5.10 and sid 7.2 (renumbered ORC registers). Each crash is `echo c > /proc/sysrq-trigger` from the init shell.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DumpContext } from '../src/analyze/dump-context.ts';
import { withImageKallsyms } from '../src/analyze/kallsyms-scan.ts';
import { KernelDump } from '../src/analyze/kernel-dump.ts';
import { backtraceOfTask, cpuBacktrace, taskTable } from '../src/analyze/stacks.ts';
import { openDump } from '../src/format/open-dump.ts';
import { FileSource } from '../src/io/node-file.ts';
import { cpusFor, suites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';

for (const suite of suites()) {
  for (const cpu of cpusFor(suite)) {
    const dump = join(REPO, 'e2e/out', `kdump-${suite}-${cpu}`, 'vmcore-zlib.kdump');
    const skip = existsSync(dump) ? false : `no dump from the kdump scenario (${dump})`;
    test(`e2e ${suite} -cpu ${cpu}: vmcore-ts bt/ps on the saved dump follow the sysrq-c call chain and list every task`, { skip }, (tc) => {
      const ctx = new DumpContext(withImageKallsyms(new KernelDump(openDump(new FileSource(dump)))));
      const bt = cpuBacktrace(ctx, ctx.panicCpu());
      assert.equal(bt.stop, 'user mode', `${ctx.release}: ${bt.stop}`);
      const names = bt.frames.map((f) => f.symbol?.name?.replace(/\.cold$/, ''));
      // Since 7.x panic() is a wrapper around vpanic(), which calls __crash_kexec.
      if (names[1] === 'vpanic') names.splice(1, 1);
      const chain = ['__crash_kexec', 'panic', 'sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write', 'ksys_write', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'];
      assert.deepEqual(names, chain, `${ctx.release}`);
      const t = taskTable(ctx);
      // makedumpfile 1.7.2 predates 6.12's page-type encoding and drops some task_struct slab pages
      // at -d 31: those tasks are marked and the list is recovered around them; nothing else may go wrong.
      for (const d of t.damage) assert.match(d, /not in dump/, d);
      if (t.damage.length) tc.diagnostic(`${ctx.release}: ${t.damage.length} damage notes, e.g. ${t.damage[0]}`);
      const byPid = new Map(t.tasks.filter((x) => !x.idle).map((x) => [x.pid, x]));
      assert.equal(byPid.get(1)?.comm, 'init');
      assert.equal(byPid.get(2)?.comm, 'kthreadd');
      const crashing = t.tasks.find((x) => x.pid === bt.pid && !x.idle);
      if (crashing || t.damage.length === 0) assert.ok(t.current.includes(crashing?.task), 'the crashing task is current on its CPU');
      for (const x of t.tasks) assert.equal(backtraceOfTask(ctx, x, t.current).error, false, `${ctx.release}: ${x.comm}`);
      // The guest loads virtio_blk: its code is named and unwound from its own kallsyms and ORC.
      const blk = ctx.modules.find((m) => m.name === 'virtio_blk');
      assert.ok(blk, `modules: ${ctx.modules.map((m) => m.name).join(' ')} ${ctx.moduleProblems.join('; ')}`);
      const done = blk.symbols!.byName('virtblk_done')!;
      assert.deepEqual(ctx.symbolizer.symbolize(done.address + 4n), { name: 'virtblk_done', offset: 4n, module: 'virtio_blk' });
      assert.equal(ctx.orcFinder.find(done.address)?.type, 'call');
    });
  }
}

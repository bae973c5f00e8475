// Issue 17: the 8 ported drgn-style helper scripts (examples/scripts/NAME.ts, run with `vmcore-ts
// run`) give what drgn 0.3.0 gives with the matching -dbg vmlinux (e2e/oracle/drgn/NAME.py, run in
// the cached sid root), object for object, on every dump the e2e harness cached that has its debug
// vmlinux (harness/oracle-dumps.ts: 5.10, 6.1, 6.12, 7.x as the suites ran, and the bundled 6.1
// fixture). Opt-in (a chroot and ~0.5 s of drgn per script and dump): `npm run e2e -- --all` or
// E2E_DRGN=1 node scripts/run-tests.mjs e2e/drgn-scripts. A script not yet ported is reported
// "not ported yet" (skipped); drgn's output is checked for its shape either way, and against our
// existing `vmcore-ts ps` (task states) and `vmcore-ts mem` (counters) so the oracle itself is tested today.
// The normalisations are in harness/oracle-compare.ts `comparable` and e2e/oracle/README.md.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ReferenceTools } from './harness/drgn-tool.ts';
import { comparable, drgnScript, NotOurArch, notOurArch, oracleSkipReason, ported, runOurs, runOurScript, SCRIPTS } from './harness/oracle-compare.ts';
import { fetchVmlinux, oracleDumpsFetching, type OracleDump } from './harness/oracle-dumps.ts';

const skip = oracleSkipReason();
const { dumps, skipped } = skip ? { dumps: [], skipped: [] } : await oracleDumpsFetching(fetchVmlinux(), (s) => console.log(`# ${s}`));
let tools: ReferenceTools | undefined;
/** drgn's NAME.py on the dump, in the one sid root this file opens (on first use). */
function drgnOn(d: OracleDump, name: string, args: string[] = []): { value: unknown; seconds: number } {
  tools ??= ReferenceTools.open();
  return tools.drgnJson(tools.addDump(d.name, d.vmcore, d.vmlinux), drgnScript(name), args);
}
after(() => tools?.dispose());

/**
 * Our symbol options for a dump: none, or --vmlinux when its kallsyms has no data symbols (Debian's
 * bookworm arm64 kernels: CONFIG_KALLSYMS_ALL off, so init_task is not in the dump) — as a user would.
 */
const symbolFlags = new Map<string, string[]>();
function flagsFor(d: OracleDump, t: { diagnostic(s: string): void }): string[] {
  let f = symbolFlags.get(d.name);
  if (!f) {
    f = runOurs(['sym', d.vmcore, 'init_task']).status === 0 ? [] : ['--vmlinux', d.vmlinux];
    symbolFlags.set(d.name, f);
  }
  if (f.length) t.diagnostic("the dump's kallsyms has no data symbols (CONFIG_KALLSYMS_ALL off): ours with --vmlinux");
  return f;
}

const isInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** What each drgn script's JSON must look like (the contract in e2e/oracle/README.md), whatever the dump. */
const SHAPE: Record<string, (v: any, d: OracleDump) => void> = {
  'tasks-by-state': (v) => {
    assert.ok(Object.keys(v.counts).length > 0 && Object.values(v.counts).every(isInt));
    assert.ok(Object.keys(v.counts).every((k) => /^[RSDTtXZPI]$/.test(k)), Object.keys(v.counts).join(''));
    for (const t of v.D) assert.ok(isInt(t.pid) && typeof t.comm === 'string' && Array.isArray(t.stack) && t.stack.length > 0);
    assert.deepEqual(v.D.map((t: any) => t.pid), [...v.D.map((t: any) => t.pid)].sort((a: number, b: number) => a - b));
  },
  'mutex-owner': (v) => {
    assert.ok(v.length > 0 && v.some((m: any) => m.mutex === 'cgroup_mutex'));
    for (const m of v) assert.ok(m.owner === null || (isInt(m.owner.pid) && typeof m.owner.comm === 'string'));
  },
  'slab-usage': (v) => {
    assert.ok(v.length > 20 && v.some((c: any) => c.name === 'task_struct'));
    for (const c of v) assert.ok(c.size >= c.objectSize && isInt(c.slabs) && c.objects >= c.slabs);
    assert.deepEqual(v.map((c: any) => c.name), [...v.map((c: any) => c.name)].sort());
  },
  modules: (v) => {
    for (const m of v) assert.ok(typeof m.name === 'string' && m.size > 0 && m.size < 1 << 30, JSON.stringify(m));
  },
  runqueues: (v) => {
    assert.ok(v.length > 0);
    v.forEach((r: any, i: number) => assert.ok(r.cpu === i && isInt(r.nrRunning) && isInt(r.curr) && Array.isArray(r.queued)));
  },
  'task-files': (v) => {
    for (const f of v) assert.ok(isInt(f.fd) && f.path.startsWith('/'), JSON.stringify(f));
  },
  mounts: (v) => {
    assert.ok(v.some((m: any) => m.mountpoint === '/'));
    for (const m of v) assert.ok(typeof m.devname === 'string' && m.mountpoint.startsWith('/') && m.fstype.length > 0);
  },
  meminfo: (v) => {
    assert.ok(v.MemTotal > 0 && v.MemFree > 0 && v.MemFree <= v.MemTotal, JSON.stringify(v));
    for (const k of ['Shmem', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Mlocked']) {
      assert.ok(isInt(v[k]), k);
    }
  },
};

test('e2e drgn-scripts: the opted-in run finds at least one dump with its debug vmlinux', { skip }, (t) => {
  for (const x of skipped) t.diagnostic(`left out: ${x}`);
  assert.ok(dumps.length > 0, `no dump with a matching debug vmlinux: ${skipped.join('; ')}`);
});

for (const d of dumps) {
  test(`e2e drgn-scripts ${d.name} (${d.release}): drgn 0.3.0's tasks-by-state counts equal our vmcore-ts ps states (idle tasks left out)`, { skip, timeout: 10 * 60_000 }, (t) => {
    const drgn = drgnOn(d, 'tasks-by-state').value as { counts: Record<string, number> };
    const ps = runOurs(['ps', ...flagsFor(d, t), '--json', d.vmcore]);
    const arch = ps.status !== 0 ? notOurArch(ps.stderr) : undefined;
    if (arch) return t.skip(`ours: ${arch}`);
    assert.equal(ps.status, 0, ps.stderr);
    const counts: Record<string, number> = {};
    for (const t of JSON.parse(ps.stdout).tasks as { state: string; idle?: boolean }[]) if (!t.idle) counts[t.state] = (counts[t.state] ?? 0) + 1;
    assert.deepEqual(counts, drgn.counts);
  });
  test(`e2e drgn-scripts ${d.name} (${d.release}): drgn 0.3.0's meminfo equals our vmcore-ts mem counters where both know it`, { skip, timeout: 10 * 60_000 }, (t) => {
    const m = drgnOn(d, 'meminfo').value as Record<string, number>;
    const mem = runOurs(['mem', ...flagsFor(d, t), '--json', d.vmcore]);
    const arch = mem.status !== 0 ? notOurArch(mem.stderr) : undefined;
    if (arch) return t.skip(`ours: ${arch}`);
    assert.equal(mem.status, 0, mem.stderr);
    const kb = Object.fromEntries((JSON.parse(mem.stdout).counters as { label: string; bytes: number }[]).map((c) => [c.label, c.bytes / 1024]));
    const drgn: Record<string, number> = { total: m.MemTotal, free: m.MemFree, slab: m.SReclaimable + m.SUnreclaim, 'page tables': m.PageTables, 'kernel stacks': m.KernelStack };
    // Our "page cache" is NR_FILE_PAGES: Cached + Buffers when there is no swap cache (drgn gives Cached only then).
    if ('Cached' in m) drgn['page cache'] = m.Cached + m.Buffers;
    assert.deepEqual(Object.fromEntries(Object.keys(drgn).map((k) => [k, kb[k]])), drgn);
  });
  test(`e2e drgn-scripts ${d.name} (${d.release}): drgn 0.3.0's kallsyms-named stacks (tasks-by-state.py's normalisation) of every task equal our vmcore-ts bt's frames`, { skip, timeout: 10 * 60_000 }, (t) => {
    // The dumps have no D task, so tasks-by-state.py is asked for the stacks of every state.
    const drgn = drgnOn(d, 'tasks-by-state', ['RSDTtXZPI']).value as { D: { pid: number; comm: string; stack: string[] }[] };
    assert.ok(drgn.D.length > 10, `${drgn.D.length} tasks`);
    const bt = runOurs(['bt', ...flagsFor(d, t), '--json', d.vmcore, ...drgn.D.map((x) => String(x.pid))]);
    const arch = bt.status !== 0 ? notOurArch(bt.stderr) : undefined;
    if (arch) return t.skip(`ours: ${arch}`);
    assert.equal(bt.status, 0, bt.stderr);
    const ours = (JSON.parse(bt.stdout).backtraces as { pid: number; comm: string; frames: { function?: string }[] }[]).map((b) => ({ pid: b.pid, comm: b.comm, stack: b.frames.map((f) => f.function ?? null) }));
    assert.deepEqual(ours, drgn.D);
  });
  for (const name of SCRIPTS) {
    test(`e2e drgn-scripts ${d.name} (${d.release}) ${name}: examples/scripts/${name}.ts prints what drgn 0.3.0's ${name}.py prints, object for object`, { skip, timeout: 10 * 60_000 }, (t) => {
      const drgn = drgnOn(d, name);
      SHAPE[name](drgn.value, d);
      if (!ported(name)) {
        t.skip(`not ported yet (no examples/scripts/${name}.ts); drgn's output has the contract's shape`);
        return;
      }
      let ours;
      try {
        ours = runOurScript(name, d.vmcore, [], flagsFor(d, t));
      } catch (e) {
        if (e instanceof NotOurArch) return t.skip(`ours: ${e.message}`);
        throw e;
      }
      const c = comparable(name, drgn.value, ours.value);
      for (const n of c.notes) t.diagnostic(n);
      t.diagnostic(`wall: drgn ${drgn.seconds.toFixed(2)} s, ours ${ours.seconds.toFixed(2)} s`);
      assert.deepEqual(c.ours, c.drgn);
    });
  }
}

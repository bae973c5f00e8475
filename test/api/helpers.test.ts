// The typed API (src/api/) and its helpers on the bundled dump (Debian 6.1, kdump-compressed,
// dump level 31), checked against what crash and drgn printed for it (fixtures/.../oracle/) and
// what the guest was (fixtures/.../README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as api from '../../src/host/package-entry.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const dump = api.openKernelDump(DUMP);
const drgnTasks = readFileSync('fixtures/x86_64-debian-6.1/oracle/drgn-0.0.22-tasks-stack.txt', 'utf8');

test('object: init_task.comm reads as a string and its type is declared (BTF has no non-per-CPU globals)', () => {
  const init = dump.object('init_task');
  assert.equal(init.typeName, 'struct task_struct');
  assert.equal(init.member('comm').string(), 'swapper/0');
  assert.equal(init.member('pid').number(), 0);
});

test('object: pointers are followed, members through a pointer work like ->, NULL deref is an ObjectError naming the address', () => {
  const init = dump.object('init_task');
  const next = init.member('tasks.next');
  const first = next.containerOf('struct task_struct', 'tasks');
  assert.equal(first.member('pid').number(), 1);
  assert.equal(first.member('comm').string(), 'init');
  assert.equal(init.member('mm').isNull(), true);
  assert.throws(() => init.member('mm').deref(), (e: unknown) => e instanceof api.ObjectError && e.address === init.member('mm').address);
  assert.equal(first.member('real_parent').member('pid').number(), 0);
});

test('object: a member the type lacks, an index past an array and a global of unknown type are ObjectErrors', () => {
  const init = dump.object('init_task');
  assert.throws(() => init.member('no_such_member'), api.ObjectError);
  assert.throws(() => init.member('comm').index(16), api.ObjectError);
  assert.throws(() => dump.object('loops_per_jiffy'), (e: unknown) => e instanceof api.ObjectError && /give it/.test(e.hint ?? ''));
  assert.equal(typeof dump.object('loops_per_jiffy', 'unsigned long').bigint(), 'bigint');
  assert.equal(typeof dump.object('jiffies_64').bigint(), 'bigint'); // declared: u64
});

test('object: per-CPU variables take their BTF type; arrays, enums and bitfields read', () => {
  const rq = dump.perCpu('runqueues', 1);
  assert.equal(rq.typeName, 'struct rq');
  assert.equal(rq.member('cpu').number(), 1);
  assert.ok(dump.enumValue('NR_FREE_PAGES', 'zone_stat_item') >= 0);
  const stat = dump.object('vm_zone_stat');
  assert.equal(stat.length, dump.enumValue('NR_VM_ZONE_STAT_ITEMS', 'zone_stat_item'));
  assert.deepEqual(dump.possibleCpus(), [0, 1]);
});

test('symbols: by name and by address', () => {
  const s = dump.symbol('init_task');
  assert.ok(s && s.address === dump.object('init_task').address);
  assert.equal(dump.symbolAt(s.address + 8n)?.symbol.name, 'init_task');
  assert.equal(dump.read(s.address, 16).length, 16);
});

test('tasks: the task list is the one drgn listed (54 tasks, same names in the same order)', () => {
  const names = JSON.parse(/\[('.*')\]/.exec(drgnTasks)![0]!.replace(/'/g, '"')) as string[];
  const list = api.taskList(dump).filter((t) => !t.idle);
  assert.deepEqual(list.map((t) => t.comm), names);
  assert.equal(api.findTask(dump, 1).comm, 'init');
  assert.equal(api.taskState(api.findTask(dump, 1).task), 'R');
  assert.throws(() => api.findTask(dump, 99999), api.ObjectError);
});

test('tasks-by-state: crash showed init running and no D tasks; counts add up to the task list', () => {
  const r = api.tasksByState(dump);
  assert.deepEqual(r.D, []);
  assert.equal(r.counts.R, 1);
  assert.equal(Object.values(r.counts).reduce((a, b) => a + b, 0), 54);
});

test('stack: init (running at the crash) unwinds through the sysrq crash path drgn showed', () => {
  const frames = api.taskStack(dump, api.findTask(dump, 1)).map((f) => f.function);
  for (const fn of ['panic', 'sysrq_handle_crash', 'write_sysrq_trigger', 'vfs_write', 'ksys_write']) assert.ok(frames.includes(fn), `${fn} in ${frames.join(' ')}`);
});

test('locks: no default mutex is held at this crash (owner fields are 0)', () => {
  const r = api.mutexOwners(dump);
  assert.deepEqual(r.map((m) => m.mutex), api.DEFAULT_MUTEXES);
  assert.ok(r.every((m) => m.owner === null));
  assert.deepEqual(api.mutexOwners(dump, ['no_such_mutex']), []);
});

test('slab: caches sorted by name with SLUB per-node counts; kmalloc-64 holds objects', () => {
  const r = api.slabUsage(dump);
  assert.ok(r.length > 100);
  assert.deepEqual(r.map((c) => c.name), [...r.map((c) => c.name)].sort());
  const k = r.find((c) => c.name === 'kmalloc-64')!;
  assert.equal(k.objectSize, 64);
  assert.ok(k.slabs > 0 && k.objects >= k.slabs);
});

test('modules: the virtio modules the guest loaded, with page-multiple sizes', () => {
  const r = api.modules(dump);
  assert.deepEqual(r.map((m) => m.name), ['virtio_blk', 'virtio_pci', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio', 'virtio_ring']);
  assert.ok(r.every((m) => m.size > 0 && m.size % 4096 === 0));
});

test('runqueues: one per possible CPU; CPU 1 runs init (the crashing task), CPU 0 idles', () => {
  const r = api.runqueues(dump);
  assert.deepEqual(r.map((q) => [q.cpu, q.curr]), [[0, 0], [1, 1]]);
  assert.equal(r[1]!.nrRunning, 1);
});

test('files: init (writing /proc/sysrq-trigger) has it open, paths as d_path prints them', () => {
  const r = api.taskFiles(dump, api.findTask(dump, 1).task).map(({ fd, path }) => ({ fd, path }));
  assert.deepEqual(r, [
    { fd: 0, path: '/dev/console' },
    { fd: 1, path: '/proc/sysrq-trigger' },
    { fd: 2, path: '/dev/console' },
    { fd: 10, path: '/init' },
    { fd: 11, path: '/dev/console' },
  ]);
});

test('mounts: the initramfs guest had rootfs, /proc, /sys, /dev in that order', () => {
  assert.deepEqual(api.mounts(dump).map(({ devname, mountpoint, fstype }) => [devname, mountpoint, fstype]), [
    ['rootfs', '/', 'rootfs'],
    ['proc', '/proc', 'proc'],
    ['sys', '/sys', 'sysfs'],
    ['dev', '/dev', 'devtmpfs'],
  ]);
});

test('meminfo: MemTotal from totalram_pages, counters in kB, keys in /proc/meminfo order', () => {
  const m = api.meminfo(dump);
  assert.equal(m.MemTotal, dump.object('_totalram_pages').number() * 4);
  assert.ok(m.MemFree > 0 && m.MemFree < m.MemTotal);
  assert.equal(m.Shmem, 34580); // the initramfs (tmpfs rootfs) is shmem
  assert.deepEqual(Object.keys(m).slice(0, 4), ['MemTotal', 'MemFree', 'Buffers', 'Cached']);
});

test('lists: listNodes throws an ObjectError on a list that loops without returning to its head', () => {
  // A fake memory: head -> a -> b -> a (loop).
  const head = 0x1000n, a = 0x2000n, b = 0x3000n;
  const next = new Map([[head, a], [a, b], [b, a]]);
  const memory = {
    readVirt(addr: bigint, len: number): Uint8Array {
      const base = addr & ~0xfn;
      const out = new Uint8Array(len);
      const v = addr === base ? next.get(base) ?? 0n : 0n;
      new DataView(out.buffer).setBigUint64(0, v, true);
      return out;
    },
  };
  const obj = new api.KObject({ btf: dump.btf, memory }, dump.type('struct list_head'), head);
  assert.throws(() => [...api.listNodes(obj)], (e: unknown) => e instanceof api.ObjectError && e.address === a);
});

test('xarray: the PID IDR of init_pid_ns (an XArray) holds exactly the PIDs of the task list', () => {
  const idr = dump.object('init_pid_ns').member('idr.idr_rt');
  const entries = [...api.xarrayEntries(idr)];
  const pids = api.taskList(dump).filter((t) => !t.idle).map((t) => t.pid).sort((a, b) => a - b);
  assert.deepEqual(entries.map(([i]) => Number(i)), pids);
  // each entry is that PID's struct pid
  for (const [i, e] of entries.slice(0, 5)) assert.equal(dump.objectAt('struct pid', e).member('numbers').index(0).member('nr').number(), Number(i));
});

test('hlist: a struct pid\'s task hlist leads back to its task', () => {
  const init = api.findTask(dump, 1).task;
  const pid = init.member('thread_pid').deref();
  const linked = [...api.hlistEntries(pid.member('tasks').index(0), 'struct task_struct', 'pid_links')];
  assert.deepEqual(linked.map((t) => t.address), [init.address]);
});

test('rbtree: vmap_area_root in order is sorted by va_start, and rbtreeNodes visits every node once', () => {
  const areas = [...api.rbtreeEntries(dump.object('vmap_area_root'), 'struct vmap_area', 'rb_node')];
  assert.ok(areas.length > 10, `${areas.length} vmap areas`);
  const starts = areas.map((a) => a.member('va_start').bigint());
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i - 1]! < starts[i]!, `in order at ${i}`);
  assert.equal(new Set(areas.map((a) => a.address)).size, areas.length);
});

test('printk: the API reads the same log as vmcore-ts dmesg (the sysrq crash line is there)', () => {
  const log = dump.printk();
  assert.ok(log.length > 300);
  assert.ok(log.some((r) => r.text.includes('sysrq: Trigger a crash')));
});

test('meminfo agrees with vmcore-ts mem\'s counters, which name vmstat items by the kernel\'s vmstat_text instead of BTF enums', async () => {
  const { memoryCounters } = await import('../../src/analyze/summary.ts');
  const c = memoryCounters(dump.kernel);
  const m = api.meminfo(dump);
  const kb = (pages: bigint | undefined) => Number(pages!) * 4;
  assert.equal(m.MemTotal, kb(c.total));
  assert.equal(m.MemFree, kb(c.free));
  assert.equal(m.Shmem, kb(c.shmem));
  assert.equal(m.SReclaimable, kb(c.slabReclaimable));
  assert.equal(m.SUnreclaim, kb(c.slabUnreclaimable));
  assert.equal(m.PageTables, kb(c.pageTables));
  assert.equal(m.KernelStack, Number(c.kernelStackKb));
  assert.equal(m.Cached, kb(c.fileCache)); // no swap, no block device pages in this guest
});

test('stack: a sleeping task (kthreadd, S) unwinds from its saved frame through the scheduler, as a D task\'s would', () => {
  const t = api.findTask(dump, 2);
  assert.equal(t.state, 'S');
  const frames = api.taskStack(dump, t).map((f) => f.function);
  assert.ok(frames.includes('__schedule') && frames.includes('kthreadd'), frames.join(' '));
});

test('block: the guest\'s virtio disk vda (254:0) with the size its driver logged', () => {
  const r = api.blockDevices(dump).map(({ name, dev, sectors, partition }) => ({ name, dev, sectors, partition }));
  const logged = dump.printk().map((l) => /\[vda\] (\d+) 512-byte logical blocks/.exec(l.text)).find(Boolean);
  assert.ok(logged, 'virtio_blk logged the disk size');
  assert.deepEqual(r, [{ name: 'vda', dev: '254:0', sectors: Number(logged[1]), partition: 0 }]);
});

test('zones: managed pages sum to totalram_pages and free pages to MemFree (one node, DMA and DMA32 populated)', () => {
  const z = api.zones(dump);
  assert.deepEqual(z.filter((x) => x.presentPages > 0).map((x) => [x.node, x.name]), [[0, 'DMA'], [0, 'DMA32']]);
  assert.equal(z.reduce((a, x) => a + x.managedPages, 0), dump.object('_totalram_pages').number());
  assert.equal(z.reduce((a, x) => a + x.freePages, 0) * 4, api.meminfo(dump).MemFree);
});

/** Kernel memory made of a few given regions (address -> bytes); anything else is not in the dump. */
function fakeMemory(regions: Map<bigint, Uint8Array>) {
  return {
    readVirt(addr: bigint, len: number): Uint8Array {
      for (const [base, bytes] of regions) {
        if (addr >= base && addr + BigInt(len) <= base + BigInt(bytes.length)) return bytes.subarray(Number(addr - base), Number(addr - base) + len);
      }
      throw new api.NotInDumpError(addr, false, 'unmapped');
    },
  };
}

test('locks: a held mutex names its owner with the flag bits (waiters, handoff) cleared', () => {
  const btf = dump.btf;
  const task = 0xffff888001000000n;
  const mutex = 0xffff888002000000n;
  const t = new Uint8Array(btf.get('struct task_struct').size);
  const tv = new DataView(t.buffer);
  tv.setInt32(btf.offsetOf('struct task_struct', 'pid'), 4242, true);
  t.set(new TextEncoder().encode('holder\0'), btf.offsetOf('struct task_struct', 'comm'));
  const m = new Uint8Array(btf.get('struct mutex').size);
  new DataView(m.buffer).setBigUint64(btf.offsetOf('struct mutex', 'owner'), task | 0x3n, true);
  const ctx = { btf, memory: fakeMemory(new Map([[task, t], [mutex, m]])) };
  const owner = api.mutexOwner(new api.KObject(ctx, dump.type('struct mutex'), mutex));
  assert.equal(owner?.address, task);
  assert.equal(owner.member('pid').number(), 4242);
  assert.equal(owner.member('comm').string(), 'holder');
  new DataView(m.buffer).setBigUint64(btf.offsetOf('struct mutex', 'owner'), 0x1n, true); // flags only: free
  assert.equal(api.mutexOwner(new api.KObject(ctx, dump.type('struct mutex'), mutex)), undefined);
});

test('lists: listEmpty on an empty and a full list; tasks() is the task list without the idle tasks', () => {
  assert.equal(api.listEmpty(dump.object('modules')), false);
  const init = api.findTask(dump, 1).task;
  // (swapper/1, forked by PID 1 in smp_init, has ppid 1 but idle tasks are on no list)
  const initHasChildren = api.taskList(dump).some((t) => t.ppid === 1 && !t.idle);
  assert.equal(api.listEmpty(init.member('children')), !initHasChildren);
  assert.equal(api.listEmpty(api.findTask(dump, 2).task.member('sibling')), false);
  const kthreadChildren = [...api.listEntries(api.findTask(dump, 2).task.member('children'), 'struct task_struct', 'sibling')];
  assert.ok(kthreadChildren.length > 30 && kthreadChildren.every((c) => c.member('real_parent').pointer() === api.findTask(dump, 2).task.address));
  assert.equal(api.tasks(dump).length, 54);
});

test('object: a module\'s global by its module symbol, with the type given', () => {
  const sym = dump.symbol('virtblk_fops');
  assert.equal(sym?.module, 'virtio_blk');
  const fops = dump.object('virtblk_fops', 'struct block_device_operations');
  assert.equal(fops.address, sym!.address);
  assert.equal(dump.symbolAt(fops.member('owner').pointer())?.symbol.name, '__this_module');
});

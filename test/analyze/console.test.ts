// The console commands of `vmcore-ts shell` and the viewer's Console tab (src/analyze/console/), run
// in-process on the bundled Debian 6.1 dump and compared with crash's output on the same dump:
// crash 9.0.2 with the kernel's debug vmlinux (fixtures/x86_64-debian-6.1/oracle/crash-9.0.2-shell.txt,
// written by scripts/crash-shell-oracle.ts), line for line where we print the same fields, and
// crash 8.0.2's sys, bt, ps, log (crash-8.0.2-sys-bt-ps-log.txt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openKernelDump } from '../../src/analyze/open-kernel-dump.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { nodePageDecoders } from '../../src/host/node-codecs.ts';
import { ConsoleSession as BaseSession } from '../../src/analyze/console/session.ts';
import { apiConsoleCommands } from '../../src/api/console-commands.ts';
import { parseLine, splitWords } from '../../src/analyze/console/line.ts';
import { UsageError } from '../../src/errors.ts';

const DIR = 'fixtures/x86_64-debian-6.1';
const DUMP = `${DIR}/vmcore-d31-zlib.kdump`;
const CRASH = readFileSync(`${DIR}/oracle/crash-8.0.2-sys-bt-ps-log.txt`, 'latin1');
const DMESG = readFileSync(`${DIR}/oracle/makedumpfile-dump-dmesg.txt`, 'latin1');
/** crash 9.0.2's output per command ("=== COMMAND" lines separate them). */
const CRASH9 = new Map(
  readFileSync(`${DIR}/oracle/crash-9.0.2-shell.txt`, 'latin1')
    .split(/=== /) // crash ends rd -a without a newline: the marker may follow on the same line
    .filter(Boolean)
    .map((block) => [block.slice(0, block.indexOf('\n')), block.slice(block.indexOf('\n') + 1)] as const),
);
const crash9 = (cmd: string) => {
  const out = CRASH9.get(cmd);
  assert.ok(out !== undefined, `no '${cmd}' in the crash 9.0.2 oracle`);
  return out;
};

/** The console as the shell and the viewer run it: its own commands and the API's (files, runq, kmem). */
class ConsoleSession extends BaseSession {
  constructor(kd: BaseSession['kd']) {
    super(kd, apiConsoleCommands);
  }
}
const session = new ConsoleSession(openKernelDump(new FileSource(DUMP), { decoders: nodePageDecoders }));
const run = (line: string) => session.run(parseLine(line)).text;

/** crash's "LABEL: value" rows of its sys output. */
function crashSys(): Map<string, string> {
  const head = CRASH.slice(0, CRASH.indexOf('\nPID: '));
  return new Map([...head.matchAll(/^ *([A-Z][A-Z ]+): (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

test('line: words, quotes, a regex word in single quotes, | and > / >> split off, -> is not a redirect', () => {
  assert.deepEqual(parseLine('bt -a | grep -c "#"'), { command: 'bt -a ', words: [{ text: 'bt', regex: false }, { text: '-a', regex: false }], pipe: 'grep -c "#"' });
  assert.deepEqual(parseLine('sym panic >> out.txt').redirect, { file: 'out.txt', append: true });
  assert.deepEqual(parseLine('log > "my file"').redirect, { file: 'my file', append: false });
  assert.equal(parseLine('p ((struct task_struct *)ff00)->comm').redirect, undefined);
  assert.deepEqual(splitWords(`ps 'kworker/1' "a b"`), [{ text: 'ps', regex: false }, { text: 'kworker/1', regex: true }, { text: 'a b', regex: false }]);
  assert.throws(() => parseLine('ps "unterminated'), /unterminated " quote/);
  assert.throws(() => parseLine('ps |'), /wants a shell command/);
  assert.throws(() => parseLine('ps > a b'), /one file name/);
});

test('sys: the rows crash prints for the same dump (date, uptime, load average, release, version, memory, panic)', () => {
  const out = run('sys');
  const ours = new Map([...out.matchAll(/^ *([A-Z][A-Z ]+): (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const crash = crashSys();
  for (const k of ['CPUS', 'DATE', 'UPTIME', 'LOAD AVERAGE', 'NODENAME', 'RELEASE', 'VERSION', 'MEMORY', 'PANIC']) assert.equal(ours.get(k), crash.get(k), k);
  assert.equal(ours.get('MACHINE'), 'x86_64  (2445 Mhz)'); // cpu_khz, as crash 9 prints it (crash 8.0.2's row too)
  assert.equal(ours.get('TASKS'), '56'); // crash 8.0.2 counted 3 (its PID hash lookup failed on this dump)
  assert.match(ours.get('DUMPFILE')!, /vmcore-d31-zlib\.kdump {2}\[PARTIAL DUMP\]$/);
  // crash's order
  assert.deepEqual([...ours.keys()], ['DUMPFILE', 'CPUS', 'DATE', 'UPTIME', 'LOAD AVERAGE', 'TASKS', 'NODENAME', 'RELEASE', 'VERSION', 'MACHINE', 'MEMORY', 'PANIC']);
});

test('crash 9.0.2, line for line: ps (all, -S, -k -H, -u), foreach RU ps, mod, kmem -i, files, runq, rd (64, 8, 32-bit, -a), p of a per-CPU variable and of a plain global', () => {
  for (const cmd of ['ps', 'ps -S', 'ps -k -H', 'ps -u', 'foreach RU ps', 'mod', 'kmem -i', 'files 1', 'runq', 'rd linux_banner 4', 'rd -8 linux_banner 20', 'rd -32 linux_banner 8', 'p runqueues', 'p jiffies']) {
    const s = new ConsoleSession(session.kd); // a fresh session: p's value numbers start at $1
    assert.equal(s.run(parseLine(cmd)).text, crash9(cmd), cmd);
  }
  // crash prints no newline after rd -a's string
  assert.equal(run('rd -a linux_banner'), crash9('rd -a linux_banner') + '\n');
});

test('crash 9.0.2: sys rows but KERNEL (we have no vmlinux); set; sym without the source file and line (no DWARF); bt header and user registers', () => {
  const rows = (t: string) => t.split('\n').filter((l) => l && !/^ *(KERNEL|DUMPFILE):/.test(l));
  assert.deepEqual(rows(run('sys')), rows(crash9('sys')));
  const s = new ConsoleSession(session.kd);
  assert.equal(s.run(parseLine('set 2')).text, crash9('set 2').replace(/ +\n/g, '\n'));
  assert.ok(crash9('sym panic').startsWith(run('sym panic').trimEnd() + ' '));
  assert.ok(crash9('sym ffffffff83ea8a06').startsWith(run('sym ffffffff83ea8a06').trimEnd() + ' '));
  const regs = (t: string) => t.split('\n').filter((l) => /^ {4}(RIP|RAX|RDX|RBP|R10|R13|ORIG_RAX):/.test(l));
  assert.deepEqual(regs(run('bt')), regs(crash9('bt')));
  for (const cmd of ['bt', 'bt 2']) assert.equal(run(cmd).split('\n')[0], crash9(cmd).split('\n')[0], cmd);
});

test('log is the kernel log as makedumpfile prints it; -t drops the timestamps; -m adds <level>', () => {
  assert.equal(run('log'), DMESG);
  const t = run('log -t').split('\n');
  assert.equal(t[0], DMESG.split('\n')[0]!.replace(/^\[ *\d+\.\d+\] /, ''));
  assert.match(run('log -m').split('\n')[0]!, /^<\d+>\[ {4}0\.000000\] Linux version/);
});

test("ps: crash's header and columns; the rows crash shows agree on PID, PPID, CPU, TASK, state and VSZ", () => {
  const out = run('ps').split('\n');
  const header = CRASH.split('\n').find((l) => l.includes('PID    PPID  CPU'))!;
  assert.equal(out[0], header);
  const crashRows = CRASH.split('\n').filter((l) => /^[> ] +\d+ +\d+ +\d+ +[0-9a-f]{16} /.test(l));
  assert.equal(crashRows.length, 3);
  for (const c of crashRows) {
    const cols = c.replace(/^>/, '').trim().split(/\s+/);
    const ours = out.find((l) => l.includes(cols[3]!))!;
    assert.ok(ours, c);
    const o = ours.replace(/^>/, '').trim().split(/\s+/);
    assert.deepEqual([o[0], o[1], o[2], o[3], o[4], o[6], o[8]], [cols[0], cols[1], cols[2], cols[3], cols[4], cols[6], cols[8]], c);
    assert.equal(ours.startsWith('>'), c.startsWith('>'), c);
    // RSS: crash 9 adds MM_SHMEMPAGES to file and anon pages (crash 8.0.2 did not): 1 + 17 + 416 pages for init
    if (cols[8] === 'init') assert.equal(o[7], String((1 + 17 + 416) * 4));
  }
  assert.equal(out.filter((l) => /^[> ] +\d/.test(l)).length, 56);
});

test('ps filters: -k kernel threads only (bracketed), -u user tasks, -G leaders, -A active, -S state counts, -H no header, by PID / name / regex', () => {
  const rows = (s: string) => s.split('\n').filter((l) => /^[> ] +\d/.test(l));
  assert.ok(rows(run('ps -k')).every((l) => / \[.*\]$/.test(l)));
  assert.deepEqual(rows(run('ps -u')).map((l) => l.trim().split(/\s+/).at(-1)), ['init']);
  assert.equal(rows(run('ps -A')).length, 2);
  assert.equal(run('ps -S'), '  RU: 3\n  IN: 15\n  ID: 38\n');
  assert.equal(run('ps -H 1').split('\n').length, 2);
  assert.equal(rows(run('ps kthreadd')).length, 1);
  assert.equal(rows(run("ps 'kworker/1:'")).length, 5);
  assert.ok(rows(run('ps -G')).length <= 56);
  // -y: scheduling policy (the migration threads are FIFO; kthreadd is NORMAL)
  assert.deepEqual(rows(run('ps -y FIFO')).map((l) => l.trim().split(/\s+/).at(-1)), ['[migration/0]', '[migration/1]']);
  assert.equal(rows(run('ps -y 0,fifo')).length, 56);
  assert.throws(() => run('ps -y bogus'), /invalid scheduling policy: bogus/);
  assert.throws(() => run('ps -k -u'), UsageError);
  assert.throws(() => run('ps -S 1'), /-S option cannot be used/);
  assert.throws(() => run('ps 99999'), /invalid task or pid value: 99999/);
});

test("bt: the context task (the panic task) with crash's header line; -a every CPU; PID; -p; -c", () => {
  const bt = run('bt');
  const crashHeader = CRASH.split('\n').find((l) => l.startsWith('PID: 1 '))!;
  assert.equal(bt.split('\n')[0], crashHeader);
  // The frames crash shows on the panic path, in the same order (crash also shows stale entries from its stack scan).
  const names = [...bt.matchAll(/^ *#\d+ \[[0-9a-f]+\] (\S+?)\+/gm)].map((m) => m[1]);
  assert.deepEqual(names.slice(1, 9), ['panic', 'sysrq_handle_crash', '__handle_sysrq.cold', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write', 'ksys_write', 'do_syscall_64']);
  const all = run('bt -a');
  assert.equal([...all.matchAll(/^PID: /gm)].length, 2);
  assert.ok(all.startsWith(CRASH.split('\n').find((l) => l.startsWith('PID: 0 '))!));
  assert.equal(run('bt -p'), bt);
  assert.equal(run('bt 1'), bt);
  assert.equal(run('bt -c 1'), bt);
  assert.match(run('bt 2'), /^PID: 2 {8}TASK: [0-9a-f]{16} {2}CPU: 0 {4}COMMAND: "kthreadd"\n[\s\S]*schedule/);
  assert.throws(() => run('bt -a 1'), /give one of them/);
  assert.throws(() => run('bt -x'), /bt: invalid option -- 'x'/);
  assert.throws(() => run('bt -c 7'), /invalid cpu: 7/);
});

test('set changes the context task bt shows; foreach bt / ps over states, kernel, user, names', () => {
  const s = new ConsoleSession(session.kd);
  const r = (l: string) => s.run(parseLine(l)).text;
  assert.match(r('set 2'), /PID: 2\nCOMMAND: "kthreadd"\n {3}TASK: [0-9a-f]{16} .*\n {4}CPU: 0\n {2}STATE: TASK_INTERRUPTIBLE\n/);
  assert.match(r('bt'), /^PID: 2 /);
  assert.equal([...r('foreach RU bt').matchAll(/^PID: /gm)].length, 3);
  assert.equal([...r('foreach user bt').matchAll(/^PID: 1 /gm)].length, 1);
  assert.equal([...r('foreach kthreadd init bt').matchAll(/^PID: /gm)].length, 2);
  assert.equal(r('foreach UN bt'), '');
  assert.equal(r('foreach IN ps -H').split('\n').filter(Boolean).length, 15);
  assert.throws(() => r('foreach RU'), /give a command: bt or ps/);
});

test('struct/union: a layout without an address, the contents at an address or symbol, only the members named', () => {
  assert.match(run('struct list_head'), /^struct list_head \{\n {2}struct list_head \*next;\s+\/\* +0 +8 \*\/\n {2}struct list_head \*prev;/);
  assert.equal(run('struct task_struct.pid,comm ff278b50411f20c0'), '  pid = 1,\n  comm = "init",\n');
  assert.match(run('struct task_struct init_task'), /^struct task_struct at 0xffffffff8521aa40 \(\d+ bytes\) = \{[\s\S]*comm = "swapper\/0",/);
  assert.match(run('union bpf_attr'), /^union bpf_attr \{/);
  assert.throws(() => run('struct no_such_struct'), /invalid data structure reference: no_such_struct/);
  assert.throws(() => run('struct task_struct.nope 0'), /member reference: nope/);
});

test('p: a per-CPU variable (BTF type and addresses, :CPU for the value), a cast to a struct pointer, &symbol, a plain symbol', () => {
  assert.match(run('p runqueues'), /^PER-CPU DATA TYPE:\n {2}struct rq runqueues;\nPER-CPU ADDRESSES:\n {2}\[0\]: [0-9a-f]+\n {2}\[1\]: [0-9a-f]+\n$/);
  assert.match(run('p runqueues:1'), /^per_cpu\(runqueues, 1\) = \{\n/);
  assert.match(run('p ((struct task_struct *)ff278b50411f20c0)->comm'), /^\$\d+ = "init"\n$/);
  assert.match(run('p *(struct task_struct *)ff278b50411f20c0'), /^\$\d+ = \{[\s\S]*\n {2}pid = 1,/);
  assert.match(run('p &init_task'), /^\$\d+ = \(void \*\) 0xffffffff8521aa40 <init_task>\n$/);
  assert.throws(() => run('p no_such_symbol'), /no symbol "no_such_symbol"/);
});

test("rd: crash's layout (64-bit words, then ASCII), -8 bytes, -a a string, -p physical", () => {
  assert.equal(run('rd linux_banner 2'), 'ffffffff8491ffe0:  65762078756e694c 2e36206e6f697372   Linux version 6.\n');
  assert.equal(run('rd -8 linux_banner 4'), `ffffffff8491ffe0:  4c 69 6e 75 ${' '.repeat(36)}  Linu\n`);
  assert.match(run('rd -a linux_banner'), /^ffffffff8491ffe0: {2}Linux version 6\.1\.0-56-cloud-amd64 /);
  assert.match(run('rd -32 linux_banner 4'), /^ffffffff8491ffe0: {2}756e694c 65762078 6f697372 2e36206e {3}Linux version 6\.\n$/);
  assert.throws(() => run('rd 0 1'), /virtual address 0x0/);
});

test('sym: name to address and address to name+offset in crash\'s "(T) name" form; -q searches', () => {
  assert.equal(run('sym panic'), 'ffffffff841ccf31 (T) panic\n');
  assert.equal(run('sym ffffffff83ea8a06'), 'ffffffff83ea8a06 (t) sysrq_handle_crash+22\n');
  assert.ok(run('sym -q sysrq_handle_cr').includes('(t) sysrq_handle_crash\n'));
  assert.throws(() => run('sym no_such_symbol_here'), /no such symbol/);
});

test("mod: crash's columns (MODULE, NAME, BASE, SIZE, OBJECT FILE) for the dump's six modules", () => {
  const lines = run('mod').trimEnd().split('\n');
  assert.match(lines[0]!, /^ {5}MODULE {7}NAME {25}BASE {9}SIZE {2}OBJECT FILE$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[1]).sort(), ['virtio', 'virtio_blk', 'virtio_pci', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring']);
  // sorted by struct module address, as crash lists them
  assert.ok(lines[1]!.startsWith('ffffffffc0370340  virtio_ring  '), lines[1]);
});

test('errors: unknown command and bad options are usage errors naming the command; help lists and explains; quit', () => {
  assert.throws(() => run('bogus'), /bogus: command not found/);
  assert.match(run('help'), /^bt +backtrace/m);
  assert.match(run('help ps'), /^ps \[-k \| -u \| -G\]/);
  assert.equal(session.run(parseLine('quit')).quit, true);
  assert.equal(session.run(parseLine('   ')).text, '');
  assert.throws(() => session.runLine('ps | wc'), /work in vmcore-ts shell only/);
});

test('completion: command names, struct names and members (after a comma too), symbols (with & or *), help topics', () => {
  assert.deepEqual(session.complete('fo'), [['foreach '], 'fo']);
  assert.deepEqual(session.complete('sy'), [['sym', 'sys'], 'sy']);
  assert.deepEqual(session.complete('struct task_stru'), [['task_struct'], 'task_stru']);
  assert.deepEqual(session.complete('struct task_struct.pid,com'), [['task_struct.pid,comm', 'task_struct.pid,compat_robust_list'], 'task_struct.pid,com']);
  assert.deepEqual(session.complete('union bpf_at'), [['bpf_attr'], 'bpf_at']);
  assert.deepEqual(session.complete('sym sysrq_handle_cr'), [['sysrq_handle_crash '], 'sysrq_handle_cr']);
  assert.deepEqual(session.complete('p &init_ta'), [['&init_task '], '&init_ta']);
  assert.deepEqual(session.complete('help b'), [['bt '], 'b']);
  assert.deepEqual(session.complete('foreach RU b'), [[], 'b']);
});

test('kmem -i: crash\'s pages_to_size and percentages; only -i', async () => {
  const { pagesToSize, formatKmemInfo } = await import('../../src/analyze/console/kmem.ts');
  assert.deepEqual([0, 224, 8645, 183303, 393216, 400000].map((p) => pagesToSize(p, 4096)), ['0', '896 KB', '33.8 MB', '716 MB', '1.5 GB', '1.5 GB']);
  const t = formatKmemInfo({ total: 1000, free: 250, buffers: 0, cached: 0, slab: 0, swap: { total: 100, used: 25 }, commit: { limit: 0, committed: 3 } }, 4096);
  assert.ok(t.includes('\n    SWAP USED       25       100 KB   25% of TOTAL SWAP\n'), t);
  assert.ok(t.endsWith('\n COMMIT LIMIT        0            0         ----\n    COMMITTED        3        12 KB         ----\n'), t);
  assert.doesNotMatch(t, /HUGE/);
  assert.throws(() => run('kmem -s'), /kmem: invalid option -- 's'/);
  assert.throws(() => run('kmem'), /only -i is supported/);
});

test('files and runq (over the typed API): the context task by default, several tasks, -c CPU; errors name the command', () => {
  assert.equal(run('files'), crash9('files 1'));
  assert.match(run('files 2 1'), /^PID: 2 {8}TASK: [\s\S]*\n\nPID: 1 {8}TASK: /);
  assert.equal(run('runq -c 1'), crash9('runq').slice(crash9('runq').indexOf('CPU 1 ')));
  assert.throws(() => run('runq -c 5'), /runq: invalid cpu: 5/);
  assert.throws(() => run('files 99999'), /invalid task or pid value: 99999/);
});

// The readers of crash's output (issue 17's crash comparison) on crash 8.0.2's output for the bundled 6.1 dump.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseBt, parseKmemI, parseMod, parsePs, parseSys } from './crash-parse.ts';
import { REPO } from './initramfs.ts';

const text = readFileSync(join(REPO, 'fixtures/x86_64-debian-6.1/oracle/crash-8.0.2-sys-bt-ps-log.txt'), 'utf8');

test('crash-parse: sys gives each KEY: value (LOAD AVERAGE with its space, PANIC with its quotes)', () => {
  const s = parseSys(text.split('PID:')[0]);
  assert.equal(s.RELEASE, '6.1.0-56-cloud-amd64');
  assert.equal(s['LOAD AVERAGE'], '0.08, 0.02, 0.01');
  assert.equal(s.MACHINE, 'x86_64  (2445 Mhz)');
  assert.equal(s.PANIC, '"Kernel panic - not syncing: sysrq triggered crash"');
});

test('crash-parse: bt gives each task header and its frames (name, pc, sp), offsets dropped', () => {
  const bts = parseBt(text);
  assert.equal(bts[0].pid, 1);
  assert.equal(bts[0].comm, 'init');
  assert.deepEqual(bts[0].frames[0], { sp: 'ff58d57180013b28', fn: 'machine_kexec', pc: 'ffffffff8386c62f' });
  assert.equal(bts[0].frames.at(-1)!.fn, 'entry_SYSCALL_64_after_hwframe');
  assert.equal(bts[1].comm, 'swapper/0');
  assert.deepEqual(parseBt('PID: 1  TASK: ff00  CPU: 0  COMMAND: "x"\n #0 [ff10] f+0x12 at ffffffff80000000')[0].frames[0].fn, 'f');
});

test('crash-parse: ps rows with one-letter states, kernel threads unbracketed, the current task marked', () => {
  const rows = parsePs('      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n' +
    '        2       0   0  ffff8bb7011fb000  IN   0.0        0        0  [kthreadd]\n' +
    '>      98       1   0  ffff8bb702673000  RU   0.1     2260     1236  init\n' +
    '        3       2   0  ffff8bb7011fc800  I   rcu_gp\n');
  assert.deepEqual(rows.map((r) => [r.pid, r.ppid, r.st, r.comm, r.current]), [[2, 0, 'S', 'kthreadd', false], [98, 1, 'R', 'init', true], [3, 2, 'I', 'rcu_gp', false]]);
});

test('crash-parse: mod rows and kmem -i pages by label', () => {
  assert.deepEqual(parseMod('     MODULE       NAME           TEXT_BASE       SIZE  OBJECT FILE\nffffffffc04f85c0  virtio_blk  ffffffffc04f4000  32768  (not loaded)  [CONFIG_KALLSYMS]\n'),
    [{ module: 'ffffffffc04f85c0', name: 'virtio_blk', base: 'ffffffffc04f4000', size: 32768 }]);
  const k = parseKmemI('                 PAGES        TOTAL      PERCENTAGE\n    TOTAL MEM   182005       711 MB         ----\n         FREE   162969     636.6 MB   89% of TOTAL MEM\n   TOTAL SWAP        0            0         ----\n');
  assert.deepEqual(k, { 'TOTAL MEM': 182005, FREE: 162969, 'TOTAL SWAP': 0 });
});

// vmcore-ts speaks crash's and util-linux dmesg's language: log = dmesg, sys = info; bt -p/-c/PID;
// dmesg -l LIST / -r / -T. On the bundled Debian 6.1 dump, against its makedumpfile and crash oracles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseLevels } from '../../src/cli/vmcore/dmesg.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DIR = 'fixtures/x86_64-debian-6.1';
const DUMP = `${DIR}/vmcore-d31-zlib.kdump`;
const ORACLE_DMESG = readFileSync(`${DIR}/oracle/makedumpfile-dump-dmesg.txt`, 'latin1');

function vmcoreTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', ...args], { encoding: 'latin1' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('crash names: log prints what dmesg prints, sys what info prints, and the usage lists both names', () => {
  assert.equal(vmcoreTs('log', DUMP).out, ORACLE_DMESG);
  const sys = vmcoreTs('sys', DUMP);
  assert.equal(sys.code, 0, sys.err);
  assert.equal(sys.out, vmcoreTs('info', DUMP).out);
  const help = vmcoreTs('--help').out;
  assert.match(help, /^ {2}info \(sys\) +kernel release/m);
  assert.match(help, /^ {2}dmesg \(log\) +the kernel log/m);
});

test('dmesg --level: util-linux names, numbers, err+ (as severe or more) and +err (as severe or less)', () => {
  assert.deepEqual([...parseLevels('err,warn')], [3, 4]);
  assert.deepEqual([...parseLevels('err+')], [0, 1, 2, 3]);
  assert.deepEqual([...parseLevels('+notice')], [5, 6, 7]);
  assert.deepEqual([...parseLevels('0,DEBUG')], [0, 7]);
  for (const bad of ['warning', '8', '+err+', '']) assert.throws(() => parseLevels(bad), /unknown level/, bad);
});

test('dmesg -r prints the <N> prefix; -l keeps exactly the records of those levels, in order', () => {
  // Record lines (continuation lines are indented under the longer prefix).
  const raw = vmcoreTs('dmesg', '-r', DUMP).out.split('\n').filter((l) => l.startsWith('<'));
  const plain = ORACLE_DMESG.split('\n').filter((l) => l.startsWith('['));
  assert.equal(raw.length, plain.length);
  raw.forEach((l, i) => assert.equal(l.replace(/^<\d+>/, ''), plain[i], l));
  const level = (l: string) => Number(/^<(\d+)>/.exec(l)![1]) & 7;
  const filtered = vmcoreTs('dmesg', '--raw', '--level', 'err+', DUMP);
  assert.equal(filtered.code, 0, filtered.err);
  assert.deepEqual(filtered.out.split('\n').filter((l) => l.startsWith('<')), raw.filter((l) => level(l) <= 3));
  assert.ok(filtered.out.includes('Kernel panic - not syncing: sysrq triggered crash'));
  const bad = vmcoreTs('dmesg', '-l', 'warning', DUMP);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown level 'warning'/);
});

test("dmesg -T: wall-clock times anchored at the dump's crash time (the last record is at crash's DATE)", () => {
  const r = vmcoreTs('dmesg', '-T', DUMP);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n').filter((l) => l.startsWith('['));
  assert.equal(lines.length, ORACLE_DMESG.split('\n').filter((l) => l.startsWith('[')).length);
  // crash's sys: "DATE: Thu Nov 26 21:35:45 UTC 2026"; the first record (ts 0) is 5.x s earlier.
  assert.match(lines.at(-1)!, /^\[Thu Nov 26 21:35:45 UTC 2026\] /);
  assert.match(lines[0]!, /^\[Thu Nov 26 21:35:39 UTC 2026\] Linux version 6\.1\./);
});

test('bt: -p is the panic task (the default), PIDs positional or with -P, task addresses, -c CPU', () => {
  const panic = vmcoreTs('bt', DUMP);
  assert.equal(panic.code, 0, panic.err);
  assert.match(panic.out, /^PID: 1 {8}TASK: ff278b50411f20c0 {2}CPU: 1 {4}COMMAND: "init"$/m);
  assert.equal(vmcoreTs('bt', '-p', DUMP).out, panic.out);
  assert.equal(vmcoreTs('bt', '-c', '1', DUMP).out, panic.out);
  assert.equal(vmcoreTs('bt', DUMP, '1').out, panic.out);
  assert.equal(vmcoreTs('bt', '-P', '1', DUMP).out, panic.out);
  assert.equal(vmcoreTs('bt', DUMP, '0xff278b50411f20c0').out, panic.out);
  const two = vmcoreTs('bt', DUMP, '2', '1').out;
  assert.match(two, /^PID: 2 .*"kthreadd"[\s\S]*^PID: 1 .*"init"/m);
  assert.match(vmcoreTs('bt', '-c', '0', DUMP).out, /CPU: 0/);
  for (const args of [['-a', '-p', DUMP], ['-c', '0', DUMP, '1'], ['-c', '7', DUMP], [DUMP, 'nope'], [DUMP, '99999']]) {
    const r = vmcoreTs('bt', ...args);
    assert.equal(r.code, 2, `bt ${args.join(' ')}: ${r.err}`);
    assert.equal(r.err.split('\n')[0]!.startsWith('vmcore-ts: '), true, r.err);
  }
});

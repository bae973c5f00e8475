// `vmcore-ts shell` as a process: commands from stdin (not a terminal) and from -i FILE, `| cmd`
// through /bin/sh, `> file` / `>> file`, one line per failed command and the session going on, the
// exit status; on a real pseudo-terminal (python3's pty, test/boot/pty-drive.py): TAB completion of
// commands, struct members and symbols, the history file across sessions (up arrow), ^C, ^D.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const VMCORE_TS = [process.execPath, ...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts'];
const python = spawnSync('python3', ['-c', 'import pty, termios, fcntl'], { encoding: 'utf8' }).status === 0;

function withDir<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'vmcore-shell-'));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function shell(args: string[], input: string, env: Record<string, string> = {}) {
  const r = spawnSync(VMCORE_TS[0]!, [...VMCORE_TS.slice(1), 'shell', ...args], { input, encoding: 'utf8', env: { ...process.env, VMCORE_TS_HISTORY: '', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('shell, stdin not a terminal: one command a line, no prompt; | through /bin/sh; > and >> into files; a failed command is one line and the rest runs; exit 1', () => {
  withDir((dir) => {
    const out = join(dir, 'out.txt');
    const r = shell([DUMP], `sys\nbt | grep -c '^ *#'\nsym panic > ${out}\nsym sysrq_handle_crash >> ${out}\nbogus\nps -x\nps -S\n`);
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /^ {4}DUMPFILE: .*\n[\s\S]*PANIC: "Kernel panic - not syncing: sysrq triggered crash"\n10\n {2}RU: 3\n {2}IN: 15\n {2}ID: 38\n$/);
    assert.doesNotMatch(r.out, /vmcore-ts>/);
    assert.equal(readFileSync(out, 'utf8'), 'ffffffff841ccf31 (T) panic\nffffffff83ea89f0 (t) sysrq_handle_crash\n');
    assert.deepEqual(r.err.trim().split('\n'), ["bogus: command not found; 'help' lists the commands", "ps: invalid option -- 'x' (see: help ps)"]);
  });
});

test('shell -i FILE: its commands first, then stdin; quit in FILE ends the session there; exit 0 when every command worked', () => {
  withDir((dir) => {
    const cmds = join(dir, 'cmds');
    writeFileSync(cmds, '# a comment\nsym panic\n\nps -H 1\n');
    const r = shell(['-i', cmds, DUMP], 'sym do_exit\n');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ffffffff841ccf31 \(T\) panic\n> +1 +0 +1 +ff278b50411f20c0 +RU .* init\n[0-9a-f]{16} \(T\) do_exit\n$/);
    writeFileSync(cmds, 'sym panic\nquit\nsym do_exit\n');
    const q = shell(['-i', cmds, DUMP], 'sym do_exit\n');
    assert.equal(q.out, 'ffffffff841ccf31 (T) panic\n');
    const missing = shell(['-i', join(dir, 'nope'), DUMP], '');
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^vmcore-ts: -i .*nope: .*ENOENT/);
  });
});

test('shell: a pipe to a command that stops reading early (head) and a failing shell command do not end the session', () => {
  const r = shell([DUMP], 'log | head -1\nps | false\nsym panic\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^\[ {4}0\.000000\] Linux version 6\.1\.0-56-cloud-amd64 .*\nffffffff841ccf31 \(T\) panic\n$/);
});

test('shell: usage errors before the session (no dump, a dump that is not one) are one line, exit 2 / 1', () => {
  const none = shell([], '');
  assert.equal(none.code, 2);
  withDir((dir) => {
    writeFileSync(join(dir, 'x'), 'not a dump');
    const bad = shell([join(dir, 'x')], '');
    assert.equal(bad.code, 1);
    assert.equal(bad.err.trim().split('\n').length, 1);
  });
});

interface Driven {
  code: number;
  screen: string;
  failed: unknown;
  canonical: boolean;
  echo: boolean;
}
function drive(steps: object[], env: Record<string, string>): Driven {
  const spec = { cmd: ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...VMCORE_TS, 'shell', DUMP], steps, rows: 40, cols: 160, timeout: 40 };
  const r = spawnSync('python3', ['test/boot/pty-drive.py', JSON.stringify(spec)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Driven;
}
// Node's readline completes only on a TAB that arrives on its own (not inside pasted text): wait before each.
const tab = [{ sleep: 0.4 }, { send: '\t' }];

test('shell on a terminal: TAB completes commands, struct names, members and symbols; the history file brings back the last session\'s command', { skip: python ? false : 'python3 with pty is not installed' }, () => {
  withDir((dir) => {
    const hist = join(dir, 'hist');
    const env = { VMCORE_TS_HISTORY: hist };
    const r = drive(
      [
        { wait: 'vmcore-ts> ' },
        // completion writes what it adds to the typed word
        { send: 'fo' }, ...tab, { wait: 'reach', new: true },
        { send: 'RU ps -H\r' }, { wait: '[swapper/1]', new: true },
        { send: 'struct task_stru' }, ...tab, { wait: 'ct', new: true },
        { send: '.pid,co' }, ...tab, ...tab, { wait: 'compat_robust_list', new: true },
        // the first TAB added the common 'm' of comm and compat_robust_list, the second listed both
        { send: 'm ff278b50411f20c0\r' }, { wait: '"init"', new: true },
        { send: 'sym sysrq_handle_cr' }, ...tab, { wait: 'ash', new: true }, { send: '\r' }, { wait: '(t) sysrq_handle_crash', new: true },
        { send: 'ps -S' }, { sleep: 0.3 }, { send: '\x03' }, { wait: '^C', new: true },
        { send: '\x04' },
      ],
      env,
    );
    assert.equal(r.failed, null, `timed out at ${JSON.stringify(r.failed)}: ${JSON.stringify(r.screen.slice(-1500))}`);
    assert.equal(r.code, 0);
    assert.ok(r.canonical && r.echo, 'the terminal is back in its own mode');
    assert.match(r.screen, /pid = 1,\r?\n {2}comm = "init",/);
    // ^C dropped the typed line: it is not in the history
    assert.deepEqual(readFileSync(hist, 'utf8').trim().split('\n'), ['foreach RU ps -H', 'struct task_struct.pid,comm ff278b50411f20c0', 'sym sysrq_handle_crash']);
    // A second session: up arrow is the last command of the first; Enter runs it.
    const again = drive([{ wait: 'vmcore-ts> ' }, { send: '\x1b[A' }, { wait: 'sym sysrq_handle_crash', new: true }, { send: '\r' }, { wait: '(t) sysrq_handle_crash', new: true }, { send: 'quit\r' }], env);
    assert.equal(again.failed, null, JSON.stringify(again.screen.slice(-1000)));
    assert.equal(again.code, 0);
    assert.deepEqual(readFileSync(hist, 'utf8').trim().split('\n'), ['foreach RU ps -H', 'struct task_struct.pid,comm ff278b50411f20c0', 'sym sysrq_handle_crash', 'quit'], 'the repeated command is stored once');
  });
});

test('shell on a terminal: js is a Node REPL with the dump open (dump and api: the typed API, kd, run("CMD")); .exit comes back to the shell prompt', { skip: python ? false : 'python3 with pty is not installed' }, () => {
  const r = drive(
    [
      { wait: 'vmcore-ts> ' },
      { send: 'js\r' }, { wait: 'js> ' },
      { send: 'kd.release\r' }, { wait: "'6.1.0-56-cloud-amd64'" },
      { send: 'api.meminfo(dump).MemTotal\r' }, { wait: '733212' },
      { send: 'run("ps -S")\r' }, { wait: 'ID: 38' },
      { send: '.exit\r' }, { wait: 'vmcore-ts> ', new: true },
      { send: 'sym panic\r' }, { wait: '(T) panic', new: true },
      { send: 'quit\r' },
    ],
    { VMCORE_TS_HISTORY: '' },
  );
  assert.equal(r.failed, null, `timed out at ${JSON.stringify(r.failed)}: ${JSON.stringify(r.screen.slice(-1500))}`);
  assert.equal(r.code, 0);
  assert.ok(r.canonical && r.echo);
});

test('shell on a truncated dump: the warning once, then each result with its own partial-result line; the session goes on', () => {
  withDir((dir) => {
    const cut = join(dir, 'cut.kdump');
    writeFileSync(cut, readFileSync(DUMP).subarray(0, 14_772_000));
    const r = shell([cut], 'ps -S\nsym panic\nps -S\n');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '  RU: 1\nffffffff841ccf31 (T) panic\n  RU: 1\n');
    const err = r.err.trim().split('\n');
    assert.equal(err.filter((l) => l.startsWith('warning: the file is truncated')).length, 1);
    assert.equal(err.filter((l) => l.startsWith('partial result: ') && l.includes('2 tasks lost')).length, 2);
  });
});

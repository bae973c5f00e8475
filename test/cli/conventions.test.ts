// The command-line conventions of the three bins (src/cli/args.ts): -h/--help anywhere prints the
// command's help and nothing else runs; -V/--version; unknown options and commands are one line
// with "did you mean", exit 2. Commands that would act (load, unload, crash, mkinitrd, save, -l, -e)
// run with test/cli/no-act-guard.mjs preloaded (starting a process or loading koffi, the syscall
// layer, ends the run with exit 99), under scripts/run-tests.mjs' KEXEC_TS_NO_HOST_SYSCALLS, and
// with --root at an empty tree where a command takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { didYouMean } from '../../src/did-you-mean.ts';
import { vmcoreAliases, vmcoreCommands } from '../../src/cli/vmcore/commands.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const KERNEL = '/nonexistent/vmlinuz'; // never read: every run here stops at its arguments
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

function cli(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', `src/cli/${bin}.ts`, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function scratch(): { dir: string; root: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-cli-'));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'proc'), { recursive: true });
  return { dir, root };
}

function assertHelp(r: ReturnType<typeof cli>, prog: string, what: string) {
  assert.equal(r.code, 0, `${what}: ${r.err}`);
  assert.equal(r.err, '', what);
  assert.ok(r.out.startsWith(`usage: ${prog}`), `${what}: ${r.out.slice(0, 200)}`);
}

test('the guard works: under it, starting a process or loading koffi ends the run with exit 99 (so the help tests below prove something)', () => {
  for (const code of ["require('node:child_process').spawnSync('true')", "require('node:child_process').execFileSync('true')", "require('koffi')"]) {
    const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', './test/cli/no-act-guard.mjs', '-e', `${code}; console.log('acted')`], { encoding: 'utf8' });
    assert.equal(r.status, 99, code);
    assert.match(r.stderr, /^GUARD: /, code);
    assert.equal(r.stdout, '', code);
  }
});

test('kdump-ts: --help anywhere on the line prints that command\'s help and nothing runs (no initramfs written, no status, no load/unload/crash)', () => {
  const { dir, root } = scratch();
  const out = join(dir, 'x.img');
  try {
    const runs: [string, string[]][] = [
      ['mkinitrd', ['mkinitrd', '--help', '-o', out, '--root', root]],
      ['mkinitrd', ['mkinitrd', '-o', out, '-h']],
      ['status', ['status', '--help']],
      ['status', ['status', '--json', '--root', root, '-h']],
      ['load', ['load', '--help', '--root', root]],
      ['load', ['load', '-d', '--root', root, '--help']],
      ['unload', ['unload', '--root', root, '--help']],
      ['test', ['test', '--yes-crash-this-machine', '--help', '--root', root]],
      ['estimate', ['estimate', '--root', root, '--help']],
      ['default-config', ['default-config', '--help']],
      // --help wins over an unknown option or a missing value too
      ['load', ['load', '--bogus', '--root', root, '--help']],
    ];
    for (const [name, args] of runs) {
      const r = cli('kdump-ts', ...args);
      assertHelp(r, `kdump-ts ${name}`, args.join(' '));
      assert.doesNotMatch(r.out, /^ready:/m, 'no status printed');
    }
    assert.equal(existsSync(out), false, 'mkinitrd --help wrote no initramfs');
    assert.equal(existsSync(join(root, 'proc/sysrq-trigger')), false, 'test --help crashed nothing');
    assertHelp(cli('kdump-ts', '--help'), 'kdump-ts COMMAND', 'kdump-ts --help');
    assertHelp(cli('kdump-ts', 'help'), 'kdump-ts COMMAND', 'kdump-ts help');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kexec-ts: --help with -l/-p/-e/-u/-f and a kernel prints the help; no syscall layer is loaded', () => {
  for (const args of [['-l', KERNEL, '--help'], ['-p', '--help', KERNEL, '--initrd=/nonexistent'], ['-e', '-h'], ['-p', '-u', '--help'], ['-f', KERNEL, '-h'], ['--help', '--dry-run', '-l', KERNEL]]) {
    assertHelp(cli('kexec-ts', ...args), 'kexec-ts', args.join(' '));
  }
});

test('vmcore-ts: --help after, before and between a command\'s arguments prints its help (aliases too); save --help -f writes nothing', () => {
  const { dir } = scratch();
  const out = join(dir, 'out.kdump');
  try {
    for (const name of Object.keys(vmcoreCommands)) assertHelp(cli('vmcore-ts', name, DUMP, '--help'), `vmcore-ts ${name}`, name);
    for (const [alias, name] of Object.entries(vmcoreAliases)) assertHelp(cli('vmcore-ts', alias, '-h', DUMP), `vmcore-ts ${name}`, alias);
    assertHelp(cli('vmcore-ts', 'save', '-f', '-l', '--help', DUMP, out), 'vmcore-ts save', 'save');
    assertHelp(cli('vmcore-ts', 'convert', '-f', DUMP, out, '-h'), 'vmcore-ts convert', 'convert');
    assert.equal(existsSync(out), false, 'no dump written');
    assertHelp(cli('vmcore-ts', '--help'), 'vmcore-ts COMMAND', 'vmcore-ts --help');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--version / -V on every bin and command (kexec-tools\' -v too for kexec-ts) prints the package version', () => {
  for (const [bin, args] of [
    ['kexec-ts', ['--version']],
    ['kexec-ts', ['-v']],
    ['kexec-ts', ['-V']],
    ['kexec-ts', ['-l', KERNEL, '-v']],
    ['kdump-ts', ['--version']],
    ['kdump-ts', ['-V']],
    ['kdump-ts', ['status', '-V']],
    ['vmcore-ts', ['--version']],
    ['vmcore-ts', ['-V']],
    ['vmcore-ts', ['dmesg', DUMP, '--version']],
  ] as const) {
    const r = cli(bin, ...args);
    assert.equal(r.code, 0, `${bin} ${args.join(' ')}: ${r.err}`);
    assert.equal(r.out, `${bin} ${VERSION}\n`, `${bin} ${args.join(' ')}`);
  }
});

test('unknown options: one line naming the option, "did you mean" when close, exit 2 — no parser text', () => {
  const cases: [string, string[], RegExp][] = [
    ['vmcore-ts', ['dmesg', '--jsn', DUMP], /^vmcore-ts: unknown option '--jsn' \(did you mean --json\?\); run 'vmcore-ts dmesg --help' for the options\n$/],
    ['vmcore-ts', ['bt', '--bogus', DUMP], /^vmcore-ts: unknown option '--bogus'; run 'vmcore-ts bt --help'/],
    ['vmcore-ts', ['save', '--num-thread', '2', DUMP, '/nonexistent/x'], /^vmcore-ts: unknown option '--num-thread' \(did you mean --num-threads\?\)/],
    ['vmcore-ts', ['dmesg', '-q', DUMP], /^vmcore-ts: unknown option '-q'; /],
    ['vmcore-ts', ['bt', DUMP, '--cpu'], /^vmcore-ts: option --cpu needs a value; /],
    ['vmcore-ts', ['dmesg', '--json=yes', DUMP], /^vmcore-ts: option --json takes no value/],
    ['kdump-ts', ['status', '--jsno'], /^kdump-ts: unknown option '--jsno' \(did you mean --json\?\); run 'kdump-ts status --help'/],
    ['kdump-ts', ['status', '--config', '--json'], /^kdump-ts: option --config needs a value but is followed by the option '--json'/],
    ['kexec-ts', ['--dry-rn', '-l', KERNEL], /^kexec-ts: unknown option '--dry-rn' \(did you mean --dry-run\?\)/],
    ['kexec-ts', ['--reuse-cmdline=1', '-l', KERNEL], /^kexec-ts: option --reuse-cmdline takes no value/],
  ];
  for (const [bin, args, want] of cases) {
    const r = cli(bin, ...args);
    assert.equal(r.code, 2, `${bin} ${args.join(' ')}: ${r.err}`);
    assert.match(r.err, want);
    assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
    assert.doesNotMatch(r.err, /To specify a positional|ERR_PARSE_ARGS/);
    assert.equal(r.out, '');
  }
});

test('unknown commands: one line with the closest command, exit 2', () => {
  const v = cli('vmcore-ts', 'dmseg', DUMP);
  assert.equal(v.code, 2);
  assert.equal(v.err, "vmcore-ts: unknown command 'dmseg' (did you mean dmesg?); run 'vmcore-ts --help' for the list\n");
  const k = cli('kdump-ts', 'stauts');
  assert.equal(k.code, 2);
  assert.equal(k.err, "kdump-ts: unknown command 'stauts' (did you mean status?); run 'kdump-ts --help' for the list\n");
  assert.match(cli('kdump-ts', 'frobnicate').err, /^kdump-ts: unknown command 'frobnicate'; run/);
  const none = cli('vmcore-ts');
  assert.equal(none.code, 2);
  assert.match(none.err, /^usage: vmcore-ts COMMAND/);
});

test('didYouMean: edit distance 1 for short words, 2 for longer ones, or a unique prefix', () => {
  assert.equal(didYouMean('jsn', ['json', 'root'], '--'), '--json');
  assert.equal(didYouMean('confgi', ['config', 'root'], '--'), '--config');
  assert.equal(didYouMean('dry', ['dry-run', 'debug'], '--'), '--dry-run');
  assert.equal(didYouMean('jsno', ['json', 'root'], '--'), '--json', 'a swap of two letters is one edit');
  assert.equal(didYouMean('xyz', ['json', 'root'], '--'), undefined);
  assert.equal(didYouMean('d', ['dry-run', 'dict'], ''), undefined);
});

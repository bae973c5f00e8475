// Exit status, the same for every command (README "Exit status"): 0 done, 1 failed or refused,
// 2 usage error (3, partial, is tested with the commands that return it). Each error is one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE } from '../../src/cli/run.ts';
import { vmcoreAliases, vmcoreCommands } from '../../src/cli/vmcore/commands.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

function cli(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', `src/cli/${bin}.ts`, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Arguments after DUMP that make each command's argument count right. */
/** Arguments before the dump (a command with subcommands). */
const BEFORE: Record<string, string[]> = { run: ['examples/scripts/modules.ts'], collect: ['import'] };
const REST: Record<string, string[]> = { read: ['0x1000'], sym: ['panic'], struct: ['task_struct', '0x1000'], types: ['task_struct'], save: ['/nonexistent/out'], convert: ['/nonexistent/out'] };

test('exit codes are 0 ok, 1 failure, 2 usage, 3 partial', () => {
  assert.deepEqual([EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL], [0, 1, 2, 3]);
});

test('every vmcore-ts command: 2 and one line without its arguments, 1 and one line naming a missing dump', () => {
  for (const name of [...Object.keys(vmcoreCommands), ...Object.keys(vmcoreAliases)]) {
    const u = cli('vmcore-ts', name);
    assert.equal(u.code, 2, `${name}: ${u.err}`);
    assert.match(u.err, /^vmcore-ts: (missing arguments|.*needs)/, name);
    assert.equal(u.err.trim().split('\n').length, 1, `${name}: ${u.err}`);
    // run takes its SCRIPT before the dump; collect its subcommand
    const m = cli('vmcore-ts', name, ...(BEFORE[name] ?? []), '/nonexistent/dump', ...(REST[name] ?? []));
    assert.equal(m.code, 1, `${name}: ${m.err}`);
    assert.equal(m.err, 'vmcore-ts: /nonexistent/dump: no such file or directory (ENOENT)\n', name);
  }
});

test('every kdump-ts command: 2 for an argument it does not take, 1 for a --config that does not exist', () => {
  for (const name of ['status', 'load', 'unload', 'estimate', 'mkinitrd', 'test', 'crash', 'default-config']) {
    const u = cli('kdump-ts', name, 'extra');
    assert.equal(u.code, 2, `${name}: ${u.err}`);
    assert.match(u.err, new RegExp(`^kdump-ts: unexpected argument 'extra'; usage: kdump-ts ${name}`), name);
  }
  for (const name of ['status', 'estimate', 'mkinitrd', 'test']) assert.equal(cli('kdump-ts', name, '--config', '/nonexistent.conf').code, 1, name);
});

test('kexec-ts: 2 for usage errors, 1 for a kernel that does not exist (planning only)', () => {
  assert.equal(cli('kexec-ts').code, 2);
  assert.equal(cli('kexec-ts', '-l', '-s', '-c', '/nonexistent/vmlinuz').code, 2);
  const r = cli('kexec-ts', '-l', '--dry-run', '/nonexistent/vmlinuz');
  assert.equal(r.code, 1, r.err);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
});

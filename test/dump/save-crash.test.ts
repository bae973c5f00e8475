// Interop with crash given the matching vmlinux (issue: "our kdump-compressed and ELF outputs open
// in crash given the matching vmlinux"): the fixture dump re-saved by `vmcore-ts save` in each format
// must give crash the same `sys`, `bt` and `log` as the makedumpfile original, line for line.
// The vmlinux comes from Debian's -dbg package (bash bench/setup.sh, run by scripts/test.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_ARGS } from '../../src/node-args.ts';

const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const VMLINUX = process.env.VMLINUX ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kexec-ts', 'dbg', '6.1.0-56-cloud-amd64', 'vmlinux');
const skip = spawnSync('crash', ['--version']).status !== 0 ? 'crash is not installed' : !existsSync(VMLINUX) ? `no vmlinux for the fixture (${VMLINUX}): run bash bench/setup.sh` : false;

/** crash's answer to sys, bt and log on `dump`, the DUMPFILE line (its own path) dropped. */
function crashSays(dump: string): string {
  const r = spawnSync('crash', ['-s', VMLINUX, dump], { input: 'sys\nbt\nlog\nquit\n', encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `crash on ${dump}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => !/^\s*DUMPFILE:/.test(l)).join('\n');
}

test('crash with the vmlinux reads our zlib, LZO and ELF saves exactly as the makedumpfile original (sys, bt, log)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'save-crash-'));
  try {
    const original = crashSays(FIXTURE);
    assert.match(original, /PANIC: "Kernel panic - not syncing: sysrq triggered crash"/);
    assert.match(original, /sysrq_handle_crash/);
    for (const [name, flags] of [['zlib.kdump', ['-c']], ['lzo.kdump', ['-l']], ['vmcore.elf', ['-E']]] as const) {
      const out = join(dir, name);
      const r = spawnSync(process.execPath, [...NODE_ARGS, 'bin/vmcore-ts.mjs', 'save', ...flags, '-d', '31', '--message-level', '0', FIXTURE, out], { encoding: 'utf8' });
      assert.equal(r.status, 0, `save ${flags.join(' ')}: ${r.stderr}`);
      assert.equal(crashSays(out), original, `crash on our ${name}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

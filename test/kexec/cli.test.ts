import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeSection, kexecDebugSegments } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'kexec-cli-'));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const iomem = file('iomem', probeSection('IOMEM'));
const memmap = file('memmap', probeSection('MEMMAP'));
const kernel = file('vmlinuz', fakeBzImage(FIXTURE_KERNEL));
const initrd = file('initrd', new Uint8Array(0xddc549));

function kexecTs(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/kexec-ts.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Real syscalls are only safe to try where the kernel has no kexec at all (they answer ENOSYS). */
const noKexecHere = !existsSync('/sys/kernel/kexec_loaded');

test('--dry-run -d against the fixture machine prints kexec -d segment lines matching kexec-tools (except the purgatory)', () => {
  const r = kexecTs('-l', '-c', '-d', '--dry-run', '--iomem', iomem, '--memmap', memmap, kernel, '--initrd', initrd, '--command-line', 'console=ttyS0 stage=second');
  assert.equal(r.code, 0, r.err);
  const ours = kexecDebugSegments(r.out);
  const theirs = kexecDebugSegments(probeSection('KEXEC_C'));
  assert.equal(ours.length, theirs.length);
  for (const i of [0, 1, 2]) assert.deepEqual(ours[i], theirs[i]);
  assert.equal(ours[3]!.bufsz, theirs[3]!.bufsz);
  assert.match(r.out, /^MEMORY RANGES\n0000000000000400-000000000009fbff \(0\)$/m);
  assert.match(r.out, /^kexec_load: entry = 0x[0-9a-f]+ flags = 0x3e0000$/m);
});

test('--dry-run --json gives the plan; -p plans inside the crash kernel region', () => {
  const r = kexecTs('-p', '--dry-run', '--json', '--iomem', iomem, kernel, '--initrd', initrd, '--append', 'console=ttyS0 irqpoll');
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out);
  assert.equal(plan.kind, 'crash');
  assert.equal(plan.flags, '0x3e0001');
  for (const s of plan.segments) {
    assert.ok(BigInt(s.mem) >= 0x2e000000n && BigInt(s.mem) + BigInt(s.memsz) - 1n <= 0x3dffffffn, `${s.what} in the crash region`);
  }
  assert.deepEqual(plan.segments.map((s: { what: string }) => s.what), ['setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory']);
  // kexec-tools placed the kernel at 0x3aa00000 and the initrd at 0x39c23000 for the same kernel; it
  // also put its 640 KiB backup and the ELF header at the top of the region, which our plan leaves to
  // src/kdump (no backup region since Linux 5.7; the header needs the running kernel's notes).
  const kernelSeg = plan.segments.find((s: { what: string }) => s.what === 'kernel');
  assert.equal(BigInt(kernelSeg.mem) % 0x200000n, 0n);
});

test('bad input: one line, non-zero exit, no syscall', () => {
  const cases: [string[], RegExp, number][] = [
    [['-l', '--dry-run', '--iomem', iomem, file('script.sh', '#!/bin/sh\necho hello\n'.padEnd(2000, '#'))], /cannot determine the file type/, 1],
    [['-l', '--dry-run', '--iomem', iomem, file('short', fakeBzImage(FIXTURE_KERNEL).subarray(0, 1_000_000))], /truncated bzImage: 1000000 bytes/, 1],
    [['-l', '--dry-run', '--iomem', iomem, kernel, '--append', 'x'.repeat(3000)], /command line too long: 3001 bytes/, 1],
    [['-l', '--dry-run', '--iomem', iomem, '--mem-max', '0x4ffffff', kernel, '--initrd', initrd], /no room for the initrd/, 1],
    [['-l', '--dry-run', '--iomem', join(dir, 'missing'), kernel], /cannot read the memory layout/, 1],
    [['-l', '--dry-run', '--iomem', iomem, join(dir, 'missing-kernel')], /ENOENT/, 1],
    [['-l', '-s', '-c', kernel], /only one of -s, -c, -a/, 2],
    [[kernel], /give -l/, 2],
    [['--bogus'], /Unknown option '--bogus'/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = kexecTs(...args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    if (code === 1) assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

test('on a kernel without kexec: -l reports ENOSYS from both syscalls, -e refuses without rebooting', { skip: noKexecHere ? false : 'this kernel has kexec: not trying real syscalls in a unit test' }, () => {
  const l = kexecTs('-l', kernel, '--initrd', initrd);
  assert.equal(l.code, 1);
  assert.match(l.err, /^kexec-ts: kexec_load failed: Function not implemented \(ENOSYS\) — this kernel has no kexec support/);
  const s = kexecTs('-l', '-s', kernel);
  assert.match(s.err, /kexec_file_load failed: Function not implemented/);
  const e = kexecTs('-e');
  assert.equal(e.code, 1);
  assert.match(e.err, /cannot tell whether a kernel is loaded/);
});

test('kexec_file_load path checks the command line against the kernel\'s limit minus 30', () => {
  const r = kexecTs('-l', '-s', '--dry-run', '--iomem', iomem, kernel, '--append', 'y'.repeat(2020));
  assert.equal(r.code, 1);
  assert.match(r.err, /too long for kexec_file_load: 2021 bytes with its NUL, the kernel accepts 2017/);
  const ok = kexecTs('-l', '-s', '--dry-run', '--iomem', iomem, kernel, '--append', 'console=ttyS0');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /via kexec_file_load/);
  assert.ok(readFileSync(kernel).length > 0);
});

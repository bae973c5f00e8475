// kexec-ts as a command (smoke): argv → request → library → print. Everything here stops before a
// syscall could be made (--dry-run, --help, usage errors), and the test process cannot construct the
// real syscalls anyway (KEXEC_TS_NO_HOST_SYSCALLS). The loads themselves are tested through the
// library with a fake (load.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_HOST_SYSCALLS_ENV } from '../../src/host/syscalls.ts';
import { probeSection, kexecDebugSegments } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const dir = mkdtempSync(join(tmpdir(), 'kexec-cli-'));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const iomem = file('iomem', probeSection('IOMEM'));
const kernel = file('vmlinuz', fakeBzImage(FIXTURE_KERNEL));

function kexecTs(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kexec-ts.ts', ...args], { encoding: 'utf8', env: { ...process.env, [NO_HOST_SYSCALLS_ENV]: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('kexec-ts -l -c -d --dry-run --iomem prints the plan as kexec -d lines, exit 0', () => {
  const r = kexecTs('-l', '-c', '-d', '--dry-run', '--iomem', iomem, kernel, '--command-line', 'console=ttyS0');
  assert.equal(r.code, 0, r.err);
  assert.equal(kexecDebugSegments(r.out).length, 4);
  assert.match(r.out, /^kexec_load: entry = 0x[0-9a-f]+ flags = 0x3e0000$/m);
});

test('kexec-ts: usage errors exit 2 before anything is read; a refused plan is one line, exit 1', () => {
  const cases: [string[], RegExp, number][] = [
    [['-l', '-s', '-c', kernel], /only one of -s, -c, -a/, 2],
    [[kernel], /give -l/, 2],
    [['--bogus'], /unknown option '--bogus'/, 2],
    [['-l', '--iomem', iomem, kernel], /use them with --dry-run/, 2],
    [['-l', '--dry-run', '--iomem', iomem, '--mem-min', '0x40000000', '--mem-max', '0x1000000', kernel], /--mem-min 0x40000000 is above --mem-max 0x1000000/, 2],
    [['-l', '--dry-run', '--iomem', iomem, join(dir, 'missing-kernel')], /ENOENT/, 1],
  ];
  for (const [args, re, code] of cases) {
    const r = kexecTs(...args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    if (code === 1) assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

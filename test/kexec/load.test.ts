// The kexec load through the library (src/host/kexec-load.ts → src/kexec/load.ts), as kexec-ts and
// kdump-ts run it, with a recording fake for the syscalls: plans, errors, the -a fallback, -e, -u.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execKernel, loadKernel, planKernelLoad, unloadKernel } from '../../src/host/kexec-load.ts';
import { dryRunText, type LoadRequest } from '../../src/kexec/load.ts';
import { KEXEC_FILE_ON_CRASH, KEXEC_ON_CRASH } from '../../src/kexec/plan.ts';
import { planToJson } from '../../src/kexec/plan-text.ts';
import { ERRNO } from '../../src/kexec/syscalls.ts';
import { describeError } from '../../src/cli/run.ts';
import { fakeSyscalls } from './fake-syscalls.ts';
import { probeSection, kexecDebugSegments } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'kexec-load-'));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const iomem = file('iomem', probeSection('IOMEM'));
const memmap = file('memmap', probeSection('MEMMAP'));
const kernel = file('vmlinuz', fakeBzImage(FIXTURE_KERNEL));
const initrd = file('initrd', new Uint8Array(0xddc549));

/** The fixture machine as a root directory (/proc/iomem only): what a load on it reads. */
const fixtureRoot = (() => {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(join(root, 'proc/iomem'), probeSection('IOMEM'));
  return root;
})();

const request = (o: Partial<LoadRequest>): LoadRequest => ({ kernel, kind: 'load', syscall: 'auto', cmdline: 'console=ttyS0', dryRun: false, ...o });
const dryRun = (o: Partial<LoadRequest>) => planKernelLoad(request({ machine: { iomem }, dryRun: true, ...o }));
/** The one line kexec-ts prints for an error. */
const line = (e: unknown) => describeError(e).line;

test('planKernelLoad -c -d against the fixture machine: kexec -d segment lines matching kexec-tools (except the purgatory)', async () => {
  const p = await dryRun({ syscall: 'load', machine: { iomem, memmap }, initrd, cmdline: 'console=ttyS0 stage=second' });
  const out = await dryRunText(p, { debug: true });
  const ours = kexecDebugSegments(out);
  const theirs = kexecDebugSegments(probeSection('KEXEC_C'));
  assert.equal(ours.length, theirs.length);
  for (const i of [0, 1, 2]) assert.deepEqual(ours[i], theirs[i]);
  assert.equal(ours[3]!.bufsz, theirs[3]!.bufsz);
  assert.match(out, /^MEMORY RANGES\n0000000000000400-000000000009fbff \(0\)$/m);
  assert.match(out, /^kexec_load: entry = 0x[0-9a-f]+ flags = 0x3e0000$/m);
});

test('a crash plan (-p) lies inside the crash kernel region, as JSON', async () => {
  const p = await dryRun({ kind: 'crash', initrd, cmdline: 'console=ttyS0 irqpoll' });
  const plan = JSON.parse(JSON.stringify(planToJson(p.plan)));
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

test('bad input: one line naming the problem', async () => {
  const cases: [Partial<LoadRequest>, RegExp][] = [
    [{ kernel: file('script.sh', '#!/bin/sh\necho hello\n'.padEnd(2000, '#')), syscall: 'load' }, /cannot determine the file type/],
    [{ kernel: file('short', fakeBzImage(FIXTURE_KERNEL).subarray(0, 1_000_000)), syscall: 'load' }, /truncated bzImage: 1000000 bytes/],
    [{ cmdline: 'x'.repeat(3000), syscall: 'load' }, /command line too long: 3001 bytes/],
    [{ memMax: 0x4ffffffn, initrd, syscall: 'load' }, /no room for the initrd/],
    [{ machine: { iomem: join(dir, 'missing') }, syscall: 'load' }, /cannot read the memory layout/],
    [{ kernel: join(dir, 'missing-kernel'), syscall: 'load' }, /ENOENT/],
  ];
  for (const [o, re] of cases) {
    const e = await dryRun(o).then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(e, `${Object.keys(o).join(",")} was accepted`);
    assert.match(line(e), re);
    assert.equal(describeError(e).code, 1);
    assert.equal(line(e).split('\n').length, 1, line(e));
  }
});

test('the kexec_file_load plan checks the command line against the kernel\'s limit minus 30', async () => {
  await assert.rejects(dryRun({ syscall: 'file', cmdline: 'y'.repeat(2020) }), /too long for kexec_file_load: 2021 bytes with its NUL, the kernel accepts 2017/);
  const ok = await dryRun({ syscall: 'file' });
  assert.match(await dryRunText(ok), /via kexec_file_load/);
  assert.ok(readFileSync(kernel).length > 0);
});

test('the kernel refusing the load: ENOSYS from both syscalls is one line with its hint; -a tried kexec_file_load first', async () => {
  const sys = fakeSyscalls({ kexecFileLoad: ERRNO.ENOSYS, kexecLoad: ERRNO.ENOSYS });
  const e = await loadKernel(request({ initrd, machine: { root: fixtureRoot } }), sys).catch((x: unknown) => x);
  assert.match(line(e), /^kexec_load failed: Function not implemented \(ENOSYS\) — this kernel has no kexec support/);
  assert.deepEqual(sys.calls.map((c) => c.name), ['kexecFileLoad', 'kexecLoad']);
  const s = fakeSyscalls({ kexecFileLoad: ERRNO.ENOSYS });
  await assert.rejects(loadKernel(request({ syscall: 'file' }), s), /kexec_file_load failed: Function not implemented/);
  assert.deepEqual(s.calls.map((c) => c.name), ['kexecFileLoad'], '-s does not fall back');
  // EPERM is not a reason to fall back: the hint says what to do
  const p = fakeSyscalls({ kexecFileLoad: ERRNO.EPERM });
  const ep = await loadKernel(request({}), p).catch((x: unknown) => x);
  assert.match(line(ep), /kexec_file_load failed: Operation not permitted \(EPERM\) — not root \(CAP_SYS_BOOT\)/);
  assert.deepEqual(p.calls.map((c) => c.name), ['kexecFileLoad']);
});

test('a load hands the kernel the planned segments (-c) or the files and flags (-s -p)', async () => {
  const c = fakeSyscalls();
  const plan = await loadKernel(request({ syscall: 'load', initrd, machine: { root: fixtureRoot } }), c);
  assert.equal(c.calls.length, 1);
  const [entry, segments, flags] = c.calls[0]!.args as [bigint, { what: string }[], bigint];
  assert.equal(entry, plan.entry);
  assert.equal(flags, 0x3e0000n);
  assert.deepEqual(segments.map((s) => s.what), ['setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory']);
  const f = fakeSyscalls();
  await loadKernel(request({ syscall: 'file', kind: 'crash', initrd }), f);
  const [kfd, ifd, cmdline, fflags] = f.calls[0]!.args as [number, number, string, bigint];
  assert.ok(kfd >= 0 && ifd >= 0);
  assert.equal(cmdline, 'console=ttyS0');
  assert.equal(fflags, KEXEC_FILE_ON_CRASH);
});

test('-u: kexec_file_load unload, falling back to kexec_load on ENOSYS; -e refuses without a loaded kernel and never reboots', () => {
  const u = fakeSyscalls({ unloadKexecFile: ERRNO.ENOSYS });
  unloadKernel('crash', 'auto', u);
  assert.deepEqual(u.calls, [
    { name: 'unloadKexecFile', args: [KEXEC_FILE_ON_CRASH] },
    { name: 'unloadKexecLoad', args: [KEXEC_ON_CRASH] },
  ]);
  const e = fakeSyscalls();
  assert.throws(() => execKernel(e, fixtureRoot), /cannot tell whether a kernel is loaded/);
  mkdirSync(join(fixtureRoot, 'sys/kernel'), { recursive: true });
  writeFileSync(join(fixtureRoot, 'sys/kernel/kexec_loaded'), '0\n');
  assert.throws(() => execKernel(e, fixtureRoot), /nothing has been loaded/);
  assert.equal(e.calls.length, 0);
  writeFileSync(join(fixtureRoot, 'sys/kernel/kexec_loaded'), '1\n');
  execKernel(e, fixtureRoot);
  assert.deepEqual(e.calls.map((c) => c.name), ['sync', 'rebootKexec']);
});

test('the plan path has no way to the real syscalls: load.ts and the dry run never reference hostSyscalls', () => {
  const src = (p: string) => readFileSync(new URL(`../../src/${p}`, import.meta.url), 'utf8');
  assert.doesNotMatch(src('kexec/load.ts'), /syscalls\.ts|hostSyscalls|koffi/);
  assert.doesNotMatch(src('host/kexec-load.ts'), /hostSyscalls\(|bindLibc/);
  // the CLIs construct them only after the dry-run / --root branches returned
  const cli = src('cli/kexec-ts.ts');
  assert.ok(cli.indexOf('if (req.dryRun) return printPlan') < cli.indexOf("hostSyscalls(crash ? 'loading a crash kernel'"));
});

test('kexec -d lines of a real load go to the debug callback before the syscall', async () => {
  const lines: string[] = [];
  const sys = fakeSyscalls();
  await loadKernel(request({ syscall: 'load', machine: { root: fixtureRoot } }), {
    ...sys,
    kexecLoad: (...a) => {
      lines.push('<syscall>');
      sys.kexecLoad(...a);
    },
  }, { debug: (l) => lines.push(l) });
  assert.equal(lines[0], `kernel: 0x0 kernel_size: 0x${fakeBzImage(FIXTURE_KERNEL).length.toString(16)}`);
  assert.equal(lines.at(-1), '<syscall>');
  assert.ok(lines.includes('MEMORY RANGES'));
});

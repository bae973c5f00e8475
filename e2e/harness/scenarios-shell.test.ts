// The scenarios' guest scripts without QEMU: every stage of every scenario in e2e/scenarios.ts, and
// the harness's /init and lib.sh, parse as shell (busybox sh, the guests' shell, when installed); and
// captureSpeed (bench/capture-speed.ts) runs what it says, in the order it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CAPTURE_SPEED_MODES, captureSpeed, firmwareReboot, kdump, kexecReboot } from '../scenarios.ts';
import { INIT_SCRIPT, LIB_SCRIPT } from './guest-scripts.ts';
import type { ScenarioSpec } from './scenario.ts';

const hasBusybox = spawnSync('busybox', ['sh', '-c', 'true']).status === 0;
const shell = hasBusybox ? ['busybox', 'sh'] : ['sh'];

function syntaxError(script: string): string | undefined {
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  return r.status === 0 ? undefined : r.stderr.trim() || `exit ${r.status}`;
}

const specs: ScenarioSpec[] = [
  kexecReboot('bookworm', 'max', new Uint8Array(16)),
  kdump('bookworm', 'max', 'E2E-MARK-X', false),
  kdump('bookworm', 'max', 'E2E-MARK-X', true, 2048, 'oom'),
  firmwareReboot('bookworm', 'max', 'true'),
  captureSpeed('bookworm', 'qemu64', 'E2E-MARK-X'),
  captureSpeed('bookworm', 'qemu64', 'E2E-MARK-X', { nodeFrom: 'initramfs', runs: 1, profile: true, memoryMiB: 2048, builtinCodecs: true, jitless: true, esm: true, codecBench: '/opt/kexec-ts/bench/capture-codecs.mjs', floorBench: '/opt/kexec-ts/bench/save-floor.mjs' }),
];

test(`scenario scripts: every stage of every scenario, /init and lib.sh parse as shell (${shell.join(' ')} -n)`, () => {
  assert.notEqual(syntaxError('if then fi'), undefined, 'the check rejects a syntax error');
  for (const [name, text] of [['init', INIT_SCRIPT], ['lib.sh', LIB_SCRIPT]] as const) assert.equal(syntaxError(text), undefined, name);
  for (const spec of specs) {
    for (const [stage, text] of Object.entries(spec.stages)) assert.equal(syntaxError(text), undefined, `${spec.name} stage ${stage}`);
  }
});

test('captureSpeed: rounds alternate makedumpfile and vmcore-ts per mode (-c then -l, -d 31, /proc/vmcore to the scratch disk), each run cold and timed', () => {
  const s = captureSpeed('trixie', 'qemu64', 'M', { runs: 4 });
  const capture = s.stages.capture!;
  const order = [...capture.matchAll(/^ {2}timed (\S+) (\S+) \$i (.*)$/gm)].map((m) => `${m[1]} ${m[2]}: ${m[3]}`);
  assert.deepEqual(order, [
    'makedumpfile c: makedumpfile -c -d 31 /proc/vmcore $OUT/vmcore',
    'vmcore-ts c: vts save -c -d 31 /proc/vmcore $IN/vmcore',
    'makedumpfile l: makedumpfile -l -d 31 /proc/vmcore $OUT/vmcore',
    'vmcore-ts l: vts save -l -d 31 /proc/vmcore $IN/vmcore',
  ]);
  assert.deepEqual([...CAPTURE_SPEED_MODES], ['c', 'l']);
  assert.match(capture, /while \[ \$i -le 4 \]/);
  // the same cold start for both tools: output removed, synced, page cache dropped
  assert.match(capture, /cold\(\) \{ rm -f \$OUT\/vmcore; sync; echo 3 > \/proc\/sys\/vm\/drop_caches; \}/);
  assert.match(capture, /mark run "\$_tool \$_mode \$_i \$\(\(_b - _a\)\) \$\(\(_c - _a\)\) \$\(stat -c %s \$OUT\/vmcore\)"/);
  assert.ok(!capture.includes('--cpu-prof'), 'no profile unless asked');
  assert.ok(!capture.includes('timed vmcore-ts-builtin'), 'no built-in codec runs unless asked');
  const builtin = captureSpeed('trixie', 'qemu64', 'M', { builtinCodecs: true }).stages.capture!;
  assert.deepEqual([...builtin.matchAll(/^ {2}timed (\S+) (\S+) /gm)].map((m) => `${m[1]} ${m[2]}`), ['makedumpfile c', 'vmcore-ts c', 'vmcore-ts-builtin c', 'makedumpfile l', 'vmcore-ts l', 'vmcore-ts-builtin l']);
  assert.match(builtin, /vts_builtin\(\) \( export VMCORE_TS_NATIVE_CODECS=0; vts "\$@" \)/);
  const jitless = captureSpeed('trixie', 'qemu64', 'M', { jitless: true }).stages.capture!;
  assert.deepEqual([...jitless.matchAll(/^ {2}timed (\S+) (\S+) \$i (.*)$/gm)].map((m) => `${m[1]} ${m[2]}: ${m[3]}`).filter((l) => l.includes('jitless')), [
    'vmcore-ts-jitless c: vnode --jitless $VTS save -c -d 31 /proc/vmcore $IN/vmcore',
    'vmcore-ts-jitless l: vnode --jitless $VTS save -l -d 31 /proc/vmcore $IN/vmcore',
  ]);
  assert.ok(!s.expect!.includes('capture:profiled'));
});

test('captureSpeed: node from the scratch root (chroot, crashkernel=256M, slim capture initrd) or from the capture initramfs (384M)', () => {
  const root = captureSpeed('trixie', 'qemu64', 'M');
  assert.equal(root.cmdline, 'crashkernel=256M');
  assert.equal(root.captureNode, false);
  assert.match(root.stages.first!, /cp \/usr\/bin\/node \/scratch\/usr\/bin\/node/);
  // node with the bins' flags (a 1 MiB young generation), as kdump-ts's capture init runs it
  assert.match(root.stages.capture!, /vnode\(\) \{ chroot \/scratch \/usr\/bin\/node --max-semi-space-size=1 --no-concurrent-recompilation "\$@"; \}/);
  assert.match(root.stages.first!, /stage_cmdline capture irqpoll nr_cpus=1 reset_devices/);
  const initramfs = captureSpeed('trixie', 'qemu64', 'M', { nodeFrom: 'initramfs', profile: true, crashkernelMiB: 512 });
  assert.equal(initramfs.cmdline, 'crashkernel=512M');
  assert.equal(initramfs.captureNode, true);
  assert.ok(!initramfs.stages.first!.includes('/scratch/usr/bin/node'));
  assert.ok(!initramfs.stages.capture!.includes('chroot'));
  assert.match(initramfs.stages.capture!, /vnode\(\) \{ node --max-semi-space-size=1 --no-concurrent-recompilation "\$@"; \}/);
  assert.equal(captureSpeed('trixie', 'qemu64', 'M', { nodeFrom: 'initramfs' }).cmdline, 'crashkernel=384M');
  assert.match(initramfs.stages.capture!, /vnode --cpu-prof --cpu-prof-dir \$PROF\/c \$VTS save -c -d 31/);
  assert.ok(initramfs.expect!.includes('capture:profiled'));
  const codecs = captureSpeed('trixie', 'qemu64', 'M', { codecBench: '/opt/kexec-ts/bench/capture-codecs.mjs' });
  assert.match(codecs.stages.capture!, /^vnode \/opt\/kexec-ts\/bench\/capture-codecs\.mjs > \/tmp\/codecs\.log 2>&1 \|\| fail/m);
  assert.ok(codecs.expect!.includes('capture:codecs'));
  assert.ok(!root.stages.capture!.includes('codecs.log'));
  assert.throws(() => captureSpeed('trixie', 'qemu64', 'M', { runs: 0 }), /runs must be a positive integer/);
});

test("captureSpeed: the floor, per mode after the rounds: a makedumpfile dump of /proc/vmcore, then save-floor on it with vmcore-ts's codec and one core", () => {
  const s = captureSpeed('trixie', 'qemu64', 'M', { floorBench: '/opt/kexec-ts/bench/save-floor.mjs' });
  const capture = s.stages.capture!;
  const floor = [...capture.matchAll(/^(makedumpfile|vnode \/opt\/kexec-ts\/bench\/save-floor\.mjs) (.*?) > /gm)].map((m) => `${m[1]!.split(' ').pop()} ${m[2]}`);
  assert.deepEqual(floor, [
    'makedumpfile -c -d 31 /proc/vmcore $OUT/vmcore',
    '/opt/kexec-ts/bench/save-floor.mjs /proc/vmcore $IN/vmcore zlib --cores 1',
    'makedumpfile -l -d 31 /proc/vmcore $OUT/vmcore',
    '/opt/kexec-ts/bench/save-floor.mjs /proc/vmcore $IN/vmcore lzo --cores 1',
  ]);
  assert.ok(capture.indexOf('save-floor.mjs') > capture.indexOf('done\n'), 'after the rounds');
  assert.match(capture, /^mark floor "l \$\(tail -n 1 \/tmp\/floor-l\.log\)"$/m);
  assert.ok(s.expect!.includes('capture:floor'));
  assert.ok(!captureSpeed('trixie', 'qemu64', 'M').stages.capture!.includes('save-floor'), 'no floor unless asked');
});

// The harness retries a boot only on the known TCG text-patching oops (boot-oops.ts). Fixtures are
// real consoles of sid's 7.2.13 cloud kernel under the harness: a boot that reaches /init and runs
// its stage, and one whose /init is missing (rdinit=/nonexistent: it panics early, a failure that
// must not be retried). The oops itself is written here in the form the kernel prints it (die("int3")
// then show_regs: "Oops: int3: 0000 [#1] ...", the CPU and Hardware name lines as this kernel prints
// them, "RIP: 0010:function+off/size"), spliced into the real boot where sched_clock is marked stable
// (a static key flip: text patching).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tcgTextPatchOops } from './boot-oops.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const BOOT = fixture('sid-7.2-boot-console.txt');
const NOINIT = fixture('sid-7.2-noinit-console.txt');
const RELEASE = '7.2.13+deb14-cloud-amd64';

const oopsLines = (first: string, rip = 'RIP: 0010:enqueue_task_fair+0x1e5/0x12a0') =>
  [
    `[    4.013862] ${first}`,
    `[    4.014190] CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted ${RELEASE} #1 PREEMPT(lazy)  Debian 7.2.13-1 `,
    '[    4.014795] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    `[    4.015262] ${rip}`,
    '[    4.015551] Code: 0f 1f 44 00 00 41 57 41 56 41 55 41 54 55 53 48 83 ec 30 <cc> 1f 44 00 00 48 8b 47 08',
    '[    4.015921] RSP: 0018:ffffd0c2c0003e30 EFLAGS: 00000046',
    '[    4.016350] Call Trace:',
    '[    4.016412]  <IRQ>',
    '[    4.016478]  enqueue_task+0x3a/0x110',
    '[    4.016533]  ttwu_do_activate+0x6b/0x210',
    '[    4.016621]  </IRQ>',
    '[    4.017022] Kernel panic - not syncing: Fatal exception in interrupt',
    '[    4.017391] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---',
  ].join('\r\n') + '\r\n';
const INT3 = 'Oops: int3: 0000 [#1] SMP NOPTI';

/** The real boot cut after `after` (a line of it), then `tail`. */
function cutAfter(consoleText: string, after: string, tail: string): string {
  const i = consoleText.indexOf(after);
  assert.ok(i >= 0, `fixture has ${after}`);
  const end = consoleText.indexOf('\n', i) + 1;
  return consoleText.slice(0, end) + tail;
}

test('boot-oops: an int3 oops in kernel code before /init is the known TCG text-patching oops, with its release and RIP', () => {
  const c = cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines(INT3));
  assert.deepEqual(tcgTextPatchOops(c), { release: RELEASE, oops: INT3, rip: 'enqueue_task_fair+0x1e5/0x12a0' });
  // Kernels before 6.9 print the same header without "Oops: ".
  assert.equal(tcgTextPatchOops(cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines('int3: 0000 [#1] PREEMPT SMP NOPTI')))?.rip, 'enqueue_task_fair+0x1e5/0x12a0');
});

test('boot-oops: the oops early in a kexec\'d or capture kernel is recognised too (the last "Linux version" banner starts the dying boot)', () => {
  const second = BOOT.slice(BOOT.indexOf('[    0.000000] Linux version'));
  const c = BOOT + cutAfter(second, 'sched_clock: Marking stable', oopsLines(INT3));
  assert.equal(tcgTextPatchOops(c)?.release, RELEASE);
});

test('boot-oops: a boot that reached /init, a clean boot, and other early failures are not the known oops', () => {
  assert.equal(tcgTextPatchOops(BOOT), undefined, 'a clean boot');
  assert.equal(tcgTextPatchOops(NOINIT), undefined, 'no /init: VFS panic before /init');
  assert.equal(tcgTextPatchOops(cutAfter(BOOT, 'E2E-MARK first stage-start', oopsLines(INT3))), undefined, 'int3 oops after /init started');
  assert.equal(tcgTextPatchOops(cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines('Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI'))), undefined, 'another oops');
  assert.equal(tcgTextPatchOops(cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines(INT3, 'RIP: 0033:0x7f3c1a2b4c5d'))), undefined, 'int3 in user mode');
  assert.equal(tcgTextPatchOops(cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines('Oops: int3: 0000 [#2] SMP NOPTI'))), undefined, 'not the first oops of the boot');
  // The first kernel died of the oops, but the console goes on with another kernel that failed otherwise.
  const later = cutAfter(BOOT, 'sched_clock: Marking stable', oopsLines(INT3)) + NOINIT.slice(NOINIT.indexOf('[    0.000000] Linux version'));
  assert.equal(tcgTextPatchOops(later), undefined, 'the last boot failed otherwise');
});

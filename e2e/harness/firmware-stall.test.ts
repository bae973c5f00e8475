// The harness retries a Debian guest run once only when it stalled right after the firmware handed
// over to a boot option (firmware-stall.ts). The fixture is the real tail of the console of the
// systemd-boot guest that hung so (OVMF Secure Boot build, 6 Dec): the kernel's last shutdown lines,
// OVMF's escape codes, then "BdsDxe: starting Boot0002".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firmwareBootKernelFault, firmwareHandoffStall, firmwareResetStall, lastConsoleLine, PANIC_END } from './firmware-stall.ts';

const stalled = readFileSync(join(import.meta.dirname, 'fixtures', 'firmware-stall-ovmf-secboot.txt'), 'utf8');

test('firmware stall: a console ending with OVMF starting a boot option (after escape codes) is the handoff stall; SeaBIOS\'s "Booting from Hard Disk..." too', () => {
  assert.equal(firmwareHandoffStall(stalled), 'BdsDxe: starting Boot0002 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0)');
  assert.equal(firmwareHandoffStall('SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from Hard Disk...\r\n'), 'Booting from Hard Disk...');
});

test('firmware stall: a kernel that stopped printing, a shutdown, or an empty console is not retried', () => {
  assert.equal(firmwareHandoffStall(`${stalled}EFI stub: UEFI Secure Boot is enabled.\n[    0.000000] Linux version 6.12.117+deb13-cloud-amd64\n`), undefined);
  assert.equal(firmwareHandoffStall('[   60.402361] reboot: machine restart\n'), undefined);
  assert.equal(firmwareHandoffStall(''), undefined);
  assert.equal(lastConsoleLine('a\r\n\x1b[01;01H\x1b[=3h\r\n'), 'a');
});

// The trixie OVMF lifecycle guest that hung in OVMF's reset (7 Dec) printed what the fixture's guest
// printed up to OVMF's first escape codes, then nothing: the fixture cut before OVMF's first text.
const resetHung = stalled.slice(0, stalled.indexOf('BdsDxe: failed'));

test('firmware reset stall: a console ending with the kernel restarting the machine, then only the firmware\'s escape codes, is retried', () => {
  assert.equal(firmwareResetStall(resetHung), 'reboot: machine restart');
  assert.equal(firmwareResetStall(resetHung.replace('[   60.402361] reboot: machine restart\r\n', '')), 'reboot: Restarting system');
  assert.equal(firmwareHandoffStall(resetHung), undefined);
});

test('firmware reset stall: the kernel\'s restart line with nothing after it, firmware text after the escapes, or another last line is not retried', () => {
  assert.equal(firmwareResetStall('[   60.402109] reboot: Restarting system\r\n[   60.402361] reboot: machine restart\r\n'), undefined);
  assert.equal(firmwareResetStall(stalled), undefined);
  assert.equal(firmwareResetStall(resetHung.replace('reboot: machine restart', 'systemd-shutdown[1]: Rebooting.')), undefined);
  assert.equal(firmwareResetStall(''), undefined);
  // The regular expression of escapes is global: asking twice gives the same answer.
  assert.equal(firmwareResetStall(resetHung), firmwareResetStall(resetHung));
});

// The real tail of the trixie SeaBIOS lifecycle guest's console (6 Dec): the capture kernel's save and
// reboot, SeaBIOS, GRUB, then the firmware-booted 6.12.117 dying of a double fault in the slab allocator.
const doubleFault = readFileSync(join(import.meta.dirname, 'fixtures', 'firmware-boot-double-fault-trixie.txt'), 'utf8');

test('firmware boot fault: a kernel the firmware booted that died of an oops (a double fault; a general protection fault in an interrupt), its panic the console\'s end, is retried', () => {
  assert.equal(firmwareBootKernelFault(doubleFault), '"traps: PANIC: double fault, error_code: 0x0" at RIP __kmalloc_node_noprof+0x149/0x430 in the kernel the firmware booted');
  assert.equal(firmwareHandoffStall(doubleFault), undefined);
  const gpf = doubleFault.replace('traps: PANIC: double fault, error_code: 0x0', 'Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI');
  assert.equal(firmwareBootKernelFault(gpf), '"Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI" at RIP __kmalloc_node_noprof+0x149/0x430 in the kernel the firmware booted');
});

test('firmware boot fault: not retried in a kernel no firmware booted (kexec), after a marker of ours, when more output follows, or for a panic no oops caused (no root, init died)', () => {
  const fromFirmware = doubleFault.indexOf('SeaBIOS');
  // The same fault in the capture kernel's boot (no firmware line after the last kernel's start).
  assert.equal(firmwareBootKernelFault(doubleFault.slice(0, fromFirmware) + doubleFault.slice(doubleFault.indexOf('[   21.405118]'))), undefined);
  assert.equal(firmwareBootKernelFault(doubleFault.replace('[   21.405118] traps', 'E2E-MARK third boot 20.1 x\n[   21.405118] traps')), undefined);
  assert.equal(firmwareBootKernelFault(`${doubleFault}[   30.000000] systemd[1]: still going\n`), undefined);
  for (const reason of ['VFS: Unable to mount root fs on unknown-block(0,0)', 'Attempted to kill init! exitcode=0x00000100']) {
    assert.equal(firmwareBootKernelFault(doubleFault.replace(/Fatal exception in interrupt/g, reason)), undefined, reason);
  }
  assert.equal(firmwareBootKernelFault(''), undefined);
});

test('dead console: a panic\'s end line as the console\'s last line is a dead guest; any line after it is not', () => {
  assert.ok(PANIC_END.test(doubleFault));
  assert.ok(!PANIC_END.test(`${doubleFault}SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n`));
  assert.ok(!PANIC_END.test('[    5.0] Kernel panic - not syncing: sysrq triggered crash\n'));
});

// The one Debian-guest stall the harness retries: under TCG on a loaded host, OVMF with Secure Boot
// (q35 + SMM) has hung right after handing over to the boot option — the console's last line
// "BdsDxe: starting Boot0002 …", then nothing for minutes, QEMU busy — where the same boot had
// passed and passed again on the next run (5–6 Dec, the systemd-boot guest, a UKI one-shot boot at
// load 4). Nothing of ours runs there: the firmware, systemd-boot and the kernel's first steps.
// A stall anywhere else (a kernel, systemd or a stage that stops printing) is a real failure.
//
// And a kernel oops in the kernel the firmware booted: the trixie SeaBIOS guest's 6.12.117, booted by
// the firmware after a reboot, died twice where every other run of the same boot had passed (6 Dec,
// load ~4 with two TCG guests and the unit tests): 21 s in, a double fault in the slab allocator
// (`traps: PANIC: double fault`, `RIP: 0010:__kmalloc_node_noprof+…`, systemd-journald's page fault),
// and 1.7 s in, an oops in an interrupt while PID 1 was still the kernel's own init ("Fatal exception
// in interrupt"). A firmware boot runs nothing of ours before systemd starts our services, and kdump
// was not loaded yet (else the panic would have been captured, not stalled). Only a panic that an
// oops caused ("Fatal exception") is retried: one that a missing root, a dying init or an initrd
// could cause ("VFS: Unable to mount root fs", "Attempted to kill init") is a real failure.
//
// And OVMF hanging in its own reset: the trixie OVMF lifecycle guest's `systemctl reboot` (7 Dec, a
// firmware reboot the test asked for) ended with the kernel's "reboot: Restarting system", OVMF's
// clear-screen escape codes, then nothing for STALL_MS. The kernel had handed the machine to the
// firmware; the firmware had started drawing; no code of ours (nor the kernel's) ran after that.

/** ANSI escape sequences OVMF and GRUB write to the serial console. */
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;=?]*[A-Za-z]/g;

/** The console's last line with text, escapes and carriage returns removed. */
export function lastConsoleLine(consoleText: string): string {
  const lines = consoleLines(consoleText);
  return lines[lines.length - 1] ?? '';
}

/** When a stalled run's console ends with the firmware starting a boot option: that line; else undefined. */
export function firmwareHandoffStall(consoleText: string): string | undefined {
  const last = lastConsoleLine(consoleText);
  return /^BdsDxe: starting Boot[0-9A-F]{4}\b/.test(last) || /^Booting from Hard Disk\.\.\.$/.test(last) ? last : undefined;
}

/**
 * When a stalled run's console ends with the kernel restarting the machine and the firmware's escape
 * codes after it (the firmware began its reset, then hung): the kernel's line; else undefined. The
 * kernel's restart line alone (the firmware never printed) is not this stall.
 */
export function firmwareResetStall(consoleText: string): string | undefined {
  const last = lastConsoleLine(consoleText);
  if (!/\breboot: (?:Restarting system|machine restart)$/.test(last)) return undefined;
  const at = consoleText.lastIndexOf(last);
  if (at < 0) return undefined; // the line had escapes inside: not the kernel's plain line
  const after = consoleText.slice(at + last.length);
  return after.search(ESCAPES) >= 0 ? last.replace(/^\[\s*\d+\.\d+\]\s*/, '') : undefined;
}

/** Lines of the console without escapes, carriage returns or blank lines. */
function consoleLines(consoleText: string): string[] {
  return consoleText.replace(ESCAPES, '').replace(/\r/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean);
}

const FIRMWARE_LINE = /^(SeaBIOS \(version|Booting from Hard Disk|BdsDxe: starting Boot|Welcome to GRUB|Loading Linux )/;
/**
 * The line a panic ends with when the kernel neither kexec'd a capture kernel nor rebooted
 * (panic_timeout 0): nothing follows, ever — as the last thing on a console, a dead guest.
 */
export const PANIC_END = /---\[ end Kernel panic - not syncing: [^\n]*\]---\s*$/;

/** The panic an oops ends in (oops_end): a CPU exception or BUG in the kernel, nothing a boot's files decide. */
const OOPS_PANIC = /Kernel panic - not syncing: Fatal exception(?: in interrupt)?\b/;
/** The oops's first line, which says what the CPU or the kernel found. */
const OOPS_START = /\b(?:traps: PANIC: double fault|Oops: |BUG: (?:unable to handle|kernel NULL pointer)|general protection fault|invalid opcode:|kernel BUG at )/;

/**
 * When a stalled run's console ends with the kernel the firmware booted dying of an oops (the panic
 * the oops caused is the last thing printed, no marker of ours after the firmware): what it was and
 * where it hit ("double fault at RIP …"); else undefined.
 */
export function firmwareBootKernelFault(consoleText: string): string | undefined {
  const lines = consoleLines(consoleText);
  let boot = -1;
  for (let i = lines.length - 1; i >= 0 && boot < 0; i--) if (FIRMWARE_LINE.test(lines[i]!)) boot = i;
  if (boot < 0) return undefined;
  const after = lines.slice(boot + 1);
  if (after.some((l) => l.includes('E2E-MARK '))) return undefined;
  const panic = after.findIndex((l) => /Kernel panic - not syncing/.test(l));
  if (panic < 0 || !OOPS_PANIC.test(after[panic]!)) return undefined;
  // Nothing but the panic's own lines after it: the console's end.
  if (!after.slice(panic + 1).every((l) => /Kernel Offset:|Shutting down cpus|end Kernel panic|Rebooting in/.test(l))) return undefined;
  const start = after.findIndex((l) => OOPS_START.test(l));
  const what = start < 0 ? 'an oops' : after[start]!.replace(/^.*?\[\s*\d+\.\d+\]\s*/, '');
  const rip = after.slice(Math.max(0, start)).map((l) => /\bRIP: 0010:(\S+)/.exec(l)).find((m) => m);
  return `"${what}" at RIP ${rip ? rip[1] : 'unknown'} in the kernel the firmware booted`;
}

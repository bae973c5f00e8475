// The one Debian-guest stall the harness retries: under TCG on a loaded host, OVMF with Secure Boot
// (q35 + SMM) has hung right after handing over to the boot option — the console's last line
// "BdsDxe: starting Boot0002 …", then nothing for minutes, QEMU busy — where the same boot had
// passed and passed again on the next run (5–6 Dec, the systemd-boot guest, a UKI one-shot boot at
// load 4). Nothing of ours runs there: the firmware, systemd-boot and the kernel's first steps.
// A stall anywhere else (a kernel, systemd or a stage that stops printing) is a real failure.
//
// And one kernel fault: the trixie SeaBIOS guest's 6.12.117, booted by the firmware after the
// kdump capture had saved and rebooted, died 21 s in with a double fault in the slab allocator
// (`traps: PANIC: double fault`, `RIP: 0010:__kmalloc_node_noprof+…`, systemd-journald's page
// fault; 6 Dec, load ~4 with two TCG guests and the unit tests), where every earlier run of the same
// boot had passed. A firmware boot runs nothing of ours before systemd starts our services, and
// kdump was not loaded yet (else the panic would have been captured, not stalled).

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

/** Lines of the console without escapes, carriage returns or blank lines. */
function consoleLines(consoleText: string): string[] {
  return consoleText.replace(ESCAPES, '').replace(/\r/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean);
}

const FIRMWARE_LINE = /^(SeaBIOS \(version|Booting from Hard Disk|BdsDxe: starting Boot|Welcome to GRUB|Loading Linux )/;
const DOUBLE_FAULT = /\b(?:traps: PANIC: double fault|Oops: double fault)\b/;

/**
 * When a stalled run's console ends with the kernel the firmware booted dying of a double fault
 * (its panic the last thing printed, no marker of ours after the firmware): where it faulted
 * ("double fault at RIP …"); else undefined.
 */
export function firmwareBootDoubleFault(consoleText: string): string | undefined {
  const lines = consoleLines(consoleText);
  let boot = -1;
  for (let i = lines.length - 1; i >= 0 && boot < 0; i--) if (FIRMWARE_LINE.test(lines[i]!)) boot = i;
  if (boot < 0) return undefined;
  const after = lines.slice(boot + 1);
  const fault = after.findIndex((l) => DOUBLE_FAULT.test(l));
  if (fault < 0 || after.some((l) => l.includes('E2E-MARK '))) return undefined;
  // The panic that followed is the console's end.
  const panic = after.findIndex((l, i) => i > fault && /Kernel panic - not syncing/.test(l));
  if (panic < 0 || !/Kernel panic - not syncing|Kernel Offset:/.test(after[after.length - 1]!)) return undefined;
  const rip = after.slice(fault).map((l) => /\bRIP: 0010:(\S+)/.exec(l)).find((m) => m);
  return `double fault at RIP ${rip ? rip[1] : 'unknown'} in the kernel the firmware booted`;
}

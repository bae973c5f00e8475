// The one Debian-guest stall the harness retries: under TCG on a loaded host, OVMF with Secure Boot
// (q35 + SMM) has hung right after handing over to the boot option — the console's last line
// "BdsDxe: starting Boot0002 …", then nothing for minutes, QEMU busy — where the same boot had
// passed and passed again on the next run (5–6 Dec, the systemd-boot guest, a UKI one-shot boot at
// load 4). Nothing of ours runs there: the firmware, systemd-boot and the kernel's first steps.
// A stall anywhere else (a kernel, systemd or a stage that stops printing) is a real failure.

/** ANSI escape sequences OVMF and GRUB write to the serial console. */
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;=?]*[A-Za-z]/g;

/** The console's last line with text, escapes and carriage returns removed. */
export function lastConsoleLine(consoleText: string): string {
  const lines = consoleText.replace(ESCAPES, '').replace(/\r/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/** When a stalled run's console ends with the firmware starting a boot option: that line; else undefined. */
export function firmwareHandoffStall(consoleText: string): string | undefined {
  const last = lastConsoleLine(consoleText);
  return /^BdsDxe: starting Boot[0-9A-F]{4}\b/.test(last) || /^Booting from Hard Disk\.\.\.$/.test(last) ? last : undefined;
}

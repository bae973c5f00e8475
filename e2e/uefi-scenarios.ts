// UEFI guests (OVMF; QEMU's -kernel goes through the kernel's EFI stub): a kexec must hand the next
// kernel efi_info, the SETUP_EFI node and the ACPI RSDP address, or it loses EFI runtime services and
// may not find ACPI. Used by e2e/kexec-uefi.test.ts and bench/kexec-vs-reboot.ts --uefi.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decompressFile } from '../src/host/initramfs-collect.ts';
import { getKernel } from './harness/kernels.ts';
import type { ScenarioSpec } from './harness/scenario.ts';
import type { FileSpec } from './harness/initramfs.ts';
import { koffiBinaryFiles } from './kexec-ts-files.ts';
import { firmwareReboot } from './scenarios.ts';

/**
 * Proves EFI and ACPI in the running kernel: markers `efi` (/sys/firmware/efi), `efivars` (how many
 * variables efivarfs lists: each is a GetNextVariableName call into the firmware's runtime services),
 * `rsdp` (dmesg's "ACPI: RSDP" address), `acpi-tables`; its zero page goes to /scratch/bp-STAGE.bin.
 */
const efiProof = `
[ -d /sys/firmware/efi ] || fail "no /sys/firmware/efi: EFI lost"
mark efi "$(ls /sys/firmware/efi | tr '\\n' ' ')"
[ -f /e2e/efivarfs.ko ] && insmod /e2e/efivarfs.ko
if mount -t efivarfs efivarfs /sys/firmware/efi/efivars; then mark efivars "$(ls /sys/firmware/efi/efivars | wc -l)"; else mark efivars none; fi
mark rsdp "$(dmesg | grep -o 'ACPI: RSDP 0x[0-9A-Fa-f]*' | head -1)"
mark acpi-tables "$(ls /sys/firmware/acpi/tables | tr '\\n' ' ')"
cp /sys/kernel/boot_params/data /scratch/bp-$E2E_STAGE.bin
`;

/** `LOADER -l` /scratch/boot/vmlinuz + initrd for stage NEXT, then `EXEC -e` (markers kexec-l, kexec-e before each). */
const kexecInto = (next: string, load: string, exec: string, via: string, extra = '') => `
mark kexec-l
check kexec-load ${load} -l /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd.img --command-line="$(stage_cmdline ${next} e2e.via=${via} ${extra})"
prepare_kexec
mark kexec-e
${exec} -e
fail "${exec} -e returned $?"
`;

/** efivarfs is a module in Debian's kernels: the file for the initramfs, decompressed (absent if built in). */
async function efivarfsModule(suite: string): Promise<Record<string, FileSpec>> {
  const k = await getKernel(suite);
  for (const ext of ['', '.xz', '.zst', '.gz']) {
    const p = join(k.modulesDir, 'kernel', 'fs', 'efivarfs', `efivarfs.ko${ext}`);
    if (existsSync(p)) return { 'e2e/efivarfs.ko': decompressFile(p) };
  }
  return {};
}

/** `kexec-ts -c -l` of the next stage's kernel, then `kexec-ts -u`: the same Node.js work as before a kexec-ts -e. */
const kexecTsLoadUnload = (next: string) => `
check kexec-ts-load kexec-ts -c -l /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd.img --command-line="$(stage_cmdline ${next})"
check kexec-ts-unload kexec-ts -u
`;

/** `kexec-ts -p` of the capture kernel (slim initrd), `-p -u` and `-p` again, then a crash. */
const crashInto = `
P="kexec-ts -p /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd-capture.img"
check kexec-ts-p $P --command-line="$(stage_cmdline capture irqpoll nr_cpus=1 reset_devices)"
check kexec-ts-p-u kexec-ts -p -u
mark crash-unloaded "$(cat /sys/kernel/kexec_crash_loaded)"
check kexec-ts-p $P --command-line="$(stage_cmdline capture irqpoll nr_cpus=1 reset_devices)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
prepare_kexec
mark crashing
echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"
`;

/**
 * One UEFI guest, up to four kernels: the first (started by OVMF) proves EFI and ACPI and loads the
 * second with `kexec-ts -c -l` (kexec_load: our zero page and purgatory); the second proves them and
 * loads the third with kexec-tools' `kexec -c -l` (the oracle), which proves them again, then loads a
 * capture kernel with `kexec-ts -p` and crashes: the capture kernel proves them too.
 *
 * `bench`: no crash; the second kernel runs `kexec-ts -c -l` + `-u` before kexec-tools. Under QEMU
 * TCG a kernel started after Node.js ran in the previous one unpacks its initramfs ~2x slower
 * (measured with kexec-tools alone: 7.9 s cold, 15.4 s after a `node` run, 5.6 s without), an
 * emulator artefact that would otherwise count against kexec-ts only.
 */
export async function kexecUefi(suite: string, cpu = 'max', opts: { bench?: boolean } = {}): Promise<ScenarioSpec> {
  return {
    name: 'kexec-uefi',
    suite,
    cpu,
    firmware: 'uefi',
    memoryMiB: 1024,
    files: { ...koffiBinaryFiles(), ...(await efivarfsModule(suite)) },
    stages: {
      first: efiProof + kexecInto('second', 'kexec-ts -c', 'kexec-ts', 'kexec-ts'),
      second: `mark cmdline "$(cat /proc/cmdline)"\n${efiProof}${opts.bench ? kexecTsLoadUnload('third') : ''}${kexecInto('third', 'kexec -c', 'kexec', 'kexec-tools', opts.bench ? '' : 'crashkernel=256M')}`,
      third: `mark cmdline "$(cat /proc/cmdline)"\n${efiProof}${opts.bench ? '' : crashInto}`,
      ...(opts.bench ? {} : { capture: efiProof }),
    },
    expect: [
      'first:efivars', 'second:cmdline', 'second:efivars', 'second:rsdp', 'third:cmdline', 'third:efivars', 'third:rsdp',
      ...(opts.bench ? [] : ['third:crash-loaded', 'capture:efivars', 'capture:rsdp']),
    ],
    timeoutMs: 6 * 60_000,
  };
}

/**
 * A firmware reboot through OVMF in the same guest: the first boot does the same `kexec-ts -c -l` +
 * `-u` (Node.js work) as before a kexec, then `reboot -f`; OVMF starts again and loads the same kernel
 * (marker after-reboot), which powers off.
 */
export function firmwareRebootUefi(suite: string, cpu = 'max'): ScenarioSpec {
  return { ...firmwareReboot(suite, cpu, kexecTsLoadUnload('first')), name: 'firmware-reboot-uefi', firmware: 'uefi', files: koffiBinaryFiles() };
}

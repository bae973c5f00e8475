// The scenarios the e2e tests and benchmarks run. Each returns a ScenarioSpec for runScenario;
// the stage scripts use the helpers of e2e/harness/guest-scripts.ts (mark, check, fail,
// stage_cmdline, prepare_kexec). Our own tools plug in here as they land (see e2e/README.md).
import type { ScenarioSpec } from './harness/scenario.ts';

/** Loads /scratch/boot/vmlinuz + initrd.img for stage NEXT with `kexec LOADFLAGS`, then kexec -e. */
const kexecInto = (next: string, loadFlags: string) => `
check kexec-load kexec ${loadFlags} /scratch/boot/vmlinuz --initrd=/scratch/boot/initrd.img --command-line="$(stage_cmdline ${next} e2e.via=${loadFlags.replace(/\s+/g, '')})"
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
prepare_kexec
mark kexec-e
kexec -e
fail "kexec -e returned $?"
`;

const proveBoot = `
mark cmdline "$(cat /proc/cmdline)"
mark payload-sha256 "$(sha256sum /e2e/payload.bin | cut -d' ' -f1)"
`;

/**
 * One guest, three kernels: the first proves Node.js and our bundle run, then kexec -l (kexec_load)
 * into the second, which proves its command line and initrd and kexec -s -l (kexec_file_load) into
 * the third, which proves them again.
 */
export function kexecReboot(suite: string, cpu: string, payload: Uint8Array): ScenarioSpec {
  return {
    name: 'kexec-reboot',
    suite,
    cpu,
    memoryMiB: 1024,
    files: { 'e2e/payload.bin': payload },
    stages: {
      first: `
mark node-started "$(node -e 'console.log(process.version + " " + process.arch + " pid=" + process.pid)')"
vmcore-ts --help > /tmp/help.txt 2>&1 && mark bundle-ok "$(head -1 /tmp/help.txt)" || fail "vmcore-ts --help: $(head -1 /tmp/help.txt)"
mark cmdline "$(cat /proc/cmdline)"
${kexecInto('second', '-l')}`,
      second: proveBoot + kexecInto('third', '-s -l'),
      third: proveBoot,
    },
    expect: ['first:node-started', 'first:bundle-ok', 'second:cmdline', 'second:payload-sha256', 'third:cmdline', 'third:payload-sha256'],
    timeoutMs: 8 * 60_000,
  };
}

/** How a kdump scenario crashes its kernel. */
export type CrashTrigger = 'sysrq' | 'oom';

const CRASH_COMMANDS: Record<CrashTrigger, string> = {
  sysrq: `echo c > /proc/sysrq-trigger
fail "still running after sysrq-c"`,
  // A different bug for crash signatures: memory filled through a tmpfs as big as RAM, with
  // vm.panic_on_oom set, so the allocating task (dd) panics in the OOM path.
  oom: `echo 1 > /proc/sys/vm/panic_on_oom
mkdir -p /oom && mount -t tmpfs -o size=100% oom /oom
dd if=/dev/zero of=/oom/fill bs=1M 2>/dev/null
fail "still running after filling memory with panic_on_oom set"`,
};

/**
 * kdump: crashkernel=256M in a 1 GiB guest (or `memoryMiB`), kexec -p with the slim capture initrd,
 * a unique line to /dev/kmsg, a crash (`trigger`: sysrq-c, or an OOM panic); the capture kernel saves
 * /proc/vmcore with makedumpfile (zlib and LZO, -d 31), its dmesg, and (when `raw`) an unfiltered ELF
 * copy for benchmarks.
 */
export function kdump(suite: string, cpu: string, crashMarker: string, raw: boolean, memoryMiB = 1024, trigger: CrashTrigger = 'sysrq'): ScenarioSpec {
  return {
    name: trigger === 'sysrq' ? 'kdump' : `kdump-${trigger}`,
    suite,
    cpu,
    memoryMiB,
    cmdline: 'crashkernel=256M',
    node: false, // reference tools only: a smaller initramfs boots faster
    diskMiB: raw ? memoryMiB + 376 : 320,
    stages: {
      first: `
check kexec-p kexec -p /boot/vmlinuz --initrd=/scratch/boot/initrd-capture.img --command-line="$(stage_cmdline capture irqpoll nr_cpus=1 reset_devices)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
echo "${crashMarker}" > /dev/kmsg
prepare_kexec
mark crashing
${CRASH_COMMANDS[trigger]}
`,
      capture: `
mark vmcore-size "$(stat -c %s /proc/vmcore)"
check makedumpfile-zlib makedumpfile -c -d 31 /proc/vmcore /scratch/vmcore-zlib.kdump
mark saved-zlib "$(stat -c %s /scratch/vmcore-zlib.kdump)"
check makedumpfile-lzo makedumpfile -l -d 31 /proc/vmcore /scratch/vmcore-lzo.kdump
mark saved-lzo "$(stat -c %s /scratch/vmcore-lzo.kdump)"
${raw ? 'check makedumpfile-raw makedumpfile -E -d 0 /proc/vmcore /scratch/vmcore-raw.elf\nmark saved-raw "$(stat -c %s /scratch/vmcore-raw.elf)"' : ''}
`,
    },
    expect: ['first:crash-loaded', 'capture:boot', 'capture:saved-zlib', 'capture:saved-lzo', ...(raw ? ['capture:saved-raw'] : [])],
    timeoutMs: 10 * 60_000,
  };
}

/**
 * For the kexec-vs-reboot benchmark: the first boot runs `before`, then reboots through the firmware
 * (reboot -f, SeaBIOS loads the same kernel again); the second boot sees the flag on the disk and
 * powers off.
 */
export function firmwareReboot(suite: string, cpu: string, before = ''): ScenarioSpec {
  return {
    name: 'firmware-reboot',
    suite,
    cpu,
    memoryMiB: 1024,
    allowReboot: true,
    stages: {
      first: `
if [ -e /scratch/rebooted ]; then
  mark after-reboot "$(cat /proc/cmdline)"
else
  ${before}
  touch /scratch/rebooted
  prepare_kexec
  mark reboot-f
  reboot -f
  fail "reboot -f returned"
fi
`,
    },
    expect: ['first:reboot-f', 'first:after-reboot'],
    timeoutMs: 6 * 60_000,
  };
}

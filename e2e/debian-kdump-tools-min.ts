// Debian's kdump-tools at a given crashkernel=, in the image's kdump-tools variant (the same
// Debian-system guest as e2e/debian-kdump-tools.test.ts): a first stage rewrites crashkernel= in
// /etc/default/grub.d/kdump-tools.cfg, runs update-grub and reboots through the firmware; the next
// boot crashes with sysrq-c; the boot after it checks /var/crash. It works when kdump-tools' dmesg.*
// has the crash line and vmcore-ts dmesg on its dump.* does too. For bench/crashkernel-min.ts --kdump-tools.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem } from './harness/debian-guest.ts';
import { REPO } from './harness/initramfs.ts';

const stages = (mib: number) => ({
  set: `sed -i 's/crashkernel=[^ "]*/crashkernel=${mib}M/' /etc/default/grub.d/kdump-tools.cfg
update-grub 2>/dev/null
echo first > $JOB/next
sync
systemctl reboot
sleep 120
fail "did not reboot"`,
  first: `mark cmdline "$(cat /proc/cmdline)"
check crash-loaded test "$(cat /sys/kernel/kexec_crash_loaded)" = 1
line="E2E-KDUMP-TOOLS-MIN-$(cat /proc/sys/kernel/random/uuid)"
echo "$line" > /dev/kmsg
mark crash-line "$line"
echo second > $JOB/next
sync
mark crash
echo c > /proc/sysrq-trigger
sleep 60
fail "sysrq-c did not crash the guest"`,
  second: `shopt -s nullglob
dirs=(/var/crash/2*/)
[ \${#dirs[@]} -eq 1 ] || fail "expected one /var/crash/<timestamp>/, found \${#dirs[@]}"
d=\${dirs[0]}
dumps=($d/dump.*); logs=($d/dmesg.*)
[ \${#dumps[@]} -ge 1 ] && [ -s "\${dumps[0]}" ] || fail "no dump.* in $d"
[ \${#logs[@]} -ge 1 ] || fail "no dmesg.* in $d"
mark dmesg-line "$(grep -o 'E2E-KDUMP-TOOLS-MIN-[0-9a-f-]*' "\${logs[0]}" | head -1)"
mkdir -p $JOB/out && cp "\${dumps[0]}" $JOB/out/dump && sync`,
});

export async function runKdumpTools(o: { suite: string; crashkernelMiB: number; timeoutMs?: number; log?: (s: string) => void }): Promise<{ ok: boolean; why: string }> {
  const image = await getDebianImage(o.suite, 'kdump-tools', o.log);
  let r;
  try {
    r = await bootSystem({
      name: `debian-kdump-tools-min-${o.suite}-${o.crashkernelMiB}M`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      stages: stages(o.crashkernelMiB),
      start: 'set',
      expect: ['first:crash', 'second:dmesg-line'],
      jobDiskMiB: 1024,
      timeoutMs: o.timeoutMs ?? 12 * 60_000,
      ...(o.log ? { log: o.log } : {}),
    });
  } catch (e) {
    return { ok: false, why: (e as Error).message.split('\n').slice(0, 3).join(' ') };
  }
  const line = r.marker('first', 'crash-line').value;
  if (!r.marker('first', 'cmdline').value.includes(`crashkernel=${o.crashkernelMiB}M`)) return { ok: false, why: `crashkernel=${o.crashkernelMiB}M not on the command line: ${r.marker('first', 'cmdline').value}` };
  if (r.marker('second', 'dmesg-line').value !== line) return { ok: false, why: "the crash line is not in kdump-tools' dmesg.*" };
  const dump = r.job.copyOut('out/dump', join(r.outDir, 'dump'));
  const d = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/vmcore-ts.ts', 'dmesg', dump], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  r.cleanup();
  if (!d.stdout.includes(line)) return { ok: false, why: `vmcore-ts dmesg on kdump-tools' dump: exit ${d.status}, crash line missing` };
  return { ok: true, why: "kdump-tools saved dump.* + dmesg.* with the crash line; vmcore-ts dmesg reads the dump" };
}

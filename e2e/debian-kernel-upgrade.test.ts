// Issue 12, scenario 3 (opt-in: npm run e2e -- --debian): a kernel upgrade, then a fast reboot into
// it. In the trixie system with our .deb installed (the install stage of debian-kexec-ts-deb.test.ts)
// and armed after a firmware reboot, `dpkg -i` of a second Debian kernel package (the non-cloud
// linux-image of the image's kernel version, downloaded on the host through the private apt view):
// our /etc/kernel/postinst.d hook builds /var/lib/kdump-ts/initrd.img-NEW; then
// `kexec-ts -l /boot/vmlinuz-NEW --initrd=/boot/initrd.img-NEW --reuse-cmdline && systemctl kexec`:
// the system comes up on NEW after systemd's shutdown, the root file system was left clean, and
// kdump-ts re-armed for NEW. Prints `systemctl kexec` -> multi-user.target next to the
// `systemctl reboot` (SeaBIOS + GRUB) figure of the same session and their ratio (goal <= 0.5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadavg } from 'node:os';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, kernelStartHostMs, multiUserHostMs } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { downloadPackage } from './harness/kernels.ts';
import { buildDeb, DEB_INSTALL_STAGE } from './harness/kexec-ts-deb.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption();

/** Marker value of a command's output lines joined by spaces (no xargs: journal lines have quotes). */
const lines = (cmd: string) => `"$(${cmd} | tr '\\n' ' ')"`;

function stages(kernelDeb: string, release: string): Record<string, string> {
  return {
    first: `${DEB_INSTALL_STAGE}
reboot_to second`,
    second: `mark armed "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded)"
mark blame ${lines(`systemd-analyze blame --no-pager | head -3`)}
check kernel-install dpkg -i $JOB/${kernelDeb}
mark boot-files ${lines(`ls /boot`)}
mark capture-initrds ${lines(`ls /var/lib/kdump-ts`)}
check kexec-load kexec-ts -l /boot/vmlinuz-${release} --initrd=/boot/initrd.img-${release} --reuse-cmdline
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
reboot_to third systemctl kexec`,
    third: `mark cmdline "$(cat /proc/cmdline)"
mark prev-shutdown ${lines(`journalctl -b -1 -q --no-pager -o cat | grep -E 'shutdown\\.target|final\\.target|kexec' | tail -8`)}
mark root-mount ${lines(`dmesg | grep -E 'EXT4-fs \\(vda3\\)'`)}
mark root-recovery ${lines(`{ dmesg; cat /run/initramfs/fsck.log 2>/dev/null; } | grep -iE 'recovering journal|orphan inode|was not cleanly unmounted|contains a file system with errors'`)}
mark fsck-log ${lines(`cat /run/initramfs/fsck.log 2>/dev/null`)}
mark active "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded)"
mark status ${lines(`kdump-ts status 2>&1 | head -20`)}
mark blame ${lines(`systemd-analyze blame --no-pager | head -3`)}`,
  };
}

for (const suite of (debianSuites().length ? debianSuites() : ['trixie']).filter((s) => s !== 'bookworm')) {
  test(`e2e debian ${suite} kernel upgrade: dpkg -i a second kernel package -> our postinst.d hook builds its capture initramfs; kexec-ts -l /boot/vmlinuz-NEW --reuse-cmdline + systemctl kexec -> up on NEW after systemd's shutdown, root ext4 clean (no journal recovery), kdump-ts re-armed for NEW; systemctl kexec vs systemctl reboot (SeaBIOS + GRUB) -> multi-user.target`, { skip: skipOpt }, async (t) => {
    const t0 = Date.now();
    const deb = buildDeb(join(REPO, 'e2e', 'out', `debian-upgrade-deb-${suite}`));
    const image = await getDebianImage(suite, 'kexec-ts-deps', log);
    // The same kernel version, the generic (non-cloud) flavour: a second kernel package of the suite.
    const release = image.release.replace(/-cloud-amd64$/, '-amd64');
    assert.notEqual(release, image.release, `the image's kernel ${image.release} is not a cloud kernel`);
    const kernelDeb = await downloadPackage(suite, `linux-image-${release}`, log);
    const r = await bootSystem({
      name: `debian-kernel-upgrade-${suite}`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      stages: stages(basename(kernelDeb), release),
      files: { [deb.name]: deb.bytes, [basename(kernelDeb)]: readFileSync(kernelDeb) },
      expect: ['first:reboot-cmd', 'second:kexec-loaded', 'second:reboot-cmd', 'third:status', 'third:exit'],
      jobDiskMiB: 256,
      timeoutMs: 25 * 60_000,
      ...(log ? { log } : {}),
    });
    const m = (stage: string, name: string) => r.marker(stage, name).value;
    assert.equal(m('second', 'armed'), 'active 1', 'after install + firmware reboot, kdump-ts is armed for the old kernel');
    assert.ok(m('second', 'boot-files').split(' ').includes(`vmlinuz-${release}`), `dpkg -i installed /boot/vmlinuz-${release}: ${m('second', 'boot-files')}`);
    assert.ok(m('second', 'capture-initrds').split(' ').includes(`initrd.img-${release}`), `our postinst.d hook built /var/lib/kdump-ts/initrd.img-${release} (has: ${m('second', 'capture-initrds')}; dpkg's output in ${r.outDir}/agent.log)`);
    assert.equal(m('second', 'kexec-loaded'), '1', 'kexec-ts -l loaded the new kernel');
    assert.equal(m('third', 'boot'), release, 'uname -r after systemctl kexec is the new kernel');
    assert.equal(m('third', 'running'), 'running', `failed units: ${r.find('third', 'failed-units')?.value ?? '-'}`);
    assert.ok(m('third', 'cmdline').includes(`root=UUID=${image.rootUuid}`), `--reuse-cmdline kept the root: ${m('third', 'cmdline')}`);
    assert.match(m('third', 'prev-shutdown'), /shutdown\.target/, 'the previous boot\'s journal shows systemd reaching shutdown.target');
    assert.match(m('third', 'prev-shutdown'), /kexec/i, 'the previous boot\'s journal shows the kexec reboot');
    assert.match(m('third', 'root-mount'), /EXT4-fs \(vda3\): mounted/, 'the root was mounted');
    assert.equal(m('third', 'root-recovery'), '', `the root ext4 was unmounted cleanly: no journal recovery/fsck repair (fsck log: ${m('third', 'fsck-log')})`);
    assert.equal(m('third', 'active'), 'active 1', 'kdump-ts re-armed on the new kernel (unit active, capture kernel loaded)');
    assert.match(m('third', 'status'), /loaded/i);
    assert.ok(m('third', 'status').includes(`initrd.img-${release}`), `kdump-ts status names the new kernel's capture initramfs: ${m('third', 'status')}`);

    const s = (ms: number) => Number((ms / 1000).toFixed(2));
    const rebootS = s(multiUserHostMs(r, 'second') - r.marker('first', 'reboot-cmd').hostMs);
    const kexecS = s(multiUserHostMs(r, 'third') - r.marker('second', 'reboot-cmd').hostMs);
    // command -> next kernel (shutdown + firmware + GRUB, or shutdown + kexec) and kernel -> multi-user.target
    const split = (cmdStage: string, stage: string) =>
      `command -> kernel ${s(kernelStartHostMs(r, stage) - r.marker(cmdStage, 'reboot-cmd').hostMs)} s, kernel -> multi-user.target ${s(multiUserHostMs(r, stage) - kernelStartHostMs(r, stage))} s (slowest units: ${r.marker(stage, 'blame').value})`;
    const ratio = Number((kexecS / rebootS).toFixed(2));
    const load = loadavg().map((x) => x.toFixed(2)).join(' ');
    recordTimings({ kernel: { suite, release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: r.markers }, 'debian-kernel-upgrade', { rebootToMultiUserS: rebootS, kexecToMultiUserS: kexecS, kexecRebootRatio: ratio });
    t.diagnostic(`${suite}: systemctl kexec (kexec-ts loaded ${release}) -> multi-user.target ${kexecS} s; systemctl reboot (SeaBIOS + GRUB, ${image.release}) -> multi-user.target ${rebootS} s; ratio ${ratio} (goal <= 0.5); load ${load}`);
    t.diagnostic(`${suite}: systemctl kexec: ${split('second', 'third')}`);
    t.diagnostic(`${suite}: systemctl reboot: ${split('first', 'second')}`);
    t.diagnostic(`${suite}: previous boot's journal: ${m('third', 'prev-shutdown')}; root: ${m('third', 'root-mount')}; kdump-ts status: ${m('third', 'status')}`);
    r.cleanup();
  });
}

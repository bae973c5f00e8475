// Real Debian systems (opt-in: npm run e2e -- --debian; --all adds bookworm): the image the harness
// builds with mmdebstrap (harness/debian-image.ts) boots through the firmware and GRUB — SeaBIOS
// (GRUB for BIOS from the BIOS boot partition) and OVMF (GRUB for UEFI from the ESP) — to
// multi-user.target with systemd as PID 1; a command runs in it; `systemctl reboot` goes back through
// firmware and GRUB into the same system. Prints QEMU start → multi-user.target and the reboot
// command → multi-user.target: the figure `systemctl kexec` must beat (issue 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, kernelStartHostMs, multiUserHostMs } from './harness/debian-guest.ts';
import { debianSkipOption, debianOptInSuites } from './harness/host.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption(true);

const FACTS = String.raw`mark cmdline "$(cat /proc/cmdline)"
mark efi "$([ -d /sys/firmware/efi ] && echo yes || echo no)"
mark root "$(findmnt -no SOURCE,FSTYPE /)"
mark pid1 "$(cat /proc/1/comm)"
mark journald "$(systemctl is-active systemd-journald)"
mark boots "$(journalctl --list-boots --no-pager -q | wc -l)"`;

const STAGES = {
  first: `${FACTS}
mark analyze "$(systemd-analyze time 2>&1 | head -1)"
reboot_to second`,
  second: `${FACTS}
mark prev-boot-end "$(journalctl -b -1 -q -o short-monotonic --no-pager | tail -1 | cut -c1-100)"`,
};

for (const suite of debianOptInSuites().length ? debianOptInSuites() : ['trixie']) {
  for (const firmware of ['seabios', 'uefi'] as const) {
    const fw = firmware === 'uefi' ? 'OVMF' : 'SeaBIOS';
    test(`e2e debian ${suite} ${firmware}: ${fw} + GRUB boot the installed system to multi-user.target (systemd, journald); systemctl reboot comes back the same way`, { skip: skipOpt }, async (t) => {
      const t0 = Date.now();
      const image = await getDebianImage(suite, 'base', log);
      t.diagnostic(`image ${image.path} (${image.release}, systemd ${image.packages.systemd}, grub ${image.packages['grub-pc']}; built ${image.builtAt} in ${(image.buildMs.total / 1000).toFixed(0)} s at load ${image.loadAvg.join(' ')})`);
      const r = await bootSystem({
        name: `debian-system-${suite}-${firmware}`,
        disk: { file: image.path, format: 'qcow2' },
        firmware,
        stages: STAGES,
        expect: ['first:reboot-cmd', 'second:boots', 'second:exit'],
        timeoutMs: 15 * 60_000,
        ...(log ? { log } : {}),
      });
      for (const stage of ['first', 'second']) {
        const m = (name: string) => r.marker(stage, name).value;
        assert.equal(m('running'), 'running', `${stage} boot: systemctl is-system-running (failed units: ${r.find(stage, 'failed-units')?.value ?? '-'})`);
        assert.equal(m('boot'), image.release);
        const cmdline = m('cmdline');
        assert.match(cmdline, new RegExp(`BOOT_IMAGE=/boot/vmlinuz-${image.release.replace(/[.+]/g, '\\$&')} `), `${stage}: GRUB booted the installed kernel`);
        assert.ok(cmdline.includes(`root=UUID=${image.rootUuid}`) && cmdline.includes('console=ttyS0'), cmdline);
        assert.equal(m('efi'), firmware === 'uefi' ? 'yes' : 'no');
        assert.equal(m('root'), `/dev/vda3 ext4`);
        assert.equal(m('pid1'), 'systemd');
        assert.equal(m('journald'), 'active');
      }
      assert.equal(Number(r.marker('second', 'boots').value), Number(r.marker('first', 'boots').value) + 1, 'the persistent journal has the boot before the reboot too');

      const s = (ms: number) => Number((ms / 1000).toFixed(2));
      const firstKernel = kernelStartHostMs(r, 'first');
      const firstMut = multiUserHostMs(r, 'first');
      const rebootCmd = r.marker('first', 'reboot-cmd').hostMs;
      const secondKernel = kernelStartHostMs(r, 'second');
      const secondMut = multiUserHostMs(r, 'second');
      const extra = {
        firmwareGrubS: s(firstKernel),
        startToMultiUserS: s(firstMut),
        rebootToKernelS: s(secondKernel - rebootCmd),
        rebootToMultiUserS: s(secondMut - rebootCmd),
        imageBuildS: s(image.buildMs.total),
      };
      recordTimings({ kernel: { suite, release: image.release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: r.markers }, `debian-system-${firmware}`, extra);
      t.diagnostic(`${suite} ${fw}: QEMU start -> multi-user.target ${extra.startToMultiUserS} s (firmware + GRUB ${extra.firmwareGrubS} s, kernel + systemd ${s(firstMut - firstKernel)} s; ${r.marker('first', 'analyze').value})`);
      t.diagnostic(`${suite} ${fw}: reboot-cmd at uptime ${r.marker('first', 'reboot-cmd').uptime} s, last journal line before the reset: ${r.marker('second', 'prev-boot-end').value}`);
      t.diagnostic(`${suite} ${fw}: systemctl reboot -> multi-user.target ${extra.rebootToMultiUserS} s (shutdown + firmware + GRUB ${extra.rebootToKernelS} s) — the figure systemctl kexec must beat`);
      r.cleanup();
    });
  }
}

// Issue 12, scenario 1 (opt-in: npm run e2e -- --debian): kexec-ts installed as the Debian package
// the project builds (scripts/build-deb.mjs) with `apt-get install ./kexec-ts_*.deb` in a real trixie
// system (the image's kexec-ts-deps variant holds its dependencies: the guest has no network), then a
// firmware reboot: crashkernel= is on the command line, kdump-ts.service is active, the capture
// kernel is loaded, `kdump-ts status` and the journal say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, multiUserHostMs, sysrqCrashStage } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { buildDeb, DEB_INSTALL_STAGE } from './harness/kexec-ts-deb.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption();

const STAGES = {
  first: `${DEB_INSTALL_STAGE}
reboot_to second`,
  second: `mark cmdline "$(cat /proc/cmdline)"
mark active "$(systemctl is-active kdump-ts)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
mark status "$(kdump-ts status 2>&1 | head -20 | xargs)"
mark journal "$(journalctl -u kdump-ts -b -q --no-pager | head -8 | xargs)"
# CPU hotplug (2 vCPUs): cpu1 offline, then online again; 90-kdump-ts.rules restarts the unit each time.
for state in 0 1; do
  inv=$(systemctl show -p InvocationID --value kdump-ts)
  echo $state > /sys/devices/system/cpu/cpu1/online
  for i in $(seq 180); do
    [ "$(systemctl show -p InvocationID --value kdump-ts)" != "$inv" ] && [ "$(systemctl is-active kdump-ts)" != activating ] && break
    sleep 1
  done
  mark hotplug-$state "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded) $(cat /sys/devices/system/cpu/online)"
done
mark hotplug-journal "$(journalctl -u kdump-ts -b -q --no-pager -o cat | grep -c '^Stopped ')"
# Scenario 2: a crash, saved by our capture initramfs, then back through the firmware.
${sysrqCrashStage('E2E-KEXEC-TS', 'third')}`,
  third: `shopt -s nullglob
dirs=(/var/crash/2*/)
mark crash-dirs "$(ls -d /var/crash/*/ 2>/dev/null | xargs)"
[ \${#dirs[@]} -eq 1 ] || fail "expected one /var/crash/<timestamp>/, found \${#dirs[@]}"
d=\${dirs[0]%/}
mark crash-files "$(cd $d && ls -l | awk 'NR>1 {print $NF":"$5}' | xargs)"
mark save-exit-code "$(cat $d/save-exit-code)"
mark dmesg-line "$(grep -o 'E2E-KEXEC-TS-[0-9a-f-]*' $d/dmesg.txt | head -1)"
mark active "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded)"
mark status-last "$(kdump-ts status 2>&1 | grep '^last dump:' | xargs)"
mark journal-last "$(journalctl -u kdump-ts -b -q --no-pager -o cat | grep 'last dump:' | head -1 | xargs)"
mark summary "$(vmcore-ts summary $d/vmcore 2>&1 | head -3 | xargs)"
mkdir -p $JOB/out && cp $d/vmcore $JOB/out/vmcore && cp $d/dmesg.txt $JOB/out/dmesg.txt && sync`,
};

// bookworm (Node 18) needs the --bundled-node build: not covered yet.
for (const suite of (debianSuites().length ? debianSuites() : ['trixie']).filter((s) => s !== 'bookworm')) {
  test(`e2e debian ${suite} kexec-ts .deb: apt-get install ./kexec-ts_*.deb, reboot through SeaBIOS + GRUB -> crashkernel= on the command line, kdump-ts.service active with the capture kernel loaded; cpu1 offline/online reloads it through the udev rule; sysrq-c -> /var/crash/<timestamp>/{vmcore,dmesg.txt} -> back at multi-user.target, kdump-ts status and the journal report the dump, vmcore-ts summary names the panic, host makedumpfile --dump-dmesg reads it`, { skip: skipOpt }, async (t) => {
    const t0 = Date.now();
    const outDir = join(REPO, 'e2e', 'out', `debian-deb-${suite}`);
    const deb = buildDeb(outDir);
    const image = await getDebianImage(suite, 'kexec-ts-deps', log);
    const r = await bootSystem({
      name: `debian-kexec-ts-deb-${suite}`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      smp: 2,
      stages: STAGES,
      files: { [deb.name]: deb.bytes },
      expect: ['first:reboot-cmd', 'second:journal', 'second:hotplug-journal', 'second:crash', 'third:summary', 'third:exit'],
      jobDiskMiB: 1024,
      timeoutMs: 20 * 60_000,
      ...(log ? { log } : {}),
    });
    const m = (stage: string, name: string) => r.marker(stage, name).value;
    assert.match(m('first', 'grub-crashkernel'), /^crashkernel=\S+$/, 'update-grub put one crashkernel= into grub.cfg');
    assert.equal(m('first', 'enabled'), 'enabled');
    assert.ok(m('first', 'capture-initrds').split(' ').includes(`initrd.img-${image.release}`), `the postinst built the capture initramfs of ${image.release} (/var/lib/kdump-ts: '${m('first', 'capture-initrds')}'; apt's output is in ${r.outDir}/agent.log)`);
    assert.ok(m('second', 'cmdline').includes(m('first', 'grub-crashkernel')), `the reboot's command line has ${m('first', 'grub-crashkernel')}: ${m('second', 'cmdline')}`);
    assert.equal(m('second', 'active'), 'active', `kdump-ts.service; journal: ${m('second', 'journal')}`);
    assert.equal(m('second', 'crash-loaded'), '1', 'the capture kernel is loaded');
    assert.match(m('second', 'status'), /loaded/i);
    assert.ok(m('second', 'journal').length > 0, 'journalctl -u kdump-ts shows the service');
    assert.equal(m('second', 'hotplug-0'), 'active 1 0', 'cpu1 offline: the unit restarted (reload) and is active, the capture kernel loaded');
    assert.equal(m('second', 'hotplug-1'), 'active 1 0-1', 'cpu1 online again: reloaded, active, loaded');
    assert.equal(m('second', 'hotplug-journal'), '2', 'the journal shows one restart per hotplug event (none from the boot\'s coldplug)');
    assert.equal(m('second', 'running'), 'running', `failed units: ${r.find('second', 'failed-units')?.value ?? '-'}`);
    // Scenario 2: sysrq-c -> our capture saved /var/crash/<timestamp>/{vmcore,dmesg.txt} -> back, reported.
    const crashLine = m('second', 'crash-line');
    assert.equal(m('third', 'save-exit-code'), '0', `vmcore-ts save in the capture kernel: ${m('third', 'crash-files')}`);
    assert.equal(m('third', 'dmesg-line'), crashLine, 'the crash line is in dmesg.txt');
    assert.equal(m('third', 'active'), 'active 1', 'kdump-ts re-armed on the boot after the crash');
    const dumpDir = m('third', 'crash-dirs').replace(/\/$/, '');
    assert.match(m('third', 'status-last'), new RegExp(`^last dump: ${dumpDir}: vmcore \\S+ \\S+, dmesg\\.txt, saved$`), 'kdump-ts status reports the saved crash');
    assert.match(m('third', 'journal-last'), /^last dump: .*, saved$/, 'the journal (the unit\'s ExecStartPost status) reports it');
    assert.match(m('third', 'summary'), /^CRASH: Kernel panic - not syncing: sysrq triggered crash/, 'vmcore-ts summary in the guest names the panic');
    const vmcore = r.job.copyOut('out/vmcore', join(r.outDir, 'vmcore'));
    const md = spawnSync('makedumpfile', ['--dump-dmesg', vmcore, join(r.outDir, 'makedumpfile-dmesg.txt')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(md.status, 0, `makedumpfile --dump-dmesg on our dump: ${md.stderr}`);
    assert.ok(readFileSync(join(r.outDir, 'makedumpfile-dmesg.txt'), 'utf8').includes(crashLine), 'makedumpfile --dump-dmesg (host) reads the crash line from our dump');
    const crashToMultiUserS = Number(((multiUserHostMs(r, 'third') - r.marker('second', 'crash').hostMs) / 1000).toFixed(2));
    t.diagnostic(`${suite}: sysrq-c -> dump saved (${m('third', 'crash-files')}) -> back at multi-user.target (SeaBIOS + GRUB) ${crashToMultiUserS} s, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    rmSync(vmcore);
    const installToArmedS = Number(((multiUserHostMs(r, 'second') - r.marker('first', 'stage-start').hostMs) / 1000).toFixed(2));
    recordTimings({ kernel: { suite, release: image.release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: r.markers }, 'debian-kexec-ts-deb', { installToArmedS, crashToMultiUserS });
    t.diagnostic(`${suite}: kexec-ts ${m('first', 'installed')} installed, ${m('first', 'grub-crashkernel')}; install -> reboot -> multi-user.target ${installToArmedS} s; kdump-ts status: ${m('second', 'status')}`);
    r.cleanup();
  });
}

// Issue 12, scenario 1 (opt-in: npm run e2e -- --debian): kexec-ts installed as the Debian package
// the project builds (scripts/build-deb.mjs) with `apt-get install ./kexec-ts_*.deb` in a real trixie
// system (the image's kexec-ts-deps variant holds its dependencies: the guest has no network), then a
// firmware reboot: crashkernel= is on the command line, kdump-ts.service is active, the capture
// kernel is loaded, `kdump-ts status` and the journal say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, multiUserHostMs } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption();

const STAGES = {
  first: `deb=$(ls $JOB/kexec-ts_*.deb)
check install apt-get install -y -q "$deb"
mark installed "$(dpkg-query -W -f '\${Version}' kexec-ts)"
mark grub-crashkernel "$(grep -o 'crashkernel=[^ ]*' /boot/grub/grub.cfg | sort -u | xargs)"
mark enabled "$(systemctl is-enabled kdump-ts)"
mark capture-initrds "$(ls /var/lib/kdump-ts | xargs)"
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
mark hotplug-journal "$(journalctl -u kdump-ts -b -q --no-pager -o cat | grep -c '^Stopped ')"`,
};

// bookworm (Node 18) needs the --bundled-node build: not covered yet.
for (const suite of (debianSuites().length ? debianSuites() : ['trixie']).filter((s) => s !== 'bookworm')) {
  test(`e2e debian ${suite} kexec-ts .deb: apt-get install ./kexec-ts_*.deb, reboot through SeaBIOS + GRUB -> crashkernel= on the command line, kdump-ts.service active with the capture kernel loaded; cpu1 offline/online reloads it through the udev rule`, { skip: skipOpt }, async (t) => {
    const t0 = Date.now();
    const outDir = join(REPO, 'e2e', 'out', `debian-deb-${suite}`);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    execFileSync(process.execPath, [join(REPO, 'scripts', 'build-deb.mjs'), '--out', outDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const deb = readdirSync(outDir).find((f) => /^kexec-ts_.*_amd64\.deb$/.test(f));
    assert.ok(deb, `scripts/build-deb.mjs left no .deb in ${outDir}`);
    const image = await getDebianImage(suite, 'kexec-ts-deps', log);
    const r = await bootSystem({
      name: `debian-kexec-ts-deb-${suite}`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      smp: 2,
      stages: STAGES,
      files: { [deb]: readFileSync(join(outDir, deb)) },
      expect: ['first:reboot-cmd', 'second:journal', 'second:hotplug-journal', 'second:exit'],
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
    const installToArmedS = Number(((multiUserHostMs(r, 'second') - r.marker('first', 'stage-start').hostMs) / 1000).toFixed(2));
    recordTimings({ kernel: { suite, release: image.release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: r.markers }, 'debian-kexec-ts-deb', { installToArmedS });
    t.diagnostic(`${suite}: kexec-ts ${m('first', 'installed')} installed, ${m('first', 'grub-crashkernel')}; install -> reboot -> multi-user.target ${installToArmedS} s; kdump-ts status: ${m('second', 'status')}`);
    r.cleanup();
  });
}

// Issue 12 in `npm test`: the whole life of kexec-ts on a real Debian system (trixie; bookworm too
// with `npm run e2e -- --all`), booted through the firmware and GRUB, with systemd. Two guests of
// the image's kexec-ts-deps variant, run at the same time:
//
// SeaBIOS (2 vCPUs), the crash kernel loaded with kexec_load (our purgatory):
//   1. apt-get install ./kexec-ts_*.deb -> systemctl reboot (GRUB boots what `kexec-ts boot --list`
//      named before it, on both firmwares) -> crashkernel= on the command line,
//      kdump-ts.service active, capture kernel loaded, `kdump-ts status` and the journal; cpu1
//      offline/online: the udev rule reloads it;
//   2. sysrq-c -> our capture saves /var/crash/<timestamp>/{vmcore,dmesg.txt} -> back through the
//      firmware: status and journal report the dump, vmcore-ts summary names the panic, the host's
//      makedumpfile reads it, and crash with the kernel's -dbg vmlinux (log, bt, sys);
//   3. apt-get install a newer kernel (SUITE-backports' cloud kernel) -> our postinst.d hook builds its capture initramfs;
//      kexec-ts -l NEW --reuse-cmdline + systemctl kexec -> up on NEW after a clean shutdown, re-armed;
//   3b. (issue 13) with both kernels in GRUB's menu: `kexec-ts boot --list --json` before each firmware
//      reboot names what GRUB then boots (uname -r, /proc/cmdline): default, grub-reboot (one-shot),
//      after it `kexec-ts reboot` (GRUB's default loaded + systemctl kexec: up on it with GRUB's
//      command line), GRUB_DEFAULT=saved + grub-set-default, and back;
//   4. apt-get remove, then purge -> every file the package shipped or made is gone, the rest of
//      /etc, /usr, /var/lib and /boot is as before the install (but for the new kernel's files),
//      /var/crash kept; systemctl reboot -> no crashkernel=, nothing loaded.
// OVMF (UEFI), the crash kernel loaded with kexec_file_load (syscall = auto):
//   1, 2 as above through OVMF + GRUB; then 5: systemctl kexec into the same kernel loaded by
//   kexec-ts, then by kexec-tools: both come up on UEFI, re-armed.
// Figures (diagnostics and e2e/out/timings.jsonl; not asserts): sysrq-c -> back at multi-user.target;
// systemctl reboot vs systemctl kexec -> multi-user.target on both firmwares; kexec-ts vs kexec-tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { getDebianImage, type DebianImage } from './harness/debian-image.ts';
import { bootSystem, kernelStartHostMs, multiUserHostMs, sysrqCrashStage, type SystemResult } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { downloadUpgradeKernel, getDebugVmlinux } from './harness/kernels.ts';
import { runCrash } from './harness/crash-tool.ts';
import { buildDeb, DEB_INSTALL_STAGE, lines } from './harness/kexec-ts-deb.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption();

/** Paths whose files the lifecycle snapshots (before the install, after the purge). */
const SNAPSHOT = `find /etc /usr /var/lib /boot -xdev \\( -type f -o -type l \\) | sort`;

/** First boot: the install (scenario 1), the file snapshot before it and the package's file list after. */
const installStage = (syscall: string) => `${SNAPSHOT} > $JOB/files-before
${DEB_INSTALL_STAGE}
dpkg -L kexec-ts > $JOB/deb-files
mark sizes "$(dpkg-query -W -f '\${Installed-Size}' kexec-ts) $(stat -c %s /var/lib/kdump-ts/initrd.img-$(uname -r))"
${syscall === 'auto' ? '' : `sed -i 's/^#* *syscall *=.*/syscall = ${syscall}/' /etc/kdump-ts.conf\n`}mark config-syscall "$(grep -E '^#* *syscall *=' /etc/kdump-ts.conf)"
kexec-ts boot --list --json > $JOB/boot-list-install.json; mark boot-list-install-exit $?
reboot_to second`;

/** After the firmware reboot: armed (markers cmdline, active, crash-loaded, status, journal, efi). */
const ARMED = `mark cmdline "$(cat /proc/cmdline)"
mark efi "$([ -d /sys/firmware/efi ] && echo uefi || echo bios)"
mark active "$(systemctl is-active kdump-ts)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
mark status ${lines('kdump-ts status 2>&1 | head -20')}
mark journal ${lines("journalctl -u kdump-ts -b -q --no-pager -o short-monotonic | sed -n '1,3p;$p'")}`;

/** CPU hotplug (2 vCPUs): cpu1 offline, then online again; 90-kdump-ts.rules restarts the unit each time. */
const HOTPLUG = `for state in 0 1; do
  inv=$(systemctl show -p InvocationID --value kdump-ts)
  echo $state > /sys/devices/system/cpu/cpu1/online
  for i in $(seq 180); do
    [ "$(systemctl show -p InvocationID --value kdump-ts)" != "$inv" ] && [ "$(systemctl is-active kdump-ts)" != activating ] && break
    sleep 1
  done
  mark hotplug-$state "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded) $(cat /sys/devices/system/cpu/online)"
done
mark hotplug-journal "$(journalctl -u kdump-ts -b -q --no-pager -o cat | grep -c '^Stopped ')"`;

/** The boot after the crash: the saved dump and its report (scenario 2); the dump goes to the job disk. */
const SAVED = `shopt -s nullglob
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
mkdir -p $JOB/out && cp $d/vmcore $JOB/out/vmcore && sync`;

/** After a `systemctl kexec`: the previous boot's shutdown and the root file system's state, re-armed. */
const AFTER_KEXEC = `mark cmdline "$(cat /proc/cmdline)"
mark efi "$([ -d /sys/firmware/efi ] && echo uefi || echo bios)"
mark prev-shutdown ${lines(`journalctl -b -1 -q --no-pager -o cat | grep -E 'shutdown\\.target|final\\.target|kexec' | tail -8`)}
mark root-mount ${lines(`dmesg | grep -E 'EXT4-fs \\(vda3\\)'`)}
mark root-recovery ${lines(`{ dmesg; cat /run/initramfs/fsck.log 2>/dev/null; } | grep -iE 'recovering journal|orphan inode|was not cleanly unmounted|contains a file system with errors'`)}
mark fsck-log ${lines(`cat /run/initramfs/fsck.log 2>/dev/null`)}
mark active "$(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded)"
mark status ${lines('kdump-ts status 2>&1 | head -20')}
mark blame ${lines('systemd-analyze blame --no-pager | head -3')}`;

/** Scenario 4: remove, purge, then a firmware reboot. */
const REMOVE_PURGE = `check remove apt-get remove -y -q kexec-ts
mark removed "$(dpkg-query -W -f '\${Status}' kexec-ts) $(systemctl is-active kdump-ts) $(cat /sys/kernel/kexec_crash_loaded) $(grep -c 'crashkernel=' /boot/grub/grub.cfg)"
mark removed-kept "$(ls /var/lib/kdump-ts | xargs)"
check purge apt-get purge -y -q kexec-ts
mark purged "$(dpkg-query -W -f '\${Status}' kexec-ts 2>&1)"
mark left-files "$(while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done < $JOB/deb-files | xargs)"
mark left-made "$(ls -d /var/lib/kdump-ts /run/kdump-ts /etc/kdump-ts.conf /etc/default/grub.d/kdump-ts.cfg /etc/systemd/system/*/kdump-ts.service /var/lib/systemd/deb-systemd-helper-enabled/*kdump-ts* 2>/dev/null | xargs)"
mark grub-crashkernel "$(grep -c 'crashkernel=' /boot/grub/grub.cfg)"
mark kept-dumps "$(ls /var/crash | xargs)"
${SNAPSHOT} > $JOB/files-after
reboot_to fifth`;

/**
 * Issue 13 on the same guest, with two kernels installed (GRUB's menu: NEW first, then "Advanced
 * options" with both): what `kexec-ts boot --list --json` says GRUB will boot, written to the job disk
 * before each firmware reboot, and what the firmware path then booted (the agent's `boot` marker =
 * uname -r, `cmdline`). grub-reboot (one-shot next_entry, by titles), then GRUB_DEFAULT=saved with
 * grub-set-default (by ids); the GRUB setting is undone before the purge.
 */
const GRUB_ONESHOT = (old: string) => `kexec-ts boot --list --json > $JOB/boot-list-default.json; mark boot-list-default-exit $?
check grub-reboot grub-reboot "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux ${old}"
mark grubenv-oneshot "$(grub-editenv list | xargs)"
kexec-ts boot --list --json > $JOB/boot-list-oneshot.json; mark boot-list-oneshot-exit $?
reboot_to grub1`;
const GRUB_AFTER_ONESHOT = `mark cmdline "$(cat /proc/cmdline)"
mark grubenv-after-oneshot "$(grub-editenv list | xargs)"
kexec-ts boot --list --json > $JOB/boot-list-after-oneshot.json; mark boot-list-after-oneshot-exit $?
reboot_to grub1k kexec-ts reboot`;
const GRUB_SAVED = (old: string, uuid: string) => `mark cmdline "$(cat /proc/cmdline)"
mark blame ${lines('systemd-analyze blame --no-pager | head -3')}
echo GRUB_DEFAULT=saved > /etc/default/grub.d/60-e2e-saved.cfg
check update-grub-saved update-grub
check grub-set-default grub-set-default "gnulinux-advanced-${uuid}>gnulinux-${old}-advanced-${uuid}"
kexec-ts boot --list --json > $JOB/boot-list-saved.json; mark boot-list-saved-exit $?
reboot_to grub2`;
const GRUB_RESET = `mark cmdline "$(cat /proc/cmdline)"
rm /etc/default/grub.d/60-e2e-saved.cfg
check update-grub-reset update-grub
check grub-set-default-reset grub-set-default 0
kexec-ts boot --list --json > $JOB/boot-list-reset.json; mark boot-list-reset-exit $?`;

function seabiosStages(release: string, oldRelease: string, rootUuid: string): Record<string, string> {
  return {
    first: installStage('kexec_load'),
    second: `${ARMED}
${HOTPLUG}
mark blame ${lines('systemd-analyze blame --no-pager | head -3')}
${sysrqCrashStage('E2E-KEXEC-TS', 'third')}`,
    third: `${SAVED}
check kernel-install apt-get install -y -q $JOB/kernel/*.deb
for d in $JOB/kernel/*.deb; do dpkg -L "$(dpkg-deb -f "$d" Package)"; done > $JOB/upgrade-files
mark capture-initrds ${lines('ls /var/lib/kdump-ts')}
check kexec-load kexec-ts -l /boot/vmlinuz-${release} --initrd=/boot/initrd.img-${release} --reuse-cmdline
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"
reboot_to fourth systemctl kexec`,
    fourth: `${AFTER_KEXEC}
${GRUB_ONESHOT(oldRelease)}`,
    grub1: GRUB_AFTER_ONESHOT,
    grub1k: GRUB_SAVED(oldRelease, rootUuid),
    grub2: `${GRUB_RESET}
${REMOVE_PURGE}`,
    fifth: `mark cmdline "$(cat /proc/cmdline)"
mark crash-loaded "$(cat /sys/kernel/kexec_crash_loaded)"
mark units "$(systemctl list-unit-files --no-legend 'kdump-ts*' | wc -l)"
mark kept-dumps "$(ls /var/crash | xargs)"`,
  };
}

function uefiStages(): Record<string, string> {
  const load = (tool: string) =>
    `start=$(date +%s%N)
check kexec-load ${tool} -l /boot/vmlinuz-$(uname -r) --initrd=/boot/initrd.img-$(uname -r) --reuse-cmdline
mark load-ms "$(( ($(date +%s%N) - start) / 1000000 ))"
mark kexec-loaded "$(cat /sys/kernel/kexec_loaded)"`;
  return {
    first: installStage('auto'),
    second: `${ARMED}
mark blame ${lines('systemd-analyze blame --no-pager | head -3')}
${sysrqCrashStage('E2E-KEXEC-TS', 'third')}`,
    third: `${SAVED}
${load('kexec-ts')}
reboot_to fourth systemctl kexec`,
    fourth: `${AFTER_KEXEC}
${load('kexec')}
reboot_to fifth systemctl kexec`,
    fifth: AFTER_KEXEC,
  };
}

const s = (ms: number) => Number((ms / 1000).toFixed(2));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** Checks of scenario 1 on the `stage` boot (after the install's firmware reboot). */
function assertArmed(r: SystemResult, stage: string, syscall: string, firmware: string): void {
  const m = (name: string, st = stage) => r.marker(st, name).value;
  assert.match(m('grub-crashkernel', 'first'), /^crashkernel=\S+$/, 'update-grub put one crashkernel= into grub.cfg');
  assert.equal(m('enabled', 'first'), 'enabled');
  assert.ok(m('cmdline').includes(m('grub-crashkernel', 'first')), `the reboot's command line has ${m('grub-crashkernel', 'first')}: ${m('cmdline')}`);
  assert.equal(m('efi'), firmware, 'booted through the firmware asked for');
  assert.equal(m('active'), 'active', `kdump-ts.service; journal: ${m('journal')}`);
  assert.equal(m('crash-loaded'), '1', 'the capture kernel is loaded');
  assert.match(m('status'), new RegExp(`capture kernel: +loaded: \\S+ with \\S+ \\(${syscall},`), `kdump-ts status: loaded with ${syscall}`);
  assert.match(m('journal'), /loaded/, 'journalctl -u kdump-ts shows the service loading it');
  assert.equal(m('running'), 'running', `failed units: ${r.find(stage, 'failed-units')?.value ?? '-'}`);
}

/**
 * Checks of scenario 2 on the `stage` boot (after the crash), and the host's makedumpfile on the
 * dump; with `crash`, also crash (from a Debian root of the suite) with the kernel's -dbg vmlinux.
 */
function assertSaved(r: SystemResult, crashStage: string, stage: string, crash?: { suite: string; vmlinux: string }): void {
  const m = (name: string, st = stage) => r.marker(st, name).value;
  const crashLine = m('crash-line', crashStage);
  assert.equal(m('save-exit-code'), '0', `vmcore-ts save in the capture kernel: ${m('crash-files')}`);
  assert.equal(m('dmesg-line'), crashLine, 'the crash line is in dmesg.txt');
  assert.equal(m('active'), 'active 1', 'kdump-ts re-armed on the boot after the crash');
  const dumpDir = m('crash-dirs').replace(/\/$/, '');
  assert.match(m('status-last'), new RegExp(`^last dump: ${dumpDir}: vmcore \\S+ \\S+, dmesg\\.txt, saved$`), 'kdump-ts status reports the saved crash');
  assert.match(m('journal-last'), /^last dump: .*, saved$/, 'the journal (the unit\'s ExecStartPost status) reports it');
  assert.match(m('summary'), /^CRASH: Kernel panic - not syncing: sysrq triggered crash/, 'vmcore-ts summary in the guest names the panic');
  const vmcore = r.job.copyOut('out/vmcore', join(r.outDir, 'vmcore'));
  const out = join(r.outDir, 'makedumpfile-dmesg.txt');
  rmSync(out, { force: true }); // makedumpfile refuses to overwrite
  const md = spawnSync('makedumpfile', ['--dump-dmesg', vmcore, out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(md.status, 0, `makedumpfile --dump-dmesg on our dump: ${md.stderr}`);
  assert.ok(readFileSync(out, 'utf8').includes(crashLine), 'makedumpfile --dump-dmesg (host) reads the crash line from our dump');
  if (crash) {
    // No pipes inside crash: it finds a piped-to command's pid by scanning /proc with 1 ms stalls,
    // which under load can lose that command's output. The lines are picked here instead.
    const c = runCrash(crash.suite, crash.vmlinux, vmcore, ['log', 'bt', 'sys']);
    writeFileSync(join(r.outDir, 'crash.txt'), c.stdout + c.stderr);
    const where = `${r.outDir}/crash.txt; stderr: ${c.stderr.slice(-300)}`;
    assert.equal(c.status, 0, `crash on our dump: ${c.stderr.slice(-500)}`);
    assert.ok(c.stdout.includes(crashLine), `crash's log shows the crash line (${where})`);
    assert.match(c.stdout, /sysrq_handle_crash/, `crash's bt of the panicking task follows the sysrq-c chain (${where})`);
    const sys = c.stdout.split('\n').filter((l) => /^\s+(RELEASE|PANIC):/.test(l)).join('\n');
    assert.match(sys, /PANIC: "Kernel panic - not syncing: sysrq triggered crash"/, `crash's sys names the panic: ${sys} (${where})`);
  }
  rmSync(vmcore);
}

/** Checks after a `systemctl kexec` into `release` on the `stage` boot. */
function assertKexecBoot(r: SystemResult, image: DebianImage, stage: string, release: string, firmware: string): void {
  const m = (name: string) => r.marker(stage, name).value;
  assert.equal(m('boot'), release, `uname -r after systemctl kexec is ${release}`);
  assert.equal(m('efi'), firmware, 'the kexec\'d kernel kept the firmware interface');
  assert.equal(m('running'), 'running', `failed units: ${r.find(stage, 'failed-units')?.value ?? '-'}`);
  assert.ok(m('cmdline').includes(`root=UUID=${image.rootUuid}`), `--reuse-cmdline kept the root: ${m('cmdline')}`);
  assert.match(m('prev-shutdown'), /shutdown\.target/, 'the previous boot\'s journal shows systemd reaching shutdown.target');
  assert.match(m('prev-shutdown'), /kexec/i, 'the previous boot\'s journal shows the kexec reboot');
  assert.match(m('root-mount'), /EXT4-fs \(vda3\): mounted/, 'the root was mounted');
  assert.equal(m('root-recovery'), '', `the root ext4 was unmounted cleanly: no journal recovery/fsck repair (fsck log: ${m('fsck-log')})`);
  assert.equal(m('active'), 'active 1', 'kdump-ts re-armed after the kexec (unit active, capture kernel loaded)');
  assert.ok(m('status').includes(`initrd.img-${release}`), `kdump-ts status names ${release}'s capture initramfs: ${m('status')}`);
}

/** The default entry of `kexec-ts boot --list --json` the guest wrote to the job disk as boot-list-NAME.json. */
function grubPick(r: SystemResult, name: string): { release: string; id: string; kernel: string; initrds: string[]; cmdline: string } {
  const stage = Object.entries(r.markers.reduce<Record<string, string>>((a, m) => (m.name === `boot-list-${name}-exit` ? { ...a, [m.stage]: m.value } : a), {}));
  assert.deepEqual(stage.map(([, v]) => v), ['0'], `kexec-ts boot --list --json (${name}) exits 0 once: ${JSON.stringify(stage)}`);
  const list = JSON.parse(r.job.readFile(`boot-list-${name}.json`).toString('utf8'));
  assert.equal(list.loader.name, 'grub', `GRUB recognised as the boot loader (${name}): ${list.loader.reason}`);
  const e = list.entries.find((x: { isDefault: boolean }) => x.isDefault);
  assert.ok(e, `kexec-ts boot found a default (${name}): ${list.noDefaultReason}`);
  const release = basename(e.kernel).replace(/^vmlinuz-/, '');
  assert.deepEqual(e.initrds, [`/boot/initrd.img-${release}`], `the default's initrd matches its kernel (${name})`);
  return { release, id: e.id, kernel: e.kernel, initrds: e.initrds, cmdline: e.cmdline };
}

/** kexec-ts boot's default before the firmware reboot = what GRUB booted on `stage` (uname -r and /proc/cmdline). */
function assertGrubPick(r: SystemResult, name: string, stage: string, release: string, purged = false): void {
  const pick = grubPick(r, name);
  assert.equal(pick.release, release, `kexec-ts boot --list (${name}) predicts ${release} (picked ${pick.id})`);
  assert.equal(r.marker(stage, 'boot').value, release, `the firmware path booted ${release} (${name})`);
  // The purge between the prediction and the reboot took crashkernel= out of grub.cfg.
  const norm = (c: string) => (purged ? c.replace(/\s*crashkernel=\S+/, '') : c).trim();
  assert.equal(norm(pick.cmdline), norm(r.marker(stage, 'cmdline').value), `the command line GRUB booted is the one kexec-ts boot read (${name})`);
}

/** Command -> multi-user.target of the reboot `cmdStage` started, split at the next kernel's start. */
function rebootFigure(r: SystemResult, cmdStage: string, stage: string): { totalS: number; text: string } {
  const cmd = r.marker(cmdStage, 'reboot-cmd').hostMs;
  const totalS = s(multiUserHostMs(r, stage) - cmd);
  const text = `${totalS} s (command -> kernel ${s(kernelStartHostMs(r, stage) - cmd)} s, kernel -> multi-user.target ${s(multiUserHostMs(r, stage) - kernelStartHostMs(r, stage))} s; slowest units: ${r.find(stage, 'blame')?.value ?? '-'})`;
  return { totalS, text };
}

/** Files that differ between the snapshots before the install and after the purge, but those of the kernel upgrade. */
function snapshotDiff(r: SystemResult, newRelease: string): { added: string[]; removed: string[] } {
  const read = (name: string) => new Set(r.job.readFile(name).toString('utf8').split('\n').filter(Boolean));
  const before = read('files-before');
  const after = read('files-after');
  const upgrade = read('upgrade-files'); // dpkg -L of the kernel upgrade's packages (linux-base too)
  // Package manager and systemd bookkeeping changes with any apt run; the kernel upgrade adds its own files.
  const churn = (p: string) => upgrade.has(p) || p.includes(newRelease) || /^\/var\/lib\/(dpkg|apt|systemd|ucf|initramfs-tools)\//.test(p) || /^\/var\/cache\//.test(p) || p === '/etc/ld.so.cache' || p === '/boot/grub/grubenv'; // grubenv: the test's own grub-reboot
  return {
    added: [...after].filter((p) => !before.has(p) && !churn(p)),
    removed: [...before].filter((p) => !after.has(p) && !churn(p)),
  };
}

for (const suite of debianSuites()) {
  test(`e2e debian ${suite} lifecycle: SeaBIOS (kexec_load) install -> reboot -> armed, hotplug reload; sysrq-c -> /var/crash -> back; kernel upgrade -> systemctl kexec -> NEW, clean, re-armed; remove + purge -> as before; OVMF (kexec_file_load) install -> armed, crash -> back, systemctl kexec with kexec-ts and kexec-tools`, { skip: skipOpt, timeout: 45 * 60_000 }, async (t) => {
    const t0 = Date.now();
    const image = await getDebianImage(suite, 'kexec-ts-deps', log);
    const deb = buildDeb(join(REPO, 'e2e', 'out', `debian-lifecycle-deb-${suite}`), suite);
    // The kernel upgrade: the newest cloud kernel of SUITE-backports (a newer version, fast to boot under TCG).
    const upgrade = await downloadUpgradeKernel(suite, log);
    const release = upgrade.release;
    assert.notEqual(release, image.release, `${suite}-backports has no kernel other than the image's ${image.release}`);
    // crash reads the SeaBIOS guest's dump with the image kernel's vmlinux (its -dbg package, ~320 MB once).
    const vmlinux = await getDebugVmlinux(suite, image.release, log);
    const kernelDebs = Object.fromEntries(upgrade.debs.map((d) => [`kernel/${basename(d)}`, readFileSync(d)]));
    const common = { disk: { file: image.path, format: 'qcow2' as const }, jobDiskMiB: 512, timeoutMs: 40 * 60_000, ...(log ? { log } : {}) };
    // Both guests at once: one vCPU each most of the time (the SeaBIOS guest's second only for hotplug).
    // E2E_SEQUENTIAL=1 (bench/debian-system.mjs) runs them one after the other, so that their figures
    // are taken as kdump-tools' are: one guest on the host.
    const guests = [
      () => bootSystem({
        ...common,
        name: `debian-lifecycle-${suite}-seabios`,
        firmware: 'seabios',
        smp: 2,
        stages: seabiosStages(release, image.release, image.rootUuid),
        files: { [deb.name]: deb.bytes, ...kernelDebs },
        expect: ['second:crash', 'third:reboot-cmd', 'fourth:reboot-cmd', 'grub1:reboot-cmd', 'grub1k:reboot-cmd', 'grub2:reboot-cmd', 'fifth:exit'],
      }),
      () => bootSystem({
        ...common,
        name: `debian-lifecycle-${suite}-ovmf`,
        firmware: 'uefi',
        stages: uefiStages(),
        files: { [deb.name]: deb.bytes },
        expect: ['second:crash', 'third:reboot-cmd', 'fourth:reboot-cmd', 'fifth:exit'],
      }),
    ] as const;
    const [bios, uefi] = process.env.E2E_SEQUENTIAL ? [await guests[0](), await guests[1]()] : await Promise.all(guests.map((g) => g()));

    // SeaBIOS: scenarios 1-4.
    const b = (stage: string, name: string) => bios.marker(stage, name).value;
    assert.ok(b('first', 'capture-initrds').split(' ').includes(`initrd.img-${image.release}`), `the postinst built the capture initramfs of ${image.release} (/var/lib/kdump-ts: '${b('first', 'capture-initrds')}'; apt's output is in ${bios.outDir}/agent.log)`);
    assert.equal(b('first', 'config-syscall'), 'syscall = kexec_load');
    assertArmed(bios, 'second', 'kexec_load', 'bios');
    assertGrubPick(bios, 'install', 'second', image.release);
    assert.equal(b('second', 'hotplug-0'), 'active 1 0', 'cpu1 offline: the unit restarted (reload) and is active, the capture kernel loaded');
    assert.equal(b('second', 'hotplug-1'), 'active 1 0-1', 'cpu1 online again: reloaded, active, loaded');
    assert.equal(b('second', 'hotplug-journal'), '2', 'the journal shows one restart per hotplug event (none from the boot\'s coldplug)');
    assertSaved(bios, 'second', 'third', { suite, vmlinux });
    assert.ok(b('third', 'capture-initrds').split(' ').includes(`initrd.img-${release}`), `our postinst.d hook built /var/lib/kdump-ts/initrd.img-${release} (has: ${b('third', 'capture-initrds')}; dpkg's output in ${bios.outDir}/agent.log)`);
    assert.equal(b('third', 'kexec-loaded'), '1', 'kexec-ts -l loaded the new kernel');
    assertKexecBoot(bios, image, 'fourth', release, 'bios');
    // Issue 13: the entry kexec-ts boot said GRUB would boot is the one the firmware path booted.
    assert.equal(grubPick(bios, 'default').release, release, 'after the upgrade, kexec-ts boot picks the new kernel (GRUB_DEFAULT=0: the first entry)');
    assert.match(b('fourth', 'grubenv-oneshot'), new RegExp(`next_entry=Advanced options`), 'grub-reboot set next_entry');
    assertGrubPick(bios, 'oneshot', 'grub1', image.release);
    assert.doesNotMatch(b('grub1', 'grubenv-after-oneshot'), /next_entry=\S/, 'GRUB cleared next_entry on the one-shot boot');
    assert.equal(grubPick(bios, 'after-oneshot').release, release, 'after the one-shot boot, kexec-ts boot picks the default again');
    // kexec-ts reboot (load the default, systemctl kexec): up on it with the command line GRUB would pass.
    assertGrubPick(bios, 'after-oneshot', 'grub1k', release);
    assert.match(b('grub1k', 'running'), /^running$/, `after kexec-ts reboot: failed units ${bios.find('grub1k', 'failed-units')?.value ?? '-'}`);
    assertGrubPick(bios, 'saved', 'grub2', image.release);
    assertGrubPick(bios, 'reset', 'fifth', release, true);
    assert.equal(b('grub2', 'removed'), 'deinstall ok config-files inactive 0 0', 'apt-get remove: unit stopped, capture kernel unloaded, crashkernel= out of grub.cfg');
    assert.equal(b('grub2', 'purged'), 'dpkg-query: no packages found matching kexec-ts');
    assert.equal(b('grub2', 'left-files'), '', 'no file the package shipped is left after purge');
    assert.equal(b('grub2', 'left-made'), '', 'nothing the package made is left after purge (capture initramfs, state, configuration, unit enablement)');
    assert.equal(b('grub2', 'grub-crashkernel'), '0');
    const dumps = b('third', 'crash-dirs').replace(/\/var\/crash\/|\//g, ' ').trim();
    assert.equal(b('grub2', 'kept-dumps'), dumps, 'purge keeps the dumps in /var/crash');
    const diff = snapshotDiff(bios, release);
    assert.deepEqual(diff, { added: [], removed: [] }, 'after purge /etc, /usr, /var/lib and /boot hold the files they held before the install (the new kernel\'s aside)');
    assert.ok(!b('fifth', 'cmdline').includes('crashkernel='), `after purge and a reboot, no crashkernel=: ${b('fifth', 'cmdline')}`);
    assert.equal(b('fifth', 'crash-loaded'), '0');
    assert.equal(b('fifth', 'units'), '0', 'no kdump-ts unit');
    assert.equal(b('fifth', 'kept-dumps'), dumps, 'the dumps survive the reboot too');

    // OVMF: scenarios 1, 2 and 5 (kexec_file_load), systemctl kexec with each loader.
    assert.match(uefi.marker('first', 'config-syscall').value, /syscall = auto/);
    assertArmed(uefi, 'second', 'kexec_file_load', 'uefi');
    assertGrubPick(uefi, 'install', 'second', image.release); // GRUB for UEFI: the same choice and command line
    assertSaved(uefi, 'second', 'third');
    assertKexecBoot(uefi, image, 'fourth', image.release, 'uefi');
    assertKexecBoot(uefi, image, 'fifth', image.release, 'uefi');

    // Figures.
    const crashBios = s(multiUserHostMs(bios, 'third') - bios.marker('second', 'crash').hostMs);
    const crashUefi = s(multiUserHostMs(uefi, 'third') - uefi.marker('second', 'crash').hostMs);
    const rebootBios = rebootFigure(bios, 'first', 'second');
    const kexecBios = rebootFigure(bios, 'third', 'fourth');
    const kexecTsRebootBios = rebootFigure(bios, 'grub1', 'grub1k');
    const rebootUefi = rebootFigure(uefi, 'first', 'second');
    const kexecUefi = rebootFigure(uefi, 'third', 'fourth');
    const kexecToolsUefi = rebootFigure(uefi, 'fourth', 'fifth');
    const loadMs = { kexecTs: Number(uefi.marker('third', 'load-ms').value), kexecTools: Number(uefi.marker('fourth', 'load-ms').value) };
    const ratio = (a: number, b2: number) => Number((a / b2).toFixed(2));
    const sizes = b('first', 'sizes').split(' ');
    recordTimings({ kernel: { suite, release: image.release }, cpu: bios.cpu, wallMs: Date.now() - t0, qemuMs: Math.max(bios.qemuMs, uefi.qemuMs), markers: [] }, 'debian-lifecycle', {
      crashToMultiUserSeabiosS: crashBios, crashToMultiUserOvmfS: crashUefi,
      rebootSeabiosS: rebootBios.totalS, kexecNewKernelSeabiosS: kexecBios.totalS, kexecTsRebootSeabiosS: kexecTsRebootBios.totalS,
      rebootOvmfS: rebootUefi.totalS, kexecTsOvmfS: kexecUefi.totalS, kexecToolsOvmfS: kexecToolsUefi.totalS,
      kexecTsLoadMs: loadMs.kexecTs, kexecToolsLoadMs: loadMs.kexecTools,
      debBytes: deb.bytes.length, installedKiB: Number(sizes[0]), captureInitrdBytes: Number(sizes[1]),
    });
    t.diagnostic(`${suite}: kexec-ts ${b('first', 'installed')} (.deb ${deb.bytes.length} bytes, installed ${sizes[0]} KiB, capture initramfs ${sizes[1]} bytes), ${b('first', 'grub-crashkernel')}; load at the end ${load()}`);
    t.diagnostic(`${suite}: sysrq-c -> dump saved -> back at multi-user.target: SeaBIOS ${crashBios} s (${b('third', 'crash-files')}), OVMF ${crashUefi} s`);
    t.diagnostic(`${suite}: SeaBIOS: systemctl reboot ${rebootBios.text}; systemctl kexec (kexec-ts, new kernel ${release}) ${kexecBios.text}; ratio ${ratio(kexecBios.totalS, rebootBios.totalS)} (goal <= 0.5)`);
    t.diagnostic(`${suite}: SeaBIOS: kexec-ts reboot (GRUB's default, ${release}) ${kexecTsRebootBios.text}; vs systemctl reboot ${ratio(kexecTsRebootBios.totalS, rebootBios.totalS)} (goal <= 0.5)`);
    t.diagnostic(`${suite}: OVMF: systemctl reboot ${rebootUefi.text}; systemctl kexec (kexec-ts, same kernel) ${kexecUefi.text}; ratio ${ratio(kexecUefi.totalS, rebootUefi.totalS)} (goal <= 0.5)`);
    t.diagnostic(`${suite}: OVMF: systemctl kexec loaded by kexec-tools ${kexecToolsUefi.text}; kexec-ts / kexec-tools ${ratio(kexecUefi.totalS, kexecToolsUefi.totalS)} (goal <= 1.0); load command ${loadMs.kexecTs} ms vs ${loadMs.kexecTools} ms`);
    bios.cleanup();
    uefi.cleanup();
  });
}

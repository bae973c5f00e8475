// Debian's own kdump service, the reference kdump-ts is measured against (opt-in: npm run e2e --
// --debian): the image's kdump-tools variant (kdump-tools + makedumpfile from the suite, crashkernel=
// from their /etc/default/grub.d/kdump-tools.cfg through update-grub) boots through SeaBIOS + GRUB
// with the capture kernel loaded; sysrq-c INSIDE the guest; Debian's capture environment saves
// /var/crash/<timestamp>/dump.* + dmesg.* and reboots through the firmware into the system.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, multiUserHostMs, sysrqCrashStage } from './harness/debian-guest.ts';
import { debianSkipOption, debianOptInSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { recordTimings } from './harness/testing.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption(true);

const STAGES = {
  first: `mark cmdline "$(cat /proc/cmdline)"
mark kdump-status "$(kdump-config status 2>&1 | xargs)"
check crash-loaded test "$(cat /sys/kernel/kexec_crash_loaded)" = 1
mark initrd-bytes "$(stat -c %s /var/lib/kdump/initrd.img-$(uname -r))"
${sysrqCrashStage('E2E-KDUMP-TOOLS', 'second')}`,
  second: `shopt -s nullglob
dirs=(/var/crash/2*/)
mark crash-dirs "$(ls -d /var/crash/*/ 2>/dev/null | xargs)"
[ \${#dirs[@]} -eq 1 ] || fail "expected one /var/crash/<timestamp>/, found \${#dirs[@]}"
d=\${dirs[0]}
mark crash-files "$(cd $d && ls -l | awk 'NR>1 {print $NF":"$5}' | xargs)"
dumps=($d/dump.*); logs=($d/dmesg.*)
[ \${#dumps[@]} -ge 1 ] && [ -s "\${dumps[0]}" ] || fail "no dump.* in $d"
[ \${#logs[@]} -ge 1 ] || fail "no dmesg.* in $d"
mark dmesg-line "$(grep -o 'E2E-KDUMP-TOOLS-[0-9a-f-]*' "\${logs[0]}" | head -1)"
mark dump-header "$(head -c 8 "\${dumps[0]}" | tr -dc '[:print:]')"
mark kdump-status "$(kdump-config status 2>&1 | xargs)"
mkdir -p $JOB/out && cp "\${dumps[0]}" $JOB/out/dump && cp "\${logs[0]}" $JOB/out/dmesg.txt && sync`,
};

for (const suite of debianOptInSuites().length ? debianOptInSuites() : ['trixie']) {
  test(`e2e debian ${suite} kdump-tools: sysrq-c in the guest -> Debian's capture saves /var/crash/<timestamp>/dump.* + dmesg.* with the crash line and reboots into the system`, { skip: skipOpt }, async (t) => {
    const t0 = Date.now();
    const image = await getDebianImage(suite, 'kdump-tools', log);
    t.diagnostic(`image ${image.path} (${image.release}, kdump-tools ${image.packages['kdump-tools']}, makedumpfile ${image.packages.makedumpfile}; built in ${(image.buildMs.total / 1000).toFixed(0)} s at load ${image.loadAvg.join(' ')})`);
    const r = await bootSystem({
      name: `debian-kdump-tools-${suite}`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'seabios',
      stages: STAGES,
      expect: ['first:crash', 'second:dmesg-line', 'second:exit'],
      jobDiskMiB: 1024,
      timeoutMs: 20 * 60_000,
      ...(log ? { log } : {}),
    });
    const crashkernel = /crashkernel=(\S+)/.exec(r.marker('first', 'cmdline').value)?.[1];
    assert.ok(crashkernel, `crashkernel= on the command line: ${r.marker('first', 'cmdline').value}`);
    assert.equal(r.marker('second', 'dmesg-line').value, r.marker('first', 'crash-line').value, "the crash line is in kdump-tools' dmesg.* file");
    // makedumpfile's kdump-compressed format ("KDUMP   ") or its flattened stream ("makedumpfile"), which trixie's kdump-tools writes
    const header = r.marker('second', 'dump-header').value;
    assert.match(header, /^(KDUMP|makedump)$/, 'dump.* is a makedumpfile dump');
    assert.equal(r.marker('second', 'running').value, 'running');
    // Our reader on Debian's dump: vmcore-ts dmesg shows the crash line; kdump-tools' dmesg.* (makedumpfile --dump-dmesg in the capture kernel) is the oracle.
    const dump = r.job.copyOut('out/dump', join(r.outDir, 'dump'));
    const theirs = readFileSync(r.job.copyOut('out/dmesg.txt', join(r.outDir, 'dmesg.txt')), 'utf8');
    const v = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/vmcore-ts.ts', 'dmesg', dump], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(v.status, 0, `vmcore-ts dmesg on kdump-tools' dump: ${v.stderr}`);
    assert.ok(v.stdout.includes(r.marker('first', 'crash-line').value), 'vmcore-ts dmesg on the dump shows the crash line');
    const firstDiff = v.stdout.split('\n').findIndex((l, i) => l !== theirs.split('\n')[i]);
    t.diagnostic(`vmcore-ts dmesg vs kdump-tools' dmesg.*: ${v.stdout === theirs ? 'identical' : `differ from line ${firstDiff + 1}`}`);
    const crashToMultiUserS = Number(((multiUserHostMs(r, 'second') - r.marker('first', 'crash').hostMs) / 1000).toFixed(2));
    recordTimings({ kernel: { suite, release: image.release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: r.markers }, 'debian-kdump-tools', { crashToMultiUserS, captureInitrdBytes: Number(r.marker('first', 'initrd-bytes').value) });
    t.diagnostic(`${suite} kdump-tools crashkernel=${crashkernel}: ${r.marker('second', 'crash-files').value} (${header === 'KDUMP' ? 'kdump-compressed' : 'flattened makedumpfile format'})`);
    t.diagnostic(`${suite} kdump-tools: sysrq-c -> dump saved -> back at multi-user.target (SeaBIOS + GRUB) ${crashToMultiUserS} s — the figure kdump-ts is compared with`);
    rmSync(dump);
    r.cleanup();
  });
}

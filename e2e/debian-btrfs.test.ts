// Issue 13 on a btrfs root (with --all, or E2E_BTRFS=1): Debian trixie installed as Debian's
// installer lays btrfs out — the root in subvolume @, GRUB's grub.cfg naming /@/boot/vmlinuz-… with
// rootflags=subvol=@ (the layout petitboot #110 finds no entries on) — booted through OVMF and
// GRUB for UEFI, two kernels (the image's and SUITE-backports', installed on the first boot).
// Before each reboot `kexec-ts boot --list --json` names the default; after it, the running kernel
// (uname -r) and the whole /proc/cmdline (BOOT_IMAGE=/@/boot/…) must be that entry's:
//   second: GRUB's default, through the firmware;
//   third:  `grub-reboot` the older kernel (next_entry), through the firmware — GRUB cannot write
//           its environment block on btrfs, so it does not clear next_entry, and kexec-ts (reading
//           grubenv) names it again;
//   fourth: `kexec-ts reboot`: the one-shot booted by kexec, next_entry cleared by kexec-ts (GRUB's
//           save_env, done from Linux where btrfs is writable);
//   fifth:  through the firmware again: GRUB's default, as kexec-ts named it;
//   sixth:  GRUB_DEFAULT=saved + `grub-set-default` the older kernel (by ids), through the firmware;
//   seventh: `kexec-ts reboot`: the saved entry again (saved_entry stays).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { getDebianImage } from './harness/debian-image.ts';
import { bootSystem, multiUserHostMs, type SystemResult } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { buildDeb, lines } from './harness/kexec-ts-deb.ts';
import { downloadUpgradeKernel } from './harness/kernels.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const suites = debianSuites();
/** --all (trixie and bookworm asked) or E2E_BTRFS=1. */
const asked = process.env.E2E_BTRFS === '1' || (suites.includes('trixie') && suites.includes('bookworm'));

const STATE = `mark cmdline "$(cat /proc/cmdline)"
mark grubenv ${lines('grub-editenv list')}`;
const predict = (stage: string) => `kexec-ts boot --list --json > $JOB/list-${stage}.json 2> $JOB/list-${stage}.err || fail "kexec-ts boot --list --json: $(cat $JOB/list-${stage}.err)"
kexec-ts boot --list > $JOB/list-${stage}.txt 2>&1`;

const stages = (old: string, uuid: string) => ({
  first: `${STATE}
mark root "$(findmnt -no FSTYPE,OPTIONS /)"
check install apt-get install -y -q $JOB/kexec-ts_*.deb
check kernel apt-get install -y -q $JOB/kernel/*.deb
mark kernels "$(ls /boot/vmlinuz-* | xargs)"
mark grub-linux "$(grep -m1 -o 'linux[[:space:]]*/@/boot/vmlinuz-[^ ]*' /boot/grub/grub.cfg)"
${predict('first')}
reboot_to second`,
  second: `${STATE}
check grub-reboot grub-reboot "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux ${old}"
${predict('second')}
reboot_to third`,
  third: `${STATE}
${predict('third')}
reboot_to fourth kexec-ts reboot`,
  fourth: `${STATE}
mark prev-kexec ${lines(`journalctl -b -1 -q --no-pager -o cat | grep -iE 'kexec' | tail -2`)}
${predict('fourth')}
reboot_to fifth`,
  fifth: `${STATE}
echo GRUB_DEFAULT=saved > /etc/default/grub.d/60-e2e-saved.cfg
check update-grub-saved update-grub
check grub-set-default grub-set-default "gnulinux-advanced-${uuid}>gnulinux-${old}-advanced-${uuid}"
${predict('fifth')}
reboot_to sixth`,
  sixth: `${STATE}
${predict('sixth')}
reboot_to seventh kexec-ts reboot`,
  seventh: STATE,
});

interface Entry { id: string; kernel: string; initrds: string[]; cmdline: string; isDefault: boolean; version?: string }

/** What kexec-ts said before `stage`'s reboot, and what `next` then booted: the same kernel and command line. */
function assertBooted(r: SystemResult, stage: string, next: string, what: string): Entry {
  const list = JSON.parse(r.job.readFile(`list-${stage}.json`).toString('utf8')) as { loader: { name: string }; entries: Entry[]; rejected: { origin: string; reason: string }[] };
  const text = r.job.readFile(`list-${stage}.txt`).toString('utf8');
  assert.equal(list.loader.name, 'grub', `${stage}: GRUB is the boot loader (${text})`);
  const e = list.entries.find((x) => x.isDefault);
  assert.ok(e, `${stage}: kexec-ts names a default (${text})`);
  const release = basename(e.kernel).replace(/^vmlinuz-/, '');
  const ctx = `${what}: kexec-ts named ${e.id} before the reboot; ${next} booted ${r.marker(next, 'boot').value}`;
  assert.equal(r.marker(next, 'boot').value, release, `${ctx}: uname -r`);
  assert.equal(r.marker(next, 'cmdline').value.trim(), e.cmdline.trim(), `${ctx}: /proc/cmdline`);
  assert.deepEqual(e.initrds, [`/boot/initrd.img-${release}`], `${ctx}: its initrd, found on the subvolume`);
  return e;
}

test('e2e debian trixie btrfs root (subvolume @, UEFI GRUB): kexec-ts boot --list names what GRUB boots (/@/boot paths, rootflags=subvol=@): the default, a grub-reboot one-shot that GRUB cannot clear on btrfs, then kexec-ts reboot boots it and clears it, the firmware boots the default again; GRUB_DEFAULT=saved + grub-set-default by firmware and by kexec-ts reboot', { skip: asked ? debianSkipOption() : 'with --all (E2E_SUITES=all) or E2E_BTRFS=1', timeout: 40 * 60_000 }, async (t) => {
  const t0 = Date.now();
  const image = await getDebianImage('trixie', 'btrfs', log);
  const deb = buildDeb(join(REPO, 'e2e', 'out', 'debian-btrfs-deb'), 'trixie');
  const upgrade = await downloadUpgradeKernel('trixie', log);
  const r = await bootSystem({
    name: 'debian-btrfs-trixie',
    disk: { file: image.path, format: 'qcow2' },
    firmware: 'uefi',
    stages: stages(image.release, image.rootUuid),
    files: { [deb.name]: deb.bytes, ...Object.fromEntries(upgrade.debs.map((d) => [`kernel/${basename(d)}`, readFileSync(d)])) },
    jobDiskMiB: 512,
    expect: ['first:reboot-cmd', 'second:reboot-cmd', 'third:reboot-cmd', 'fourth:reboot-cmd', 'fifth:reboot-cmd', 'sixth:reboot-cmd', 'seventh:exit'],
    timeoutMs: 35 * 60_000,
    ...(log ? { log } : {}),
  });
  const m = (stage: string, name: string) => r.marker(stage, name).value;
  assert.match(m('first', 'root'), /^btrfs .*subvol=\/@(,|$)/, 'the root is subvolume @ of a btrfs');
  assert.match(m('first', 'grub-linux'), /\/@\/boot\/vmlinuz-/, 'GRUB names the kernels from the top of the btrfs (/@/boot/…)');

  const a = assertBooted(r, 'first', 'second', 'the default');
  assert.equal(basename(a.kernel), `vmlinuz-${upgrade.release}`, 'GRUB\'s default is the newest kernel');
  assert.match(a.cmdline, /^BOOT_IMAGE=\/@\/boot\/vmlinuz-\S+ .*rootflags=subvol=@/, 'the command line as GRUB passes it on btrfs');
  const b = assertBooted(r, 'second', 'third', 'grub-reboot (next_entry)');
  assert.equal(basename(b.kernel), `vmlinuz-${image.release}`, 'the one-shot is the older kernel');
  // GRUB's save_env cannot write on btrfs: next_entry outlives the one-shot boot, and kexec-ts, reading
  // grubenv, names it again (were it cleared, kexec-ts would name the default: either way it is what grubenv says).
  const kept = /next_entry=\S/.test(m('third', 'grubenv'));
  const c = assertBooted(r, 'third', 'fourth', `kexec-ts reboot (grubenv after the one-shot boot: ${m('third', 'grubenv')})`);
  assert.equal(c.id, kept ? b.id : a.id);
  assert.match(m('fourth', 'prev-kexec'), /kexec/i, 'the previous boot ended in a kexec');
  assert.doesNotMatch(m('fourth', 'grubenv'), /next_entry=\S/, `kexec-ts cleared next_entry as GRUB's save_env would (grubenv: ${m('fourth', 'grubenv')})`);
  const d = assertBooted(r, 'fourth', 'fifth', 'after the one-shot');
  assert.equal(d.id, a.id, 'the default again');
  const e = assertBooted(r, 'fifth', 'sixth', 'GRUB_DEFAULT=saved + grub-set-default (ids)');
  assert.equal(e.id, b.id, 'the saved entry: the older kernel');
  assert.match(m('sixth', 'grubenv'), /saved_entry=gnulinux-advanced-/, `grubenv: ${m('sixth', 'grubenv')}`);
  const f = assertBooted(r, 'sixth', 'seventh', 'kexec-ts reboot of the saved entry');
  assert.equal(f.id, b.id, 'saved_entry stays: the same entry by kexec');
  const s = (from: string, to: string) => ((multiUserHostMs(r, to) - r.marker(from, 'reboot-cmd').hostMs) / 1000).toFixed(1);
  const figures = `kexec-ts reboot -> multi-user.target ${s('third', 'fourth')} / ${s('sixth', 'seventh')} s, systemctl reboot (OVMF + GRUB) ${s('second', 'third')} / ${s('fourth', 'fifth')} / ${s('fifth', 'sixth')} s`;
  t.diagnostic(`btrfs: default ${a.id}, one-shot ${b.id}; after the one-shot boot GRUB ${kept ? 'left next_entry (no write support on btrfs): kexec-ts reboot booted it again and cleared it' : 'cleared next_entry'}; then the default; GRUB_DEFAULT=saved: ${e.id}, by firmware and by kexec; ${figures}; guest ${(r.qemuMs / 1000).toFixed(0)} s, test ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  r.cleanup();
});

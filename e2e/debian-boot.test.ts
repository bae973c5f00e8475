// Issue 13 in a real systemd-boot system with Secure Boot on (in npm test for trixie): `kexec-ts boot
// --list` must name, before each firmware reboot, the entry systemd-boot then boots. The guest is the
// image's sd-boot variant (trixie; harness/sd-boot.ts): OVMF's Secure Boot build as pflash with a
// per-run copy of Debian's snakeoil variable store (PK, KEK, db: the snakeoil certificate),
// systemd-boot from the ESP's removable path, two kernels as Boot Loader Specification Type #1
// entries (kernel-install, layout=bls), all signed with the snakeoil key, and on the first boot a
// UKI built by ukify from the running kernel and its initrd (the first boot's: the newest,
// backports'; its own .cmdline: e2e.entry=uki) and signed by sbsign with the snakeoil key. Our .deb
// is installed with apt-get (as in debian-lifecycle.test.ts). Each boot reads back /proc/cmdline,
// uname -r and systemd-boot's LoaderEntrySelected, and compares them with the default that
// `kexec-ts boot --list --json` named before the reboot:
//   (a) no default configured: the loader's own order;
//   (b) `bootctl set-default B` (LoaderEntryDefault, non-volatile): B, a Type #1 entry of the other kernel;
//   (c) `bootctl set-oneshot C` (LoaderEntryOneShot): C (the UKI) once; the boot after it is B again;
// then the UKI's signature, Secure Boot on and the kernel locked down: checked against the machine's
// db (read from the EFI variables) the UKI verifies, a copy with one byte of .cmdline changed and an
// unsigned copy are rejected with the reason (sbverify agrees), the same with `--cert` (the snakeoil
// certificate), and `kexec-ts boot` refuses to load the changed copy;
//   (d) boot counting and a one-shot across kexec: a copy of B's entry named e2e-count+2.conf, set
//       for one boot (bootctl set-oneshot e2e-count.conf); `kexec-ts reboot` loads it
//       (kexec_file_load: lockdown), renames it +1-1 and removes LoaderEntryOneShot, as systemd-boot
//       does; the guest comes up with its kernel version, its options as /proc/cmdline exactly and
//       its initrd (the zero page's ramdisk_size is the initrd file's size), after a clean kexec;
//       kexec-ts-bless-boot.service renames it e2e-count.conf after boot-complete.target, and the
//       default is B again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { getDebianImage, type DebianImage } from './harness/debian-image.ts';
import { bootSystem, multiUserHostMs, type SystemResult } from './harness/debian-guest.ts';
import { debianSkipOption, debianSuites } from './harness/host.ts';
import { REPO } from './harness/initramfs.ts';
import { buildDeb, lines } from './harness/kexec-ts-deb.ts';
import { EFIVAR_FN, PICK_SCRIPT, snakeoilSigningFiles, splitSdBootCmdline } from './harness/sd-boot.ts';
import { recordTimings } from './harness/testing.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const skipOpt = debianSkipOption();

/** The UKI's path on the ESP and the extra word on its command line. */
const UKI = '/boot/efi/EFI/Linux/e2e-uki.efi';
const UKI_WORD = 'e2e.entry=uki';

/** Every boot: what it booted, and the loader variables. */
const STATE = `${EFIVAR_FN}
mark cmdline "$(cat /proc/cmdline)"
mark selected "$(efivar LoaderEntrySelected)"
mark loader "$(efivar LoaderInfo)"
mark efi-default "$(efivar LoaderEntryDefault)"
mark efi-oneshot "$(efivar LoaderEntryOneShot)"
mark secure-boot "$(f=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c; [ -f $f ] && od -An -tu1 -j4 $f | xargs || echo none)"
mark lockdown "$(cat /sys/kernel/security/lockdown 2>&1)"`;

/** The prediction made before a reboot: kexec-ts boot --list (JSON and text) on the job disk, marker predicted (the default's id). */
const predict = (stage: string) => `kexec-ts boot --list --json > $JOB/list-${stage}.json 2> $JOB/list-${stage}.err || fail "kexec-ts boot --list --json: $(cat $JOB/list-${stage}.err)"
kexec-ts boot --list > $JOB/list-${stage}.txt 2>&1
bootctl list --no-pager > $JOB/bootctl-${stage}.txt 2>&1
mark predicted "$(node $JOB/pick.mjs default $JOB/list-${stage}.json)"`;

const STAGES = {
  first: `${STATE}
R=$(uname -r)
check install apt-get install -y -q $JOB/kexec-ts_*.deb
mark installed "$(dpkg-query -W -f '\${Version}' kexec-ts)"
check ukify ukify build --linux=/boot/vmlinuz-$R --initrd=/boot/initrd.img-$R --uname=$R --os-release=@/etc/os-release --cmdline="$(cat /etc/kernel/cmdline) ${UKI_WORD}" --output=/tmp/uki.efi
check sbsign sbsign --key $JOB/sb/db.key --cert $JOB/sb/db.crt --output ${UKI} /tmp/uki.efi
check sbverify sbverify --cert $JOB/sb/db.crt ${UKI}
cp /tmp/uki.efi $JOB/uki-unsigned.efi
mark uki "$(stat -c %s ${UKI})"
${predict('first')}
reboot_to second`,
  second: `${STATE}
B=$(node $JOB/pick.mjs other $JOB/list-first.json "$(node $JOB/pick.mjs default $JOB/list-first.json)" bls)
[ -n "$B" ] || fail "no entry other than the default to set"
mark set-default "$B"
check set-default bootctl set-default "$B"
${predict('second')}
reboot_to third`,
  third: `${STATE}
C=$(node $JOB/pick.mjs other $JOB/list-second.json "$(node $JOB/pick.mjs default $JOB/list-second.json)" uki)
[ -n "$C" ] || fail "no entry other than the default for the one-shot"
mark set-oneshot "$C"
check set-oneshot bootctl set-oneshot "$C"
${predict('third')}
reboot_to fourth`,
  fourth: `${STATE}
${predict('fourth')}
reboot_to fifth`,
  fifth: `${STATE}
# (d) only where this kexec-ts has the load commands (kexec-ts boot ENTRY, kexec-ts reboot)
if kexec-ts --help 2>&1 | grep -q 'kexec-ts reboot'; then LOAD=yes; else LOAD=no; fi
mark kexec-boot $LOAD
T=/boot/efi/EFI/Linux/e2e-uki-tampered.efi
U=/boot/efi/EFI/Linux/e2e-uki-unsigned.efi
cp ${UKI} $T
cp $JOB/uki-unsigned.efi $U
mark tampered "$(python3 - $T <<'PY'
import sys, pefile
pe = pefile.PE(sys.argv[1], fast_load=True)
s = next(s for s in pe.sections if s.Name.rstrip(b'\\0') == b'.cmdline')
off = s.PointerToRawData
pe.close()
with open(sys.argv[1], 'r+b') as f:
    f.seek(off); b = f.read(1)[0]; f.seek(off); f.write(bytes([b ^ 0x20]))
print(off, chr(b), chr(b ^ 0x20))
PY
)"
mark sbverify "$(for f in ${UKI} $T $U; do sbverify --cert $JOB/sb/db.crt $f >/dev/null 2>&1; echo -n "$? "; done)"
kexec-ts boot --list --json --cert $JOB/sb/db.crt > $JOB/list-cert.json 2> $JOB/list-cert.err || fail "kexec-ts boot --list --json --cert: $(cat $JOB/list-cert.err)"
kexec-ts boot --list --cert $JOB/sb/db.crt > $JOB/list-cert.txt 2>&1
kexec-ts boot --list --json > $JOB/list-db.json 2> $JOB/list-db.err || fail "kexec-ts boot --list --json: $(cat $JOB/list-db.err)"
kexec-ts boot --list > $JOB/list-db.txt 2>&1
if [ $LOAD = yes ]; then
  out=$(kexec-ts boot e2e-uki-tampered.efi 2>&1)
  mark tampered-boot "$? $(echo "$out" | tr '\n' ' ')"
  mark tampered-loaded "$(cat /sys/kernel/kexec_loaded)"
fi
rm $T $U
[ $LOAD = yes ] || exit 0
# (d) boot counting and a one-shot: B's entry copied with a counter (+2), its own title and one more word, set for one boot
B=$(node $JOB/pick.mjs default $JOB/list-fourth.json)
E=/boot/efi/loader/entries
[ -f "$E/$B" ] || fail "no entry file $E/$B"
sed -e 's/^title .*/title e2e boot counting/' -e '/^options / s/$/ e2e.entry=count/' "$E/$B" > "$E/e2e-count+2.conf"
check set-oneshot-count bootctl set-oneshot e2e-count.conf
${predict('fifth')}
mark initrd-size "$(node $JOB/pick.mjs initrd-size $JOB/list-fifth.json)"
kexec-ts boot --dry-run > $JOB/plan-fifth.txt 2>&1
mark count-before "$(ls $E | grep e2e-count | xargs)"
reboot_to sixth kexec-ts reboot`,
  // (d) after kexec-ts reboot: the zero page's ramdisk_size (0x218 + 4 = 0x21c) is the initrd kexec-ts passed
  sixth: `${STATE}
mark ramdisk-size "$(od -An -tu4 -j $((0x21c)) -N4 /sys/kernel/boot_params/data | xargs)"
mark prev-kexec ${lines(`journalctl -b -1 -q --no-pager -o cat | grep -iE 'kexec' | tail -3`)}
for i in $(seq 120); do case "$(systemctl show -P ActiveState kexec-ts-bless-boot.service)" in active|failed) break;; esac; sleep 1; done
mark bless-state "$(systemctl show -P ActiveState kexec-ts-bless-boot.service) $(systemctl show -P Result kexec-ts-bless-boot.service)"
mark bless-log ${lines(`journalctl -b -q --no-pager -o cat -u kexec-ts-bless-boot.service | tail -5`)}
mark count-after "$(ls /boot/efi/loader/entries | grep e2e-count | xargs)"
${predict('sixth')}`,
};

/** What the checks read of a run (a SystemResult, or one read back from e2e/out). */
export type RunView = Pick<SystemResult, 'marker' | 'find' | 'job'>;

interface ListJson {
  loader: { name: string; reason: string };
  default: { id: string; title: string; source: string; reason: string } | null;
  entries: { id: string; source: string; kernel: string; version?: string; cmdline: string; initrds: string[]; isDefault: boolean; uki?: { signature?: { status: string } } }[];
  rejected: { id?: string; source: string; origin: string; reason: string }[];
}

const listOf = (r: RunView, stage: string): ListJson => JSON.parse(r.job.readFile(`list-${stage}.json`).toString('utf8')) as ListJson;

/**
 * The boot `stage` is the one `before`'s listing named as the default: systemd-boot selected that
 * entry, the running kernel is its version and /proc/cmdline its command line.
 */
function assertBootedAsPredicted(r: RunView, before: string, stage: string, what: string): ListJson['entries'][number] {
  const list = listOf(r, before);
  const m = (name: string) => r.marker(stage, name).value;
  assert.equal(list.loader.name, 'systemd-boot', `${before}: kexec-ts recognises systemd-boot (${list.loader.reason})`);
  assert.ok(list.default, `${before}: kexec-ts names a default (${r.job.readFile(`list-${before}.txt`).toString('utf8')})`);
  const entry = list.entries.find((e) => e.id === list.default!.id)!;
  const ctx = `${what}: kexec-ts said ${entry.id} (${list.default!.reason}) before the reboot; systemd-boot booted ${m('selected')} (${m('boot')}: ${m('cmdline')})`;
  assert.equal(m('selected').toLowerCase(), entry.id.toLowerCase(), `${ctx}: LoaderEntrySelected`);
  assert.equal(m('boot'), entry.version, `${ctx}: uname -r`);
  const booted = splitSdBootCmdline(m('cmdline'));
  assert.equal(booted.rest, entry.cmdline.trim().split(/\s+/).join(' '), `${ctx}: /proc/cmdline (but systemd-boot's initrd= words)`);
  // Type #1: systemd-boot names the entry's initrds on the command line; a UKI's stub passes its .initrd alone.
  assert.deepEqual(booted.initrds, entry.source === 'bls' ? entry.initrds : [], `${ctx}: the initrds systemd-boot loaded`);
  return entry;
}

/** Every check of a run: (a), (b), (c) and the UKI signature. */
export function checkRun(r: RunView, image: DebianImage): Record<'a' | 'eb' | 'ec', ListJson['entries'][number]> {
  const m = (stage: string, name: string) => r.marker(stage, name).value;
  assert.match(m('first', 'loader'), /^systemd-boot /, 'the firmware started systemd-boot (LoaderInfo)');
  const releases = [image.release, ...(image.extraReleases ?? [])];

  // The menu: two Type #1 entries (one per kernel) and the UKI.
  const first = listOf(r, 'first');
  const bls = first.entries.filter((e) => e.source === 'bls');
  assert.deepEqual(bls.map((e) => e.version).sort(), [...releases].sort(), `a Type #1 entry per kernel: ${bls.map((e) => e.id).join(' ')}`);
  for (const e of bls) assert.ok(e.initrds.length >= 1, `${e.id} has its initrd`);
  const uki = first.entries.filter((e) => e.source === 'uki');
  assert.equal(uki.length, 1, `one UKI entry: ${uki.map((e) => e.id).join(' ')}`);
  assert.equal(uki[0]!.id, 'e2e-uki.efi');
  assert.ok(uki[0]!.cmdline.includes(UKI_WORD), `the UKI's command line is its .cmdline: ${uki[0]!.cmdline}`);

  // (a) the default with nothing configured
  const a = assertBootedAsPredicted(r, 'first', 'second', '(a) no default configured');
  // (b) bootctl set-default B: B, a Type #1 entry of the other kernel
  const b = m('second', 'set-default');
  assert.equal(m('third', 'efi-default'), b, 'LoaderEntryDefault survived the firmware reboot (pflash variable store)');
  assert.equal(listOf(r, 'second').default?.id, b, 'after bootctl set-default, kexec-ts names B');
  const eb = assertBootedAsPredicted(r, 'second', 'third', `(b) bootctl set-default ${b}`);
  assert.notEqual(eb.id, a.id, '(b) boots another entry than (a)');
  // (c) bootctl set-oneshot C: C once
  const c = m('third', 'set-oneshot');
  assert.equal(listOf(r, 'third').default?.id, c, 'after bootctl set-oneshot, kexec-ts names C');
  const ec = assertBootedAsPredicted(r, 'third', 'fourth', `(c) bootctl set-oneshot ${c}`);
  assert.equal(m('fourth', 'efi-oneshot'), '', 'systemd-boot consumed LoaderEntryOneShot');
  // ... then B again
  assert.equal(listOf(r, 'fourth').default?.id, b, 'after the one-shot boot, kexec-ts names B again');
  assertBootedAsPredicted(r, 'fourth', 'fifth', '(c) the boot after the one-shot');

  // Secure Boot on (the snakeoil db), so the kernel is locked down; every boot.
  for (const stage of ['first', 'second', 'third', 'fourth', 'fifth', 'sixth']) {
    assert.equal(m(stage, 'secure-boot'), '1', `${stage}: SecureBoot=1 (OVMF's snakeoil variable store)`);
    assert.match(m(stage, 'lockdown'), /\[integrity\]/, `${stage}: the kernel locked itself down (Secure Boot)`);
  }
  // The UKI's signature, against the machine's db (no --cert) and against --cert.
  assert.equal(m('fifth', 'sbverify'), '0 1 1', 'sbverify: the UKI verifies, the changed and the unsigned copies do not');
  for (const [name, how] of [['db', 'the db EFI variable'], ['cert', '--cert']] as const) {
    const list = listOf(r, name);
    const text = r.job.readFile(`list-${name}.txt`).toString('utf8');
    const signed = list.entries.find((e) => e.id === 'e2e-uki.efi');
    assert.equal(signed?.uki?.signature?.status, 'verified', `${how}: the signed UKI verifies (${text})`);
    const refused = list.rejected.find((x) => x.origin.endsWith('/e2e-uki-tampered.efi'));
    assert.match(refused?.reason ?? 'not rejected', /^signature: mismatch: .*changed after it was signed/, `${how}: the changed copy is rejected with the reason (${m('fifth', 'tampered')}; ${text})`);
    const unsigned = list.rejected.find((x) => x.origin.endsWith('/e2e-uki-unsigned.efi'));
    assert.match(unsigned?.reason ?? 'not rejected', /^signature: unsigned: /, `${how}: the unsigned copy is rejected with the reason (${text})`);
    for (const id of ['e2e-uki-tampered.efi', 'e2e-uki-unsigned.efi']) assert.ok(!list.entries.some((e) => e.id === id), `${how}: ${id} is not offered`);
  }

  // (d) kexec-ts reboot boots the entry kexec-ts boot picks (the stage checks for the load commands
  // first, so a kexec-ts without them ends the run here instead of waiting for a kexec)
  assert.equal(m('fifth', 'kexec-boot'), 'yes', 'the installed kexec-ts has kexec-ts boot ENTRY and kexec-ts reboot');
  {
    assert.match(m('fifth', 'tampered-boot'), /^[1-9]\d* .*mismatch/, 'under Secure Boot kexec-ts boot refuses the changed UKI with the verdict (non-zero exit)');
    assert.equal(m('fifth', 'tampered-loaded'), '0', 'nothing loaded for the changed UKI');
    const list = listOf(r, 'fifth');
    const e = list.entries.find((x) => x.id === list.default?.id)!;
    assert.equal(e.id, 'e2e-count.conf', `kexec-ts reboot takes the default: the counted entry (${list.default?.reason})`);
    assert.equal(e.version, eb.version, 'the counted entry is a copy of B');
    assert.match(e.cmdline, /e2e\.entry=count/);
    assert.match(r.job.readFile('plan-fifth.txt').toString('utf8'), /kexec_file_load/, 'locked down: kexec_file_load');
    assert.equal(m('fifth', 'count-before'), 'e2e-count+2.conf');
    const ctx = `(d) kexec-ts reboot: ${e.id} (${m('sixth', 'boot')}: ${m('sixth', 'cmdline')})`;
    assert.equal(m('sixth', 'boot'), e.version, `${ctx}: uname -r`);
    assert.equal(m('sixth', 'cmdline').trim().split(/\s+/).join(' '), e.cmdline.trim().split(/\s+/).join(' '), `${ctx}: /proc/cmdline is the entry's options`);
    assert.equal(m('sixth', 'ramdisk-size'), m('fifth', 'initrd-size'), `${ctx}: the zero page's ramdisk_size is the entry's initrd's size`);
    assert.match(m('sixth', 'prev-kexec'), /kexec/i, `${ctx}: the previous boot ended in a kexec`);
    // boot counting: +2 -> +1-1 at the load (as systemd-boot's firmware boot does), blessed once the kexec boot reached boot-complete.target
    assert.equal(m('sixth', 'bless-state'), 'active success', `kexec-ts-bless-boot.service ran (${m('sixth', 'bless-log')})`);
    assert.match(m('sixth', 'bless-log'), /e2e-count\+1-1\.conf/, 'the bless names the file the load renamed');
    assert.equal(m('sixth', 'count-after'), 'e2e-count.conf', `blessed: the counter dropped (${m('sixth', 'bless-log')})`);
    // the one-shot was used by the kexec boot: gone, and the default is B again
    assert.equal(m('fifth', 'efi-oneshot'), '', 'no one-shot before the stage set it');
    assert.equal(m('sixth', 'efi-oneshot'), '', 'kexec-ts reboot removed LoaderEntryOneShot, as systemd-boot does when it boots it');
    assert.equal(listOf(r, 'sixth').default?.id, b, 'after the one-shot kexec boot, kexec-ts names B again');
  }

  return { a, eb, ec };
}

// trixie only (its systemd 257 has ukify; bookworm's systemd-boot has none): declared (and skipped) unless E2E_DEBIAN names other suites only.
const asked = debianSuites();
for (const suite of asked.length === 0 || asked.includes('trixie') ? ['trixie'] : []) {
  test(`e2e debian ${suite} systemd-boot with Secure Boot: kexec-ts boot --list names the entry the firmware then boots (uname -r, /proc/cmdline, LoaderEntrySelected): default order, bootctl set-default, set-oneshot once then the default again; the signed UKI verifies against db and --cert, a changed .cmdline byte and an unsigned copy are rejected and kexec-ts boot refuses the changed one; kexec-ts reboot boots a counted one-shot entry (kexec_file_load under lockdown) with its kernel, command line and initrd, consumes the one-shot, and the bless drops the counter`, { skip: skipOpt, timeout: 40 * 60_000 }, async (t) => {
    const t0 = Date.now();
    const image = await getDebianImage(suite, 'sd-boot', log);
    const tImage = Date.now();
    t.diagnostic(`image ${image.path} (${image.release} + ${image.extraReleases?.join(' ')}, systemd-boot ${image.packages['systemd-boot']}; built ${image.builtAt} in ${(image.buildMs.total / 1000).toFixed(0)} s at load ${image.loadAvg.join(' ')})`);
    const deb = buildDeb(join(REPO, 'e2e', 'out', `debian-boot-deb-${suite}`), suite);
    const r = await bootSystem({
      name: `debian-boot-${suite}-sd-boot`,
      disk: { file: image.path, format: 'qcow2' },
      firmware: 'uefi',
      efiVars: true,
      secureBoot: true,
      stages: STAGES,
      files: { [deb.name]: deb.bytes, ...snakeoilSigningFiles(), 'pick.mjs': PICK_SCRIPT },
      expect: ['first:reboot-cmd', 'second:reboot-cmd', 'third:reboot-cmd', 'fourth:reboot-cmd', 'fifth:kexec-boot', 'sixth:exit'],
      timeoutMs: 35 * 60_000,
      ...(log ? { log } : {}),
    });
    writeFileSync(join(r.outDir, 'lists.txt'), ['first', 'second', 'third', 'fourth'].map((s) => `--- ${s}\n${r.job.readFile(`list-${s}.txt`).toString('utf8')}\n--- bootctl list\n${r.job.readFile(`bootctl-${s}.txt`).toString('utf8')}`).join('\n'));
    const { a, eb, ec } = checkRun(r, image);
    const reboots = ['second', 'third', 'fourth', 'fifth'].map((st, i) => ((multiUserHostMs(r, st) - r.marker(['first', 'second', 'third', 'fourth'][i]!, 'reboot-cmd').hostMs) / 1000).toFixed(0));
    // (d): kexec-ts reboot -> multi-user.target, beside the firmware reboots (issue 13's benchmark, here at whatever load the host has)
    const kexecS = (multiUserHostMs(r, 'sixth') - r.marker('fifth', 'reboot-cmd').hostMs) / 1000;
    recordTimings({ kernel: { suite, release: image.release }, cpu: r.cpu, wallMs: Date.now() - t0, qemuMs: r.qemuMs, markers: [] }, 'debian-boot-sd-boot', {
      imageMs: tImage - t0, kexecTsRebootS: Number(kexecS.toFixed(1)),
    });
    t.diagnostic(`${suite} systemd-boot: (a) ${a.id}, (b) ${eb.id}, (c) ${ec.id} then ${eb.id}; firmware reboots (systemctl reboot) -> multi-user.target ${reboots.join(' / ')} s; (d) kexec-ts reboot -> multi-user.target ${kexecS.toFixed(0)} s; guest ${(r.qemuMs / 1000).toFixed(0)} s, test ${((Date.now() - t0) / 1000).toFixed(0)} s (image ${((tImage - t0) / 1000).toFixed(0)} s); load at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    r.cleanup();
  });
}

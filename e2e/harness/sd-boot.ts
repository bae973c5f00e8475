// The systemd-boot guest (harness/debian-image.ts variant 'sd-boot', trixie, UEFI only): systemd-boot
// instead of GRUB, installed by `bootctl install --no-variables` into the ESP (mounted at /boot/efi;
// both EFI/systemd/systemd-bootx64.efi and the removable path EFI/BOOT/BOOTX64.EFI, so OVMF needs no
// Boot#### NVRAM entry), two kernels — the image's cloud kernel and SUITE-backports' — as Boot
// Loader Specification Type #1 entries written by `kernel-install` (layout=bls, $BOOT = the ESP),
// and ukify + sbsign for the UKI the test builds (debian-boot.test.ts). systemd-boot and the ESP's
// kernels are signed with the snakeoil key of Debian's OVMF, so the guest boots with Secure Boot on
// (OVMF as pflash with a per-run copy of the snakeoil variable store; `bootctl set-default` and
// `bootctl set-oneshot` survive the firmware reboots).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SNAKEOIL_CERT, SNAKEOIL_KEY } from './scenario.ts';

/** The ESP holds both kernels and their initrds (kernel-install copies them there) and a UKI. */
export const SD_BOOT_ESP_MIB = 512;

/** systemd-boot (bootctl, kernel-install's loader entries), the stub and ukify, sbsign. */
export const SD_BOOT_PACKAGES = ['systemd-boot', 'systemd-boot-efi', 'systemd-ukify', 'sbsigntool'];

/**
 * The snakeoil key and certificate of Debian's OVMF (scenario.ts SNAKEOIL_*) as sbsign takes them:
 * the key decrypted (its published password is "snakeoil"). Job-disk files sb/db.key, sb/db.crt.
 */
export function snakeoilSigningFiles(): { 'sb/db.key': Buffer; 'sb/db.crt': Buffer } {
  const key = execFileSync('openssl', ['pkey', '-in', SNAKEOIL_KEY, '-passin', 'pass:snakeoil']);
  return { 'sb/db.key': key, 'sb/db.crt': readFileSync(SNAKEOIL_CERT) };
}

/** Loader variables' vendor GUID (systemd's Boot Loader Interface). */
export const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

/**
 * The setup boot's stage (bash, run by the agent in the new system, booted directly): ESP formatted
 * and mounted at /boot/efi, machine id committed, /etc/kernel/cmdline and layout=bls,
 * `bootctl install --no-variables`, the second kernel's packages from the job disk (kernel/*.deb;
 * the systemd-boot package's kernel hooks add its entry), then `kernel-install add` of every kernel
 * with its initrd; each entry must have an initrd line.
 */
export function sdBootSetupStage(espId: string): string {
  const uuid = `${espId.slice(0, 4)}-${espId.slice(4)}`;
  return String.raw`set -o pipefail
check esp-mkfs mkfs.vfat -F 32 -n ESP -i ${espId} /dev/disk/by-partlabel/esp
echo "UUID=${uuid} /boot/efi vfat umask=0077 0 1" >> /etc/fstab
systemctl daemon-reload
mkdir -p /boot/efi
check esp-mount mount /boot/efi
if findmnt /etc/machine-id >/dev/null; then check machine-id-commit systemd-machine-id-setup --commit; fi
grep -qE '^[0-9a-f]{32}$' /etc/machine-id || fail "no machine id: '$(cat /etc/machine-id)'"
mark machine-id "$(cat /etc/machine-id)"
echo "root=UUID=$(findmnt -no UUID /) ro console=ttyS0 no_timer_check" > /etc/kernel/cmdline
echo layout=bls > /etc/kernel/install.conf
check bootctl bootctl install --esp-path=/boot/efi --no-variables
check kernel-deb apt-get install -y -q $JOB/kernel/*.deb
for k in /boot/vmlinuz-*; do
  v=${"$"}{k#/boot/vmlinuz-}
  check "kernel-install-$v" kernel-install add "$v" "$k" "/boot/initrd.img-$v"
done
mark entries "$(ls /boot/efi/loader/entries | xargs)"
for e in /boot/efi/loader/entries/*.conf; do grep -q '^initrd ' "$e" || fail "$e has no initrd line: $(cat "$e")"; done
# Secure Boot (the guest boots with OVMF's snakeoil db): systemd-boot and the ESP's kernels signed with the snakeoil key
# ($JOB/sb). A kernel's Debian signature is removed first: the kernel's own check in kexec_file_load reads one signature.
n=0
for f in /boot/efi/EFI/systemd/systemd-bootx64.efi /boot/efi/EFI/BOOT/BOOTX64.EFI $(sed -n 's|^linux  *|/boot/efi|p' /boot/efi/loader/entries/*.conf | sort -u); do
  n=$((n + 1))
  if sbverify --list "$f" | grep -q '^signature 1'; then check "unsign-$n" sbattach --remove "$f"; fi
  check "sign-$n" sbsign --key $JOB/sb/db.key --cert $JOB/sb/db.crt --output "$f" "$f"
  check "verify-$n" sbverify --cert $JOB/sb/db.crt "$f"
done
mark signed "$n"
mark esp-use "$(df -m --output=used,size /boot/efi | tail -1 | xargs)"
mark done "$(cd /boot/efi && find . -type f | sort | tr '\n' ' ')"`;
}

/**
 * bash: the string value of the loader variable $1 (UTF-16LE, after the 4 attribute bytes), empty
 * when unset. Read whole with cat: `tail -c +5 FILE` on efivarfs printed nothing in the trixie guest.
 */
export const EFIVAR_FN = String.raw`efivar() { local f=/sys/firmware/efi/efivars/$1-${LOADER_GUID}; [ -f "$f" ] && cat "$f" | tail -c +5 | tr -d '\0'; true; }`;

/**
 * /run/e2e-job/pick.mjs (node, in the guest): reads a `kexec-ts boot --list --json` file.
 *   default FILE          the default entry's id
 *   initrd-size FILE      the default entry's initrd files' sizes added up (a UKI's .initrd is not counted)
 *   other FILE ID SOURCE  an entry other than ID: the first of SOURCE (for bls: with another kernel
 *                         version than ID's, so uname -r tells them apart), else the first other one
 */
export const PICK_SCRIPT = `import { readFileSync, statSync } from 'node:fs';
const [cmd, file, id, source] = process.argv.slice(2);
const list = JSON.parse(readFileSync(file, 'utf8'));
if (cmd === 'default') console.log(list.default ? list.default.id : '');
else if (cmd === 'initrd-size') {
  const e = list.entries.find((x) => x.id === list.default?.id);
  console.log(e ? e.initrds.reduce((n, f) => n + statSync(f).size, 0) : '');
}
else if (cmd === 'other') {
  const not = list.entries.find((e) => e.id === id);
  const rest = list.entries.filter((e) => e.id !== id);
  const pick = rest.find((e) => e.source === source && (source !== 'bls' || e.version !== not?.version)) ?? rest[0];
  console.log(pick ? pick.id : '');
} else throw new Error('usage: pick.mjs default|initrd-size|other FILE [ID SOURCE]');
`;

/**
 * /proc/cmdline of a systemd-boot boot, split: the `initrd=\\DIR\\FILE` words systemd-boot puts in
 * front of a Type #1 entry's options (for kernels whose EFI stub loads the initrd itself; kexec
 * passes the initrd apart, so kexec-ts's command line has no such words), as machine paths on the
 * ESP, and the rest.
 */
export function splitSdBootCmdline(cmdline: string, esp = '/boot/efi'): { initrds: string[]; rest: string } {
  const words = cmdline.trim().split(/\s+/);
  const isInitrd = (w: string) => w.startsWith('initrd=\\');
  return {
    initrds: words.filter(isInitrd).map((w) => esp + w.slice('initrd='.length).replace(/\\/g, '/')),
    rest: words.filter((w) => !isInitrd(w)).join(' '),
  };
}

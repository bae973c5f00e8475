#!/usr/bin/env bash
# Installs the Debian packages the tests use: QEMU for real-kernel scenarios and the
# reference tools (makedumpfile, crash, kexec-tools) whose output is our oracle.
# Idempotent: installs only what is missing. Needs root (CI runs as root).
set -euo pipefail
pkgs=(qemu-system-x86 busybox-static kexec-tools makedumpfile crash e2fsprogs cpio xz-utils zstd chromium)
# arm64: dtc is the oracle for our FDT reader/writer; qemu-system-arm records/boots arm64 guests and
# runs the arm64 purgatory; llvm (llvm-mc) assembles that purgatory.
pkgs+=(device-tree-compiler qemu-system-arm llvm)
# lz4: unpacks the ELF vmlinux from an lz4 bzImage payload (Debian up to bookworm) for the kexec-ts ELF e2e hop.
pkgs+=(lz4)
# test/boot/menu-pty.test.ts drives `kexec-ts boot --menu` on a pseudo-terminal with python3's pty module.
pkgs+=(python3)
# UEFI guests (kexec with efi_info / SETUP_EFI): OVMF firmware for qemu-system-x86_64.
pkgs+=(ovmf)
# Real Debian system guests (e2e/harness/debian-image.ts): the root from Debian's packages, the GPT, the overlays.
pkgs+=(mmdebstrap fdisk qemu-utils)
# vmcore-ts save's native page compressors (src/host/native-codecs.ts, through koffi).
pkgs+=(libdeflate0 liblzo2-2)
# The Debian package (npm run deb, test/packaging): dpkg-shlibdeps, lintian, and mmdebstrap for the
# throwaway trixie root it is installed into.
pkgs+=(dpkg-dev lintian mmdebstrap)
# UKIs (test/boot/uki.test.ts): systemd's EFI stub, objcopy/objdump to build and read them, sbsign and
# sbverify (the signature oracle), openssl for throwaway keys, efitools for db/dbx signature lists
# and its own Authenticode hash. (systemd-ukify is not in bookworm.)
pkgs+=(systemd-boot-efi binutils sbsigntool openssl efitools)
# Remote dump targets (test/dump/ssh-target.test.ts): a throwaway sshd on 127.0.0.1 with a test key.
pkgs+=(openssh-server openssh-client)
# NFS dump targets (e2e/kdump-ts-nfs.test.ts, opt-in: --all or E2E_NFS=1): a user-space NFSv4 server on 127.0.0.1.
if [ "${E2E_SUITES:-}" = all ] || [ "${E2E_NFS:-}" = 1 ]; then pkgs+=(nfs-ganesha nfs-ganesha-vfs); fi
# The collector's PostgreSQL index (test/collect/postgres.test.ts): a throwaway server initdb'd in a
# temp directory as nobody (runuser), on a unix socket there; its client is the `pg` npm package.
pkgs+=(postgresql util-linux)
# ukify (systemd 257) for test/boot/uki.test.ts where Debian has no systemd-ukify (bookworm): trixie's
# systemd-ukify, systemd-boot-efi and python3-pefile unpacked in the cache (scripts/fetch-ukify.ts).
cache="${KEXEC_TS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kexec-ts}"
if ! command -v ukify >/dev/null && [ ! -e "$cache/ukify/root/usr/lib/systemd/ukify" ] && [ -d "$(dirname "$0")/../node_modules/tsx" ]; then
  (cd "$(dirname "$0")/.." && node --import tsx scripts/fetch-ukify.ts) || echo "fetching ukify failed: test/boot/uki.test.ts skips its ukify test" >&2
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} — run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

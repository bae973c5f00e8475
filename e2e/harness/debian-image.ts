// Real Debian systems for the e2e scenarios: a root built from Debian's packages by mmdebstrap (the
// machine's Debian mirror), put on a partitioned raw disk image that boots through the firmware:
//
//   GPT: 1 MiB BIOS boot partition (GRUB's core.img for SeaBIOS) | 64 MiB ESP (FAT32, GRUB for
//   UEFI as the removable-media path EFI/BOOT/BOOTX64.EFI, so OVMF needs no NVRAM entry) | ext4 root
//
// Debian's linux-image-cloud-amd64 (the kernels every other scenario boots, with their -dbg vmlinux
// in the cache; virtio, ext4, vfat, EFI stub and kexec/kdump are all there), systemd as PID 1,
// journald with a persistent journal, grub-pc + grub-efi-amd64-bin (grub-pc owns update-grub, so
// /etc/default/grub.d snippets such as kdump-tools' work the Debian way), a root autologin on the
// serial console (for a person watching), no openssh, no network. The e2e agent (guest-scripts.ts)
// lets the harness drive the guest through a job disk and the second serial port.
//
// The host needs no loop device and mounts nothing: sfdisk writes the partition table into the
// file, `mke2fs -d ROOT -E offset=…` writes the root file system into its partition, and one
// setup boot of the new system (its own kernel and initramfs, booted directly) formats the ESP,
// runs grub-install for i386-pc and x86_64-efi and update-grub — Debian's tools, in Debian, with
// udev. The finished image is cached as $CACHE/debian/SUITE-VARIANT-HASH/disk.raw (+ image.json);
// HASH covers the whole recipe (packages, files, layout, setup script), so a recipe change builds a
// new image; E2E_DEBIAN_REBUILD=1 rebuilds it anyway (e.g. to pick up newer packages).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, normalize } from 'node:path';
import { cacheDir } from './cache.ts';
import { bootSystem } from './debian-guest.ts';
import { AGENT_SCRIPT, AGENT_UNIT } from './guest-scripts.ts';
import { REPO } from './initramfs.ts';
import { downloadUpgradeKernel, hostDebianMirror } from './kernels.ts';
import { SD_BOOT_ESP_MIB, SD_BOOT_PACKAGES, sdBootSetupStage, snakeoilSigningFiles } from './sd-boot.ts';
import { debProgramPackages } from '../../test/packaging/deb-programs.ts';
import { E2EStepError, run } from './steps.ts';

/** Suites a Debian system can be built for: trixie by default, bookworm with --all. */
export const DEBIAN_SYSTEM_SUITES = ['trixie', 'bookworm'] as const;
/**
 * base: the system alone; kdump-tools: plus Debian's kdump-tools + makedumpfile (the reference
 * service); kexec-ts-deps: plus what our .deb depends on and recommends, so `apt install
 * ./kexec-ts_*.deb` works in the guest, which has no network (bookworm: the --bundled-node build, no nodejs),
 * and kexec-tools, the reference loader for `systemctl kexec`. sd-boot (trixie, UEFI with Secure
 * Boot): systemd-boot instead of GRUB, two kernels as Boot Loader Specification Type #1 entries,
 * they and systemd-boot signed with OVMF's snakeoil key, ukify and sbsign for a UKI, and our .deb's
 * dependencies (harness/sd-boot.ts). btrfs (trixie): kexec-ts-deps on a btrfs root in subvolume @
 * (as Debian's installer lays it out: GRUB names files /@/boot/…, rootflags=subvol=@).
 */
export type ImageVariant = 'base' | 'kdump-tools' | 'kexec-ts-deps' | 'sd-boot' | 'btrfs';

export interface DebianImage {
  suite: string;
  variant: ImageVariant;
  hash: string;
  /** the cached raw disk image: boot it through an overlay, never write it */
  path: string;
  rootUuid: string;
  espUuid: string;
  /** uname -r of the installed kernel */
  release: string;
  /** sd-boot: uname -r of the second kernel (SUITE-backports' cloud kernel) installed in the setup boot */
  extraReleases?: string[];
  /** versions of the packages that matter (kernel, systemd, grub, kdump-tools...) */
  packages: Record<string, string>;
  builtAt: string;
  /** mmdebstrap, disk, setup boot, total (ms) */
  buildMs: { mmdebstrap: number; disk: number; setupBoot: number; total: number };
  loadAvg: number[];
}

const IMAGE_MIB = 4096;
const SECTOR = 512;
/** Partitions in 512-byte sectors: BIOS boot at 1 MiB, ESP at 2 MiB, root from 66 MiB to 1 MiB before the end. */
export function partitionLayout(imageMiB: number, espMiB = 64): { bios: [number, number]; esp: [number, number]; root: [number, number]; sfdisk: string } {
  const mib = 2048;
  const bios: [number, number] = [1 * mib, 1 * mib];
  const esp: [number, number] = [2 * mib, espMiB * mib];
  const rootStart = esp[0] + esp[1];
  const root: [number, number] = [rootStart, imageMiB * mib - rootStart - 1 * mib];
  const sfdisk = [
    'label: gpt',
    `start=${bios[0]}, size=${bios[1]}, type=21686148-6449-6E6F-744E-656564454649, name="bios"`,
    `start=${esp[0]}, size=${esp[1]}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"`,
    `start=${root[0]}, size=${root[1]}, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"`,
    '',
  ].join('\n');
  return { bios, esp, root, sfdisk };
}

const BASE_PACKAGES = [
  'systemd-sysv', 'udev', 'dbus', 'linux-image-cloud-amd64', 'initramfs-tools',
  'grub-pc', 'grub-efi-amd64-bin', 'dosfstools', 'e2fsprogs', 'kmod', 'procps', 'util-linux', 'less',
];
/** The packages of an image: sd-boot has systemd-boot in GRUB's place. */
function imagePackages(suite: string, variant: ImageVariant): string[] {
  const base = variant === 'sd-boot' ? BASE_PACKAGES.filter((p) => !p.startsWith('grub-')) : BASE_PACKAGES;
  return [...base, ...variantPackages(suite, variant)];
}
function variantPackages(suite: string, variant: ImageVariant): string[] {
  if (variant === 'kdump-tools') return ['kdump-tools', 'makedumpfile'];
  if (variant === 'sd-boot') return [...SD_BOOT_PACKAGES, 'nodejs', ...debProgramPackages(REPO), 'libdeflate0', 'liblzo2-2'];
  // kexec-tools: the reference loader `systemctl kexec` is compared with (debian-lifecycle.test.ts).
  if (variant === 'btrfs') return [...variantPackages(suite, 'kexec-ts-deps'), 'btrfs-progs'];
  if (variant === 'kexec-ts-deps') return [...(suite === 'bookworm' ? [] : ['nodejs']), ...debProgramPackages(REPO), 'libdeflate0', 'liblzo2-2', 'kexec-tools'];
  return [];
}
/** Package versions image.json records (those installed). */
const RECORDED = ['linux-image-cloud-amd64', 'systemd', 'grub-pc', 'grub-efi-amd64-bin', 'kdump-tools', 'makedumpfile', 'kexec-tools', 'udev', 'nodejs', 'busybox-static', 'systemd-boot', 'systemd-ukify', 'sbsigntool'];

/** Files written into the root before it becomes the image (ROOT-relative path -> content). */
function rootFiles(suite: string): Record<string, string> {
  return {
    'etc/hostname': `e2e-${suite}\n`,
    'etc/hosts': `127.0.0.1\tlocalhost\n127.0.1.1\te2e-${suite}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    // GRUB on the serial line too (a person can watch it); no menu delay; the kernel's console on
    // ttyS0; Debian's GRUB_CMDLINE_LINUX_DEFAULT ("quiet") stays. no_timer_check, as cloud images
    // for VMs carry it: under TCG on a loaded host the IO-APIC timer check can fail and panic the
    // boot ("IO-APIC + timer doesn't work!", seen with bookworm's 6.1 at load 6).
    'etc/default/grub.d/50-e2e.cfg': [
      'GRUB_TIMEOUT=0',
      'GRUB_CMDLINE_LINUX="console=ttyS0 no_timer_check"',
      'GRUB_TERMINAL="console serial"',
      'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"',
      'GRUB_DISABLE_OS_PROBER=true',
      '',
    ].join('\n'),
    'etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf':
      '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noreset --noclear --keep-baud 115200,57600,38400,9600 - $TERM\n',
    'etc/systemd/system/e2e-agent.service': AGENT_UNIT,
    'usr/local/sbin/e2e-agent': AGENT_SCRIPT,
  };
}

/**
 * The setup boot's stage (bash, run by the agent in the new system): ESP, GRUB for BIOS and UEFI,
 * grub.cfg. btrfs: the root's device without findmnt's [/@] subvolume suffix, and grub.cfg must name
 * the kernels under /@ with rootflags=subvol=@.
 */
function setupStage(espId: string, btrfs = false): string {
  const uuid = `${espId.slice(0, 4)}-${espId.slice(4)}`;
  return String.raw`set -o pipefail
disk=/dev/$(lsblk -no PKNAME "$(findmnt ${btrfs ? '-nvo' : '-no'} SOURCE /)")
mark disk "$disk"
check esp-mkfs mkfs.vfat -F 32 -n ESP -i ${espId} /dev/disk/by-partlabel/esp
echo "UUID=${uuid} /boot/efi vfat umask=0077 0 1" >> /etc/fstab
systemctl daemon-reload
mkdir -p /boot/efi
check esp-mount mount /boot/efi
check grub-bios grub-install --target=i386-pc "$disk"
check grub-efi grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram
# what grub-pc's maintainer scripts install to on an upgrade (a later kernel/grub upgrade stays non-interactive)
echo "grub-pc grub-pc/install_devices multiselect $disk" | debconf-set-selections
check update-grub update-grub
grep -q "root=UUID=$(findmnt -no UUID /)" /boot/grub/grub.cfg || fail "grub.cfg does not boot the root by UUID"${btrfs ? String.raw`
grep -q 'linux.*/@/boot/vmlinuz-.*rootflags=subvol=@' /boot/grub/grub.cfg || fail "grub.cfg does not boot the kernel from subvolume @: $(grep -m1 'linux.*vmlinuz' /boot/grub/grub.cfg)"
mark root "$(findmnt -no SOURCE,FSTYPE,OPTIONS /)"` : ''}
mark done "$(cd /boot/efi && find . -type f | sort | tr '\n' ' ')"`;
}

/** The ESP's size (MiB): sd-boot's holds both kernels, their initrds and a UKI. */
const espMiB = (variant: ImageVariant): number => (variant === 'sd-boot' ? SD_BOOT_ESP_MIB : 64);
const variantSetupStage = (variant: ImageVariant, espId: string): string => (variant === 'sd-boot' ? sdBootSetupStage(espId) : setupStage(espId, variant === 'btrfs'));

export function imageRecipe(suite: string, variant: ImageVariant): Record<string, unknown> {
  return {
    recipe: 1,
    suite,
    variant,
    mmdebstrap: ['--variant=apt'],
    packages: imagePackages(suite, variant),
    files: rootFiles(suite),
    layout: partitionLayout(IMAGE_MIB, espMiB(variant)).sfdisk,
    setup: variantSetupStage(variant, 'XXXXXXXX'),
    // sd-boot: the second kernel, SUITE-backports' cloud kernel (its version is in image.json)
    ...(variant === 'sd-boot' ? { extraKernel: `${suite}-backports linux-image-cloud-amd64` } : {}),
  };
}

export function imageHash(suite: string, variant: ImageVariant): string {
  return createHash('sha256').update(JSON.stringify(imageRecipe(suite, variant))).digest('hex').slice(0, 12);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `body` holding `lock` (a directory with owner.pid); waits for a live holder, takes over a dead one's. */
async function withLock<T>(lock: string, body: () => Promise<T>, log: (s: string) => void): Promise<T> {
  const deadline = Date.now() + 60 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner.pid'), String(process.pid));
      break;
    } catch {
      let pid = 0;
      try {
        pid = Number(readFileSync(join(lock, 'owner.pid'), 'utf8'));
      } catch {
        /* being created */
      }
      if (pid && !pidAlive(pid)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new E2EStepError('image', `${lock} is held by process ${pid} for over an hour`);
      log(`waiting for process ${pid} building the same image`);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The Debian system image for `suite` and `variant`, built on first use (needs root: mmdebstrap
 * --mode=root and file ownership in mke2fs -d) and cached.
 */
export async function getDebianImage(suite: string, variant: ImageVariant = 'base', log: (s: string) => void = () => {}): Promise<DebianImage> {
  if (!/^[a-z]+$/.test(suite)) throw new E2EStepError('image', `bad suite name '${suite}'`);
  if ((variant === 'sd-boot' || variant === 'btrfs') && suite !== 'trixie') throw new E2EStepError('image', `the ${variant} variant is built for trixie only (asked: ${suite})`);
  const hash = imageHash(suite, variant);
  const dir = join(cacheDir('debian'), `${suite}-${variant}-${hash}`);
  const info = join(dir, 'image.json');
  const cached = () => (existsSync(info) ? (JSON.parse(readFileSync(info, 'utf8')) as DebianImage) : undefined);
  if (process.env.E2E_DEBIAN_REBUILD !== '1') {
    const c = cached();
    if (c) return c;
  }
  return withLock(`${dir}.lock`, async () => {
    const c = cached();
    if (c && process.env.E2E_DEBIAN_REBUILD !== '1') return c; // built by the run we waited for
    const image = await buildImage(suite, variant, hash, dir, log);
    return image;
  }, log);
}

/**
 * Removes the cached images of earlier recipes of the same suite and variant (each is ~400 MB).
 * A QEMU still running on one keeps its open file; the next run of that recipe builds it again.
 */
function pruneOtherRecipes(keep: string, prefix: string): void {
  const base = join(keep, '..');
  for (const d of readdirSync(base)) {
    const full = join(base, d);
    if (full !== keep && d.startsWith(prefix) && /^[0-9a-f]{12}$/.test(d.slice(prefix.length))) rmSync(full, { recursive: true, force: true });
  }
}

/** `path` inside the tree `root`, its symbolic links (absolute ones too) resolved within the tree. */
function inRoot(root: string, path: string): string {
  let rel = path.replace(/^\/+/, '');
  for (let hops = 0; hops < 40; hops++) {
    const parts = rel.split('/');
    let done = true;
    for (let i = 1; i <= parts.length; i++) {
      const head = parts.slice(0, i).join('/');
      let target: string;
      try {
        target = readlinkSync(join(root, head));
      } catch {
        continue; // not a link (or missing)
      }
      const base = target.startsWith('/') ? target.slice(1) : join(parts.slice(0, i - 1).join('/'), target);
      rel = normalize([base, ...parts.slice(i)].join('/')).replace(/^(\.\.\/)+/, '');
      done = false;
      break;
    }
    if (done) return join(root, rel);
  }
  throw new E2EStepError('image', `${path}: too many symbolic links in ${root}`);
}

/**
 * The btrfs variant's root file system: the tree becomes subvolume @ of a new btrfs (mkfs.btrfs
 * --rootdir --subvol, btrfs-progs ≥ 6.11: the image's own, run through its own dynamic loader, as
 * the host's may be older), written into the root partition.
 */
async function writeBtrfsRoot(tmp: string, root: string, uuid: string, raw: string, part: [number, number]): Promise<void> {
  const top = join(tmp, 'btrfs-top');
  mkdirSync(top);
  const sub = join(top, '@');
  renameSync(root, sub);
  try {
    const fs = join(tmp, 'root.btrfs');
    const fd = openSync(fs, 'w');
    ftruncateSync(fd, part[1] * SECTOR);
    closeSync(fd);
    const lib = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'].map((d) => join(sub, d)).join(':');
    const mkfs = ['usr/sbin/mkfs.btrfs', 'usr/bin/mkfs.btrfs', 'sbin/mkfs.btrfs', 'bin/mkfs.btrfs'].map((p) => inRoot(sub, p)).find((p) => existsSync(p));
    if (!mkfs) throw new E2EStepError('image', `no mkfs.btrfs in ${sub} (is btrfs-progs in the recipe?)`);
    await run('image', inRoot(sub, 'usr/lib64/ld-linux-x86-64.so.2'), ['--library-path', lib, mkfs,
      '-q', '-f', '-L', 'root', '-U', uuid, '--rootdir', top, '--subvol', '@', fs], { timeoutMs: 20 * 60_000 });
    await run('image', 'dd', [`if=${fs}`, `of=${raw}`, 'bs=1M', `seek=${(part[0] * SECTOR) / (1 << 20)}`, 'conv=notrunc,sparse', 'status=none'], { timeoutMs: 20 * 60_000 });
    rmSync(fs);
  } finally {
    renameSync(sub, root);
    rmSync(top, { recursive: true, force: true });
  }
}

async function buildImage(suite: string, variant: ImageVariant, hash: string, dir: string, log: (s: string) => void): Promise<DebianImage> {
  if (process.getuid?.() !== 0) throw new E2EStepError('image', 'building a Debian system image needs root (mmdebstrap --mode=root, file owners in mke2fs -d)');
  const t0 = Date.now();
  const loadAvg = (await import('node:os')).loadavg();
  const tmp = `${dir}.build-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const root = join(tmp, 'root');
  try {
    const recipe = imageRecipe(suite, variant);
    const mirror = hostDebianMirror();
    log(`mmdebstrap ${suite} (${variant}) from ${mirror}`);
    await run('image', 'mmdebstrap', [
      '--mode=root', '--variant=apt', '--aptopt=Acquire::Retries "3"',
      `--include=${(recipe.packages as string[]).join(',')}`,
      suite, root, mirror,
    ], { timeoutMs: 30 * 60_000 });
    const tDeb = Date.now();

    const rootUuid = randomUUID();
    const espId = randomBytes(4).toString('hex').toUpperCase();
    for (const [path, text] of Object.entries(rootFiles(suite))) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text, { mode: path.includes('/sbin/') ? 0o755 : 0o644 });
    }
    writeFileSync(join(root, 'etc/fstab'), variant === 'btrfs' ? `UUID=${rootUuid} / btrfs defaults,subvol=@ 0 0\n` : `UUID=${rootUuid} / ext4 errors=remount-ro 0 1\n`);
    mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
    symlinkSync('/etc/systemd/system/e2e-agent.service', join(root, 'etc/systemd/system/multi-user.target.wants/e2e-agent.service'));
    mkdirSync(join(root, 'var/log/journal'), { recursive: true });
    const release = readdirSync(join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'))?.slice('vmlinuz-'.length);
    if (!release || !existsSync(join(root, 'boot', `initrd.img-${release}`))) {
      throw new E2EStepError('image', `mmdebstrap left no kernel with an initramfs in ${join(root, 'boot')}`);
    }
    copyFileSync(join(root, 'boot', `vmlinuz-${release}`), join(tmp, 'vmlinuz'));
    copyFileSync(join(root, 'boot', `initrd.img-${release}`), join(tmp, 'initrd.img'));
    const versions = await run('image', 'dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${db:Status-Abbrev} ${Package} ${Version}\n', ...RECORDED], { allowFail: true });
    const packages: Record<string, string> = {};
    for (const m of versions.stdout.matchAll(/^ii\s+(\S+) (\S+)$/gm)) packages[m[1]!] = m[2]!;

    log(`partitioning and writing the root file system (${IMAGE_MIB} MiB image)`);
    const raw = join(tmp, 'disk.raw');
    const fd = openSync(raw, 'w');
    ftruncateSync(fd, IMAGE_MIB * 1024 * 1024);
    closeSync(fd);
    const layout = partitionLayout(IMAGE_MIB, espMiB(variant));
    await run('image', 'sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', raw], { input: layout.sfdisk, timeoutMs: 60_000 });
    if (variant === 'btrfs') await writeBtrfsRoot(tmp, root, rootUuid, raw, layout.root);
    else {
      await run('image', 'mke2fs', [
        '-q', '-F', '-t', 'ext4', '-L', 'root', '-U', rootUuid, '-d', root,
        '-E', `offset=${layout.root[0] * SECTOR},nodiscard`, raw, `${(layout.root[1] * SECTOR) / 1024}k`,
      ], { timeoutMs: 20 * 60_000 });
    }
    rmSync(root, { recursive: true, force: true });
    const tDisk = Date.now();

    // sd-boot: the second kernel's packages go to the setup boot on the job disk.
    const extra = variant === 'sd-boot' ? await downloadUpgradeKernel(suite, log) : undefined;
    log(variant === 'sd-boot' ? 'setup boot: ESP, bootctl install, second kernel, kernel-install (layout=bls)' : 'setup boot: ESP, grub-install (i386-pc, x86_64-efi), update-grub');
    const setup = await bootSystem({
      name: `debian-image-setup-${suite}-${variant}`,
      disk: { file: raw, format: 'raw' },
      firmware: 'seabios',
      direct: { kernel: join(tmp, 'vmlinuz'), initrd: join(tmp, 'initrd.img'), append: `root=UUID=${rootUuid} ro${variant === 'btrfs' ? ' rootflags=subvol=@' : ''} console=ttyS0 no_timer_check` },
      stages: { setup: variantSetupStage(variant, espId) },
      start: 'setup',
      ...(extra ? { files: { ...Object.fromEntries(extra.debs.map((d) => [`kernel/${basename(d)}`, readFileSync(d)])), ...snakeoilSigningFiles() }, jobDiskMiB: 256 } : {}),
      expect: ['setup:done'],
      timeoutMs: 15 * 60_000,
      log,
    });
    setup.cleanup();
    const tSetup = Date.now();

    const image: DebianImage = {
      suite, variant, hash,
      path: join(dir, 'disk.raw'),
      rootUuid,
      espUuid: `${espId.slice(0, 4)}-${espId.slice(4)}`,
      release,
      ...(extra ? { extraReleases: [extra.release] } : {}),
      packages,
      builtAt: new Date().toISOString(),
      buildMs: { mmdebstrap: tDeb - t0, disk: tDisk - tDeb, setupBoot: tSetup - tDisk, total: tSetup - t0 },
      loadAvg: loadAvg.map((x) => Math.round(x * 100) / 100),
    };
    for (const f of ['vmlinuz', 'initrd.img']) rmSync(join(tmp, f));
    writeFileSync(join(tmp, 'image.json'), JSON.stringify(image, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`built ${image.path} in ${(image.buildMs.total / 1000).toFixed(0)} s`);
    pruneOtherRecipes(dir, `${suite}-${variant}-`);
    return image;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

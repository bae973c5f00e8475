// The boot-entry model shared by every entry source (BLS Type #1, GRUB, Debian's links, and UKIs
// beside them in uki.ts): what a source is given (a machine's files through BootFiles, its mounts,
// EFI variables) and what it returns (entries, rejected candidates with the reason, the default its
// boot loader would choose and why). Pure: the host reads the files (src/host/boot-files.ts).
import type { UkiPayload } from './uki.ts';

/** A machine's files, by absolute path as on that machine ("/boot/grub/grub.cfg"). */
export interface BootFiles {
  /** The file's bytes, or undefined when it does not exist or cannot be read. */
  read(path: string): Uint8Array | undefined;
  /** A directory's entry names, or undefined when it is not a directory. */
  list(path: string): string[] | undefined;
  /** True when the path names an existing regular file (links followed). */
  isFile(path: string): boolean;
  /** A symbolic link's target as stored, or undefined when the path is not a link. */
  readlink(path: string): string | undefined;
  /** Where the file is on the machine running kexec-ts (the host edge loads and renames through it); absent in pure tests. */
  hostPath?(path: string): string;
}

/** A mounted (or, for another machine's root, an /etc/fstab-listed) file system. */
export interface Mount {
  /** Where it is mounted on the machine: "/", "/boot", "/boot/efi". */
  mountpoint: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  fstype?: string;
  /** btrfs: the subvolume mounted there ("/@rootfs"); GRUB names files from the file system's top. */
  subvol?: string;
  /** Where this row comes from: "/proc/self/mountinfo", "/etc/fstab", "--boot", "--esp". */
  from: string;
}

/** EFI variables of the boot loader interface (systemd's), as UTF-16 strings already decoded. */
export interface LoaderVariables {
  LoaderEntryOneShot?: string;
  LoaderEntryDefault?: string;
  LoaderEntryLastBooted?: string;
  /** The boot loader that booted this machine ("systemd-boot 257.9", "GRUB 2.12"). */
  LoaderInfo?: string;
}

export interface BootMachine {
  files: BootFiles;
  mounts: Mount[];
  /** Where the ESP is mounted, if any ("/boot/efi", "/efi"). */
  esp?: string;
  /** UEFI names of this machine's architecture as the BLS `architecture` key spells them: "x64", "aa64". */
  arch: string;
  /** GRUB's $grub_platform: "efi" when the machine booted through UEFI, else "pc". */
  platform: 'efi' | 'pc';
  efiVariables: LoaderVariables;
}

export type SourceName = 'bls' | 'uki' | 'grub' | 'debian-links';

/** A bootable entry: what would be loaded, where it was found, whether it is the default and why. */
export interface BootEntry {
  /** The boot loader's name for it: BLS/UKI file name, GRUB --id (else its title path), "vmlinuz". */
  id: string;
  title: string;
  source: SourceName;
  /** The file (and line) that defines it: "/boot/grub/grub.cfg:86", "/boot/loader/entries/x.conf". */
  origin: string;
  /** Machine paths. */
  kernel: string;
  initrds: string[];
  cmdline: string;
  devicetree?: string;
  devicetreeOverlays?: string[];
  architecture?: string;
  version?: string;
  machineId?: string;
  sortKey?: string;
  /** GRUB: the submenu titles above this entry. */
  submenu?: string[];
  /** BLS boot counting from the file name (+LEFT-DONE). */
  bootCounting?: { left: number; done: number; bad: boolean };
  /** A UKI (Type #2): `kernel` is the UKI file; its sections, profile, add-ons and signature verdict (uki.ts). */
  uki?: UkiPayload;
  isDefault: boolean;
  /** For the default entry: why the boot loader chooses it. */
  defaultReason?: string;
}

/** A candidate that cannot be booted, with the reason. */
export interface Rejected {
  id?: string;
  title?: string;
  source: SourceName;
  origin: string;
  reason: string;
}

/** What one source found. `entries` are in the boot loader's menu order. */
export interface SourceResult {
  source: SourceName;
  entries: BootEntry[];
  rejected: Rejected[];
  /** Things read but not acted on, each with its place: "grub.cfg:12: configfile … not evaluated". */
  notes: string[];
  /** The entry this source's boot loader would boot, by index into `entries`, and why. */
  choice?: { index: number; reason: string } | { index: -1; reason: string };
  /** Menu timeout in seconds, where the configuration says it. */
  timeout?: string;
  /** What this loader changes as it boots (a one-shot it consumes). */
  once?: BootOnce;
}

/**
 * What the boot loader changes when it boots, so that a kexec boot consumes it too: GRUB's
 * top-level `save_env` writes (Debian's grub.cfg clears grub-reboot's next_entry: `set
 * next_entry=; save_env next_entry`), or systemd-boot's removal of LoaderEntryOneShot.
 */
export type BootOnce =
  | { kind: 'grubenv'; path: string; writes: [name: string, value: string | undefined][]; what: string }
  | { kind: 'efi-variable'; path: string; name: 'LoaderEntryOneShot'; what: string };

/** One source of boot entries (UKIs plug in here as one more). */
export interface EntrySource {
  name: SourceName;
  /** True when this source has anything to read on the machine. */
  present(m: BootMachine): boolean;
  discover(m: BootMachine): SourceResult;
}

/** Which mount holds `path` (the longest mountpoint prefix); "/" when none is listed. */
export function mountOf(mounts: readonly Mount[], path: string): Mount {
  let best: Mount | undefined;
  for (const m of mounts) {
    const mp = m.mountpoint;
    const inside = mp === '/' || path === mp || path.startsWith(mp + '/');
    if (inside && (!best || mp.length > best.mountpoint.length)) best = m;
  }
  return best ?? { mountpoint: '/', from: 'default' };
}

/** A path relative to a file system's root, on the machine: ("/boot", "/vmlinuz") -> "/boot/vmlinuz". */
export function onMount(mountpoint: string, path: string): string {
  const rel = ('/' + path).replace(/\/+/g, '/');
  return mountpoint === '/' ? rel : mountpoint + (rel === '/' ? '' : rel);
}

/**
 * A path as GRUB names it on a file system (from the file system's top) as a machine path, given
 * every mount of that file system: on btrfs, "/@rootfs/boot/vmlinuz" is in the mount of subvolume
 * /@rootfs; a path outside every mounted subvolume is taken as in the top-level mount, else the first.
 */
export function onFileSystem(mounts: readonly Mount[], path: string): string {
  const p = ('/' + path).replace(/\/+/g, '/');
  let best: { m: Mount; sub: string } | undefined;
  for (const m of mounts) {
    const sub = m.subvol && m.subvol !== '/' ? m.subvol.replace(/\/+$/, '') : '';
    if (sub && p !== sub && !p.startsWith(sub + '/')) continue;
    if (!best || sub.length > best.sub.length) best = { m, sub };
  }
  if (!best) best = { m: mounts[0]!, sub: '' };
  return onMount(best.m.mountpoint, p.slice(best.sub.length) || '/');
}

export const text = (b: Uint8Array): string => new TextDecoder('utf-8').decode(b);

// How a block device is named in root=, /etc/fstab, root_device = and target_device =, and the one
// canonical form the capture /init resolves: every form the kernel's root= takes (/dev/NAME,
// PARTUUID=…[/PARTNROFF=N], PARTLABEL=…, MAJ:MIN, hex) and what Debian's initramfs and fstab add
// (UUID=, LABEL=, /dev/disk/by-uuid|by-label|by-partuuid|by-partlabel/…). Other udev names
// (/dev/disk/by-id, by-path) do not exist without udev: the host resolves them first. Pure.

/** A block device name, as the capture /init looks it up. */
export type DeviceSpec =
  | { kind: 'path'; path: string }
  | { kind: 'UUID' | 'LABEL' | 'PARTLABEL'; value: string }
  /** GPT partition GUID or the MBR form SSSSSSSS-PP (lower case), and the kernel's /PARTNROFF=N. */
  | { kind: 'PARTUUID'; value: string; offset?: number }
  | { kind: 'devnum'; major: number; minor: number }
  /** A udev link only the machine's /dev has (by-id, by-path…): the host resolves it. */
  | { kind: 'udev-link'; path: string };

const GPT_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MBR_PARTUUID = /^[0-9a-f]{8}-[0-9a-f]{2}$/;
/** /dev/disk/by-X/NAME: the tag each of these links stands for. */
const BY_LINK: Record<string, 'UUID' | 'LABEL' | 'PARTUUID' | 'PARTLABEL'> = { 'by-uuid': 'UUID', 'by-label': 'LABEL', 'by-partuuid': 'PARTUUID', 'by-partlabel': 'PARTLABEL' };

/** \xHH escapes (udev's in /dev/disk/by-label names: \x20 for a space, \x2f for /) decoded. */
export function xUnescape(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The characters `chars` matches written as \xHH. */
export function xEscape(s: string, chars: RegExp): string {
  return s.replace(chars, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** fstab and mount(8) take TAG="value" as well as TAG=value. */
function unquote(s: string): string {
  return /^"(.*)"$/.exec(s)?.[1] ?? /^'(.*)'$/.exec(s)?.[1] ?? s;
}

/** What is wrong with a device name, or its parsed form. */
export function parseDeviceSpec(text: string): DeviceSpec | { error: string } {
  const s = text.trim();
  const tag = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/.exec(s);
  if (tag) {
    const kind = tag[1] as 'UUID' | 'LABEL' | 'PARTUUID' | 'PARTLABEL';
    const value = unquote(tag[2]!);
    if (!value) return { error: `${s}: ${kind}= names no device` };
    return kind === 'PARTUUID' ? partuuid(value) : { kind, value };
  }
  const by = /^\/dev\/disk\/(by-[a-z]+)\/(.+)$/.exec(s);
  if (by) {
    const kind = BY_LINK[by[1]!];
    if (!kind) return { kind: 'udev-link', path: s };
    return parseDeviceSpec(`${kind}=${xUnescape(by[2]!)}`);
  }
  if (s === '/dev/root') return { error: '/dev/root is the kernel\'s name for whatever root= named: give the device itself' };
  if (/^\/dev\/[^/\s]/.test(s)) return { kind: 'path', path: s };
  const mm = /^(\d+):(\d+)$/.exec(s);
  if (mm) return { kind: 'devnum', major: Number(mm[1]), minor: Number(mm[2]) };
  if (/^[0-9a-fA-F]{3,8}$/.test(s)) {
    // The kernel's root=0801: new_decode_dev of a hexadecimal dev_t.
    const dev = parseInt(s, 16);
    return { kind: 'devnum', major: (dev & 0xfff00) >> 8, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
  }
  return { error: `${s}: not a block device name (/dev/…, UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/disk/by-…/…, MAJOR:MINOR)` };
}

function partuuid(value: string): DeviceSpec | { error: string } {
  const m = /^([^/]+)(?:\/PARTNROFF=(-?\d+))?$/.exec(value);
  const id = m?.[1]!.toLowerCase();
  if (!m || !id || !(GPT_GUID.test(id) || MBR_PARTUUID.test(id))) {
    return { error: `PARTUUID=${value}: expected a GPT partition GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or the MBR form SSSSSSSS-PP, optionally /PARTNROFF=N` };
  }
  return m[2] ? { kind: 'PARTUUID', value: id, offset: Number(m[2]) } : { kind: 'PARTUUID', value: id };
}

/** The canonical text the capture /init's resolve_dev takes (and the capture mode file records). */
export function deviceSpecText(d: DeviceSpec): string {
  switch (d.kind) {
    case 'path':
    case 'udev-link':
      return d.path;
    case 'devnum':
      return `${d.major}:${d.minor}`;
    case 'PARTUUID':
      return `PARTUUID=${d.value}${d.offset ? `/PARTNROFF=${d.offset}` : ''}`;
    default:
      return `${d.kind}=${d.value}`;
  }
}

/** The /dev/disk link udev makes on the running system for a tag (to find the device now), else the path itself. */
export function deviceLink(d: DeviceSpec): string | undefined {
  switch (d.kind) {
    case 'path':
    case 'udev-link':
      return d.path;
    case 'devnum':
      return undefined;
    case 'PARTUUID':
      return d.offset ? undefined : `/dev/disk/by-partuuid/${d.value}`;
    default:
      // udev's blkid_encode_string: / and whitespace as \xHH.
      return `/dev/disk/by-${d.kind.toLowerCase()}/${xEscape(d.value, /[/\\\s]/g)}`;
  }
}

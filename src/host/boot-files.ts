// The machine a `kexec-ts boot` discovery reads: its files (through machine-files.ts' --root, with
// --boot DIR and --esp DIR standing for what is mounted at /boot and at the ESP), its mounts
// (/proc/self/mountinfo and /dev/disk/by-* on this machine, /etc/fstab for another root), its
// architecture and the boot loader interface's EFI variables. The decisions are src/boot/'s.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { efiVariableString, loaderVariablePath } from '../boot/efivars.ts';
import type { BootFiles, BootMachine, LoaderVariables, Mount } from '../boot/model.ts';
import { listDir, machinePath, readBytes } from './machine-files.ts';

export interface BootDirs {
  root: string;
  /** What is mounted at /boot, when it is elsewhere (an image's partition mounted at DIR). */
  boot?: string;
  /** The ESP, when it is elsewhere. */
  esp?: string;
}

const ESP_MOUNTS = ['/efi', '/boot/efi', '/boot'];
const EFI_ARCH: Record<string, string> = { x64: 'x64', ia32: 'ia32', arm64: 'aa64', arm: 'arm', riscv64: 'riscv64', loong64: 'loongarch64' };

/** fstab's first field as uuid/label/partuuid. */
function specOf(spec: string): Pick<Mount, 'uuid' | 'label' | 'partuuid'> {
  const m = /^(UUID|LABEL|PARTUUID)=(.*)$/.exec(spec) ?? /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.*)$/.exec(spec);
  if (!m) return {};
  const key = m[1]!.toLowerCase() as 'uuid' | 'label' | 'partuuid';
  return { [key]: m[2]!.replace(/\\x20/g, ' ') };
}

export function parseFstab(body: string): Mount[] {
  const out: Mount[] = [];
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [spec, mountpoint, fstype, options] = line.split(/\s+/);
    if (!spec || !mountpoint?.startsWith('/') || fstype === 'swap') continue;
    const subvol = /(?:^|,)subvol=([^,]+)/.exec(options ?? '')?.[1];
    out.push({
      mountpoint: mountpoint.replace(/\/+$/, '') || '/',
      ...specOf(spec),
      ...(fstype ? { fstype } : {}),
      ...(fstype === 'btrfs' && subvol ? { subvol: '/' + subvol.replace(/^\/+/, '') } : {}),
      from: '/etc/fstab',
    });
  }
  return out;
}

/** /proc/self/mountinfo's block-device mounts; `ids` maps a device to its /dev/disk/by-* names. */
export function parseMountinfo(text: string, ids: ReadonlyMap<string, Pick<Mount, 'uuid' | 'label' | 'partuuid'>>): Mount[] {
  const out: Mount[] = [];
  const unescape = (x: string) => x.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6) continue;
    const fstype = f[dash + 1]!;
    const source = f[dash + 2]!;
    if (!source.startsWith('/dev/')) continue;
    const within = unescape(f[3]!);
    out.push({ mountpoint: unescape(f[4]!), fstype, ...ids.get(source), ...(fstype === 'btrfs' && within !== '/' ? { subvol: within } : {}), from: '/proc/self/mountinfo' });
  }
  return out;
}

/** This machine's block-device mounts with their file system UUIDs and labels (udev's /dev/disk/by-*). */
function liveMounts(): Mount[] {
  const text = quiet(() => readFileSync('/proc/self/mountinfo', 'utf8'));
  if (text === undefined) return [];
  const ids = new Map<string, Pick<Mount, 'uuid' | 'label' | 'partuuid'>>();
  for (const kind of ['uuid', 'label', 'partuuid'] as const) {
    for (const name of listDir('/', `/dev/disk/by-${kind}`)) {
      const target = quiet(() => readlinkSync(`/dev/disk/by-${kind}/${name}`));
      if (target === undefined) continue;
      const dev = join(`/dev/disk/by-${kind}`, target);
      ids.set(dev, { ...ids.get(dev), [kind]: name.replace(/\\x20/g, ' ') });
    }
  }
  return parseMountinfo(text, ids);
}

function merge(rows: Mount[], row: Mount): void {
  const i = rows.findIndex((r) => r.mountpoint === row.mountpoint);
  if (i < 0) rows.push(row);
  else rows[i] = { ...rows[i], ...row, from: `${rows[i]!.from}, ${row.from}` };
}

function efiVariables(root: string): LoaderVariables {
  const out: LoaderVariables = {};
  for (const name of ['LoaderEntryOneShot', 'LoaderEntryDefault', 'LoaderEntryLastBooted', 'LoaderInfo'] as const) {
    const bytes = readBytes(root, loaderVariablePath(name));
    const v = bytes && efiVariableString(bytes);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** f(), or undefined when it throws (a missing or unreadable file is an answer here, not an error). */
function quiet<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

export function readBootMachine(dirs: BootDirs): BootMachine {
  const { root } = dirs;
  const fstab = readBytes(root, '/etc/fstab');
  const mounts: Mount[] = root === '/' ? liveMounts() : [];
  for (const row of fstab ? parseFstab(new TextDecoder().decode(fstab)) : []) {
    const live = mounts.find((r) => r.mountpoint === row.mountpoint);
    if (!live) {
      if (root !== '/') mounts.push(row);
    } else for (const k of ['uuid', 'label', 'partuuid', 'subvol'] as const) if (live[k] === undefined && row[k] !== undefined) live[k] = row[k];
  }
  if (!mounts.some((r) => r.mountpoint === '/')) mounts.push({ mountpoint: '/', from: 'the root directory' });
  if (dirs.boot) merge(mounts, { mountpoint: '/boot', from: '--boot' });
  let esp = mounts.find((r) => r.fstype === 'vfat' && ESP_MOUNTS.includes(r.mountpoint))?.mountpoint;
  if (dirs.esp) {
    esp ??= '/efi';
    merge(mounts, { mountpoint: esp, fstype: 'vfat', from: '--esp' });
  }
  const overrides: [string, string][] = [];
  if (dirs.esp) overrides.push([esp!, dirs.esp]);
  if (dirs.boot) overrides.push(['/boot', dirs.boot]);
  overrides.sort((a, b) => b[0].length - a[0].length);
  const host = (p: string): string => {
    for (const [mp, dir] of overrides) if (p === mp || p.startsWith(mp + '/')) return join(dir, p.slice(mp.length));
    return machinePath(root, p);
  };
  const files: BootFiles = {
    read: (p) => quiet(() => readFileSync(host(p))),
    list: (p) => quiet(() => readdirSync(host(p))),
    isFile: (p) => quiet(() => statSync(host(p)).isFile()) ?? false,
    readlink: (p) => quiet(() => readlinkSync(host(p))),
    hostPath: host,
  };
  esp ??= ESP_MOUNTS.find((mp) => files.list(`${mp}/EFI`) !== undefined || files.list(`${mp}/loader`) !== undefined);
  let platform: 'efi' | 'pc' = 'pc';
  try {
    if (statSync(machinePath(root, '/sys/firmware/efi')).isDirectory()) platform = 'efi';
  } catch {
    // not booted through UEFI
  }
  return { files, mounts, ...(esp ? { esp } : {}), arch: EFI_ARCH[process.arch] ?? process.arch, platform, efiVariables: efiVariables(root) };
}

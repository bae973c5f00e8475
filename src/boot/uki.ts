// Unified Kernel Images (Boot Loader Specification Type #2 entries; the UAPI group's "Unified
// Kernel Image" specification): the PE sections systemd-stub reads, multi-profile UKIs (`.profile`
// sections split the image into a base profile and profiles @0, @1, …; a profile's sections
// override the base's of the same name), `.osrel` for the menu title, `.uname` for the version, and
// PE add-ons (`$ESP/loader/addons/*.addon.efi`, then `NAME.efi.extra.d/*.addon.efi`, each set in
// file-name order) whose `.cmdline` is appended, `.dtb` applied after the UKI's, `.initrd`
// appended and `.ucode` prefixed. Pure: file bytes and signature verdicts in, entries out.
import { KexecError, ParseError } from '../errors.ts';
import type { AuthenticodeVerdict } from '../format/authenticode.ts';
import { parsePe, peMachineName, peSectionData, type PeImage, type PeSection } from '../format/pe.ts';
import { bootCounter } from './bls.ts';
import { onMount, type BootEntry, type BootMachine, type EntrySource, type Rejected } from './model.ts';

/** The sections the specification defines (all singletons per profile except `.dtb`). */
export const UKI_SECTIONS = ['.linux', '.osrel', '.cmdline', '.initrd', '.ucode', '.splash', '.dtb', '.uname', '.sbat', '.pcrsig', '.pcrpkey'] as const;
/** Sections an add-on may carry (an add-on with `.linux` is a UKI, not an add-on). */
export const ADDON_SECTIONS = ['.cmdline', '.dtb', '.ucode', '.initrd'] as const;
const MULTI = new Set(['.dtb']);

export interface UkiProfile {
  /** @N */
  index: number;
  /** ID= and TITLE= of the `.profile` section (both optional). */
  id: string | undefined;
  title: string | undefined;
  /** The profile's own sections (after its `.profile`, before the next). */
  sections: PeSection[];
}

export interface Uki {
  pe: PeImage;
  /** Sections before the first `.profile` (all of them for a single-profile UKI). */
  base: PeSection[];
  /** [] for a single-profile UKI. */
  profiles: UkiProfile[];
}

/** Where a payload is inside the UKI file (what a loader reads, and what the signature covers). */
export interface FileRange {
  file: string;
  offset: number;
  length: number;
}

/** What a UKI boots with, for one profile, add-ons applied. */
export interface UkiResources {
  linux: FileRange;
  /** In the order the kernel receives them: add-on `.ucode` (reverse order), the UKI's `.ucode`, `.initrd`, add-on `.initrd`s. */
  initrds: FileRange[];
  /** The UKI's `.cmdline` followed by each add-on's, space-separated ('' when none). */
  cmdline: string;
  /** The UKI's `.dtb` (first), then add-on `.dtb`s to apply as fix-ups. */
  dtbs: FileRange[];
  osRelease: Record<string, string>;
  uname: string | undefined;
}

const textOf = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\0+$/, '');

/** Splits the section table at `.profile` sections. Throws ParseError when the image has no `.linux` (not a UKI). */
export function parseUki(bytes: Uint8Array, source = '<UKI>'): Uki {
  const pe = parsePe(bytes, source);
  const base: PeSection[] = [];
  const profiles: UkiProfile[] = [];
  for (const s of pe.sections) {
    if (s.name === '.profile') {
      const kv = parseEnvBlock(textOf(peSectionData(bytes, s)));
      profiles.push({ index: profiles.length, id: kv.ID, title: kv.TITLE, sections: [] });
    } else (profiles.at(-1)?.sections ?? base).push(s);
  }
  const seenIn = (list: PeSection[], where: string) => {
    const seen = new Set<string>();
    for (const s of list) {
      if (seen.has(s.name) && !MULTI.has(s.name) && (UKI_SECTIONS as readonly string[]).includes(s.name)) {
        throw new ParseError(`${source}: section ${s.name} appears twice in ${where}`, { offset: s.pointerToRawData, source, hint: 'a UKI section may appear once per profile' });
      }
      seen.add(s.name);
    }
  };
  seenIn(base, 'the base profile');
  for (const p of profiles) seenIn(p.sections, `profile @${p.index}`);
  if (!pe.sections.some((s) => s.name === '.linux')) {
    throw new ParseError(`${source}: not a UKI: no .linux section (sections: ${pe.sections.map((s) => s.name).join(' ') || 'none'})`, { source, hint: 'a Unified Kernel Image carries the kernel in .linux' });
  }
  return { pe, base, profiles };
}

/** The sections one profile sees: its own, and the base's whose name it does not define. */
export function profileSections(uki: Uki, profile: number | undefined): PeSection[] {
  const own = profile === undefined ? [] : (uki.profiles[profile]?.sections ?? []);
  if (profile !== undefined && !uki.profiles[profile]) throw new RangeError(`no profile @${profile}`);
  const names = new Set(own.map((s) => s.name));
  return [...uki.base.filter((s) => !names.has(s.name)), ...own];
}

/** os-release(5) / env-block text: KEY=value lines, values optionally quoted with shell escapes. */
export function parseEnvBlock(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) {
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\([\\"$`])/g, '$1');
    }
    out[m[1]!] = v;
  }
  return out;
}

const range = (file: string, bytes: Uint8Array, s: PeSection): FileRange => {
  const d = peSectionData(bytes, s);
  return { file, offset: s.pointerToRawData, length: d.length };
};

/** A PE add-on's contributions. Throws ParseError when it is not an add-on. */
export interface UkiAddon {
  file: string;
  machine: number;
  cmdline: string | undefined;
  dtbs: FileRange[];
  initrds: FileRange[];
  ucodes: FileRange[];
}

export function parseAddon(bytes: Uint8Array, file: string): UkiAddon {
  const pe = parsePe(bytes, file);
  const named = (n: string) => pe.sections.filter((s) => s.name === n);
  if (named('.linux').length) throw new ParseError(`${file}: has a .linux section: a UKI, not an add-on`, { source: file, hint: 'add-ons carry only .cmdline, .dtb, .ucode or .initrd' });
  if (!ADDON_SECTIONS.some((n) => named(n).length)) {
    throw new ParseError(`${file}: no .cmdline, .dtb, .ucode or .initrd section: not a UKI add-on`, { source: file });
  }
  const cmd = named('.cmdline')[0];
  return {
    file,
    machine: pe.machine,
    cmdline: cmd ? textOf(peSectionData(bytes, cmd)).trim() : undefined,
    dtbs: named('.dtb').map((s) => range(file, bytes, s)),
    initrds: named('.initrd').map((s) => range(file, bytes, s)),
    ucodes: named('.ucode').map((s) => range(file, bytes, s)),
  };
}

/** What one profile of the UKI boots with, the add-ons (already ordered and accepted) applied. */
export function ukiResources(uki: Uki, bytes: Uint8Array, file: string, profile: number | undefined, addons: readonly UkiAddon[] = []): UkiResources {
  const secs = profileSections(uki, profile);
  const one = (n: string) => secs.find((s) => s.name === n);
  const all = (n: string) => secs.filter((s) => s.name === n).map((s) => range(file, bytes, s));
  const text = (n: string) => {
    const s = one(n);
    return s ? textOf(peSectionData(bytes, s)) : undefined;
  };
  const linux = one('.linux');
  if (!linux) throw new ParseError(`${file}: profile @${profile} has no .linux section`, { source: file });
  const cmdline = [text('.cmdline')?.trim(), ...addons.map((a) => a.cmdline)].filter((c): c is string => !!c).join(' ');
  return {
    linux: range(file, bytes, linux),
    initrds: [...addons.flatMap((a) => a.ucodes).reverse(), ...all('.ucode'), ...all('.initrd'), ...addons.flatMap((a) => a.initrds)],
    cmdline,
    dtbs: [...all('.dtb'), ...addons.flatMap((a) => a.dtbs)],
    osRelease: parseEnvBlock(text('.osrel') ?? ''),
    uname: text('.uname')?.trim() || undefined,
  };
}

// ---- The entry source: $ESP/EFI/Linux/*.efi (and $BOOT's, XBOOTLDR) ----

/** One UKI file as read, with its add-ons and signature verdicts (when checked). */
export interface UkiFile {
  /** Machine path (/boot/efi/EFI/Linux/debian-6.12.efi). */
  path: string;
  bytes: Uint8Array;
  signature?: AuthenticodeVerdict;
  /** Global add-ons ($ESP/loader/addons) and this UKI's (NAME.efi.extra.d), in any order. */
  addons: { path: string; bytes: Uint8Array; global: boolean; signature?: AuthenticodeVerdict }[];
}

/** What a UKI entry boots, inside the file its BootEntry's `kernel` names. */
export interface UkiPayload {
  profile?: { index: number; id?: string; title?: string };
  /** The file name without boot counter: the entry's id for a single-profile UKI. */
  idWithoutProfile: string;
  linux: FileRange;
  /** .ucode and .initrd sections (and the add-ons'), in the order the kernel gets them. */
  initrds: FileRange[];
  dtbs: FileRange[];
  /** The add-ons applied, in order. */
  addons: string[];
  /** The whole image's Authenticode verdict; absent when nothing was checked. */
  signature?: AuthenticodeVerdict;
}

export interface UkiSourceOptions {
  /** The machine's UEFI architecture name (BootMachine.arch: x64, aa64…): UKIs for other PE machines are rejected. */
  arch: string;
  /** Secure Boot / lockdown, or a certificate given: refuse images whose signature is not verified. */
  requireVerified: boolean;
}

const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
/** A ParseError's message without its leading "PATH: " (the rejection names the path already). */
const withoutSource = (message: string, path: string) => (message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message);
export const verdictText = (v: AuthenticodeVerdict | undefined) =>
  !v ? 'not checked' : v.status === 'verified' ? `verified (signed by ${v.signer}, trusted through ${v.anchor})` : `${v.status}: ${v.reason}`;

/** Entries (one per profile of a multi-profile UKI) and rejected candidates, files in name order. */
export function ukiEntries(files: readonly UkiFile[], opts: UkiSourceOptions): { entries: BootEntry[]; rejected: Rejected[] } {
  const entries: BootEntry[] = [];
  const rejected: Rejected[] = [];
  for (const f of [...files].sort((a, b) => baseName(a.path).localeCompare(baseName(b.path)))) {
    const { id, counting } = bootCounter(baseName(f.path));
    const reject = (reason: string, origin = f.path) => rejected.push({ source: 'uki', origin, id, reason });
    let uki: Uki;
    try {
      uki = parseUki(f.bytes, f.path);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      reject(withoutSource(e.message, f.path));
      continue;
    }
    const arch = peMachineName(uki.pe.machine);
    if (arch !== opts.arch) {
      reject(`wrong architecture: built for ${arch} (PE machine 0x${uki.pe.machine.toString(16)}), this machine is ${opts.arch}`);
      continue;
    }
    if (opts.requireVerified && f.signature?.status !== 'verified') {
      reject(`signature: ${verdictText(f.signature)}`);
      continue;
    }
    if (!uki.pe.sections.some((s) => s.name === '.osrel')) {
      reject('no .osrel section: systemd-boot lists only UKIs that have one');
      continue;
    }
    const addons: UkiAddon[] = [];
    const ordered = [...f.addons].sort((a, b) => Number(b.global) - Number(a.global) || baseName(a.path).localeCompare(baseName(b.path)));
    for (const a of ordered) {
      const addon = acceptAddon(a, opts);
      if (typeof addon === 'string') reject(addon, a.path);
      else addons.push(addon);
    }
    const profiles: (UkiProfile | undefined)[] = uki.profiles.length ? uki.profiles : [undefined];
    for (const p of profiles) {
      const r = ukiResources(uki, f.bytes, f.path, p?.index, addons);
      const os = r.osRelease;
      const name = os.PRETTY_NAME ?? os.NAME ?? os.ID ?? id.replace(/\.efi$/i, '');
      const version = r.uname ?? os.IMAGE_VERSION ?? os.VERSION ?? os.VERSION_ID ?? os.BUILD_ID;
      const sortKey = os.IMAGE_ID ?? os.ID;
      entries.push({
        // systemd-boot's ids: NAME.efi for profile @0 without an ID=, else NAME.efi@ID or NAME.efi@N.
        id: p?.id ? `${id}@${p.id}` : p && p.index > 0 ? `${id}@${p.index}` : id,
        title: p ? `${name} (${p.title ?? p.id ?? `profile @${p.index}`})` : name,
        source: 'uki',
        origin: f.path,
        kernel: f.path,
        initrds: [],
        cmdline: r.cmdline,
        architecture: arch,
        ...(version ? { version } : {}),
        ...(sortKey ? { sortKey } : {}),
        ...(counting ? { bootCounting: counting } : {}),
        isDefault: false,
        uki: {
          ...(p ? { profile: { index: p.index, ...(p.id ? { id: p.id } : {}), ...(p.title ? { title: p.title } : {}) } } : {}),
          idWithoutProfile: id,
          linux: r.linux,
          initrds: r.initrds,
          dtbs: r.dtbs,
          addons: addons.map((a) => a.file),
          ...(f.signature ? { signature: f.signature } : {}),
        },
      });
    }
  }
  return { entries, rejected };
}

/** The add-on as systemd-stub would apply it, or why it would not. */
function acceptAddon(a: UkiFile['addons'][number], opts: UkiSourceOptions): UkiAddon | string {
  let addon: UkiAddon;
  try {
    addon = parseAddon(a.bytes, a.path);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return withoutSource(e.message, a.path);
  }
  const arch = peMachineName(addon.machine);
  if (arch !== opts.arch) return `add-on for ${arch}, this machine is ${opts.arch}: skipped`;
  // With Secure Boot on, systemd-stub loads add-ons through the firmware's LoadImage, which checks
  // them against db/shim/MOK: an add-on that does not verify is skipped, the UKI boots without it.
  if (opts.requireVerified && a.signature?.status !== 'verified') return `add-on signature: ${verdictText(a.signature)}: skipped`;
  return addon;
}

/** How images are checked: the edge's Authenticode check (node:crypto), and whether only verified ones may boot. */
export interface ImageTrust {
  verify(bytes: Uint8Array, path: string): AuthenticodeVerdict;
  required: boolean;
  /** Where the trust comes from, for the notes ("db: 1 certificates…", "--cert FILE"). */
  sources: string[];
}

/** The directories systemd-boot reads UKIs from: the ESP's and $BOOT's (XBOOTLDR) EFI/Linux. */
function ukiDirectories(m: BootMachine): string[] {
  const dirs = [m.esp, '/boot'].filter((d): d is string => !!d).map((d) => onMount(d, '/EFI/Linux'));
  return [...new Set(dirs)].filter((d) => m.files.list(d) !== undefined);
}

const efiNames = (m: BootMachine, dir: string, suffix: string) =>
  (m.files.list(dir) ?? [])
    .filter((n) => n.toLowerCase().endsWith(suffix) && !n.startsWith('.'))
    .sort()
    .map((n) => `${dir}/${n}`);

/** Type #2 entries as systemd-boot finds them; `trust` checks signatures (none: not checked). */
export function ukiSource(trust?: ImageTrust): EntrySource {
  return {
    name: 'uki',
    present: (m) => ukiDirectories(m).some((d) => efiNames(m, d, '.efi').length > 0),
    discover(m) {
      const check = (bytes: Uint8Array, path: string) => (trust ? { signature: trust.verify(bytes, path) } : {});
      const globals = m.esp ? efiNames(m, onMount(m.esp, '/loader/addons'), '.addon.efi') : [];
      const files: UkiFile[] = [];
      const rejected: Rejected[] = [];
      for (const path of ukiDirectories(m).flatMap((d) => efiNames(m, d, '.efi'))) {
        const bytes = m.files.read(path);
        if (!bytes) {
          rejected.push({ source: 'uki', origin: path, id: baseName(path), reason: 'cannot read the file' });
          continue;
        }
        const addons = [...globals.map((p) => ({ p, global: true })), ...efiNames(m, `${path}.extra.d`, '.addon.efi').map((p) => ({ p, global: false }))].flatMap(({ p, global }) => {
          const b = m.files.read(p);
          return b ? [{ path: p, bytes: b, global, ...check(b, p) }] : [];
        });
        files.push({ path, bytes, addons, ...check(bytes, path) });
      }
      const r = ukiEntries(files, { arch: m.arch, requireVerified: trust?.required ?? false });
      const notes = trust
        ? [`UKI signatures checked against ${trust.sources.join('; ') || 'nothing'}${trust.required ? ' (required: Secure Boot, lockdown or --cert)' : ''}`]
        : ['UKI signatures not checked: no certificate given and no Secure Boot databases'];
      return { source: 'uki', entries: r.entries, rejected: [...rejected, ...r.rejected], notes };
    },
  };
}

/** What the kernel gets from a UKI entry. */
export interface UkiLoad {
  kernel: Uint8Array;
  /** The initrds concatenated as systemd-stub hands them over (cpio archives may be concatenated). */
  initrd: Uint8Array;
  cmdline: string;
  /** The UKI's `.dtb` (add-on fix-ups are not applied). */
  dtb?: Uint8Array;
}

/**
 * Cuts a UKI entry's kernel, initrd and devicetree out of `files` (the UKI and its add-ons, read
 * once), checking with `trust` those same bytes again first when verification is required: what
 * was verified is what is loaded, even if the files changed since the listing.
 */
export function ukiLoad(entry: BootEntry, files: ReadonlyMap<string, Uint8Array>, trust?: ImageTrust): UkiLoad {
  const u = entry.uki;
  if (!u) throw new ParseError(`${entry.origin}: entry ${entry.id} is not a UKI`, { source: entry.origin });
  const bytesOf = (path: string) => {
    const b = files.get(path);
    if (!b) throw new ParseError(`${path}: not read`, { source: path, hint: 'read the UKI and its add-ons before loading' });
    return b;
  };
  if (trust?.required) {
    for (const path of [entry.kernel, ...u.addons]) {
      const v = trust.verify(bytesOf(path), path);
      if (v.status !== 'verified') throw new KexecError(`${path}: refused: signature ${verdictText(v)}`, { hint: 'Secure Boot, lockdown or --cert requires a verified UKI' });
    }
  }
  const cut = (r: FileRange) => {
    const b = bytesOf(r.file);
    if (r.offset + r.length > b.length) throw new ParseError(`${r.file}: section at ${r.offset} (+${r.length}) lies outside the file (it changed since it was listed)`, { offset: r.offset, source: r.file });
    return b.subarray(r.offset, r.offset + r.length);
  };
  const parts = u.initrds.map(cut);
  const initrd = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (initrd.set(p, at), at + p.length), 0);
  return { kernel: cut(u.linux), initrd, cmdline: entry.cmdline, ...(u.dtbs[0] ? { dtb: cut(u.dtbs[0]) } : {}) };
}

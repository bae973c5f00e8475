// Boot Loader Specification Type #1 entries ($BOOT/loader/entries/*.conf and the ESP's) and
// systemd-boot's choice among them: loader.conf `default` (a glob) and `timeout`, the EFI variables
// LoaderEntryOneShot / LoaderEntryDefault, the sort order of the specification, boot counting
// (+LEFT-DONE in the file name). https://uapi-group.org/specifications/specs/boot_loader_specification/
import { compareVersions } from './version.ts';
import { mountOf, onMount, text, type BootEntry, type BootMachine, type EntrySource, type Rejected, type SourceResult } from './model.ts';

/** One parsed entry file, before its files are checked. */
export interface BlsEntry {
  /** The file name without the boot counter: "fedora-6.1.conf" (sd-boot's entry id). */
  id: string;
  /** The file name as stored ("fedora-6.1+3-0.conf"). */
  fileName: string;
  path: string;
  title?: string;
  version?: string;
  machineId?: string;
  sortKey?: string;
  linux?: string;
  efi?: string;
  initrd: string[];
  options: string[];
  devicetree?: string;
  devicetreeOverlay: string[];
  architecture?: string;
  bootCounting?: { left: number; done: number; bad: boolean };
  /** Keys the specification does not define, with their line. */
  unknown: string[];
}

const SINGLE = { title: 'title', version: 'version', 'machine-id': 'machineId', 'sort-key': 'sortKey', linux: 'linux', efi: 'efi', devicetree: 'devicetree', architecture: 'architecture' } as const;

/** "name+3-1.conf" -> counters; undefined when the name has none. */
export function bootCounter(fileName: string): { id: string; counting?: { left: number; done: number; bad: boolean } } {
  const m = /^(.*)\+(\d+)(?:-(\d+))?(\.conf|\.efi)$/.exec(fileName);
  if (!m) return { id: fileName };
  const left = Number(m[2]);
  return { id: m[1]! + m[4]!, counting: { left, done: Number(m[3] ?? 0), bad: left === 0 } };
}

/** Parses an entry file's text (key, whitespace, value; `#` comment lines). */
export function parseBlsEntry(path: string, body: string): BlsEntry {
  const fileName = path.slice(path.lastIndexOf('/') + 1);
  const { id, counting } = bootCounter(fileName);
  const e: BlsEntry = { id, fileName, path, initrd: [], options: [], devicetreeOverlay: [], unknown: [], ...(counting ? { bootCounting: counting } : {}) };
  body.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const key = m[1]!;
    const value = m[2]!.trim();
    if (key in SINGLE) (e as unknown as Record<string, string>)[SINGLE[key as keyof typeof SINGLE]] = value;
    else if (key === 'initrd') e.initrd.push(...value.split(/\s+/).filter(Boolean));
    else if (key === 'options') e.options.push(value);
    else if (key === 'devicetree-overlay') e.devicetreeOverlay.push(...value.split(/\s+/).filter(Boolean));
    else e.unknown.push(`${key} (line ${n + 1})`);
  });
  return e;
}

/** "" and undefined compare lower than any other string; otherwise strcmp order. */
function alnum(a: string | undefined, b: string | undefined): number {
  if (!a || !b) return Number(!!a) - Number(!!b);
  return a < b ? -1 : a > b ? 1 : 0;
}

export type SortFields = Pick<BlsEntry, 'fileName' | 'sortKey' | 'machineId' | 'version' | 'bootCounting'> & {
  /** A multi-profile UKI's profile number (`fileName` is then the UKI's, without the profile): lower first, as systemd-boot orders them. */
  profile?: number;
};

/** The specification's order (menu order, best first): bad entries last; sort-key, machine-id, version (newest first); then file name, newest first; a UKI's profiles in their order. */
export function compareBls(a: SortFields, b: SortFields): number {
  const bad = Number(!!a.bootCounting?.bad) - Number(!!b.bootCounting?.bad);
  if (bad) return bad;
  if (a.sortKey && b.sortKey) {
    const r = alnum(a.sortKey, b.sortKey) || alnum(a.machineId, b.machineId) || compareVersions(b.version ?? '', a.version ?? '');
    if (r) return r;
  } else if (a.sortKey || b.sortKey) return a.sortKey ? -1 : 1;
  const stem = (e: SortFields) => e.fileName.replace(/\.(conf|efi)$/, '');
  return compareVersions(stem(b), stem(a)) || (a.profile ?? 0) - (b.profile ?? 0);
}

/** fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^` negation and ranges), `\` escapes. */
export function globMatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let set = pattern.slice(i + 1, end);
        if (set[0] === '!' || set[0] === '^') set = '^' + set.slice(1);
        re += '[' + set.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's').test(name);
}

/** loader.conf: `default` and `timeout` (other keys are the menu's, not the choice's). */
export function parseLoaderConf(body: string): { default?: string; timeout?: string } {
  const out: { default?: string; timeout?: string } = {};
  for (const raw of body.split('\n')) {
    const m = /^\s*(default|timeout)\s+(.*?)\s*$/.exec(raw);
    if (m) out[m[1] as 'default' | 'timeout'] = m[2]!;
  }
  return out;
}

/** The directories holding loader/entries: $BOOT (XBOOTLDR or /boot) and the ESP, each once. */
export function blsDirectories(m: BootMachine): string[] {
  const dirs = ['/boot/loader/entries'];
  if (m.esp) dirs.push(onMount(m.esp, '/loader/entries'));
  return [...new Set(dirs)];
}

/** Where a path of an entry lives: relative to the root of the entry file's partition (the spec); on a
 * /boot that is not a partition of its own, relative to the directory above loader/ (as kernel-install writes them). */
function entryFile(m: BootMachine, entryPath: string, p: string): string {
  const base = entryPath.slice(0, entryPath.indexOf('/loader/entries/'));
  const mount = mountOf(m.mounts, entryPath).mountpoint;
  const onPartition = onMount(mount, p);
  if (m.files.isFile(onPartition) || mount === base || base === '') return onPartition;
  return onMount(base, p);
}

/** Reads every entry file of the given directories. */
export function readBlsEntries(m: BootMachine, dirs = blsDirectories(m)): { entries: BlsEntry[]; rejected: Rejected[] } {
  const entries: BlsEntry[] = [];
  const rejected: Rejected[] = [];
  for (const dir of dirs) {
    for (const name of (m.files.list(dir) ?? []).sort()) {
      if (!name.endsWith('.conf')) continue;
      const path = `${dir}/${name}`;
      const bytes = m.files.read(path);
      if (!bytes) {
        rejected.push({ source: 'bls', origin: path, id: name, reason: 'cannot read the entry file' });
        continue;
      }
      entries.push(parseBlsEntry(path, text(bytes)));
    }
  }
  entries.sort(compareBls);
  return { entries, rejected };
}

/** A BLS entry as a boot entry, or the reason it cannot be booted. `expand` rewrites options (GRUB's $kernelopts). */
export function blsToBoot(m: BootMachine, e: BlsEntry, source: 'bls' | 'grub', expand: (s: string) => string = (s) => s): BootEntry | Rejected {
  const reject = (reason: string): Rejected => ({ source, origin: e.path, id: e.id, ...(e.title ? { title: e.title } : {}), reason });
  if (e.architecture && e.architecture.toLowerCase() !== m.arch.toLowerCase()) return reject(`architecture ${e.architecture}: this machine is ${m.arch}`);
  if (!e.linux) return reject(e.efi ? `efi ${e.efi}: an EFI program, not a Linux kernel with initrds (kexec-ts boots linux entries and UKIs)` : 'no linux key (the specification requires linux or efi)');
  const file = (p: string) => entryFile(m, e.path, p);
  const kernel = file(e.linux);
  const initrds = e.initrd.map(file);
  const devicetree = e.devicetree ? file(e.devicetree) : undefined;
  const overlays = e.devicetreeOverlay.map(file);
  for (const [what, p] of [['linux', kernel], ...initrds.map((x) => ['initrd', x]), ...(devicetree ? [['devicetree', devicetree]] : []), ...overlays.map((x) => ['devicetree-overlay', x])] as [string, string][]) {
    if (!m.files.isFile(p)) return reject(`${what} ${p}: file missing`);
  }
  return {
    id: e.id,
    title: e.title ?? e.id.replace(/\.conf$/, ''),
    source,
    origin: e.path,
    kernel,
    initrds,
    cmdline: expand(e.options.join(' ')).trim(),
    ...(devicetree ? { devicetree } : {}),
    ...(overlays.length ? { devicetreeOverlays: overlays } : {}),
    ...(e.architecture ? { architecture: e.architecture } : {}),
    ...(e.version ? { version: e.version } : {}),
    ...(e.machineId ? { machineId: e.machineId } : {}),
    ...(e.sortKey ? { sortKey: e.sortKey } : {}),
    ...(e.bootCounting ? { bootCounting: e.bootCounting } : {}),
    isDefault: false,
  };
}

export const isRejected = (x: BootEntry | Rejected): x is Rejected => 'reason' in x;

/** The names systemd-boot knows an entry by, lower-cased as it compares them: the id, and the file name with its boot counter. */
function namesOf(e: BootEntry): string[] {
  return [e.id, e.origin.slice(e.origin.lastIndexOf('/') + 1)].map((n) => n.toLowerCase());
}

/** An EFI variable's value matched against entry names as systemd-boot matches them (exactly, ignoring case). */
function byId(entries: BootEntry[], id: string): number {
  return entries.findIndex((e) => namesOf(e).includes(id.toLowerCase()));
}

/** systemd-boot's default: LoaderEntryOneShot, LoaderEntryDefault, loader.conf `default` glob (first match in menu order), else the first entry that is not "bad". */
export function sdBootChoice(m: BootMachine, entries: BootEntry[], conf: { default?: string }, notes: string[]): SourceResult['choice'] {
  const vars = m.efiVariables;
  for (const name of ['LoaderEntryOneShot', 'LoaderEntryDefault'] as const) {
    const id = vars[name];
    if (id === undefined || id === '') continue;
    const i = byId(entries, id);
    if (i >= 0) return { index: i, reason: `EFI variable ${name}=${id}${name === 'LoaderEntryOneShot' ? ' (this boot only)' : ''}` };
    notes.push(`EFI variable ${name}=${id} names no bootable entry: ignored, as systemd-boot does`);
  }
  let pattern = conf.default;
  if (pattern === '@saved') {
    pattern = vars.LoaderEntryLastBooted;
    if (!pattern) notes.push('loader.conf default @saved, but no LoaderEntryLastBooted EFI variable');
  }
  if (pattern) {
    const i = entries.findIndex((e) => namesOf(e).some((n) => globMatch(pattern!.toLowerCase(), n)));
    if (i >= 0) return { index: i, reason: `loader.conf default ${conf.default}${conf.default === '@saved' ? ` (LoaderEntryLastBooted=${pattern})` : ''} matches it first in menu order` };
    notes.push(`loader.conf default ${conf.default} matches no bootable entry: the first entry is used`);
  }
  const i = entries.findIndex((e) => !e.bootCounting?.bad);
  if (i >= 0) return { index: i, reason: 'first entry in the Boot Loader Specification order (newest version first)' };
  if (entries.length) return { index: 0, reason: 'every entry is marked bad (boot counting): the first is used' };
  return { index: -1, reason: 'no bootable entry' };
}

/** BLS Type #1 read the way systemd-boot reads it. */
export const blsSource: EntrySource = {
  name: 'bls',
  present: (m) => blsDirectories(m).some((d) => (m.files.list(d) ?? []).some((n) => n.endsWith('.conf'))),
  discover(m) {
    const { entries: parsed, rejected } = readBlsEntries(m);
    const entries: BootEntry[] = [];
    const notes: string[] = [];
    for (const e of parsed) {
      const b = blsToBoot(m, e, 'bls');
      if (isRejected(b)) rejected.push(b);
      else entries.push(b);
      if (e.unknown.length) notes.push(`${e.path}: keys the specification does not define, ignored: ${e.unknown.join(', ')}`);
    }
    const confPath = m.esp ? onMount(m.esp, '/loader/loader.conf') : undefined;
    const confBytes = (confPath && m.files.read(confPath)) || m.files.read('/boot/loader/loader.conf');
    const conf = confBytes ? parseLoaderConf(text(confBytes)) : {};
    const choice = sdBootChoice(m, entries, conf, notes);
    return { source: 'bls', entries, rejected, notes, ...(choice ? { choice } : {}), ...(conf.timeout !== undefined ? { timeout: conf.timeout } : {}) };
  },
};

// Discovery and the default: every source's entries and rejections, which boot loader is installed
// (its choice is the default), and sd-boot's merged menu of Type #1 entries and UKIs.
import { blsSource, compareBls, parseLoaderConf, sdBootChoice, type SortFields } from './bls.ts';
import { debianLinksSource } from './debian-links.ts';
import { grubSource, grubConfigPath } from './grub.ts';
import { loaderVariablePath } from './efivars.ts';
import { onMount, text, type BootEntry, type BootMachine, type BootOnce, type EntrySource, type Rejected, type SourceName, type SourceResult } from './model.ts';

export type LoaderName = 'grub' | 'systemd-boot' | 'debian-links' | 'none';

export interface BootList {
  /** The boot loader whose choice is the default, and how it was recognised. */
  loader: { name: LoaderName; reason: string };
  /** Every bootable entry: the loader's own first, in its menu order, then the other sources'. */
  entries: BootEntry[];
  rejected: Rejected[];
  notes: string[];
  default?: BootEntry;
  /** Why that entry (or, without one, why none). */
  defaultReason: string;
  timeout?: string;
  sources: SourceName[];
  /** What the installed boot loader changes as it boots (a one-shot it consumes): a kexec boot does the same. */
  once?: BootOnce;
}

/** The sources in the order they are listed; UKIs (uki.ts) are passed in by the caller beside these. */
export const BUILTIN_SOURCES: readonly EntrySource[] = [grubSource, blsSource, debianLinksSource];

function installedLoader(m: BootMachine, present: Set<SourceName>): BootList['loader'] {
  const info = m.efiVariables.LoaderInfo;
  if (info?.startsWith('systemd-boot')) return { name: 'systemd-boot', reason: `EFI variable LoaderInfo=${info} (the loader that booted this machine)` };
  if (info?.startsWith('GRUB') && present.has('grub')) return { name: 'grub', reason: `EFI variable LoaderInfo=${info} (the loader that booted this machine)` };
  if (present.has('grub')) return { name: 'grub', reason: `${grubConfigPath(m)} exists` };
  const sdBoot = m.esp && (m.files.list(onMount(m.esp, '/EFI/systemd')) ?? []).some((n) => /^systemd-boot.*\.efi$/i.test(n));
  if (sdBoot) return { name: 'systemd-boot', reason: `${onMount(m.esp!, '/EFI/systemd')} holds systemd-boot` };
  if (present.has('bls') || present.has('uki')) return { name: 'systemd-boot', reason: 'Boot Loader Specification entries and no grub.cfg: chosen as systemd-boot would' };
  if (present.has('debian-links')) return { name: 'debian-links', reason: 'no boot loader configuration; Debian\'s /vmlinuz link' };
  return { name: 'none', reason: 'no grub.cfg, no loader entries, no UKI, no /vmlinuz' };
}

/** Reads loader.conf from the ESP (else $BOOT). */
function loaderConf(m: BootMachine): { default?: string; timeout?: string } {
  const bytes = (m.esp && m.files.read(onMount(m.esp, '/loader/loader.conf'))) || m.files.read('/boot/loader/loader.conf');
  return bytes ? parseLoaderConf(text(bytes)) : {};
}

/** Finds every entry and the one the installed boot loader would boot. `extra`: more sources (UKIs). */
export function discoverBoot(m: BootMachine, extra: readonly EntrySource[] = []): BootList {
  const sources = [...BUILTIN_SOURCES.slice(0, 2), ...extra, ...BUILTIN_SOURCES.slice(2)];
  const present = sources.filter((s) => s.present(m));
  const loader = installedLoader(m, new Set(present.map((s) => s.name)));
  const results = new Map<SourceName, SourceResult>(present.map((s) => [s.name, s.discover(m)]));
  const notes: string[] = [];
  let chosen: { entry?: BootEntry; reason: string } = { reason: loader.reason };
  let timeout: string | undefined;
  let once: BootOnce | undefined;
  let first: SourceName[] = [];
  let lead: BootEntry[] = [];
  if (loader.name === 'grub') {
    const g = results.get('grub')!;
    first = ['grub'];
    lead = g.entries;
    timeout = g.timeout;
    once = g.once;
    chosen = pick(g);
    // GRUB's blscfg already listed the BLS entries: do not list them twice.
    if ([...g.entries, ...g.rejected].some((e) => e.origin.includes('(blscfg at'))) results.delete('bls');
  } else if (loader.name === 'systemd-boot') {
    // sd-boot shows Type #1 entries and UKIs in one menu, sorted by the specification's rules.
    first = ['bls', 'uki'];
    lead = [...(results.get('bls')?.entries ?? []), ...(results.get('uki')?.entries ?? [])].sort((a, b) => compareBls(sortFields(a), sortFields(b)));
    const conf = loaderConf(m);
    timeout = conf.timeout;
    const c = sdBootChoice(m, lead, conf, notes);
    const oneShot = m.efiVariables.LoaderEntryOneShot;
    if (oneShot !== undefined) {
      once = { kind: 'efi-variable', path: loaderVariablePath('LoaderEntryOneShot'), name: 'LoaderEntryOneShot', what: `EFI variable LoaderEntryOneShot=${oneShot} removed (systemd-boot removes it as it boots: the one-shot of bootctl set-oneshot consumed)` };
    }
    chosen = c && c.index >= 0 ? { entry: lead[c.index]!, reason: c.reason } : { reason: c?.reason ?? 'no entry' };
    // The bls source's own choice notes would repeat the merged menu's.
    const bls = results.get('bls');
    if (bls) bls.notes = bls.notes.filter((n) => !n.startsWith('EFI variable') && !n.startsWith('loader.conf'));
  } else if (loader.name === 'debian-links') {
    first = ['debian-links'];
    lead = results.get('debian-links')!.entries;
    chosen = pick(results.get('debian-links')!);
  }
  const order = [...first, ...sources.map((s) => s.name).filter((n) => !first.includes(n))];
  const entries: BootEntry[] = [...lead];
  const rejected: Rejected[] = [];
  for (const name of order) {
    const r = results.get(name);
    if (!r) continue;
    if (!first.includes(name)) entries.push(...r.entries);
    rejected.push(...r.rejected);
    notes.push(...r.notes);
  }
  if (chosen.entry) {
    chosen.entry.isDefault = true;
    chosen.entry.defaultReason = chosen.reason;
  }
  return {
    loader,
    entries,
    rejected,
    notes,
    ...(chosen.entry ? { default: chosen.entry } : {}),
    defaultReason: chosen.reason,
    ...(timeout !== undefined ? { timeout } : {}),
    sources: order.filter((n) => results.has(n)),
    ...(once ? { once } : {}),
  };
}

function pick(r: SourceResult): { entry?: BootEntry; reason: string } {
  const c = r.choice;
  if (!c) return { reason: 'no entry' };
  return c.index >= 0 ? { entry: r.entries[c.index]!, reason: c.reason } : { reason: c.reason };
}

/** A boot entry's fields in the shape the BLS order compares (the id without .conf/.efi is the file name). */
function sortFields(e: BootEntry): SortFields {
  return {
    fileName: e.uki?.profile ? e.uki.idWithoutProfile : e.id,
    ...(e.uki?.profile ? { profile: e.uki.profile.index } : {}),
    ...(e.sortKey ? { sortKey: e.sortKey } : {}),
    ...(e.machineId ? { machineId: e.machineId } : {}),
    ...(e.version ? { version: e.version } : {}),
    ...(e.bootCounting ? { bootCounting: e.bootCounting } : {}),
  };
}

// `kexec-ts boot [ENTRY]` / `kexec-ts reboot [ENTRY]`: which discovered entry to boot (the default, or
// ENTRY by id, title or GRUB "Submenu>Title" path), and what its load is: kernel, initrds (concatenated
// in order, as GRUB and systemd-boot hand them over), command line, devicetree, the syscall and why,
// the boot counter to decrement. Pure: the host reads the files and loads (src/host/boot-load.ts).
import { KexecError, UsageError } from '../errors.ts';
import { JSON_SCHEMA } from '../json-schema.ts';
import type { SyscallChoice } from '../kexec/load.ts';
import { counterRename, type CounterRename } from './boot-count.ts';
import type { BootList } from './discover.ts';
import type { BootEntry, Rejected } from './model.ts';
import { verdictText } from './uki.ts';

/** The names an entry answers to: id (with and without .conf/.efi), the file name with its counter, title, GRUB's Submenu>Title. */
export function entryNames(e: { id?: string; title?: string; submenu?: string[]; origin: string }): string[] {
  const names = new Set<string>();
  if (e.id) names.add(e.id).add(e.id.replace(/\.(conf|efi)$/i, ''));
  const file = e.origin.slice(e.origin.lastIndexOf('/') + 1);
  if (/\.(conf|efi)$/i.test(file)) names.add(file);
  if (e.title) {
    names.add(e.title);
    // GRUB entries in submenus are titled "Sub > Title": GRUB_DEFAULT and grub-reboot name them "Sub>Title".
    const prefix = e.submenu?.length ? e.submenu.join(' > ') + ' > ' : '';
    if (prefix && e.title.startsWith(prefix)) {
      const own = e.title.slice(prefix.length);
      names.add([...e.submenu!, own].join('>')).add(own);
    }
  }
  return [...names];
}

/** Edit distance (insert, delete, replace). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Up to three names of `entries` close to `name` (shared substring, or few edits), closest first. */
export function closeNames(name: string, entries: readonly BootEntry[]): string[] {
  const q = name.toLowerCase();
  const scored: [string, number][] = [];
  for (const e of entries) {
    let best: [string, number] | undefined;
    for (const n of entryNames(e)) {
      const l = n.toLowerCase();
      const d = l.includes(q) || q.includes(l) ? 0 : distance(q, l);
      if (!best || d < best[1]) best = [n, d];
    }
    if (best && best[1] <= Math.max(2, Math.floor(q.length / 3))) scored.push(best);
  }
  return [...new Set(scored.sort((a, b) => a[1] - b[1]).map((s) => s[0]))].slice(0, 3);
}

const matches = (names: string[], name: string) => names.includes(name) || names.some((n) => n.toLowerCase() === name.toLowerCase());

/**
 * The entry to boot: `name` (exact, then ignoring case; the first in menu order when several share a
 * title, as GRUB picks), else the default. A name that is a rejected candidate is a KexecError with
 * the reason; an unknown name a UsageError listing close matches.
 */
export function chooseEntry(list: BootList, name: string | undefined): { entry: BootEntry; why: string } {
  if (name === undefined) {
    if (!list.default) throw new KexecError(`no default boot entry: ${list.defaultReason}`, { hint: "name one (kexec-ts boot --list shows them), or fix the boot loader's configuration" });
    return { entry: list.default, why: `the default: ${list.default.defaultReason ?? list.defaultReason}` };
  }
  const exact = list.entries.find((e) => entryNames(e).includes(name)) ?? list.entries.find((e) => matches(entryNames(e), name));
  if (exact) return { entry: exact, why: `named on the command line (${name})` };
  const rejected: Rejected | undefined = list.rejected.find((r) => matches(entryNames(r), name));
  if (rejected) throw new KexecError(`boot entry ${name} cannot be booted: ${rejected.reason} (${rejected.origin})`, { hint: 'kexec-ts boot --list shows why each candidate is rejected' });
  const close = closeNames(name, list.entries);
  const known = close.length ? `close: ${close.map((c) => `'${c}'`).join(', ')}` : list.entries.length ? `entries: ${list.entries.slice(0, 3).map((e) => `'${e.id}'`).join(', ')}${list.entries.length > 3 ? ', …' : ''}` : 'no bootable entry was found';
  throw new UsageError(`no boot entry '${name}' (${known}); kexec-ts boot --list shows every entry`);
}

export interface BootLoadOptions {
  /** --command-line: replaces the entry's. */
  commandLine?: string;
  /** --append: added to it. */
  append?: string;
  /** -s/-c/-a as given; undefined: chosen from the machine's verification state. */
  syscall?: SyscallChoice;
  /** The running kernel's lockdown mode and the SecureBoot variable (src/host/secure-boot.ts). */
  verify: { secureBoot?: boolean | undefined; lockdown?: string | undefined };
  /** BootMachine.arch: "x64", "aa64". */
  arch: string;
  /** Why this entry (chooseEntry). */
  why: string;
  /** The running kernel's /proc/cmdline: the command line of an entry that has none (Debian's /vmlinuz links), as Debian's kexec-load reuses it. */
  currentCmdline?: string;
}

/** What booting an entry loads, and how. Paths are the machine's. */
export interface BootLoadSpec {
  entry: BootEntry;
  why: string;
  /** The kernel file (a UKI: the UKI, its .linux is cut out after the whole image is verified). */
  kernel: string;
  /** The initrd files, concatenated in this order into the one initrd the kernel gets. */
  initrds: string[];
  cmdline: string;
  cmdlineFrom: string;
  /** Passed as --dtb (arm64 only). */
  devicetree?: string;
  syscall: SyscallChoice;
  syscallReason: string;
  counter?: CounterRename;
  notes: string[];
}

const SYSCALL_FLAG = { file: '-s', load: '-c', auto: '-a' } as const;

/** The syscall: as given, else kexec_file_load where the kernel verifies images (lockdown, Secure Boot), else kexec_load. */
export function chooseSyscall(given: SyscallChoice | undefined, verify: BootLoadOptions['verify']): { syscall: SyscallChoice; reason: string } {
  if (given) return { syscall: given, reason: `${SYSCALL_FLAG[given]} given` };
  if (verify.lockdown && verify.lockdown !== 'none') {
    return { syscall: 'file', reason: `the kernel is locked down (lockdown=${verify.lockdown}): it refuses kexec_load and loads only a kernel it verifies, through kexec_file_load` };
  }
  if (verify.secureBoot) return { syscall: 'file', reason: 'Secure Boot is on: kexec_file_load, so the kernel verifies the image it boots' };
  return { syscall: 'load', reason: `no lockdown and ${verify.secureBoot === false ? 'Secure Boot off' : 'no Secure Boot'}: kexec_load, with kexec-ts' own loaders and purgatory` };
}

export function bootLoadSpec(entry: BootEntry, o: BootLoadOptions): BootLoadSpec {
  const notes: string[] = [];
  let cmdline = entry.cmdline;
  let cmdlineFrom = entry.uki ? "the UKI's .cmdline (and add-ons')" : 'the entry';
  if (!cmdline && entry.source === 'debian-links' && o.currentCmdline !== undefined && o.commandLine === undefined) {
    cmdline = o.currentCmdline.split(/\s+/).filter((w) => w && !w.startsWith('BOOT_IMAGE=')).join(' ');
    cmdlineFrom = "this kernel's /proc/cmdline (Debian's links carry none; Debian's kexec-load reuses it too)";
  }
  if (o.commandLine !== undefined) [cmdline, cmdlineFrom] = [o.commandLine, '--command-line'];
  if (o.append !== undefined) [cmdline, cmdlineFrom] = [[cmdline, o.append].filter(Boolean).join(' '), `${cmdlineFrom} + --append`];
  const { syscall, reason } = chooseSyscall(o.syscall, o.verify);
  const arm64 = o.arch === 'aa64';
  const dt = entry.devicetree;
  if (dt && !arm64) notes.push(`devicetree ${dt} not passed: only arm64 kernels take one (--dtb)`);
  if (entry.devicetreeOverlays?.length) notes.push(`devicetree-overlay ${entry.devicetreeOverlays.join(' ')}: not applied (kexec-ts passes the devicetree as it is)`);
  if (dt && arm64 && syscall === 'file') notes.push("kexec_file_load on arm64 gives the new kernel the running kernel's device tree, not the entry's");
  if (entry.uki) {
    notes.push(`UKI: the whole image is verified (${verdictText(entry.uki.signature)}), then .linux, the initrds (${entry.uki.initrds.length} sections) and .cmdline are cut from those same bytes`);
    if (entry.uki.dtbs.length > 1) notes.push('UKI: add-on .dtb fix-ups are not applied');
  }
  if (!entry.uki && entry.initrds.length > 1) notes.push(`${entry.initrds.length} initrds concatenated in order into one (as GRUB and systemd-boot pass them)`);
  if (!cmdline) notes.push('the command line is empty: give --command-line or --append');
  const counter = counterRename(entry);
  return {
    entry,
    why: o.why,
    kernel: entry.kernel,
    initrds: entry.initrds,
    cmdline,
    cmdlineFrom,
    ...(dt && arm64 ? { devicetree: dt } : {}),
    syscall,
    syscallReason: reason,
    ...(counter ? { counter } : {}),
    notes,
  };
}

/** The syscall a --dry-run plans for (as planKernelLoad): kexec_file_load for -s, else kexec_load. */
const planned = (c: SyscallChoice) => (c === 'file' ? 'kexec_file_load' : c === 'load' ? 'kexec_load' : 'kexec_file_load, falling back to kexec_load');

/** `then`: what follows the load ("systemctl kexec", "reboot(LINUX_REBOOT_CMD_KEXEC) now", …). */
export function bootLoadText(s: BootLoadSpec, then: string): string {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`${k.padEnd(10)}${v}`);
  row('entry', `${s.entry.title} (${s.entry.id}) from ${s.entry.source} ${s.entry.origin}`);
  row('why', s.why);
  if (s.entry.uki) {
    row('uki', s.kernel);
    row('kernel', `.linux (${s.entry.uki.linux.length} bytes)`);
    for (const r of s.entry.uki.initrds) row('initrd', `${r.file === s.kernel ? 'section' : r.file} at ${r.offset} (${r.length} bytes)`);
  } else {
    row('kernel', s.kernel);
    for (const i of s.initrds) row('initrd', i);
  }
  if (s.devicetree) row('dtb', s.devicetree);
  row('cmdline', `${s.cmdline || '(empty)'}   [${s.cmdlineFrom}]`);
  row('syscall', `${planned(s.syscall)}: ${s.syscallReason}`);
  if (s.counter) row('counter', `${s.counter.from} -> ${s.counter.to.slice(s.counter.to.lastIndexOf('/') + 1)} (${s.counter.what}); blessed by kexec-ts-bless-boot.service after boot-complete.target`);
  row('then', then);
  for (const n of s.notes) row('note', n);
  return out.join('\n') + '\n';
}

export function bootLoadJson(s: BootLoadSpec, then: string, plan: unknown): object {
  return {
    schema: JSON_SCHEMA,
    entry: { id: s.entry.id, title: s.entry.title, source: s.entry.source, origin: s.entry.origin, why: s.why },
    kernel: s.kernel,
    initrds: s.entry.uki ? s.entry.uki.initrds : s.initrds,
    ...(s.devicetree ? { devicetree: s.devicetree } : {}),
    cmdline: s.cmdline,
    cmdlineFrom: s.cmdlineFrom,
    syscall: { choice: s.syscall, planned: planned(s.syscall), reason: s.syscallReason },
    ...(s.counter ? { bootCounting: s.counter } : {}),
    then,
    notes: s.notes,
    plan,
  };
}

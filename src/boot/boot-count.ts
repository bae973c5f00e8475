// Boot counting for kexec boots (Boot Loader Specification "Boot counting", systemd's "Automatic Boot
// Assessment"): an entry file named NAME+LEFT-DONE.conf (or a UKI NAME+LEFT-DONE.efi) is renamed to
// NAME+(LEFT-1)-(DONE+1) before it is booted, exactly as systemd-boot does on a firmware boot (LEFT
// never below 0; LEFT=0 is "bad" and sorts last), and renamed to NAME.conf once the boot reached
// boot-complete.target. systemd-bless-boot cannot bless a kexec boot (LoaderBootCountPath still names
// the firmware boot's file, systemd issue #43738), so the load records the renamed file with the
// boot_id of the boot that did the kexec, and `kexec-ts boot --bless` in the next boot blesses it.
// Pure: names and decisions; the renames and the state file are src/host/boot-count.ts's.
import { bootCounter } from './bls.ts';
import type { BootEntry } from './model.ts';

const COUNTED = /^(.*)\+(\d+)(?:-(\d+))?(\.conf|\.efi)$/;

/** The name systemd-boot gives the file when it boots it: +LEFT-DONE -> +(LEFT-1)-(DONE+1), LEFT never below 0. */
export function countedName(fileName: string): string | undefined {
  const m = COUNTED.exec(fileName);
  if (!m) return undefined;
  const left = Number(m[2]);
  const done = Number(m[3] ?? 0);
  return `${m[1]}+${Math.max(left - 1, 0)}-${done + 1}${m[4]}`;
}

/** The name once the boot is good: the counter dropped (systemd-bless-boot's "good"). */
export function blessedName(fileName: string): string | undefined {
  const m = COUNTED.exec(fileName);
  return m ? `${m[1]}${m[4]}` : undefined;
}

/** A rename on the machine (absolute machine paths). */
export interface CounterRename {
  from: string;
  to: string;
  /** The counters before and after ("3 left, 0 done -> 2 left, 1 done"). */
  what: string;
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/') + 1);
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/**
 * The file whose counter a boot of `entry` decrements, and its new name: the BLS entry file (.conf)
 * or the UKI (.efi); undefined when the entry has no counter or is not one systemd-boot counts
 * (GRUB's blscfg entries are GRUB's: GRUB does not count).
 */
export function counterRename(entry: BootEntry): CounterRename | undefined {
  if (!entry.bootCounting) return undefined;
  const file = entry.source === 'bls' ? entry.origin : entry.source === 'uki' ? entry.kernel : undefined;
  if (!file) return undefined;
  const to = countedName(baseOf(file));
  if (!to) return undefined;
  const after = bootCounter(to).counting!;
  const { left, done } = entry.bootCounting;
  return { from: file, to: dirOf(file) + to, what: `${left} left, ${done} done -> ${after.left} left, ${after.done} done${after.bad ? ' (bad if this boot fails)' : ''}` };
}

/** What the load leaves for `kexec-ts boot --bless` in the next boot (/var/lib/kexec-ts/boot-count.json). */
export interface BootCountState {
  /** The entry file as renamed for this boot (machine path). */
  path: string;
  /** Its name once blessed (machine path). */
  blessed: string;
  /** Its name before this count (machine path): restored when another load in the same boot replaces this one. */
  from?: string;
  entry: string;
  /** /proc/sys/kernel/random/boot_id of the boot that did the kexec. */
  bootId: string;
  /**
   * The firmware boot the kexec came from: the boot loader interface's LoaderTimeExecUSec EFI
   * variable (volatile: kept across kexec, new on every firmware boot), when there is one.
   */
  firmwareBoot?: string;
  /** When the entry was renamed (ISO time). */
  time: string;
}

export type BlessDecision = { action: 'bless'; from: string; to: string; reason: string } | { action: 'keep' | 'discard'; reason: string };

/**
 * Whether this boot blesses the recorded entry: only a boot that came by kexec from the boot that
 * wrote the state (another boot_id, and no firmware boot in between) — the boot that did the kexec
 * keeps the file for the next boot; a state file older than a firmware boot is discarded (the
 * kexec boot never reached boot-complete, its counter stays as the specification wants).
 */
export function blessDecision(state: BootCountState, current: { bootId: string; firmwareBoot?: string }): BlessDecision {
  if (state.bootId === current.bootId) return { action: 'keep', reason: `written by this boot (${state.bootId}) before its kexec: the kexec boot blesses it` };
  if (state.firmwareBoot !== undefined && current.firmwareBoot !== state.firmwareBoot) {
    return { action: 'discard', reason: `a firmware boot came after the kexec of boot ${state.bootId} (LoaderTimeExecUSec changed): that kexec boot did not reach boot-complete, its counter stays` };
  }
  return { action: 'bless', from: state.path, to: state.blessed, reason: `this boot came by kexec from boot ${state.bootId} and reached boot-complete.target` };
}

/** Parses the state file; undefined when it is not one (damaged files are reported by the caller). */
export function parseBootCountState(text: string): BootCountState | undefined {
  try {
    const j = JSON.parse(text) as Partial<BootCountState>;
    if (typeof j.path !== 'string' || typeof j.blessed !== 'string' || typeof j.bootId !== 'string' || !j.path.startsWith('/') || !j.blessed.startsWith('/')) return undefined;
    return {
      path: j.path,
      blessed: j.blessed,
      ...(typeof j.from === 'string' && j.from.startsWith('/') ? { from: j.from } : {}),
      entry: String(j.entry ?? ''),
      bootId: j.bootId,
      ...(typeof j.firmwareBoot === 'string' ? { firmwareBoot: j.firmwareBoot } : {}),
      time: String(j.time ?? ''),
    };
  } catch {
    return undefined;
  }
}

// `vmcore-ts collect import DIR`: which crash directories a /var/crash tree holds, from a listing
// alone. Three layouts:
//   kdump-tools (Debian, Ubuntu): YYYYMMDDHHMM/{dump.YYYYMMDDHHMM, dmesg.YYYYMMDDHHMM}
//   kdumpctl (Fedora, RHEL):      ADDRESS-YYYY-MM-DD-HH:MM:SS/{vmcore, vmcore-dmesg.txt}
//   ours (save --to DIR):         NAME.manifest.json + NAME.part-NNNNN
// Pure: the caller lists directories and reads files.
import { MANIFEST_SUFFIX } from '../dump/chunked.ts';

export type CrashLayout = 'kdump-tools' | 'kdumpctl' | 'chunked';

export interface FoundCrash {
  layout: CrashLayout;
  /** The crash's directory, relative to the imported one ('' for itself). */
  dir: string;
  /** The dump file (kdump-tools, kdumpctl) or the manifest (chunked), in `dir`. */
  dump: string;
  /** The kernel log saved beside it, when there is one. */
  dmesg?: string;
  /** When, from the directory's name (ISO 8601, UTC as the name does not say); else undefined. */
  time?: string;
  /** The host, when the layout names it (kdumpctl: the address the dump was sent from). */
  host?: string;
}

const iso = (y: string, mo: string, d: string, h: string, mi: string, s = '00') => {
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
};

/** The crashes in one directory, given its file names. */
export function crashesIn(dir: string, files: readonly string[]): FoundCrash[] {
  const base = dir.split('/').pop() ?? '';
  const out: FoundCrash[] = [];
  const has = new Set(files);
  // kdump-tools: dump.STAMP (and dmesg.STAMP), STAMP = YYYYMMDDHHMM, usually also the directory's name.
  for (const f of files) {
    const m = /^dump\.(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(f);
    if (!m) continue;
    const stamp = f.slice('dump.'.length);
    out.push({ layout: 'kdump-tools', dir, dump: f, ...(has.has(`dmesg.${stamp}`) ? { dmesg: `dmesg.${stamp}` } : {}), time: iso(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!) });
  }
  // kdumpctl: vmcore (vmcore.flat when sent over ssh) and vmcore-dmesg.txt; the directory is ADDRESS-DATE-TIME.
  for (const f of ['vmcore', 'vmcore.flat']) {
    if (!has.has(f)) continue;
    const m = /^(.+)-(\d{4})-(\d{2})-(\d{2})-(\d{2}):(\d{2}):(\d{2})$/.exec(base);
    out.push({
      layout: 'kdumpctl',
      dir,
      dump: f,
      ...(has.has('vmcore-dmesg.txt') ? { dmesg: 'vmcore-dmesg.txt' } : {}),
      ...(m ? { host: m[1]!, time: iso(m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7]!) } : {}),
    });
  }
  // ours: every manifest (the chunks it names are checked when it is read).
  for (const f of files) if (f.endsWith(MANIFEST_SUFFIX)) out.push({ layout: 'chunked', dir, dump: f });
  return out;
}

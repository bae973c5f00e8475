// Debian's kernel links, maintained by linux-update-symlinks (kernel postinst): /vmlinuz and
// /initrd.img for the newest kernel, /vmlinuz.old and /initrd.img.old for the one before; in /boot
// instead of / when /etc/kernel-img.conf says link_in_boot = yes. The last source: no menu, no
// command line (the booting side gives one).
import type { BootEntry, BootMachine, EntrySource, Rejected, SourceResult } from './model.ts';

const DIRS = ['/', '/boot/'];

/** A link's target as a machine path (relative targets are relative to the link's directory). */
function target(m: BootMachine, link: string): string | undefined {
  const t = m.files.readlink(link);
  if (t === undefined) return m.files.isFile(link) ? link : undefined;
  const dir = link.slice(0, link.lastIndexOf('/') + 1);
  const abs = t.startsWith('/') ? t : dir + t;
  const parts: string[] = [];
  for (const seg of abs.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

const exists = (m: BootMachine, p: string) => m.files.readlink(p) !== undefined || m.files.isFile(p);

export const debianLinksSource: EntrySource = {
  name: 'debian-links',
  present: (m) => DIRS.some((d) => exists(m, `${d}vmlinuz`)),
  discover(m): SourceResult {
    const entries: BootEntry[] = [];
    const rejected: Rejected[] = [];
    const dir = DIRS.find((d) => exists(m, `${d}vmlinuz`))!;
    for (const suffix of ['', '.old']) {
      const link = `${dir}vmlinuz${suffix}`;
      if (!exists(m, link)) continue;
      const id = `vmlinuz${suffix}`;
      const kernel = target(m, link);
      const reject = (reason: string) => rejected.push({ source: 'debian-links', origin: link, id, title: link, reason });
      if (!kernel || !m.files.isFile(kernel)) {
        reject(`${link} -> ${kernel ?? m.files.readlink(link)}: file missing`);
        continue;
      }
      if (suffix && entries[0]?.kernel === kernel) {
        reject(`${link} is the same kernel as ${dir}vmlinuz (${kernel})`);
        continue;
      }
      const initrdLink = `${dir}initrd.img${suffix}`;
      const initrd = exists(m, initrdLink) ? target(m, initrdLink) : undefined;
      if (initrd !== undefined && !m.files.isFile(initrd)) {
        reject(`${initrdLink} -> ${initrd}: file missing`);
        continue;
      }
      const version = /vmlinu[xz]-(.+)$/.exec(kernel)?.[1];
      entries.push({
        id,
        title: `${link}${version ? ` (${version})` : ''}`,
        source: 'debian-links',
        origin: link,
        kernel,
        initrds: initrd ? [initrd] : [],
        cmdline: '',
        ...(version ? { version } : {}),
        isDefault: false,
      });
    }
    return {
      source: 'debian-links',
      entries,
      rejected,
      notes: entries.length ? [`${dir}vmlinuz links carry no command line: the booting side gives one`] : [],
      ...(entries.length ? { choice: { index: 0, reason: `${dir}vmlinuz: the newest installed kernel (Debian's link)` } } : {}),
    };
  },
};

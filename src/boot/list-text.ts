// `kexec-ts boot --list`: the discovery as text (every entry, the default marked with why, every
// rejected candidate with its reason, the notes) or as one JSON document.
import { JSON_SCHEMA } from '../json-schema.ts';
import type { BootList } from './discover.ts';
import type { BootEntry } from './model.ts';
import { verdictText } from './uki.ts';

const LOADER_NAMES = { grub: 'GRUB', 'systemd-boot': 'systemd-boot', 'debian-links': "Debian's /vmlinuz links", none: 'none found' } as const;

function entryLines(e: BootEntry, n: number): string[] {
  const out = [`${e.isDefault ? '*' : ' '} ${String(n).padStart(2)}  ${e.title}`];
  const row = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') out.push(`      ${k.padEnd(10)}${v}`);
  };
  row('id', e.id);
  row('from', `${e.source} ${e.origin}`);
  row('kernel', e.kernel);
  for (const i of e.initrds) row('initrd', i);
  row('cmdline', e.cmdline || '(none)');
  row('devicetree', e.devicetree);
  for (const o of e.devicetreeOverlays ?? []) row('overlay', o);
  row('arch', e.architecture);
  row('version', e.version);
  if (e.uki) {
    row('profile', e.uki.profile && `@${e.uki.profile.index}${e.uki.profile.id ? ` (${e.uki.profile.id})` : ''}`);
    row('sections', [`.linux ${e.uki.linux.length} bytes`, ...e.uki.initrds.map((r) => `initrd ${r.length} bytes`), ...e.uki.dtbs.map((r) => `dtb ${r.length} bytes`)].join(', '));
    for (const a of e.uki.addons) row('add-on', a);
    row('signature', verdictText(e.uki.signature));
  }
  if (e.bootCounting) row('tries', `${e.bootCounting.left} left, ${e.bootCounting.done} done${e.bootCounting.bad ? ' (bad)' : ''}`);
  if (e.isDefault) row('default', e.defaultReason);
  return out;
}

export function bootListText(l: BootList): string {
  const lines = [`boot loader: ${LOADER_NAMES[l.loader.name]} (${l.loader.reason})`];
  lines.push(l.default ? `default: ${l.default.title} (${l.default.id})` : `default: none — ${l.defaultReason}`);
  if (l.timeout !== undefined) lines.push(`timeout: ${l.timeout}`);
  if (l.once) lines.push(`as it boots: ${l.once.what} (kexec-ts boot/reboot does the same)`);
  lines.push('', l.entries.length ? `entries (${l.entries.length}; * = default):` : 'entries: none');
  l.entries.forEach((e, i) => lines.push(...entryLines(e, i + 1)));
  if (l.rejected.length) {
    lines.push('', `rejected (${l.rejected.length}):`);
    for (const r of l.rejected) lines.push(`  ${r.title ?? r.id ?? r.origin}`, `      from      ${r.source} ${r.origin}`, `      why       ${r.reason}`);
  }
  if (l.notes.length) lines.push('', 'notes:', ...l.notes.map((n) => `  ${n}`));
  return lines.join('\n') + '\n';
}

export function bootListJson(l: BootList): string {
  return (
    JSON.stringify(
      {
        schema: JSON_SCHEMA,
        loader: l.loader,
        default: l.default ? { id: l.default.id, title: l.default.title, source: l.default.source, reason: l.defaultReason } : null,
        ...(l.default ? {} : { noDefaultReason: l.defaultReason }),
        timeout: l.timeout ?? null,
        // what the boot loader changes as it boots (a one-shot consumed); a kexec-ts load does the same
        onBoot: l.once?.what ?? null,
        entries: l.entries,
        rejected: l.rejected,
        notes: l.notes,
      },
      null,
      2,
    ) + '\n'
  );
}

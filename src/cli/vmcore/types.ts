// vmcore-ts types DUMP PATTERN: kernel types from BTF: names matching a pattern, or one type's layout.
import { typeLabel } from '../../analyze/btf.ts';
import { formatTypeLayout, typeLayout } from '../../analyze/types-print.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts types [--depth N] [--json] [--system-map FILE | --vmlinux FILE] DUMP PATTERN  (e.g. task_struct, "struct page", "*_stat_item")';
const MAX_LIST = 500;

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
}

export const typesCommand: Command = {
  summary: "list kernel types matching a pattern, or print one type's layout (offsets, sizes) from BTF",
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, depth: { type: 'string' } }, USAGE, [2, 2]);
    if (!a) return 0;
    const [path, pattern] = a.positionals as [string, string];
    const depth = a.values.depth === undefined ? 1 : Math.max(1, Math.min(8, Number(a.values.depth) || 1));
    const kd = openKernelDump(new FileSource(path), symbolFiles(a.values));
    const btf = kd.btf;
    const exact = /[*?]/.test(pattern) ? undefined : btf.find(pattern);
    if (exact) {
      if (a.values.json) write(jsonDocument({ name: typeLabel(exact), kind: exact.kind, size: btf.sizeOf(exact.id), members: typeLayout(btf, exact, depth), ...statusJson(kd) }) + '\n');
      else write(formatTypeLayout(btf, exact, depth) + '\n');
      return finish(kd);
    }
    const re = globToRegExp(pattern.replace(/^(struct|union|enum)\s+/, ''));
    const kinds = new Set(['struct', 'union', 'enum', 'enum64', 'typedef']);
    const hits: { name: string; kind: string; size: number }[] = [];
    for (const name of btf.names()) {
      if (!re.test(name)) continue;
      for (const id of btf.idsByName(name)) {
        const t = btf.type(id);
        if (kinds.has(t.kind)) hits.push({ name: typeLabel(t), kind: t.kind, size: btf.sizeOf(id) });
      }
    }
    hits.sort((x, y) => x.name.localeCompare(y.name));
    if (a.values.json) write(jsonDocument({ types: hits, ...statusJson(kd) }) + '\n');
    else {
      const lines = hits.slice(0, MAX_LIST).map((h) => `${h.name.padEnd(48)} ${String(h.size).padStart(7)} bytes`);
      if (hits.length > MAX_LIST) lines.push(`... ${hits.length - MAX_LIST} more`);
      if (!hits.length) lines.push(`no struct, union, enum or typedef matches '${pattern}'`);
      write(lines.join('\n') + '\n');
    }
    const code = finish(kd);
    return hits.length ? code : 1;
  },
};

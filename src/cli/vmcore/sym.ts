// vmcore-ts sym DUMP NAME|ADDR...: symbol lookup in the dump's kallsyms, a System.map or a vmlinux.
import type { KernelSymbol } from '../../analyze/symbols.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { Command } from './commands.ts';
import { finish, symbolFiles, statusLine, parseAddress, parseCommand, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { hex, hexPadded } from '../../text.ts';

const USAGE =
  'vmcore-ts sym [--json] [--system-map FILE | --vmlinux FILE] DUMP NAME|ADDR...\n' +
  '  NAME: a symbol name; ADDR: a hex address (0x prefix, or 16 hex digits) → symbol+offset';

const isAddress = (s: string) => /^0x[0-9a-f]+$/i.test(s) || /^[0-9a-f]{16}$/i.test(s);

export const symCommand: Command = {
  summary: "symbol by name or address: the dump's own kallsyms, or --system-map / --vmlinux",
  run(argv) {
    const a = parseCommand(argv, symbolOptions, USAGE, [2, Infinity]);
    if (!a) return 0;
    const [path, ...queries] = a.positionals as [string, ...string[]];
    const kd = openKernelDump(new FileSource(path), symbolFiles(a.values));
    const table = kd.symbols;
    let missing = 0;
    const line = (s: KernelSymbol) => `${hexPadded(s.address)} ${s.type} ${s.name}`;
    for (const q of queries) {
      if (isAddress(q)) {
        const addr = parseAddress(q);
        const hit = table.byAddress(addr);
        if (!hit) {
          missing++;
          process.stderr.write(`vmcore-ts: no symbol at ${hex(addr)} in ${table.source}\n`);
          continue;
        }
        const where = `${hit.symbol.name}+${hex(hit.offset)}`;
        write(a.values.json ? jsonDocument({ query: q, address: hex(addr), symbol: hit.symbol.name, offset: Number(hit.offset), type: hit.symbol.type, symbolAddress: hex(hit.symbol.address) }) + '\n' : `${hexPadded(addr)}: ${where}  (${line(hit.symbol)})\n`);
      } else {
        const s = table.byName(q);
        if (!s) {
          missing++;
          process.stderr.write(`vmcore-ts: no symbol named '${q}' in ${table.source}\n`);
          continue;
        }
        write(a.values.json ? jsonDocument({ query: q, symbol: s.name, address: hex(s.address), type: s.type }) + '\n' : line(s) + '\n');
      }
    }
    if (a.values.json) write(statusLine(kd));
    const code = finish(kd);
    return missing ? 1 : code;
  },
};

// vmcore-ts struct DUMP TYPE ADDR: a kernel structure at an address, printed with BTF.
import { ParseError, UsageError } from '../../errors.ts';
import { formatStructAt, valueJson } from '../../analyze/types-print.ts';
import type { Command } from './commands.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import { finish, parseAddress, parseCommand, statusJson, symbolFiles, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';

const USAGE = 'vmcore-ts struct [--depth N] [--json] [--system-map FILE | --vmlinux FILE] DUMP TYPE ADDRESS|SYMBOL';

export const structCommand: Command = {
  summary: 'print a kernel structure at an address (or symbol) with member names, from BTF',
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, depth: { type: 'string' } }, USAGE, [3, 3]);
    if (!a) return 0;
    const [path, typeName, where] = a.positionals as [string, string, string];
    const depth = a.values.depth === undefined ? 6 : Number(a.values.depth);
    if (!Number.isInteger(depth) || depth < 1 || depth > 32) throw new UsageError('--depth wants a number from 1 to 32');
    const kd = openKernelDump(new FileSource(path), symbolFiles(a.values));
    const btf = kd.btf;
    const spec = /^(struct|union|enum)\s/.test(typeName) || btf.find(`struct ${typeName}`) === undefined ? typeName : `struct ${typeName}`;
    const type = btf.find(spec);
    if (!type) throw new ParseError(`BTF has no type '${typeName}'`, { hint: `try: vmcore-ts types ${path} '*${typeName}*'` });
    const addr = /^(0x)?[0-9a-f]+$/i.test(where) ? parseAddress(where) : kd.requireSymbol(where, 'the address');
    const read = (x: bigint, n: number) => kd.memory.readVirt(x, n);
    if (a.values.json) {
      const bytes = read(addr, btf.sizeOf(type.id));
      write(jsonDocument({ type: btf.typeName(type.id), address: addr, size: bytes.length, value: valueJson(btf, type.id, bytes, depth), ...statusJson(kd) }) + '\n');
    } else write(formatStructAt(btf, type, addr, read, { maxDepth: depth }) + '\n');
    return finish(kd);
  },
};

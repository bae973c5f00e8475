// vmcore-ts read DUMP ADDR [LEN]: hex + ASCII of kernel virtual (default) or physical (-p) memory.
import { ParseError } from '../../errors.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { FileSource } from '../../host/file-source.ts';
import type { Command } from './commands.ts';
import { finish, symbolFiles, statusJson, parseAddress, parseCommand, parseLength, symbolOptions, jsonDocument, write } from './kernel-dump-args.ts';
import { hex, hexPadded } from '../../text.ts';

const USAGE =
  'vmcore-ts read [-p|--physical] [--json] [--system-map FILE | --vmlinux FILE] DUMP ADDR|SYMBOL [LEN]\n' +
  '  ADDR is hex (0x optional); LEN defaults to 64 bytes (decimal or 0x-hex, at most 16 MiB)';
const MAX_LEN = 16 << 20;

/** 16 bytes a line: "ADDRESS:  hex bytes  ascii" */
export function hexDump(address: bigint, bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.subarray(i, i + 16);
    const hx = Array.from(chunk, (b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(47);
    const asc = Array.from(chunk, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${hexPadded(address + BigInt(i))}:  ${hx}  ${asc}`);
  }
  return lines.join('\n') + '\n';
}

export const readCommand: Command = {
  summary: 'hex/ASCII dump of kernel virtual or physical (-p) memory',
  run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, physical: { type: 'boolean', short: 'p' } }, USAGE, [2, 3]);
    if (!a) return 0;
    const [path, where, lenArg] = a.positionals as [string, string, string | undefined];
    const len = lenArg === undefined ? 64 : parseLength(lenArg, MAX_LEN);
    const kd = openKernelDump(new FileSource(path), symbolFiles(a.values));
    const physical = !!a.values.physical;
    let addr: bigint;
    if (/^(0x)?[0-9a-f]+$/i.test(where)) addr = parseAddress(where);
    else {
      const s = kd.symbols.byName(where);
      if (!s) throw new ParseError(`no symbol named '${where}' in ${kd.symbols.source}`, { hint: 'give a hex address, or check the name with vmcore-ts sym' });
      addr = s.address;
    }
    const bytes = physical ? kd.memory.readPhys(addr, len) : kd.memory.readVirt(addr, len);
    if (a.values.json) {
      const paddr = physical ? undefined : kd.memory.virtToPhys(addr);
      write(jsonDocument({ address: hex(addr), physical, paddr: paddr === undefined ? undefined : hex(paddr), length: len, hex: Buffer.from(bytes).toString('hex'), ...statusJson(kd) }) + '\n');
    } else write(hexDump(addr, bytes));
    return finish(kd);
  },
};

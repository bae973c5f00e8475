// Opens any supported crash dump: asks each reader's probe in turn.
import { ParseError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { Dump, DumpReader, OpenOptions } from './dump.ts';
import { elfCoreReader } from './elf-core.ts';
import { flattenedReader } from './flattened.ts';
import { kdumpCompressedReader } from './kdump-compressed.ts';

const plainReaders: DumpReader[] = [kdumpCompressedReader, elfCoreReader];
export const dumpReaders: DumpReader[] = [...plainReaders, flattenedReader(plainReaders)];

/** A short description of the first bytes of a file: hex and printable text. */
export function describeMagic(src: ByteSource): string {
  const b = src.read(0, 16);
  if (b.length === 0) return 'the file is empty';
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(b, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
  return `first bytes ${hex} ("${text}")`;
}

/** Opens `src` with the first reader whose probe takes it; `decoders`: the page decoders to use (the Node edge passes native zlib). */
export function openDump(src: ByteSource, opts: Pick<OpenOptions, 'decoders'> = {}): Dump {
  for (const r of dumpReaders) if (r.probe(src)) return r.open(src, opts);
  throw new ParseError(
    `${src.name}: not a crash dump this tool reads: ${describeMagic(src)}; supported: ${dumpReaders.map((r) => r.name).join(', ')}`,
    { offset: 0, source: src.name, hint: 'give a vmcore saved by kdump/makedumpfile, /proc/vmcore, or QEMU dump-guest-memory output' },
  );
}

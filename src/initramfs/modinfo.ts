// The .modinfo section of a kernel module (.ko, an ELF64 relocatable): NUL-separated "key=value"
// strings such as "depends=virtio,virtio_ring", "name=virtio_blk", "vermagic=6.1.0-50-cloud-amd64 ...".
// Pure: reads through a ByteSource (decompress .ko.xz first).
import { ParseError } from '../errors.ts';
import { readExactly, type ByteSource } from '../io/source.ts';
import { readStruct, struct } from '../format/struct.ts';

const Elf64Ehdr = struct('Elf64_Ehdr', 64, {
  ident: { off: 0, type: 'bytes:16' },
  shoff: { off: 40, type: 'u64' },
  shentsize: { off: 58, type: 'u16' },
  shnum: { off: 60, type: 'u16' },
  shstrndx: { off: 62, type: 'u16' },
});
const Elf64Shdr = struct('Elf64_Shdr', 64, {
  name: { off: 0, type: 'u32' },
  type: { off: 4, type: 'u32' },
  offset: { off: 24, type: 'u64' },
  size: { off: 32, type: 'u64' },
});
const MAX_SECTIONS = 1 << 16;
const MAX_MODINFO = 1 << 20;

/** key -> values (a key such as "alias" may repeat). */
export function readModinfo(src: ByteSource): Map<string, string[]> {
  const eh = readStruct(Elf64Ehdr, readExactly(src, 0, Elf64Ehdr.size, 'ELF header'));
  const id = eh.ident;
  if (id[0] !== 0x7f || id[1] !== 0x45 || id[2] !== 0x4c || id[3] !== 0x46 || id[4] !== 2 || id[5] !== 1) {
    throw new ParseError('not a 64-bit little-endian ELF kernel module', { offset: 0, source: src.name, hint: 'decompress .ko.xz/.ko.zst first' });
  }
  if (eh.shnum > MAX_SECTIONS || eh.shentsize < Elf64Shdr.size || eh.shstrndx >= eh.shnum) {
    throw new ParseError(`implausible section header table (${eh.shnum} x ${eh.shentsize})`, { offset: 58, source: src.name });
  }
  const sh = (i: number) =>
    readStruct(Elf64Shdr, readExactly(src, Number(eh.shoff) + i * eh.shentsize, Elf64Shdr.size, `section header ${i}`));
  const names = sh(eh.shstrndx);
  const namesBytes = readExactly(src, Number(names.offset), Number(names.size), 'section name table');
  const dec = new TextDecoder();
  for (let i = 0; i < eh.shnum; i++) {
    const s = sh(i);
    const end = namesBytes.indexOf(0, s.name);
    if (dec.decode(namesBytes.subarray(s.name, end < 0 ? undefined : end)) !== '.modinfo') continue;
    if (s.size > MAX_MODINFO) throw new ParseError(`.modinfo of ${s.size} bytes is implausible`, { offset: Number(s.offset), source: src.name });
    const out = new Map<string, string[]>();
    for (const kv of dec.decode(readExactly(src, Number(s.offset), Number(s.size), '.modinfo')).split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const k = kv.slice(0, eq);
      out.set(k, [...(out.get(k) ?? []), kv.slice(eq + 1)]);
    }
    return out;
  }
  throw new ParseError('no .modinfo section: not a kernel module', { source: src.name });
}

/** The module names a module depends on (its "depends=" entry), '-' read as '_'. */
export function modinfoDepends(info: Map<string, string[]>): string[] {
  return (info.get('depends') ?? [])
    .flatMap((d) => d.split(','))
    .map((d) => d.trim().replace(/-/g, '_'))
    .filter(Boolean);
}

// Generic ELF parsing (ELF64 and ELF32, either byte order): file header, program headers, section
// headers, string tables, symbol tables and notes. Small functions over a ByteSource; every layout is
// declared once below. Used by the ELF core reader (elf-core.ts) and by the kexec loaders (vmlinux,
// purgatory). Relocations are left to their users.
import { ParseError } from '../errors.ts';
import { readExactly, type ByteSource } from '../io/source.ts';
import type { ElfNote } from './dump.ts';
import { encodeStruct, readStruct, struct } from './struct.ts';

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const NT_PRSTATUS = 1;

/** e_ident: the first 16 bytes, the same for both classes. */
export const ElfIdent = struct('e_ident', 16, {
  magic: { off: 0, type: 'bytes:4' },
  class: { off: 4, type: 'u8' },
  data: { off: 5, type: 'u8' },
  version: { off: 6, type: 'u8' },
  osabi: { off: 7, type: 'u8' },
  abiversion: { off: 8, type: 'u8' },
});

export const Elf64Ehdr = struct('Elf64_Ehdr', 64, {
  ident: { off: 0, type: 'bytes:16' },
  type: { off: 16, type: 'u16' },
  machine: { off: 18, type: 'u16' },
  version: { off: 20, type: 'u32' },
  entry: { off: 24, type: 'u64' },
  phoff: { off: 32, type: 'u64' },
  shoff: { off: 40, type: 'u64' },
  flags: { off: 48, type: 'u32' },
  ehsize: { off: 52, type: 'u16' },
  phentsize: { off: 54, type: 'u16' },
  phnum: { off: 56, type: 'u16' },
  shentsize: { off: 58, type: 'u16' },
  shnum: { off: 60, type: 'u16' },
  shstrndx: { off: 62, type: 'u16' },
});

export const Elf32Ehdr = struct('Elf32_Ehdr', 52, {
  ident: { off: 0, type: 'bytes:16' },
  type: { off: 16, type: 'u16' },
  machine: { off: 18, type: 'u16' },
  version: { off: 20, type: 'u32' },
  entry: { off: 24, type: 'u32' },
  phoff: { off: 28, type: 'u32' },
  shoff: { off: 32, type: 'u32' },
  flags: { off: 36, type: 'u32' },
  ehsize: { off: 40, type: 'u16' },
  phentsize: { off: 42, type: 'u16' },
  phnum: { off: 44, type: 'u16' },
  shentsize: { off: 46, type: 'u16' },
  shnum: { off: 48, type: 'u16' },
  shstrndx: { off: 50, type: 'u16' },
});

export const Elf64Phdr = struct('Elf64_Phdr', 56, {
  type: { off: 0, type: 'u32' },
  flags: { off: 4, type: 'u32' },
  offset: { off: 8, type: 'u64' },
  vaddr: { off: 16, type: 'u64' },
  paddr: { off: 24, type: 'u64' },
  filesz: { off: 32, type: 'u64' },
  memsz: { off: 40, type: 'u64' },
  align: { off: 48, type: 'u64' },
});

export const Elf32Phdr = struct('Elf32_Phdr', 32, {
  type: { off: 0, type: 'u32' },
  offset: { off: 4, type: 'u32' },
  vaddr: { off: 8, type: 'u32' },
  paddr: { off: 12, type: 'u32' },
  filesz: { off: 16, type: 'u32' },
  memsz: { off: 20, type: 'u32' },
  flags: { off: 24, type: 'u32' },
  align: { off: 28, type: 'u32' },
});

export const Elf64Shdr = struct('Elf64_Shdr', 64, {
  name: { off: 0, type: 'u32' },
  type: { off: 4, type: 'u32' },
  flags: { off: 8, type: 'u64' },
  addr: { off: 16, type: 'u64' },
  offset: { off: 24, type: 'u64' },
  size: { off: 32, type: 'u64' },
  link: { off: 40, type: 'u32' },
  info: { off: 44, type: 'u32' },
  addralign: { off: 48, type: 'u64' },
  entsize: { off: 56, type: 'u64' },
});

export const Elf32Shdr = struct('Elf32_Shdr', 40, {
  name: { off: 0, type: 'u32' },
  type: { off: 4, type: 'u32' },
  flags: { off: 8, type: 'u32' },
  addr: { off: 12, type: 'u32' },
  offset: { off: 16, type: 'u32' },
  size: { off: 20, type: 'u32' },
  link: { off: 24, type: 'u32' },
  info: { off: 28, type: 'u32' },
  addralign: { off: 32, type: 'u32' },
  entsize: { off: 36, type: 'u32' },
});

export const Elf64Sym = struct('Elf64_Sym', 24, {
  name: { off: 0, type: 'u32' },
  info: { off: 4, type: 'u8' },
  other: { off: 5, type: 'u8' },
  shndx: { off: 6, type: 'u16' },
  value: { off: 8, type: 'u64' },
  size: { off: 16, type: 'u64' },
});

export const Elf32Sym = struct('Elf32_Sym', 16, {
  name: { off: 0, type: 'u32' },
  value: { off: 4, type: 'u32' },
  size: { off: 8, type: 'u32' },
  info: { off: 12, type: 'u8' },
  other: { off: 13, type: 'u8' },
  shndx: { off: 14, type: 'u16' },
});

/** A dynamic-section entry (PT_DYNAMIC / .dynamic). */
export const Elf64Dyn = struct('Elf64_Dyn', 16, {
  tag: { off: 0, type: 'i64' },
  val: { off: 8, type: 'u64' },
});
export const DT_NULL = 0n;
export const DT_NEEDED = 1n;
export const DT_STRTAB = 5n;
export const DT_RPATH = 15n;
export const DT_RUNPATH = 29n;

/** Note header (Elf32_Nhdr = Elf64_Nhdr): name and desc follow, each padded to 4 bytes. */
export const ElfNhdr = struct('Elf_Nhdr', 12, {
  namesz: { off: 0, type: 'u32' },
  descsz: { off: 4, type: 'u32' },
  type: { off: 8, type: 'u32' },
});

/** The ELF header with both classes normalized: addresses bigint, file offsets and counts number. */
export interface ElfHeader {
  class: 32 | 64;
  littleEndian: boolean;
  osabi: number;
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ElfProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  align: bigint;
}

export interface ElfSectionHeader {
  index: number;
  /** Resolved from the section-header string table ("" if there is none). */
  name: string;
  nameOffset: number;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: bigint;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  /** STB_*: info >> 4 */
  bind: number;
  /** STT_*: info & 0xf */
  type: number;
  other: number;
  shndx: number;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** A file offset or size from the file as a safe JS number, or a ParseError naming the field. */
export function safeNumber(v: bigint, what: string, src: ByteSource, at: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ParseError(`${what} 0x${v.toString(16)} is too large`, { offset: at, source: src.name });
  }
  return Number(v);
}

export function readElfHeader(src: ByteSource): ElfHeader {
  const ident = src.read(0, 16);
  if (!isElf(ident)) {
    throw new ParseError('not an ELF file (no \\x7fELF magic)', { offset: 0, source: src.name });
  }
  const id = readStruct(ElfIdent, ident);
  if (id.class !== ELFCLASS32 && id.class !== ELFCLASS64) {
    throw new ParseError(`ELF class ${id.class} is neither 32- nor 64-bit`, { offset: 4, source: src.name });
  }
  if (id.data !== ELFDATA2LSB && id.data !== ELFDATA2MSB) {
    throw new ParseError(`ELF data encoding ${id.data} is neither little nor big endian`, { offset: 5, source: src.name });
  }
  const le = id.data === ELFDATA2LSB;
  const is64 = id.class === ELFCLASS64;
  const bytes = readExactly(src, 0, is64 ? Elf64Ehdr.size : Elf32Ehdr.size, 'ELF header');
  const h = is64 ? readStruct(Elf64Ehdr, bytes, 0, le) : readStruct(Elf32Ehdr, bytes, 0, le);
  const big = (v: number | bigint) => BigInt(v);
  return {
    class: is64 ? 64 : 32,
    littleEndian: le,
    osabi: id.osabi,
    type: h.type,
    machine: h.machine,
    version: h.version,
    entry: big(h.entry),
    phoff: safeNumber(big(h.phoff), 'e_phoff', src, is64 ? 32 : 28),
    shoff: safeNumber(big(h.shoff), 'e_shoff', src, is64 ? 40 : 32),
    flags: h.flags,
    ehsize: h.ehsize,
    phentsize: h.phentsize,
    phnum: h.phnum,
    shentsize: h.shentsize,
    shnum: h.shnum,
    shstrndx: h.shstrndx,
  };
}

export function readProgramHeaders(src: ByteSource, eh: ElfHeader): ElfProgramHeader[] {
  if (eh.phnum === 0) return [];
  const is64 = eh.class === 64;
  const s = is64 ? Elf64Phdr : Elf32Phdr;
  if (eh.phentsize < s.size) {
    throw new ParseError(`e_phentsize ${eh.phentsize} is smaller than ${s.name} (${s.size})`, { offset: 0, source: src.name });
  }
  const table = readExactly(src, eh.phoff, eh.phnum * eh.phentsize, `program header table (${eh.phnum} entries)`);
  const out: ElfProgramHeader[] = [];
  for (let i = 0; i < eh.phnum; i++) {
    const at = eh.phoff + i * eh.phentsize;
    const o = i * eh.phentsize;
    const p = is64 ? readStruct(Elf64Phdr, table, o, eh.littleEndian) : readStruct(Elf32Phdr, table, o, eh.littleEndian);
    out.push({
      index: i,
      type: p.type,
      flags: p.flags,
      offset: safeNumber(BigInt(p.offset), `program header ${i} p_offset`, src, at),
      vaddr: BigInt(p.vaddr),
      paddr: BigInt(p.paddr),
      filesz: safeNumber(BigInt(p.filesz), `program header ${i} p_filesz`, src, at),
      memsz: safeNumber(BigInt(p.memsz), `program header ${i} p_memsz`, src, at),
      align: BigInt(p.align),
    });
  }
  return out;
}

export function readSectionHeaders(src: ByteSource, eh: ElfHeader): ElfSectionHeader[] {
  if (eh.shnum === 0 || eh.shoff === 0) return [];
  const is64 = eh.class === 64;
  const s = is64 ? Elf64Shdr : Elf32Shdr;
  if (eh.shentsize < s.size) {
    throw new ParseError(`e_shentsize ${eh.shentsize} is smaller than ${s.name} (${s.size})`, { offset: 0, source: src.name });
  }
  const table = readExactly(src, eh.shoff, eh.shnum * eh.shentsize, `section header table (${eh.shnum} entries)`);
  const out: ElfSectionHeader[] = [];
  for (let i = 0; i < eh.shnum; i++) {
    const at = eh.shoff + i * eh.shentsize;
    const o = i * eh.shentsize;
    const sh = is64 ? readStruct(Elf64Shdr, table, o, eh.littleEndian) : readStruct(Elf32Shdr, table, o, eh.littleEndian);
    out.push({
      index: i,
      name: '',
      nameOffset: sh.name,
      type: sh.type,
      flags: BigInt(sh.flags),
      addr: BigInt(sh.addr),
      offset: safeNumber(BigInt(sh.offset), `section ${i} sh_offset`, src, at),
      size: safeNumber(BigInt(sh.size), `section ${i} sh_size`, src, at),
      link: sh.link,
      info: sh.info,
      addralign: BigInt(sh.addralign),
      entsize: safeNumber(BigInt(sh.entsize), `section ${i} sh_entsize`, src, at),
    });
  }
  const strtab = out[eh.shstrndx];
  if (eh.shstrndx !== SHN_UNDEF && strtab && strtab.type === SHT_STRTAB) {
    const names = sectionData(src, strtab);
    for (const sh of out) sh.name = stringAt(names, sh.nameOffset);
  }
  return out;
}

/** The bytes of a section (empty for SHT_NOBITS). */
export function sectionData(src: ByteSource, sh: ElfSectionHeader): Uint8Array {
  if (sh.type === SHT_NOBITS || sh.size === 0) return new Uint8Array(0);
  return readExactly(src, sh.offset, sh.size, `section ${sh.index} ${sh.name ? `(${sh.name}) ` : ''}data`);
}

/** The bytes a program header's p_offset/p_filesz describe. */
export function segmentData(src: ByteSource, ph: ElfProgramHeader): Uint8Array {
  return readExactly(src, ph.offset, ph.filesz, `program header ${ph.index} data`);
}

const latin1 = new TextDecoder('latin1');

/** The NUL-terminated string at `offset` of a string table ("" when out of range). */
export function stringAt(table: Uint8Array, offset: number): string {
  if (offset >= table.length) return '';
  let end = table.indexOf(0, offset);
  if (end < 0) end = table.length;
  return latin1.decode(table.subarray(offset, end));
}

/** Symbols of a SHT_SYMTAB or SHT_DYNSYM section, names resolved through its sh_link string table. */
export function readSymbols(src: ByteSource, eh: ElfHeader, sections: ElfSectionHeader[], symtab: ElfSectionHeader): ElfSymbol[] {
  const is64 = eh.class === 64;
  const s = is64 ? Elf64Sym : Elf32Sym;
  const entsize = symtab.entsize || s.size;
  if (entsize < s.size) {
    throw new ParseError(`symbol table ${symtab.name} has sh_entsize ${entsize} < ${s.size}`, { offset: symtab.offset, source: src.name });
  }
  const data = sectionData(src, symtab);
  const strsec = sections[symtab.link];
  const strings = strsec ? sectionData(src, strsec) : new Uint8Array(0);
  const out: ElfSymbol[] = [];
  const n = Math.floor(data.length / entsize);
  for (let i = 0; i < n; i++) {
    const o = i * entsize;
    const sym = is64 ? readStruct(Elf64Sym, data, o, eh.littleEndian) : readStruct(Elf32Sym, data, o, eh.littleEndian);
    out.push({
      index: i,
      name: stringAt(strings, sym.name),
      value: BigInt(sym.value),
      size: BigInt(sym.size),
      bind: sym.info >> 4,
      type: sym.info & 0xf,
      other: sym.other,
      shndx: sym.shndx,
    });
  }
  return out;
}

const align4 = (n: number) => (n + 3) & ~3;

/**
 * Notes in a PT_NOTE segment or SHT_NOTE section: header, name, desc, each padded to 4 bytes.
 * Stops at the end of `bytes` or at an all-zero header (the kernel's terminating note); a note that
 * runs past the end is a ParseError at its offset. `baseOffset` is where `bytes` sits in the file.
 */
export function parseNotes(bytes: Uint8Array, littleEndian = true, baseOffset = 0, sourceName?: string): ElfNote[] {
  const r = parseNotesUpTo(bytes, littleEndian, baseOffset, sourceName);
  if (r.error) throw r.error;
  return r.notes;
}

/** The notes up to the first damaged one (a damaged note area keeps the notes before the damage). */
export function parseNotesUpTo(bytes: Uint8Array, littleEndian = true, baseOffset = 0, sourceName?: string): { notes: ElfNote[]; error?: ParseError } {
  const notes: ElfNote[] = [];
  let off = 0;
  while (off + ElfNhdr.size <= bytes.length) {
    const h = readStruct(ElfNhdr, bytes, off, littleEndian);
    if (h.namesz === 0 && h.descsz === 0 && h.type === 0) break;
    const nameAt = off + ElfNhdr.size;
    const descAt = nameAt + align4(h.namesz);
    const end = descAt + align4(h.descsz);
    // The last note may omit the padding of its desc.
    if (h.namesz > bytes.length || h.descsz > bytes.length || descAt + h.descsz > bytes.length) {
      const error = new ParseError(
        `ELF note at offset ${baseOffset + off} (namesz ${h.namesz}, descsz ${h.descsz}) runs past the end of its ${bytes.length}-byte note area`,
        { offset: baseOffset + off, source: sourceName },
      );
      return { notes, error };
    }
    let nameEnd = nameAt + h.namesz;
    while (nameEnd > nameAt && bytes[nameEnd - 1] === 0) nameEnd--;
    notes.push({
      name: latin1.decode(bytes.subarray(nameAt, nameEnd)),
      type: h.type,
      desc: bytes.slice(descAt, descAt + h.descsz),
      offset: baseOffset + off,
    });
    off = end;
  }
  return { notes };
}

/** An ELF file opened for inspection: header, program and section headers, lookups by name. */
export interface ElfFile {
  readonly source: ByteSource;
  readonly header: ElfHeader;
  readonly programHeaders: ElfProgramHeader[];
  readonly sections: ElfSectionHeader[];
  section(name: string): ElfSectionHeader | undefined;
  /** .symtab symbols (or .dynsym when there is no .symtab); [] when stripped. */
  symbols(): ElfSymbol[];
  /** Notes from every PT_NOTE segment, or from SHT_NOTE sections when there are no program headers. */
  notes(): ElfNote[];
}

export function openElf(src: ByteSource): ElfFile {
  const header = readElfHeader(src);
  const programHeaders = readProgramHeaders(src, header);
  const sections = readSectionHeaders(src, header);
  let syms: ElfSymbol[] | undefined;
  return {
    source: src,
    header,
    programHeaders,
    sections,
    section: (name) => sections.find((s) => s.name === name),
    symbols() {
      if (!syms) {
        const tab = sections.find((s) => s.type === SHT_SYMTAB) ?? sections.find((s) => s.type === SHT_DYNSYM);
        syms = tab ? readSymbols(src, header, sections, tab) : [];
      }
      return syms;
    },
    notes() {
      const segs = programHeaders.filter((p) => p.type === PT_NOTE);
      if (segs.length > 0) {
        return segs.flatMap((p) => parseNotes(segmentData(src, p), header.littleEndian, p.offset, src.name));
      }
      return sections
        .filter((s) => s.type === SHT_NOTE)
        .flatMap((s) => parseNotes(sectionData(src, s), header.littleEndian, s.offset, src.name));
    },
  };
}

/** Encodes notes back into a note segment (name and desc padded to 4 bytes each). */
export function encodeNotes(notes: readonly { name: string; type: number; desc: Uint8Array }[], littleEndian = true): Uint8Array {
  const enc = new TextEncoder();
  const parts = notes.map((n) => {
    const name = enc.encode(n.name + '\0');
    const b = new Uint8Array(ElfNhdr.size + align4(name.length) + align4(n.desc.length));
    const dv = new DataView(b.buffer);
    dv.setUint32(0, name.length, littleEndian);
    dv.setUint32(4, n.desc.length, littleEndian);
    dv.setUint32(8, n.type, littleEndian);
    b.set(name, ElfNhdr.size);
    b.set(n.desc, ElfNhdr.size + align4(name.length));
    return b;
  });
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * The ELF64 little-endian ET_CORE file header of a core file whose `phnum` program headers follow
 * it at e_phoff = 64 (no sections): /proc/vmcore, `makedumpfile -E`, the kdump ELF core header.
 */
export function encodeCoreEhdr(machine: number, phnum: number): Uint8Array {
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, ELFDATA2LSB, 1 /* EV_CURRENT */, 0 /* ELFOSABI_NONE */]);
  return encodeStruct(Elf64Ehdr, {
    ident,
    type: ET_CORE,
    machine,
    version: 1,
    phoff: BigInt(Elf64Ehdr.size),
    ehsize: Elf64Ehdr.size,
    phentsize: Elf64Phdr.size,
    phnum,
  });
}

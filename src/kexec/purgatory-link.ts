// Links a relocatable ELF object (our purgatory, purgatory/*.S|c built with `ld -r`) at a physical
// address chosen at load time: lays out its allocated sections in one buffer (code and data first,
// .bss after), applies the x86_64 RELA relocations and lets the loader patch global variables
// (kernel entry, boot_params address, SHA-256 regions) before the buffer becomes a segment.
import { ParseError } from '../errors.ts';
import {
  EM_X86_64,
  ET_REL,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_REL,
  SHT_RELA,
  openElf,
  sectionData,
  type ElfFile,
  type ElfSectionHeader,
  type ElfSymbol,
} from '../format/elf.ts';
import { readStruct, struct } from '../format/struct.ts';
import { BufferSource } from '../io/source.ts';
import { alignUp } from './plan.ts';
import { hex } from '../text.ts';

const SHF_ALLOC = 0x2n;
const STB_GLOBAL = 1;
const STT_SECTION = 3;

export const Elf64Rela = struct('Elf64_Rela', 24, {
  offset: { off: 0, type: 'u64' },
  info: { off: 8, type: 'u64' },
  addend: { off: 16, type: 'i64' },
});

/** x86_64 relocation types we apply (System V AMD64 psABI). */
export const R_X86_64 = { NONE: 0, _64: 1, PC32: 2, PLT32: 4, _32: 10, _32S: 11, PC64: 24 } as const;
const RELOC_NAME: Record<number, string> = { 0: 'R_X86_64_NONE', 1: 'R_X86_64_64', 2: 'R_X86_64_PC32', 4: 'R_X86_64_PLT32', 10: 'R_X86_64_32', 11: 'R_X86_64_32S', 24: 'R_X86_64_PC64' };

export interface PurgatoryLayout {
  /** Bytes of code+data (what the segment's buffer holds). */
  bufsz: number;
  /** bufsz plus .bss. */
  memsz: number;
  /** Largest section alignment: the segment's alignment. */
  align: number;
  /** Offset of each allocated section inside the image, by section index. */
  offsets: Map<number, number>;
}

/** One relocation as applied, for tests and `-d` output. */
export interface AppliedRelocation {
  type: string;
  symbol: string;
  /** Address patched. */
  at: bigint;
  value: bigint;
}

export interface LinkedPurgatory {
  /** The segment buffer: code and data, relocated; .bss is not included (zero-filled by memsz). */
  bytes: Uint8Array;
  base: bigint;
  memsz: number;
  entry: bigint;
  relocations: AppliedRelocation[];
  /** Physical address of a global symbol. */
  symbolAddress(name: string): bigint;
  /** Overwrites a global variable; `value` must be exactly the symbol's size and the symbol must be in code/data. */
  setSymbol(name: string, value: Uint8Array): void;
  getSymbol(name: string): Uint8Array;
}

const src = (name: string) => `purgatory ${name}`;

export function openRelocatable(bytes: Uint8Array, name = 'purgatory'): ElfFile {
  const elf = openElf(new BufferSource(bytes, name));
  const h = elf.header;
  if (h.type !== ET_REL) throw new ParseError(`not a relocatable object (e_type ${h.type})`, { source: src(name), offset: 16 });
  if (h.machine !== EM_X86_64 || h.class !== 64 || !h.littleEndian) {
    throw new ParseError(`not an x86_64 object (machine ${h.machine})`, { source: src(name), offset: 18 });
  }
  return elf;
}

function allocated(elf: ElfFile): ElfSectionHeader[] {
  return elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.size > 0);
}

/** Where each section goes: allocated PROGBITS in file order, each at its alignment, then NOBITS. */
export function layoutRelocatable(elf: ElfFile): PurgatoryLayout {
  const offsets = new Map<number, number>();
  let at = 0;
  let align = 1;
  const secs = allocated(elf);
  for (const s of secs.filter((x) => x.type !== SHT_NOBITS)) {
    const a = Math.max(1, Number(s.addralign));
    at = Number(alignUp(BigInt(at), BigInt(a)));
    offsets.set(s.index, at);
    at += s.size;
    align = Math.max(align, a);
  }
  const bufsz = at;
  for (const s of secs.filter((x) => x.type === SHT_NOBITS)) {
    const a = Math.max(1, Number(s.addralign));
    at = Number(alignUp(BigInt(at), BigInt(a)));
    offsets.set(s.index, at);
    at += s.size;
    align = Math.max(align, a);
  }
  return { bufsz, memsz: at, align, offsets };
}

/** Links the object at `base` (the segment's physical address). */
export function linkRelocatable(elf: ElfFile, base: bigint, entrySymbol = 'purgatory_start'): LinkedPurgatory {
  const name = elf.source.name;
  const layout = layoutRelocatable(elf);
  const bytes = new Uint8Array(layout.bufsz);
  for (const s of allocated(elf)) {
    if (s.type !== SHT_NOBITS) bytes.set(sectionData(elf.source, s), layout.offsets.get(s.index)!);
  }
  const syms = elf.symbols();
  const sectionAddr = (shndx: number, sym: ElfSymbol): bigint => {
    if (shndx === SHN_ABS) return 0n;
    if (shndx === SHN_UNDEF) throw new ParseError(`undefined symbol ${sym.name} in the purgatory`, { source: src(name), hint: 'the purgatory must be self-contained' });
    if (shndx === SHN_COMMON) throw new ParseError(`common symbol ${sym.name} in the purgatory`, { source: src(name), hint: 'build with -fno-common' });
    const off = layout.offsets.get(shndx);
    if (off === undefined) throw new ParseError(`symbol ${sym.name} is in a section that is not loaded`, { source: src(name) });
    return base + BigInt(off);
  };
  const symAddr = (sym: ElfSymbol): bigint => sectionAddr(sym.shndx, sym) + sym.value;
  const dv = new DataView(bytes.buffer);
  const relocations: AppliedRelocation[] = [];

  for (const rs of elf.sections) {
    if (rs.type === SHT_REL) throw new ParseError('SHT_REL relocations are not used on x86_64', { source: src(name), offset: rs.offset });
    if (rs.type !== SHT_RELA) continue;
    const target = elf.sections[rs.info];
    if (!target || (target.flags & SHF_ALLOC) === 0n) continue;
    const targetOff = layout.offsets.get(target.index);
    if (targetOff === undefined) continue;
    if (target.type === SHT_NOBITS) throw new ParseError(`relocations against .bss section ${target.name}`, { source: src(name) });
    const data = sectionData(elf.source, rs);
    for (let i = 0; i + Elf64Rela.size <= data.length; i += Elf64Rela.size) {
      const r = readStruct(Elf64Rela, data, i);
      const type = Number(r.info & 0xffffffffn);
      const sym = syms.find((s) => s.index === Number(r.info >> 32n));
      if (!sym) throw new ParseError(`relocation ${i / 24} in ${rs.name} names a missing symbol`, { source: src(name), offset: rs.offset + i });
      const S = symAddr(sym);
      const A = r.addend;
      const off = targetOff + Number(r.offset);
      const P = base + BigInt(off);
      const symName = sym.type === STT_SECTION ? elf.sections[sym.shndx]?.name ?? '?' : sym.name;
      const where = () => `${RELOC_NAME[type] ?? type} against ${symName} at ${hex(P)}`;
      const width = type === R_X86_64._64 || type === R_X86_64.PC64 ? 8 : 4;
      if (Number(r.offset) + width > target.size) throw new ParseError(`${where()} lies outside ${target.name}`, { source: src(name) });
      let value: bigint;
      switch (type) {
        case R_X86_64.NONE:
          continue;
        case R_X86_64._64:
          value = BigInt.asUintN(64, S + A);
          dv.setBigUint64(off, value, true);
          break;
        case R_X86_64.PC64:
          value = BigInt.asUintN(64, S + A - P);
          dv.setBigUint64(off, value, true);
          break;
        case R_X86_64.PC32:
        case R_X86_64.PLT32:
        case R_X86_64._32S: {
          const v = type === R_X86_64._32S ? S + A : S + A - P;
          if (v < -(1n << 31n) || v >= 1n << 31n) throw new ParseError(`${where()}: value ${hex(v)} does not fit in 32 signed bits`, { source: src(name) });
          value = v;
          dv.setInt32(off, Number(v), true);
          break;
        }
        case R_X86_64._32: {
          const v = S + A;
          if (v < 0n || v >= 1n << 32n) throw new ParseError(`${where()}: value ${hex(v)} does not fit in 32 bits`, { source: src(name), hint: 'place the purgatory below 4 GiB' });
          value = v;
          dv.setUint32(off, Number(v), true);
          break;
        }
        default:
          throw new ParseError(`unsupported relocation type ${type} against ${symName}`, { source: src(name), offset: rs.offset + i });
      }
      relocations.push({ type: RELOC_NAME[type]!, symbol: symName, at: P, value });
    }
  }

  const global = (sym: string): ElfSymbol => {
    const s = syms.find((x) => x.name === sym && x.bind === STB_GLOBAL);
    if (!s) throw new ParseError(`the purgatory has no global symbol ${sym}`, { source: src(name) });
    return s;
  };
  const patchable = (sym: string, size?: number): { s: ElfSymbol; off: number } => {
    const s = global(sym);
    const sec = elf.sections[s.shndx];
    if (!sec || sec.type === SHT_NOBITS) throw new ParseError(`purgatory symbol ${sym} is in .bss and cannot be set at load time`, { source: src(name) });
    if (size !== undefined && Number(s.size) !== size) {
      throw new ParseError(`purgatory symbol ${sym} is ${s.size} bytes, not ${size}`, { source: src(name) });
    }
    return { s, off: layout.offsets.get(s.shndx)! + Number(s.value) };
  };
  return {
    bytes,
    base,
    memsz: layout.memsz,
    entry: symAddr(global(entrySymbol)),
    relocations,
    symbolAddress: (sym) => symAddr(global(sym)),
    setSymbol(sym, value) {
      const { off } = patchable(sym, value.length);
      bytes.set(value, off);
    },
    getSymbol(sym) {
      const { s, off } = patchable(sym);
      return bytes.slice(off, off + Number(s.size));
    },
  };
}

/** Little-endian u64 bytes. */
export function u64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}

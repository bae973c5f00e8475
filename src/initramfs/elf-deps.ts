// What an ELF executable or shared library needs at run time: its program interpreter (PT_INTERP)
// and its DT_NEEDED libraries (with DT_RUNPATH/DT_RPATH). Pure: reads through a ByteSource.
// Supports ELF64 little-endian (x86_64, aarch64) — what our initramfs builder copies.
import { ParseError } from '../errors.ts';
import { readExactly, type ByteSource } from '../io/source.ts';
import { readStruct, struct } from '../format/struct.ts';

const Elf64Ehdr = struct('Elf64_Ehdr', 64, {
  ident: { off: 0, type: 'bytes:16' },
  type: { off: 16, type: 'u16' },
  machine: { off: 18, type: 'u16' },
  phoff: { off: 32, type: 'u64' },
  phentsize: { off: 54, type: 'u16' },
  phnum: { off: 56, type: 'u16' },
});
const Elf64Phdr = struct('Elf64_Phdr', 56, {
  type: { off: 0, type: 'u32' },
  offset: { off: 8, type: 'u64' },
  vaddr: { off: 16, type: 'u64' },
  filesz: { off: 32, type: 'u64' },
  memsz: { off: 40, type: 'u64' },
});
const Elf64Dyn = struct('Elf64_Dyn', 16, {
  tag: { off: 0, type: 'i64' },
  val: { off: 8, type: 'u64' },
});
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
const MAX_PHDRS = 256;
const MAX_DYN = 4096;

export interface ElfDeps {
  /** e.g. "/lib64/ld-linux-x86-64.so.2"; undefined for static executables and most libraries */
  interpreter: string | undefined;
  /** DT_NEEDED sonames in order, e.g. ["libc.so.6"] */
  needed: string[];
  /** DT_RUNPATH or DT_RPATH entries */
  runpath: string[];
}

export function readElfDeps(src: ByteSource): ElfDeps {
  const eh = readStruct(Elf64Ehdr, readExactly(src, 0, Elf64Ehdr.size, 'ELF header'));
  const id = eh.ident;
  if (id[0] !== 0x7f || id[1] !== 0x45 || id[2] !== 0x4c || id[3] !== 0x46) {
    throw new ParseError('not an ELF file (no \\x7fELF magic)', { offset: 0, source: src.name });
  }
  if (id[4] !== 2 || id[5] !== 1) {
    throw new ParseError('only 64-bit little-endian ELF is supported', { offset: 4, source: src.name });
  }
  if (eh.phnum > MAX_PHDRS || eh.phentsize < Elf64Phdr.size) {
    throw new ParseError(`implausible program header table (${eh.phnum} x ${eh.phentsize})`, { offset: 54, source: src.name });
  }
  const phdrs = Array.from({ length: eh.phnum }, (_, i) =>
    readStruct(Elf64Phdr, readExactly(src, Number(eh.phoff) + i * eh.phentsize, Elf64Phdr.size, `program header ${i}`)),
  );
  const cstr = (off: number, what: string): string => {
    const bytes = src.read(off, 4096);
    const nul = bytes.indexOf(0);
    if (nul < 0) throw new ParseError(`${what}: no NUL within 4096 bytes`, { offset: off, source: src.name });
    return new TextDecoder().decode(bytes.subarray(0, nul));
  };
  const interpPh = phdrs.find((p) => p.type === PT_INTERP);
  const interpreter = interpPh ? cstr(Number(interpPh.offset), 'PT_INTERP') : undefined;

  const dynPh = phdrs.find((p) => p.type === PT_DYNAMIC);
  const out: ElfDeps = { interpreter, needed: [], runpath: [] };
  if (!dynPh) return out;
  // Dynamic entries hold virtual addresses (DT_STRTAB) and string-table offsets; map the address
  // to a file offset through the PT_LOAD segment containing it.
  const fileOffset = (vaddr: bigint): number => {
    const seg = phdrs.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz);
    if (!seg) throw new ParseError(`address 0x${vaddr.toString(16)} is in no PT_LOAD segment`, { source: src.name });
    return Number(vaddr - seg.vaddr + seg.offset);
  };
  const dyn: { tag: bigint; val: bigint }[] = [];
  const count = Math.min(MAX_DYN, Math.floor(Number(dynPh.filesz) / Elf64Dyn.size));
  for (let i = 0; i < count; i++) {
    const d = readStruct(Elf64Dyn, readExactly(src, Number(dynPh.offset) + i * Elf64Dyn.size, Elf64Dyn.size, 'dynamic entry'));
    if (d.tag === DT_NULL) break;
    dyn.push(d);
  }
  const strtab = dyn.find((d) => d.tag === DT_STRTAB);
  if (!strtab) return out;
  const strOff = fileOffset(strtab.val);
  for (const d of dyn) {
    if (d.tag === DT_NEEDED) out.needed.push(cstr(strOff + Number(d.val), 'DT_NEEDED'));
    else if (d.tag === DT_RUNPATH || d.tag === DT_RPATH) out.runpath.push(...cstr(strOff + Number(d.val), 'DT_RUNPATH').split(':').filter(Boolean));
  }
  return out;
}

/** Parses `ldd` output into soname -> resolved path (plus the interpreter under its own path). */
export function parseLddOutput(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) {
      out.set(m[1]!, m[2]!);
      continue;
    }
    m = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line); // the interpreter line
    if (m) out.set(m[1]!, m[1]!);
    if (/=> not found/.test(line)) throw new Error(`ldd: ${line}`);
  }
  return out;
}

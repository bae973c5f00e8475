// What an ELF executable or shared library needs at run time: its program interpreter (PT_INTERP)
// and its DT_NEEDED libraries (with DT_RUNPATH/DT_RPATH). Pure: reads through a ByteSource.
// Supports ELF64 little-endian (x86_64, aarch64) — what our initramfs builder copies.
import { ParseError } from '../errors.ts';
import { readExactly, type ByteSource } from '../io/source.ts';
import { readStruct } from '../format/struct.ts';
import {
  DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_STRTAB, Elf64Dyn, PT_DYNAMIC, PT_INTERP, PT_LOAD,
  readElfHeader, readProgramHeaders,
} from '../format/elf.ts';

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
  const eh = readElfHeader(src);
  if (eh.class !== 64 || !eh.littleEndian) {
    throw new ParseError('only 64-bit little-endian ELF is supported', { offset: 4, source: src.name });
  }
  if (eh.phnum > MAX_PHDRS) {
    throw new ParseError(`implausible program header table (${eh.phnum} entries)`, { offset: 56, source: src.name });
  }
  const phdrs = readProgramHeaders(src, eh);
  const cstr = (off: number, what: string): string => {
    const bytes = src.read(off, 4096);
    const nul = bytes.indexOf(0);
    if (nul < 0) throw new ParseError(`${what}: no NUL within 4096 bytes`, { offset: off, source: src.name });
    return new TextDecoder().decode(bytes.subarray(0, nul));
  };
  const interpPh = phdrs.find((p) => p.type === PT_INTERP);
  const interpreter = interpPh ? cstr(interpPh.offset, 'PT_INTERP') : undefined;

  const dynPh = phdrs.find((p) => p.type === PT_DYNAMIC);
  const out: ElfDeps = { interpreter, needed: [], runpath: [] };
  if (!dynPh) return out;
  // Dynamic entries hold virtual addresses (DT_STRTAB) and string-table offsets; map the address
  // to a file offset through the PT_LOAD segment containing it.
  const fileOffset = (vaddr: bigint): number => {
    const seg = phdrs.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + BigInt(p.filesz));
    if (!seg) throw new ParseError(`address 0x${vaddr.toString(16)} is in no PT_LOAD segment`, { source: src.name });
    return Number(vaddr - seg.vaddr) + seg.offset;
  };
  const dyn: { tag: bigint; val: bigint }[] = [];
  const count = Math.min(MAX_DYN, Math.floor(dynPh.filesz / Elf64Dyn.size));
  for (let i = 0; i < count; i++) {
    const d = readStruct(Elf64Dyn, readExactly(src, dynPh.offset + i * Elf64Dyn.size, Elf64Dyn.size, 'dynamic entry'));
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

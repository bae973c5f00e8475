// ELF64 core writer: a file shaped like /proc/vmcore or `makedumpfile -E` output — one PT_NOTE
// (the notes as given) and one PT_LOAD per memory range, each range's data page-aligned in the file.
// The layout is fixed up front, so pages can be written in any order through a ByteSink.
import { EM_X86_64, Elf64Ehdr, Elf64Phdr, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE, encodeCoreEhdr } from './elf.ts';
import { DUMP_ELF_INCOMPLETE } from './elf-core.ts';
import type { ByteSink } from './sink.ts';
import { encodeStruct } from './struct.ts';

export interface ElfCoreSegment {
  paddr: bigint;
  vaddr: bigint;
  memSize: number;
  /** Bytes stored in the file (default memSize); the rest reads as zeros (makedumpfile -E: excluded). */
  fileSize?: number;
}

export interface ElfCoreWriterOptions {
  machine?: number;
  pageSize?: number;
  notes: Uint8Array;
  segments: ElfCoreSegment[];
  /**
   * The caller writes every stored byte in file order (writeSegment, segment after segment): the
   * file is not extended to its full size up front, so whatever is never written (the disk filled)
   * lies past its end and reads as lost, never as zeros. Default: extended at once (pages may be
   * written in any order; those never written read as zeros).
   */
  sequential?: boolean;
}

function loadPhdr(offset: number, paddr: bigint, vaddr: bigint, filesz: number, memsz: number): Uint8Array {
  return encodeStruct(Elf64Phdr, { type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset: BigInt(offset), vaddr, paddr, filesz: BigInt(filesz), memsz: BigInt(memsz) });
}

function noteHdr(offset: number, size: number): Uint8Array {
  return encodeStruct(Elf64Phdr, { type: PT_NOTE, offset: BigInt(offset), filesz: BigInt(size), memsz: BigInt(size) });
}

export class ElfCoreWriter {
  readonly fileSize: number;
  private readonly sink: ByteSink;
  private readonly header: Uint8Array;
  private readonly placed: { paddr: bigint; vaddr: bigint; memSize: number; fileSize: number; fileOffset: number }[];
  private readonly notes: Uint8Array;
  private readonly notesOffset: number;
  private readonly ps: number;

  constructor(sink: ByteSink, opts: ElfCoreWriterOptions) {
    this.sink = sink;
    const ps = opts.pageSize ?? 4096;
    this.ps = ps;
    const phnum = 1 + opts.segments.length;
    const phoff = Elf64Ehdr.size;
    const notesOffset = phoff + phnum * Elf64Phdr.size;
    let pos = Math.ceil((notesOffset + opts.notes.length) / ps) * ps;
    this.header = encodeCoreEhdr(opts.machine ?? EM_X86_64, phnum);
    sink.write(0, this.header);
    const phdrs = new Uint8Array(phnum * Elf64Phdr.size);
    this.notes = opts.notes;
    this.notesOffset = notesOffset;
    phdrs.set(noteHdr(notesOffset, opts.notes.length));
    this.placed = [];
    opts.segments.forEach((s, i) => {
      const fileSize = s.fileSize ?? s.memSize;
      if (fileSize > s.memSize) throw new RangeError(`segment ${i}: fileSize > memSize`);
      const fileOffset = pos + Number(s.paddr % BigInt(ps));
      this.placed.push({ paddr: s.paddr, vaddr: s.vaddr, memSize: s.memSize, fileSize, fileOffset });
      phdrs.set(loadPhdr(fileOffset, s.paddr, s.vaddr, fileSize, s.memSize), (1 + i) * Elf64Phdr.size);
      pos = Math.ceil((fileOffset + fileSize) / ps) * ps;
    });
    sink.write(phoff, phdrs);
    sink.write(notesOffset, opts.notes);
    const last = this.placed.reduce((m, p) => Math.max(m, p.fileOffset + p.fileSize), notesOffset + opts.notes.length);
    this.fileSize = last;
    // Reach the full size even if the last pages are never written (they read as zeros).
    if (!opts.sequential && last > notesOffset + opts.notes.length) sink.write(last - 1, new Uint8Array(1));
  }

  /** Writes `bytes` at `rel` bytes into segment `index`'s file data (this segment only). */
  writeSegment(index: number, rel: number, bytes: Uint8Array): void {
    const p = this.placed[index];
    if (!p || rel < 0 || rel + bytes.length > p.fileSize) throw new RangeError(`segment ${index}: bytes ${rel}+${bytes.length} are not inside its file data`);
    this.sink.write(p.fileOffset + rel, bytes);
  }

  /**
   * Writes memory at a physical address into every segment holding it (on x86_64 the kernel-text
   * segment is a second view of RAM); it must lie in the file part of at least one segment.
   */
  writePhys(paddr: bigint, bytes: Uint8Array): void {
    let written = false;
    for (const p of this.placed) {
      if (paddr >= p.paddr && paddr + BigInt(bytes.length) <= p.paddr + BigInt(p.fileSize)) {
        this.sink.write(p.fileOffset + Number(paddr - p.paddr), bytes);
        written = true;
      }
    }
    if (!written) throw new RangeError(`physical 0x${paddr.toString(16)}+${bytes.length} is not inside one segment's file data`);
  }

  /**
   * Takes pages (physical page addresses, sorted) out of every PT_LOAD once the data is written:
   * each segment holding such a page is split around it (the parts keep their bytes where they
   * are) in a new program-header table. It goes at the front, with the notes moved up behind it,
   * when both still end before the first segment's data (crash reads the headers only from there);
   * else at `appendAt` (past every stored byte, the end of the file: vmcore-ts and makedumpfile
   * read it there, crash does not), the table at the front staying, unreferenced. A save without
   * such pages keeps makedumpfile -E's layout exactly. Returns false (nothing written) when the
   * table fits nowhere: no `appendAt`, or more program headers than e_phnum counts.
   */
  dropPages(pages: readonly number[], appendAt: number | undefined): boolean {
    const ps = this.ps;
    const loads: Uint8Array[] = [];
    for (const p of this.placed) {
      const start = Number(p.paddr);
      const fileEnd = start + p.fileSize;
      let cur = start;
      const emit = (to: number, fileTo: number): void => {
        if (to > cur) loads.push(loadPhdr(p.fileOffset + (cur - start), BigInt(cur), p.vaddr === 0n ? 0n : p.vaddr + BigInt(cur - start), fileTo - cur, to - cur));
      };
      for (const pa of pages) {
        const lo = Math.max(pa, start);
        const hi = Math.min(pa + ps, fileEnd);
        if (lo >= hi || hi <= cur) continue;
        emit(lo, lo);
        cur = hi;
      }
      emit(start + p.memSize, Math.max(cur, fileEnd));
    }
    const phnum = 1 + loads.length;
    const firstData = Math.min(...this.placed.map((p) => p.fileOffset));
    const phoff = Elf64Ehdr.size;
    const notesOffset = phoff + phnum * Elf64Phdr.size;
    const inFront = notesOffset + this.notes.length <= firstData;
    const at = inFront ? phoff : appendAt === undefined ? undefined : Math.ceil(appendAt / 8) * 8;
    if (at === undefined || phnum >= 0xffff) return false;
    const table = new Uint8Array(phnum * Elf64Phdr.size);
    table.set(inFront ? noteHdr(notesOffset, this.notes.length) : noteHdr(this.notesOffset, this.notes.length));
    loads.forEach((l, i) => table.set(l, (1 + i) * Elf64Phdr.size));
    if (inFront) this.sink.write(notesOffset, this.notes);
    this.sink.write(at, table);
    const dv = new DataView(this.header.buffer, this.header.byteOffset);
    dv.setBigUint64(Elf64Ehdr.fields.phoff.off, BigInt(at), true);
    dv.setUint16(Elf64Ehdr.fields.phnum.off, phnum, true);
    this.sink.write(0, this.header);
    return true;
  }

  /** Marks the dump incomplete in e_flags (as makedumpfile does on ENOSPC). */
  finish(opts: { incomplete?: boolean } = {}): void {
    if (opts.incomplete) {
      const dv = new DataView(this.header.buffer, this.header.byteOffset);
      dv.setUint32(Elf64Ehdr.fields.flags.off, DUMP_ELF_INCOMPLETE, true);
      this.sink.write(0, this.header);
    }
  }
}

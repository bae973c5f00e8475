// ELF core reader: /proc/vmcore itself, `makedumpfile -E` output, QEMU `dump-guest-memory` output.
// Notes come from every PT_NOTE; physical memory from the PT_LOADs (p_paddr; bytes past p_filesz up
// to p_memsz read as zeros, as crash and drgn do). On x86_64 the kernel-text PT_LOAD (vaddr in
// __START_KERNEL_map) is a second view of RAM another PT_LOAD holds: it stays in `loadSegments`
// for virtual lookups but is left out of the physical map. Any other overlap is an error.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { Dump, DumpReader, ElfNote, LoadSegment, OpenOptions, PfnRun } from './dump.ts';
import { EM_AARCH64, EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE, isElf, parseNotesUpTo, readElfHeader, readProgramHeaders, type ElfHeader } from './elf.ts';
import { X86_64_START_KERNEL_MAP } from './x86_64-layout.ts';

/** makedumpfile sets this e_flags bit when it could not write the whole ELF dump (ENOSPC). */
export const DUMP_ELF_INCOMPLETE = 0x1;
const MAX_NOTE_BYTES = 64 << 20;

export class ElfCoreDump implements Dump {
  readonly source: ByteSource;
  readonly format: string;
  readonly compression: string[] = [];
  readonly pageSize: number;
  readonly dumpLevel = undefined;
  readonly incomplete: boolean;
  readonly warnings: string[] = [];
  readonly notes: ElfNote[] = [];
  notesError: ParseError | undefined;
  readonly vmcoreinfo: string | undefined;
  readonly header: Record<string, string | number | bigint | undefined>;
  readonly maxPfn: bigint;
  readonly elfHeader: ElfHeader;
  readonly loadSegments: readonly LoadSegment[];
  /** The segments physical reads use: sorted by paddr, not overlapping. */
  readonly physSegments: readonly LoadSegment[];

  /** `container`: "flattened" when src is the file rebuilt from a flattened stream. */
  constructor(src: ByteSource, opts: OpenOptions = {}) {
    this.source = src;
    this.warnings.push(...(opts.warnings ?? []));
    const eh = readElfHeader(src);
    this.elfHeader = eh;
    if (eh.type !== ET_CORE) {
      throw new ParseError(`ELF file is not a core dump (e_type ${eh.type}, a core has ${ET_CORE})`, { offset: 16, source: src.name });
    }
    this.format = `${opts.container ? opts.container + ' ' : ''}ELF${eh.class} core`;
    const phdrs = readProgramHeaders(src, eh);

    let truncated = false;
    for (const p of phdrs.filter((x) => x.type === PT_NOTE)) {
      const want = Math.min(p.filesz, MAX_NOTE_BYTES);
      const bytes = src.read(p.offset, want);
      if (bytes.length < want) {
        truncated = true;
        this.warnings.push(`PT_NOTE ${p.index} (offset ${p.offset}, ${p.filesz} bytes) is cut off by the end of the file`);
      }
      const r = parseNotesUpTo(bytes, eh.littleEndian, p.offset, src.name);
      this.notes.push(...r.notes);
      this.notesError ??= r.error;
      if (r.error) this.warnings.push(`notes are damaged: ${r.error.message}${r.notes.length ? ` (the ${r.notes.length} notes before it read)` : ''}`);
    }
    const info = this.notes.find((n) => n.name === 'VMCOREINFO');
    this.vmcoreinfo = info ? new TextDecoder('latin1').decode(info.desc).replace(/\0+$/, '') : undefined;
    const ps = /^PAGESIZE=(\d+)$/m.exec(this.vmcoreinfo ?? '');
    this.pageSize = ps ? Number(ps[1]) : 4096;
    if (!(this.pageSize >= 512 && this.pageSize <= 1 << 20 && (this.pageSize & (this.pageSize - 1)) === 0)) {
      throw new ParseError(`VMCOREINFO PAGESIZE ${this.pageSize} is not a power of two between 512 and 1 MiB`, {
        offset: info?.offset,
        source: src.name,
      });
    }

    this.loadSegments = phdrs
      .filter((p) => p.type === PT_LOAD)
      .map((p) => ({ index: p.index, paddr: p.paddr, vaddr: p.vaddr, fileOffset: p.offset, fileSize: p.filesz, memSize: p.memsz }));
    for (const s of this.loadSegments) {
      if (s.fileSize > s.memSize) {
        throw new ParseError(`PT_LOAD ${s.index}: p_filesz ${s.fileSize} is larger than p_memsz ${s.memSize}`, {
          offset: eh.phoff + s.index * eh.phentsize,
          source: src.name,
        });
      }
      const end = s.fileOffset + s.fileSize;
      if (s.fileSize > 0 && end > src.size) {
        truncated = true;
        const have = Math.max(0, src.size - s.fileOffset);
        this.warnings.push(
          `the file is truncated at ${src.size} bytes: PT_LOAD ${s.index} (physical 0x${s.paddr.toString(16)}) has ${have} of its ${s.fileSize} bytes; the rest is lost`,
        );
      }
    }
    this.physSegments = this.physicalMap(eh);
    this.incomplete = (eh.flags & DUMP_ELF_INCOMPLETE) !== 0 || truncated;
    if ((eh.flags & DUMP_ELF_INCOMPLETE) !== 0) {
      this.warnings.push('the dump is marked incomplete (makedumpfile could not write all of it)');
    }
    let top = 0n;
    for (const s of this.physSegments) {
      const end = s.paddr + BigInt(s.memSize);
      if (end > top) top = end;
    }
    const bps = BigInt(this.pageSize);
    this.maxPfn = (top + bps - 1n) / bps;
    this.header = {
      elfClass: eh.class,
      machine: eh.machine,
      eFlags: eh.flags,
      loadSegments: this.loadSegments.length,
    };
  }

  private physicalMap(eh: ElfHeader): LoadSegment[] {
    const segs = this.loadSegments.filter((s) => s.memSize > 0).slice();
    // The kernel text PT_LOAD (kexec-tools', the kernel's own core header) maps RAM another PT_LOAD
    // maps too: x86_64's in __START_KERNEL_map; arm64's image mapping (kimage_voffset) is the segment
    // physically inside another one but at another virtual offset than that one's linear map.
    const delta = (x: LoadSegment) => (x.vaddr - x.paddr) & 0xffffffffffffffffn;
    const isText = (s: LoadSegment) =>
      eh.machine === EM_X86_64
        ? s.vaddr >= X86_64_START_KERNEL_MAP
        : eh.machine === EM_AARCH64 &&
          segs.some((o) => o !== s && o.paddr <= s.paddr && s.paddr + BigInt(s.memSize) <= o.paddr + BigInt(o.memSize) && delta(o) !== delta(s));
    const covered = (t: LoadSegment) =>
      segs.some((o) => o !== t && !isText(o) && o.paddr < t.paddr + BigInt(t.memSize) && t.paddr < o.paddr + BigInt(o.memSize));
    const map = segs.filter((s) => !(isText(s) && covered(s))).sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : 0));
    for (let i = 1; i < map.length; i++) {
      const a = map[i - 1]!;
      const b = map[i]!;
      const aEnd = a.paddr + BigInt(a.memSize);
      if (aEnd > b.paddr) {
        throw new ParseError(
          `PT_LOAD ${a.index} (physical 0x${a.paddr.toString(16)}-0x${aEnd.toString(16)}) and PT_LOAD ${b.index} ` +
            `(from 0x${b.paddr.toString(16)}) overlap: the dump is damaged`,
          { offset: eh.phoff + b.index * eh.phentsize, source: this.source.name, hint: 'the notes are still readable with a tool that skips memory' },
        );
      }
    }
    return map;
  }

  /** The physical segment holding `paddr`, by binary search. */
  private segmentAt(paddr: bigint): LoadSegment | undefined {
    const m = this.physSegments;
    let lo = 0;
    let hi = m.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = m[mid]!;
      if (paddr < s.paddr) hi = mid - 1;
      else if (paddr >= s.paddr + BigInt(s.memSize)) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  whyMissing(pfn: bigint): string | undefined {
    const paddr = pfn * BigInt(this.pageSize);
    const s = this.segmentAt(paddr);
    if (!s) return 'not in any PT_LOAD segment (a hole, or excluded from the dump)';
    const rel = Number(paddr - s.paddr);
    if (rel < s.fileSize && s.fileOffset + rel >= this.source.size) {
      return `lost: the file is truncated at ${this.source.size} bytes, before this page at offset ${s.fileOffset + rel}`;
    }
    return undefined;
  }

  hasPage(pfn: bigint): boolean {
    const paddr = pfn * BigInt(this.pageSize);
    const s = this.segmentAt(paddr);
    if (!s) return false;
    const rel = Number(paddr - s.paddr);
    // The whole page (what readPage reads) must be in the file.
    const inFile = Math.min(this.pageSize, s.memSize - rel, Math.max(0, s.fileSize - rel));
    return rel < s.fileSize && s.fileOffset + rel + inFile <= this.source.size;
  }

  pagesPresent(): bigint {
    let n = 0n;
    for (const r of this.presentRuns()) n += r.endPfn - r.startPfn;
    return n;
  }

  *presentRuns(): Iterable<PfnRun> {
    const ps = BigInt(this.pageSize);
    let cur: PfnRun | undefined;
    for (const s of this.physSegments) {
      const avail = Math.min(s.fileSize, Math.max(0, this.source.size - s.fileOffset));
      if (avail === 0) continue;
      const start = s.paddr / ps;
      const end = (s.paddr + BigInt(avail) + ps - 1n) / ps;
      if (cur && start <= cur.endPfn) {
        if (end > cur.endPfn) cur.endPfn = end;
      } else {
        if (cur) yield cur;
        cur = { startPfn: start, endPfn: end };
      }
    }
    if (cur) yield cur;
  }

  /**
   * The physical address a PT_LOAD maps a virtual address to (its p_vaddr: the x86_64 kernel text
   * view, the direct map in /proc/vmcore), or undefined when no segment with a p_vaddr covers it.
   */
  virtToPhys(vaddr: bigint): bigint | undefined {
    for (const s of this.loadSegments) {
      if (s.vaddr !== 0n && vaddr >= s.vaddr && vaddr < s.vaddr + BigInt(s.memSize)) return s.paddr + (vaddr - s.vaddr);
    }
    return undefined;
  }

  readPage(pfn: bigint): Uint8Array {
    return this.readPhys(pfn * BigInt(this.pageSize), this.pageSize);
  }

  fileRange(paddr: bigint, length: number): number | undefined {
    const s = this.segmentAt(paddr);
    if (!s) return undefined;
    const at = s.fileOffset + Number(paddr - s.paddr);
    return at + length <= s.fileOffset + s.fileSize && at + length <= this.source.size ? at : undefined;
  }

  readPhysInto(paddr: bigint, dst: Uint8Array, off: number, length: number): void {
    const at = this.source.readInto ? this.fileRange(paddr, length) : undefined;
    // Inside one PT_LOAD's file data: one read into dst; anything else (and a short read) as readPhys.
    if (at !== undefined && this.source.readInto!(at, dst, off, length) === length) return;
    dst.set(this.readPhys(paddr, length), off);
  }

  readPhys(paddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const addr = paddr + BigInt(done);
      const s = this.segmentAt(addr);
      if (!s) throw new NotInDumpError(addr, true, 'hole', 'not in any PT_LOAD segment (a hole, or excluded from the dump)');
      const rel = Number(addr - s.paddr);
      const n = Math.min(length - done, s.memSize - rel);
      const fromFile = Math.max(0, Math.min(n, s.fileSize - rel));
      if (fromFile > 0) {
        const bytes = this.source.read(s.fileOffset + rel, fromFile);
        if (bytes.length < fromFile) {
          throw new NotInDumpError(
            addr + BigInt(bytes.length),
            true,
            'lost',
            `lost: the file is truncated at ${this.source.size} bytes (PT_LOAD ${s.index} data runs to ${s.fileOffset + s.fileSize})`,
          );
        }
        out.set(bytes, done);
      }
      done += n; // bytes past p_filesz stay zero
    }
    return out;
  }
}

export const elfCoreReader: DumpReader = {
  name: 'ELF core',
  probe: (src) => isElf(src.read(0, 4)),
  open: (src, opts) => new ElfCoreDump(src, opts),
};

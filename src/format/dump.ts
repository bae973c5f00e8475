// What every crash-dump reader (ELF core, kdump-compressed, flattened) gives the analysis code.
// Readers are small objects with probe + open, registered in open-dump.ts.
import type { ParseError } from '../errors.ts';
import type { ByteSource } from '../io/source.ts';
import type { PageDecoders } from './codecs/index.ts';

/** One ELF note (from an ELF PT_NOTE or the notes a kdump-compressed file copies after its sub-header). */
export interface ElfNote {
  name: string; // "CORE", "VMCOREINFO", "QEMU", ...
  type: number; // NT_PRSTATUS = 1, ...
  desc: Uint8Array;
  /** File offset of the note header, for messages. */
  offset: number;
}

/** A run of physical page frames [startPfn, endPfn) and whether the dump holds them. */
export interface PfnRun {
  startPfn: bigint;
  endPfn: bigint;
}

/** A PT_LOAD of an ELF core: physical and virtual start, sizes, where its bytes are in the file. */
export interface LoadSegment {
  /** Index of the program header. */
  index: number;
  paddr: bigint;
  vaddr: bigint;
  fileOffset: number;
  /** Bytes in the file (p_filesz); the rest up to memSize reads as zeros. */
  fileSize: number;
  memSize: number;
}

export interface Dump {
  readonly source: ByteSource;
  /** "ELF64 core", "kdump-compressed", "flattened kdump-compressed", "flattened ELF64 core" ... */
  readonly format: string;
  /** Page codecs used: "zlib", "lzo", "snappy", "zstd"; empty for uncompressed. */
  readonly compression: string[];
  readonly pageSize: number;
  /** makedumpfile dump level (0-31) when the format records it. */
  readonly dumpLevel: number | undefined;
  /** True when the writer marked the dump incomplete or the file is truncated. */
  readonly incomplete: boolean;
  /** Human-readable problems found while opening (truncation, damage): what is missing, what still reads. */
  readonly warnings: string[];
  readonly notes: ElfNote[];
  /** The note area is damaged here: `notes` holds the notes before the damage. */
  readonly notesError?: ParseError;
  /** The VMCOREINFO text, if the dump has it. */
  readonly vmcoreinfo: string | undefined;
  /** Header facts some formats carry (kdump-compressed: utsname, timestamp, phys_base, nr_cpus). */
  readonly header: Record<string, string | number | bigint | undefined>;
  /** One past the highest page frame number the dump describes. */
  readonly maxPfn: bigint;
  /** Number of page frames whose contents the dump holds. */
  pagesPresent(): bigint;
  /** Runs of page frames present, in order. */
  presentRuns(): Iterable<PfnRun>;
  /**
   * Runs of page frames that are RAM, in order, where the format records it apart from the pages
   * present (kdump-compressed: its 1st bitmap; a filtered dump lacks RAM pages its level excluded).
   */
  ramRuns?(): Iterable<PfnRun>;
  hasPage(pfn: bigint): boolean;
  /** Reads physical memory; throws NotInDumpError for any byte the dump does not hold. */
  readPhys(paddr: bigint, length: number): Uint8Array;
  /**
   * readPhys into `dst` at `off` (the save's page reads): one read of the source straight into it
   * where the format stores the range as it is (an ELF core's PT_LOAD); throws as readPhys does.
   */
  readPhysInto?(paddr: bigint, dst: Uint8Array, off: number, length: number): void;
  /**
   * Where [paddr, paddr+length) lies in the source as it is, in one piece (an ELF core's PT_LOAD
   * file data, within the source's size): its offset, or undefined. Lets the save's workers read
   * pages themselves.
   */
  fileRange?(paddr: bigint, length: number): number | undefined;
  /** One whole page (pageSize bytes); throws NotInDumpError saying why when the dump lacks it. */
  readPage?(pfn: bigint): Uint8Array;
  /** Why the dump lacks page `pfn` ("excluded…", "lost: truncated…"), or undefined when it holds it. */
  whyMissing?(pfn: bigint): string | undefined;
  /** ELF cores: every PT_LOAD as in the file (including the kernel-text view on x86_64). */
  readonly loadSegments?: readonly LoadSegment[];
}

/** How a reader is asked to open a source (`container`, `warnings`: one that came out of a flattened stream). */
export interface OpenOptions {
  /** The page decoders of compressed formats (default: the pure ones, src/format/codecs/index.ts). */
  decoders?: PageDecoders;
  /** Prefix for `format`, e.g. "flattened". */
  container?: string;
  /** Warnings the container found (e.g. truncation), kept in the dump's `warnings`. */
  warnings?: string[];
}

export interface DumpReader {
  readonly name: string;
  /** Cheap check on the first bytes of the source. */
  probe(src: ByteSource): boolean;
  open(src: ByteSource, opts?: OpenOptions): Dump;
}

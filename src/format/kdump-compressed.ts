// kdump-compressed ("diskdump") reader: makedumpfile's default output format.
//
// Layout (block = page size):
//   block 0                      disk_dump_header
//   block 1 .. 1+sub_hdr_size    kdump_sub_header, then the ELF notes copied from /proc/vmcore
//   then bitmap_blocks blocks    1st bitmap (pfn is RAM) + 2nd bitmap (pfn dumped); one bitmap only
//                                in old single-bitmap files
//   data_offset                  page_desc[] (one per set bit of the 2nd bitmap, pfn order), page data
// A page's descriptor index is the number of set bits of the 2nd bitmap before it. We keep the
// count of set bits before each bitmap block (built lazily in one pass), and per cached bitmap block
// a count per 32-bit word, so a lookup is two array reads and one popcount.
import { NotInDumpError, ParseError, type NotInDumpReason } from '../errors.ts';
import { readExactly, type ByteSource } from '../io/source.ts';
import { popcount32 } from './bitmap.ts';
import { CODEC_FLAGS_MASK, codecNames, decoderFor, pageDecoders, type PageDecoders } from './codecs/index.ts';
import type { Dump, DumpReader, ElfNote, OpenOptions, PfnRun } from './dump.ts';
import { parseNotesUpTo } from './elf.ts';
import { Lru } from './lru.ts';
import { readStruct, struct } from './struct.ts';

export const KDUMP_SIGNATURE = 'KDUMP   ';
export const DISKDUMP_SIGNATURE = 'DISKDUMP';
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;
export const DUMP_DH_EXCLUDED_VMEMMAP = 0x10;
export const MAX_HEADER_VERSION = 6;

/** struct disk_dump_header, 64-bit layout (x86_64, aarch64, ...). */
export const DiskDumpHeader = struct('disk_dump_header', 464, {
  signature: { off: 0, type: 'bytes:8' },
  header_version: { off: 8, type: 'i32' },
  sysname: { off: 12, type: 'cstr:65' },
  nodename: { off: 77, type: 'cstr:65' },
  release: { off: 142, type: 'cstr:65' },
  version: { off: 207, type: 'cstr:65' },
  machine: { off: 272, type: 'cstr:65' },
  domainname: { off: 337, type: 'cstr:65' },
  tv_sec: { off: 408, type: 'i64' },
  tv_usec: { off: 416, type: 'i64' },
  status: { off: 424, type: 'u32' },
  block_size: { off: 428, type: 'i32' },
  sub_hdr_size: { off: 432, type: 'i32' },
  bitmap_blocks: { off: 436, type: 'u32' },
  max_mapnr: { off: 440, type: 'u32' },
  total_ram_blocks: { off: 444, type: 'u32' },
  device_blocks: { off: 448, type: 'u32' },
  written_blocks: { off: 452, type: 'u32' },
  current_cpu: { off: 456, type: 'u32' },
  nr_cpus: { off: 460, type: 'i32' },
});

/** struct kdump_sub_header at offset block_size; fields after dump_level exist from the version noted. */
export const KdumpSubHeader = struct('kdump_sub_header', 104, {
  phys_base: { off: 0, type: 'u64' },
  dump_level: { off: 8, type: 'i32' }, // v1
  split: { off: 12, type: 'i32' }, // v2
  start_pfn: { off: 16, type: 'u64' }, // v2
  end_pfn: { off: 24, type: 'u64' }, // v2
  offset_vmcoreinfo: { off: 32, type: 'u64' }, // v3
  size_vmcoreinfo: { off: 40, type: 'u64' }, // v3
  offset_note: { off: 48, type: 'u64' }, // v4
  size_note: { off: 56, type: 'u64' }, // v4
  offset_eraseinfo: { off: 64, type: 'u64' }, // v5
  size_eraseinfo: { off: 72, type: 'u64' }, // v5
  start_pfn_64: { off: 80, type: 'u64' }, // v6
  end_pfn_64: { off: 88, type: 'u64' }, // v6
  max_mapnr_64: { off: 96, type: 'u64' }, // v6
});

/** Size of the sub-header a given header_version writes. */
export function subHeaderSize(version: number): number {
  if (version >= 6) return 104;
  if (version >= 5) return 80;
  if (version >= 4) return 64;
  if (version >= 3) return 48;
  if (version >= 2) return 32;
  if (version >= 1) return 12;
  return 8;
}

export const PageDesc = struct('page_desc', 24, {
  offset: { off: 0, type: 'i64' },
  size: { off: 8, type: 'u32' },
  flags: { off: 12, type: 'u32' },
  page_flags: { off: 16, type: 'u64' },
});

const DESC_GROUP = 128; // descriptors read and cached together (3 KiB)
const PAGE_CACHE_PAGES = 256;
const BITMAP_CACHE_BLOCKS = 32;
const DESC_CACHE_GROUPS = 64;
const INDEX_READ_BLOCKS = 256; // bitmap blocks read at once while building the index

interface BitmapBlock {
  words: Uint32Array;
  /** Set bits before each word of this block. */
  before: Uint32Array;
}

interface Desc {
  offset: number;
  size: number;
  flags: number;
  at: number; // file offset of the descriptor
}

/** Why a page is not in the dump: the explanation and its kind. */
type Missing = { missing: string; reason: NotInDumpReason };
type Located = { desc: Desc } | Missing;

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class KdumpCompressedDump implements Dump {
  readonly source: ByteSource;
  readonly format: string;
  readonly compression: string[];
  readonly pageSize: number;
  readonly dumpLevel: number | undefined;
  readonly incomplete: boolean;
  readonly notes: ElfNote[];
  readonly notesError: ParseError | undefined;
  readonly vmcoreinfo: string | undefined;
  readonly header: Record<string, string | number | bigint | undefined>;
  readonly maxPfn: bigint;
  readonly littleEndian: boolean;
  readonly headerVersion: number;
  /** File offset of the 1st bitmap, the 2nd bitmap, and the page descriptors. */
  readonly bitmap1Offset: number;
  readonly bitmap2Offset: number;
  readonly dataOffset: number;
  readonly bitmapBytes: number;
  readonly twoBitmaps: boolean;

  private readonly openWarnings: string[] = [];
  private readonly maxPfnN: number;
  private readonly splitStart: number;
  private readonly splitEnd: number;
  /** Why no page can be read (bitmap not in the file), or undefined. */
  private readonly unreadable: string | undefined;
  private prefix: Float64Array | undefined; // set bits of the 2nd bitmap before each block
  private readonly bitmapCache = new Lru<number, BitmapBlock>(BITMAP_CACHE_BLOCKS);
  private readonly descCache = new Lru<number, Uint8Array>(DESC_CACHE_GROUPS);
  private readonly pageCache = new Lru<number, Uint8Array>(PAGE_CACHE_PAGES);
  private lateWarnings: string[] | undefined;
  private readonly decoders: PageDecoders;

  /** `container`: "flattened" when src is the file rebuilt from a flattened stream. */
  constructor(src: ByteSource, opts: OpenOptions = {}) {
    this.source = src;
    this.decoders = opts.decoders ?? pageDecoders;
    this.format = opts.container ? `${opts.container} kdump-compressed` : 'kdump-compressed';
    this.openWarnings.push(...(opts.warnings ?? []));
    const raw = readExactly(src, 0, DiskDumpHeader.size, 'kdump-compressed header');
    const sig = String.fromCharCode(...raw.subarray(0, 8));
    if (sig !== KDUMP_SIGNATURE && sig !== DISKDUMP_SIGNATURE) {
      throw new ParseError(`not a kdump-compressed file (signature ${JSON.stringify(sig)})`, { offset: 0, source: src.name });
    }
    // Fields are in the dumped machine's byte order: pick the one giving a sane header_version.
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
    const vLe = dv.getInt32(8, true);
    const vBe = dv.getInt32(8, false);
    if (vLe >= 0 && vLe <= MAX_HEADER_VERSION) this.littleEndian = true;
    else if (vBe >= 0 && vBe <= MAX_HEADER_VERSION) this.littleEndian = false;
    else {
      throw new ParseError(`kdump-compressed header_version ${vLe} is not one this reader knows (0-${MAX_HEADER_VERSION})`, {
        offset: 8,
        source: src.name,
      });
    }
    const le = this.littleEndian;
    const h = readStruct(DiskDumpHeader, raw, 0, le);
    this.headerVersion = h.header_version;
    const bs = h.block_size;
    if (bs < 512 || bs > 1 << 20 || (bs & (bs - 1)) !== 0) {
      throw new ParseError(`kdump-compressed block_size ${bs} is not a power of two between 512 and 1 MiB`, {
        offset: 428,
        source: src.name,
      });
    }
    this.pageSize = bs;
    if (h.sub_hdr_size < 0 || h.sub_hdr_size > 1 << 20) {
      throw new ParseError(`kdump-compressed sub_hdr_size ${h.sub_hdr_size} blocks is absurd`, { offset: 432, source: src.name });
    }

    // Sub-header: only the fields its version has.
    const subSize = subHeaderSize(h.header_version);
    const subRaw = new Uint8Array(KdumpSubHeader.size);
    const subRead = src.read(bs, subSize);
    subRaw.set(subRead);
    if (subRead.length < subSize) this.openWarnings.push(`the file ends inside the sub-header at offset ${bs}`);
    const sh = readStruct(KdumpSubHeader, subRaw, 0, le);
    const v = h.header_version;
    const num = (x: bigint, what: string, at: number): number => {
      if (x > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new ParseError(`kdump-compressed ${what} 0x${x.toString(16)} is absurd`, { offset: at, source: src.name });
      }
      return Number(x);
    };

    this.maxPfn = v >= 6 ? sh.max_mapnr_64 : BigInt(h.max_mapnr);
    this.maxPfnN = num(this.maxPfn, 'max_mapnr', v >= 6 ? bs + 96 : 440);
    const split = v >= 2 && sh.split !== 0;
    this.splitStart = split ? num(v >= 6 ? sh.start_pfn_64 : sh.start_pfn, 'start_pfn', bs + 16) : 0;
    this.splitEnd = split ? num(v >= 6 ? sh.end_pfn_64 : sh.end_pfn, 'end_pfn', bs + 24) : this.maxPfnN;
    this.dumpLevel = v >= 1 ? sh.dump_level : undefined;
    this.incomplete = (h.status & DUMP_DH_COMPRESSED_INCOMPLETE) !== 0;
    this.compression = codecNames(h.status);
    if (this.incomplete) {
      this.openWarnings.push(
        'the dump is marked incomplete (makedumpfile could not finish writing it): pages it did not write read as lost',
      );
    }

    // Notes and VMCOREINFO.
    let notes: ElfNote[] = [];
    let notesError: ParseError | undefined;
    if (v >= 4 && sh.size_note > 0n) {
      const off = num(sh.offset_note, 'offset_note', bs + 48);
      const size = num(sh.size_note, 'size_note', bs + 56);
      const bytes = src.read(off, Math.min(size, 64 << 20));
      if (bytes.length < size) this.openWarnings.push(`ELF notes at offset ${off} (${size} bytes) are cut off by the end of the file`);
      const r = parseNotesUpTo(bytes, le, off, src.name);
      notes = r.notes;
      notesError = r.error;
      if (r.error) this.openWarnings.push(`ELF notes are damaged: ${r.error.message}${notes.length ? ` (the ${notes.length} notes before it read)` : ''}`);
    }
    this.notes = notes;
    this.notesError = notesError;
    const latin1 = new TextDecoder('latin1');
    const infoNote = notes.find((n) => n.name === 'VMCOREINFO');
    let vmcoreinfo = infoNote ? latin1.decode(infoNote.desc) : undefined;
    if (vmcoreinfo === undefined && v >= 3 && sh.size_vmcoreinfo > 0n) {
      const off = num(sh.offset_vmcoreinfo, 'offset_vmcoreinfo', bs + 32);
      const size = Math.min(num(sh.size_vmcoreinfo, 'size_vmcoreinfo', bs + 40), 1 << 20);
      const bytes = src.read(off, size);
      if (bytes.length < size) this.openWarnings.push(`VMCOREINFO at offset ${off} is cut off by the end of the file`);
      if (bytes.length > 0) vmcoreinfo = latin1.decode(bytes);
    }
    this.vmcoreinfo = vmcoreinfo?.replace(/\0+$/, '');

    // Bitmaps.
    const bitmapStart = bs * (1 + h.sub_hdr_size);
    const bitmapTotal = h.bitmap_blocks * bs;
    const perBitmapBlocks = Math.ceil(Math.ceil(this.maxPfnN / 8) / bs);
    this.twoBitmaps = h.bitmap_blocks >= 2 * perBitmapBlocks;
    this.bitmapBytes = this.twoBitmaps ? bitmapTotal / 2 : bitmapTotal;
    if (this.bitmapBytes < Math.ceil(this.maxPfnN / 8)) {
      throw new ParseError(
        `kdump-compressed bitmap_blocks ${h.bitmap_blocks} is too small for max_mapnr ${this.maxPfnN} (needs ${perBitmapBlocks} blocks per bitmap)`,
        { offset: 436, source: src.name },
      );
    }
    this.bitmap1Offset = bitmapStart;
    this.bitmap2Offset = this.twoBitmaps ? bitmapStart + this.bitmapBytes : bitmapStart;
    this.dataOffset = bitmapStart + bitmapTotal;
    const bitmapEnd = this.bitmap2Offset + Math.ceil(this.maxPfnN / 8);
    this.unreadable =
      bitmapEnd > src.size
        ? `no page is readable: the page bitmap (offset ${this.bitmap2Offset}..${bitmapEnd}) lies past the end of the file (${src.size} bytes)`
        : undefined;
    if (this.unreadable) {
      this.openWarnings.push(this.unreadable + '; the header and notes are still readable');
      this.incomplete = true;
    }

    this.header = {
      signature: sig,
      headerVersion: v,
      sysname: h.sysname,
      nodename: h.nodename,
      release: h.release,
      version: h.version,
      machine: h.machine,
      domainname: h.domainname,
      timestampSec: h.tv_sec,
      timestampUsec: h.tv_usec,
      status: h.status,
      blockSize: bs,
      subHdrSize: h.sub_hdr_size,
      bitmapBlocks: h.bitmap_blocks,
      maxMapnr: this.maxPfn,
      currentCpu: h.current_cpu,
      nrCpus: h.nr_cpus,
      physBase: sh.phys_base,
      dumpLevel: this.dumpLevel,
      split: v >= 2 ? sh.split : undefined,
      startPfn: split ? BigInt(this.splitStart) : undefined,
      endPfn: split ? BigInt(this.splitEnd) : undefined,
      offsetEraseinfo: v >= 5 ? sh.offset_eraseinfo : undefined,
      sizeEraseinfo: v >= 5 ? sh.size_eraseinfo : undefined,
    };
  }

  /** Problems found while opening, plus (computed on first use) truncation of descriptors and data. */
  get warnings(): string[] {
    if (!this.lateWarnings) {
      this.lateWarnings = [...this.openWarnings];
      if (!this.unreadable) this.lateWarnings.push(...this.truncationWarnings());
    }
    return this.lateWarnings;
  }

  private truncationWarnings(): string[] {
    const total = this.descCount();
    if (total === 0) return [];
    const descEnd = this.dataOffset + total * PageDesc.size;
    const size = this.source.size;
    if (descEnd > size) {
      const have = Math.max(0, Math.floor((size - this.dataOffset) / PageDesc.size));
      return [
        `the file is truncated at ${size} bytes: it holds ${have} of ${total} page descriptors (needs ${descEnd} bytes); ` +
          `pages past the cut are lost, earlier ones still read`,
      ];
    }
    // Pages are written in pfn order, so the data of the last descriptors ends the file (zero
    // pages all point at one shared copy near the start: take the furthest of the last group).
    let end = 0;
    for (let i = Math.max(0, total - DESC_GROUP); i < total; i++) {
      const d = this.readDesc(i);
      if (d.offset > 0) end = Math.max(end, d.offset + d.size);
    }
    if (end > size) {
      return [
        `the file is truncated at ${size} bytes: the last page's data ends at ${end}; ` +
          `pages whose data lies past the cut are lost, earlier ones still read`,
      ];
    }
    return [];
  }

  // ---- bitmaps and the descriptor index ----

  private bitmapBlock(base: number, block: number): BitmapBlock {
    const key = base === this.bitmap2Offset ? block : -1 - block;
    let b = this.bitmapCache.get(key);
    if (b) return b;
    const bytes = new Uint8Array(this.pageSize);
    bytes.set(this.source.read(base + block * this.pageSize, this.pageSize));
    const words = this.wordsOf(bytes);
    const before = new Uint32Array(words.length);
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      before[i] = n;
      n += popcount32(words[i]!);
    }
    b = { words, before };
    this.bitmapCache.set(key, b);
    return b;
  }

  /** Bitmap bytes as 32-bit words with pfn bit i at (word i>>5, bit i&31) — LSB-first byte order. */
  private wordsOf(bytes: Uint8Array): Uint32Array {
    if (isLittleEndianHost && bytes.byteOffset % 4 === 0) {
      return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const w = new Uint32Array(bytes.length >> 2);
    for (let i = 0; i < w.length; i++) w[i] = dv.getUint32(i * 4, true);
    return w;
  }

  private bit(base: number, pfn: number): boolean {
    const bitsPerBlock = this.pageSize * 8;
    const b = this.bitmapBlock(base, Math.floor(pfn / bitsPerBlock));
    const i = pfn % bitsPerBlock;
    return ((b.words[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** Set bits of the 2nd bitmap before each bitmap block; one pass over the bitmap, on first use. */
  private index(): Float64Array {
    if (this.prefix) return this.prefix;
    const bitsPerBlock = this.pageSize * 8;
    const blocks = Math.ceil(this.maxPfnN / bitsPerBlock);
    const prefix = new Float64Array(blocks + 1);
    let count = 0;
    for (let first = 0; first < blocks; first += INDEX_READ_BLOCKS) {
      const n = Math.min(INDEX_READ_BLOCKS, blocks - first);
      const bytes = new Uint8Array(n * this.pageSize);
      bytes.set(this.source.read(this.bitmap2Offset + first * this.pageSize, bytes.length));
      const words = this.wordsOf(bytes);
      const wordsPerBlock = this.pageSize / 4;
      for (let b = 0; b < n; b++) {
        const blockNo = first + b;
        prefix[blockNo] = count;
        // Only bits below maxPfn (and within a split file's range) count.
        const lo = blockNo * bitsPerBlock;
        for (let w = 0; w < wordsPerBlock; w++) {
          let word = words[b * wordsPerBlock + w]!;
          if (word === 0) continue;
          const pfn0 = lo + w * 32;
          if (pfn0 + 32 > this.maxPfnN || pfn0 < this.splitStart || pfn0 + 32 > this.splitEnd) {
            word = this.maskWord(word, pfn0);
          }
          count += popcount32(word);
        }
      }
    }
    prefix[blocks] = count;
    this.prefix = prefix;
    return prefix;
  }

  /** Clears bits of `word` (pfns pfn0..pfn0+31) outside [splitStart, min(splitEnd, maxPfn)). */
  private maskWord(word: number, pfn0: number): number {
    const end = Math.min(this.splitEnd, this.maxPfnN);
    for (let i = 0; i < 32; i++) {
      const p = pfn0 + i;
      if (p < this.splitStart || p >= end) word &= ~(1 << i);
    }
    return word >>> 0;
  }

  private descCount(): number {
    if (this.unreadable) return 0;
    const p = this.index();
    return p[p.length - 1]!;
  }

  /** Index of pfn's descriptor (pfn must have its 2nd-bitmap bit set and lie in the split range). */
  private descIndex(pfn: number): number {
    const bitsPerBlock = this.pageSize * 8;
    const blockNo = Math.floor(pfn / bitsPerBlock);
    const b = this.bitmapBlock(this.bitmap2Offset, blockNo);
    const i = pfn % bitsPerBlock;
    const w = i >>> 5;
    const below = (i & 31) === 0 ? 0 : b.words[w]! & (0xffffffff >>> (32 - (i & 31)));
    let n = this.index()[blockNo]! + b.before[w]! + popcount32(below);
    if (this.splitStart > 0) {
      // Bits before the split range in this block were counted by `before` but have no descriptor.
      const lo = blockNo * bitsPerBlock;
      for (let p = lo; p < Math.min(this.splitStart, pfn); p++) if (this.bit(this.bitmap2Offset, p)) n--;
    }
    return n;
  }

  private readDesc(index: number): Desc {
    const group = Math.floor(index / DESC_GROUP);
    let bytes = this.descCache.get(group);
    if (!bytes) {
      bytes = this.source.read(this.dataOffset + group * DESC_GROUP * PageDesc.size, DESC_GROUP * PageDesc.size);
      this.descCache.set(group, bytes);
    }
    const at = this.dataOffset + index * PageDesc.size;
    const rel = (index % DESC_GROUP) * PageDesc.size;
    if (rel + PageDesc.size > bytes.length) return { offset: -1, size: 0, flags: 0, at };
    const d = readStruct(PageDesc, bytes, rel, this.littleEndian);
    const offset = d.offset < 0n || d.offset > BigInt(Number.MAX_SAFE_INTEGER) ? -2 : Number(d.offset);
    return { offset, size: d.size, flags: d.flags, at };
  }

  private locate(pfn: bigint): Located {
    if (this.unreadable) return { missing: this.unreadable, reason: 'lost' };
    if (pfn < 0n || pfn >= this.maxPfn) {
      return { missing: `beyond the memory the dump describes (it ends at pfn 0x${this.maxPfn.toString(16)})`, reason: 'hole' };
    }
    const p = Number(pfn);
    if (p < this.splitStart || p >= this.splitEnd) {
      return {
        missing: `in another file of this split dump (this file holds pfns 0x${this.splitStart.toString(16)}-0x${this.splitEnd.toString(16)})`,
        reason: 'lost',
      };
    }
    if (!this.bit(this.bitmap2Offset, p)) {
      if (this.twoBitmaps && !this.bit(this.bitmap1Offset, p)) return { missing: 'not RAM (a hole in the physical memory map)', reason: 'hole' };
      return {
        missing: `excluded from the dump${this.dumpLevel !== undefined ? ` (makedumpfile dump level ${this.dumpLevel})` : ''}`,
        reason: 'excluded',
      };
    }
    const desc = this.readDesc(this.descIndex(p));
    if (desc.offset === -1) {
      return { missing: `lost: the file is truncated at ${this.source.size} bytes, before this page's descriptor at offset ${desc.at}`, reason: 'lost' };
    }
    if (desc.offset === 0) {
      return {
        missing: this.incomplete
          ? 'lost: the dump is incomplete and this page was never written'
          : `lost: its page descriptor (offset ${desc.at}) is empty: the file is damaged or was not finished`,
        reason: 'lost',
      };
    }
    return { desc };
  }

  /** The checked descriptor and stored bytes of a page, or why the dump lacks it. */
  private stored(pfn: bigint, loc: { desc: Desc }): { desc: Desc; data: Uint8Array } | Missing {
    const d = loc.desc;
    const where = { offset: d.at, source: this.source.name, hint: 'the dump is damaged' };
    const what = `page descriptor of pfn 0x${pfn.toString(16)} at offset ${d.at}`;
    if (d.offset === -2) throw new ParseError(`${what} has an absurd data offset`, where);
    if (d.size === 0 || d.size > this.pageSize) {
      throw new ParseError(`${what} has an absurd size ${d.size} (page size ${this.pageSize})`, where);
    }
    if ((d.flags & ~CODEC_FLAGS_MASK) !== 0) throw new ParseError(`${what} has unknown flags 0x${d.flags.toString(16)}`, where);
    if (d.flags === 0 && d.size !== this.pageSize) {
      throw new ParseError(`${what}: an uncompressed page of ${d.size} bytes, not the page size ${this.pageSize}`, where);
    }
    const data = this.source.read(d.offset, d.size);
    if (data.length < d.size) {
      return { missing: `lost: the file is truncated at ${this.source.size} bytes, before this page's data at offset ${d.offset}..${d.offset + d.size}`, reason: 'lost' };
    }
    return { desc: d, data };
  }

  /**
   * A page as stored: its codec flags (0 = raw) and bytes, undecoded — for copying pages into another
   * kdump-compressed file without recompressing (KdumpCompressedWriter.writeStoredPage).
   */
  storedPage(pfn: bigint): { flags: number; data: Uint8Array } {
    const loc = this.locate(pfn);
    const s = 'missing' in loc ? loc : this.stored(pfn, loc);
    if ('missing' in s) throw new NotInDumpError(pfn * BigInt(this.pageSize), true, s.reason, s.missing);
    return { flags: s.desc.flags, data: s.data };
  }

  private pageOf(pfn: bigint): Uint8Array | Missing {
    const loc = this.locate(pfn);
    if ('missing' in loc) return loc;
    const cached = this.pageCache.get(loc.desc.offset);
    if (cached) return cached;
    const s = this.stored(pfn, loc);
    if ('missing' in s) return s;
    const { desc: d, data } = s;
    const codec = decoderFor(d.flags, this.decoders);
    let page: Uint8Array;
    if (!codec) {
      page = data.slice();
    } else {
      const where = { offset: d.offset, source: this.source.name, hint: 'the dump is damaged' };
      try {
        page = codec.decompress(data, this.pageSize);
      } catch (e) {
        throw new ParseError(`${codec.name} data of pfn 0x${pfn.toString(16)} at offset ${d.offset} does not decompress: ${(e as Error).message}`, where);
      }
      if (page.length !== this.pageSize) {
        throw new ParseError(
          `${codec.name} data of pfn 0x${pfn.toString(16)} at offset ${d.offset} decompresses to ${page.length} bytes, not ${this.pageSize}`,
          where,
        );
      }
    }
    this.pageCache.set(d.offset, page);
    return page;
  }

  // ---- Dump interface ----

  pagesPresent(): bigint {
    return BigInt(this.descCount());
  }

  presentRuns(): Iterable<PfnRun> {
    return this.runsOf(this.bitmap2Offset);
  }

  /** Runs of page frames that are RAM: the 1st bitmap (the 2nd when the dump has only one). */
  ramRuns(): Iterable<PfnRun> {
    return this.runsOf(this.bitmap1Offset);
  }

  /** Runs of set bits of the bitmap at `base`, within this file's pfn range. */
  private *runsOf(base: number): Iterable<PfnRun> {
    if (this.unreadable) return;
    const bitsPerBlock = this.pageSize * 8;
    const end = Math.min(this.maxPfnN, this.splitEnd);
    let runStart = -1;
    for (let blockNo = Math.floor(this.splitStart / bitsPerBlock); blockNo * bitsPerBlock < end; blockNo++) {
      const b = this.bitmapBlock(base, blockNo);
      for (let w = 0; w < b.words.length; w++) {
        const word = b.words[w]!;
        const pfn0 = blockNo * bitsPerBlock + w * 32;
        if (pfn0 >= end) break;
        // Whole words that cannot start or end a run are skipped without looking at their bits.
        const inRange = pfn0 >= this.splitStart && pfn0 + 32 <= end;
        if ((word === 0 && runStart < 0) || (word === 0xffffffff && runStart >= 0 && inRange)) continue;
        for (let i = 0; i < 32; i++) {
          const p = pfn0 + i;
          const set = p >= this.splitStart && p < end && ((word >>> i) & 1) === 1;
          if (set && runStart < 0) runStart = p;
          else if (!set && runStart >= 0) {
            yield { startPfn: BigInt(runStart), endPfn: BigInt(p) };
            runStart = -1;
          }
        }
      }
    }
    if (runStart >= 0) yield { startPfn: BigInt(runStart), endPfn: BigInt(end) };
  }

  /**
   * What each of the file's byte ranges holds: any of the headers (everything before the 1st
   * bitmap), the header's status word, the page frames whose bitmap bits it holds, and the page
   * frames whose descriptor or data lies in it (for naming damaged bytes as pages). Pages are placed
   * only when no range holds headers or bitmaps; a descriptor inside any range is not followed: its
   * page is counted in the range that holds the descriptor.
   */
  pagesStoredIn(ranges: readonly (readonly [number, number])[]): { headers: boolean; status: boolean; bitmapPfns: PfnRun[]; pages: PfnRun[] }[] {
    // The status word (compression flags, "incomplete") is rewritten at the end of a save; each
    // page's descriptor names its own codec, so pages are placed without it.
    const st = DiskDumpHeader.fields.status.off;
    const bitmaps = this.twoBitmaps ? [this.bitmap1Offset, this.bitmap2Offset] : [this.bitmap2Offset];
    const out = ranges.map(([a, b]) => ({
      headers: (a < st && 0 < b) || (a < this.bitmap1Offset && st + 4 < b),
      status: a < st + 4 && st < b,
      bitmapPfns: bitmaps.flatMap((base) => {
        const s = Math.max(a, base);
        const e = Math.min(b, base + this.bitmapBytes);
        return s < e ? [{ startPfn: BigInt((s - base) * 8), endPfn: BigInt((e - base) * 8) }] : [];
      }),
      pages: [] as PfnRun[],
    }));
    if (this.unreadable || out.some((r) => r.headers || r.bitmapPfns.length > 0)) return out;
    const add = (r: number, pfn: number) => {
      const runs = out[r]!.pages;
      const last = runs[runs.length - 1];
      if (last && last.endPfn === BigInt(pfn)) last.endPfn = BigInt(pfn + 1);
      else runs.push({ startPfn: BigInt(pfn), endPfn: BigInt(pfn + 1) });
    };
    const inRange = (s: number, e: number): number => ranges.findIndex(([a, b]) => a < e && s < b);
    let index = 0;
    for (const run of this.presentRuns()) {
      for (let pfn = Number(run.startPfn); pfn < Number(run.endPfn); pfn++, index++) {
        const at = this.dataOffset + index * PageDesc.size;
        let r = inRange(at, at + PageDesc.size);
        if (r < 0) {
          const d = this.readDesc(index);
          if (d.offset >= 0) r = inRange(d.offset, d.offset + Math.max(1, d.size));
        }
        if (r >= 0) add(r, pfn);
      }
    }
    return out;
  }

  hasPage(pfn: bigint): boolean {
    const loc = this.locate(pfn);
    return 'desc' in loc && loc.desc.offset + loc.desc.size <= this.source.size;
  }

  /** One whole page, decompressed; throws NotInDumpError saying why when the dump lacks it. */
  readPage(pfn: bigint): Uint8Array {
    const page = this.pageOf(pfn);
    if (!(page instanceof Uint8Array)) throw new NotInDumpError(pfn * BigInt(this.pageSize), true, page.reason, page.missing);
    return page;
  }

  /** Why the dump lacks `pfn`, or undefined when it holds it. */
  whyMissing(pfn: bigint): string | undefined {
    const loc = this.locate(pfn);
    return 'missing' in loc ? loc.missing : undefined;
  }

  readPhys(paddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const ps = BigInt(this.pageSize);
    let done = 0;
    while (done < length) {
      const addr = paddr + BigInt(done);
      const page = this.pageOf(addr / ps);
      if (!(page instanceof Uint8Array)) throw new NotInDumpError(addr, true, page.reason, page.missing);
      const off = Number(addr % ps);
      const n = Math.min(length - done, this.pageSize - off);
      out.set(page.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }
}

export const kdumpCompressedReader: DumpReader = {
  name: 'kdump-compressed',
  probe(src) {
    const sig = String.fromCharCode(...src.read(0, 8));
    return sig === KDUMP_SIGNATURE || sig === DISKDUMP_SIGNATURE;
  },
  open: (src, opts) => new KdumpCompressedDump(src, opts),
};

// kdump-compressed writer: the file makedumpfile 1.7.x writes (header version 6), streamed.
//
// Two ways to give the bitmaps (which pfns are RAM, which are dumped):
//   whole, in the options (small dumps, tests): the writer is ready for pages at once;
//   window by window, as makedumpfile's cyclic mode does: writeBitmaps() for consecutive pfn windows
//   from 0 to maxPfn (each written at its place in both bitmaps, the dumped pages counted), then
//   startPages() (the descriptor table's size is known now), then per window pageWindow() and that
//   window's pages. The caller recomputes a window's bits for the second pass.
// Pages come in pfn order; page data goes straight out after the descriptor table, descriptors are
// written in batches. Memory: one descriptor batch and the caller's window, whatever maxPfn is.
// All-zero stretches of the bitmaps are left unwritten (holes), so a huge sparse address range
// costs no disk either.
// Older header versions (1-5) can be written too, for tests of readers.
import { getBit, popcountBitmap } from './bitmap.ts';
import { CODEC_FLAGS_MASK, codecFlag, type CodecName } from './codecs/index.ts';
import type { PageCompressor } from './codecs/compress.ts';
import {
  DUMP_DH_COMPRESSED_INCOMPLETE,
  DiskDumpHeader,
  KDUMP_SIGNATURE,
  KdumpSubHeader,
  PageDesc,
  subHeaderSize,
} from './kdump-compressed.ts';
import { parseNotes } from './elf.ts';
import { CoalescingSink, type ByteSink } from './sink.ts';
import { encodeStruct, writeStruct } from './struct.ts';

export interface Utsname {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  domainname: string;
}

export interface KdumpWriterOptions {
  pageSize: number;
  /** One past the highest pfn the bitmaps describe. */
  maxPfn: bigint;
  /**
   * 2nd bitmap, whole: bit pfn set = the page is dumped (LSB-first bytes, at least ceil(maxPfn/8)
   * long). Leave out to give the bitmaps window by window (writeBitmaps, startPages, pageWindow).
   */
  dumpBitmap?: Uint8Array;
  /** 1st bitmap, whole: bit pfn set = the pfn is RAM; defaults to the dump bitmap. */
  ramBitmap?: Uint8Array;
  utsname: Utsname;
  timestamp?: { sec: bigint; usec: bigint };
  /** Codec recorded in the header; pages the compressor cannot shrink are stored raw. */
  codec?: CodecName;
  compress?: PageCompressor;
  /** The ELF notes to copy (the PT_NOTE contents of /proc/vmcore: PRSTATUS per CPU, VMCOREINFO). */
  notes?: Uint8Array;
  physBase?: bigint;
  dumpLevel?: number;
  nrCpus?: number;
  currentCpu?: number;
  /** Store every all-zero page once and point their descriptors at it (makedumpfile does). Default true. */
  shareZeroPages?: boolean;
  /** 1-6; default 6. Versions below 6 record max_mapnr in 32 bits only. */
  headerVersion?: number;
  /** Write only the dump bitmap, as old single-bitmap files do (for tests of readers). */
  singleBitmap?: boolean;
  /** Byte order of the dumped machine (default little endian); notes must already be in it. */
  bigEndian?: boolean;
}

export interface KdumpWriterResult {
  pagesWritten: number;
  zeroPages: number;
  rawPages: number;
  /** Pages recorded with writeLostPage. */
  lostPages: number;
  /** File size. */
  bytes: number;
}

const DESC_BATCH = 512;
const SPARSE_CHUNK = 1 << 16;

/** True if every byte is zero (a word at a time where the view is aligned). */
function allZero(b: Uint8Array): boolean {
  let i = 0;
  if ((b.byteOffset & 3) === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (; i < w.length; i++) if (w[i] !== 0) return false;
    i <<= 2;
  }
  for (; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export class KdumpCompressedWriter {
  readonly pageSize: number;
  /** File offsets of the 1st and 2nd bitmaps (the same with singleBitmap). */
  readonly bitmap1Offset: number;
  readonly bitmap2Offset: number;
  /** File offset of the descriptor table. */
  readonly dataOffset: number;
  private readonly sink: CoalescingSink;
  private readonly opts: KdumpWriterOptions;
  private readonly flag: number;
  private readonly le: boolean;
  private readonly headerBytes: Uint8Array;
  private readonly scratch: Uint8Array;
  private readonly maxPfnN: number;
  /** Bytes of each bitmap in the file (whole blocks). */
  private readonly bitmapArea: number;
  /** Bitmaps given up to this pfn; dumped pages among them. */
  private bitmapPfn = 0;
  private dumped = 0;
  /** Dumped pages per bitmap window given, to check the second pass against. */
  private readonly windowCounts: number[] = [];
  private total = -1;
  /** The window pages are written in: its dump bits (bit 0 = start), and how many it holds. */
  private win: { start: number; end: number; bits: Uint8Array; index: number } | undefined;
  /** Descriptor index the current window's pages end at. */
  private windowEndIndex = 0;
  private nextIndex = 0;
  private lastPfn = -1;
  private dataPos = 0;
  private zeroDesc: Uint8Array | undefined;
  private readonly descBatch: Uint8Array;
  private readonly descView: DataView;
  private batchFirst = 0;
  private batchCount = 0;
  private zeroPages = 0;
  private rawPages = 0;
  private lostPages = 0;
  private finished = false;

  constructor(sink: ByteSink, opts: KdumpWriterOptions) {
    this.opts = opts;
    this.sink = new CoalescingSink(sink);
    const bs = opts.pageSize;
    this.pageSize = bs;
    this.maxPfnN = Number(opts.maxPfn);
    const v = opts.headerVersion ?? 6;
    if (v < 1 || v > 6) throw new RangeError(`header version ${v} is not 1-6`);
    if (v < 6 && opts.maxPfn > 0xffffffffn) throw new RangeError('header versions below 6 hold max_mapnr in 32 bits');
    this.flag = opts.codec ? codecFlag(opts.codec) : 0;
    this.le = !opts.bigEndian;
    if (this.flag !== 0 && !opts.compress) throw new RangeError(`codec ${opts.codec} needs a compressor`);
    const bitmapLen = Math.ceil(this.maxPfnN / 8);
    if (opts.ramBitmap && !opts.dumpBitmap) throw new RangeError('a whole ramBitmap needs the whole dumpBitmap too');
    if (opts.dumpBitmap && (opts.dumpBitmap.length < bitmapLen || (opts.ramBitmap && opts.ramBitmap.length < bitmapLen))) {
      throw new RangeError(`bitmaps must hold ${bitmapLen} bytes for ${this.maxPfnN} pfns`);
    }

    // Sub-header, then the notes right after it (offset_note = block_size + sizeof(sub-header)).
    const notes = v >= 3 ? (opts.notes ?? new Uint8Array(0)) : new Uint8Array(0);
    const subSize = subHeaderSize(v);
    const noteOffset = bs + KdumpSubHeader.size;
    const subHdrBlocks = Math.max(1, Math.ceil((KdumpSubHeader.size + notes.length) / bs));
    const bitmapBlocksEach = Math.ceil(bitmapLen / bs);
    this.bitmapArea = bitmapBlocksEach * bs;
    this.bitmap1Offset = bs * (1 + subHdrBlocks);
    const bitmapCount = opts.singleBitmap ? 1 : 2;
    this.bitmap2Offset = this.bitmap1Offset + (bitmapCount - 1) * this.bitmapArea;
    this.dataOffset = this.bitmap1Offset + bitmapCount * this.bitmapArea;
    this.descBatch = new Uint8Array(DESC_BATCH * PageDesc.size);
    this.descView = new DataView(this.descBatch.buffer);
    this.scratch = new Uint8Array(bs + 1024);

    const u = opts.utsname;
    this.headerBytes = encodeStruct(DiskDumpHeader, {
      signature: new TextEncoder().encode(KDUMP_SIGNATURE),
      header_version: v,
      sysname: u.sysname,
      nodename: u.nodename,
      release: u.release,
      version: u.version,
      machine: u.machine,
      domainname: u.domainname,
      tv_sec: opts.timestamp?.sec ?? 0n,
      tv_usec: opts.timestamp?.usec ?? 0n,
      status: this.flag,
      block_size: bs,
      sub_hdr_size: subHdrBlocks,
      bitmap_blocks: bitmapCount * bitmapBlocksEach,
      max_mapnr: Math.min(this.maxPfnN, 0xffffffff),
      current_cpu: opts.currentCpu ?? 0,
      nr_cpus: opts.nrCpus ?? 1,
    }, this.le);
    this.sink.write(0, this.headerBytes);

    let infoOffset = 0;
    let infoSize = 0;
    if (notes.length > 0) {
      const info = parseNotes(notes, this.le).find((n) => n.name === 'VMCOREINFO');
      if (info) {
        infoSize = info.desc.length;
        infoOffset = noteOffset + info.offset + 12 + ((info.name.length + 1 + 3) & ~3);
      }
    }
    const sub = encodeStruct(KdumpSubHeader, {
      phys_base: opts.physBase ?? 0n,
      dump_level: opts.dumpLevel ?? 0,
      offset_vmcoreinfo: BigInt(infoOffset),
      size_vmcoreinfo: BigInt(infoSize),
      offset_note: v >= 4 ? BigInt(noteOffset) : 0n,
      size_note: v >= 4 ? BigInt(notes.length) : 0n,
      max_mapnr_64: opts.maxPfn,
    }, this.le);
    this.sink.write(bs, sub.subarray(0, subSize));
    if (notes.length > 0) this.sink.write(noteOffset, notes);

    if (opts.dumpBitmap) {
      if (this.maxPfnN > 0) this.writeBitmaps(0, this.maxPfnN, opts.ramBitmap ?? opts.dumpBitmap, opts.dumpBitmap);
      this.startPages();
      if (this.maxPfnN > 0) this.pageWindow(0, this.maxPfnN, opts.dumpBitmap);
    }
  }

  /** Dumped pages in the file: known once every bitmap window is given (startPages). */
  get pagesTotal(): number {
    if (this.total < 0) throw new Error('the page count is known after startPages()');
    return this.total;
  }

  /**
   * Writes the bitmaps of page frames [startPfn, endPfn): `ram` and `dump` hold their bits from bit
   * 0 = startPfn. Windows come in order, each starting where the last ended (a multiple of 8),
   * the last one ending at maxPfn.
   */
  writeBitmaps(startPfn: number, endPfn: number, ram: Uint8Array, dump: Uint8Array): void {
    if (startPfn !== this.bitmapPfn || startPfn % 8 !== 0 || endPfn <= startPfn || endPfn > this.maxPfnN) {
      throw new RangeError(`bitmap window ${startPfn}-${endPfn}: windows go in order from pfn ${this.bitmapPfn}, start on a multiple of 8 and end by ${this.maxPfnN}`);
    }
    const nbits = endPfn - startPfn;
    const len = Math.ceil(nbits / 8);
    if (ram.length < len || dump.length < len) throw new RangeError(`bitmap window ${startPfn}-${endPfn} needs ${len} bytes`);
    const count = popcountBitmap(dump, nbits);
    // The last window carries the tail: bits past maxPfn cleared, zeros to the end of the block.
    const last = endPfn === this.maxPfnN;
    const bytes = (b: Uint8Array): Uint8Array => {
      if (!last) return b.subarray(0, len);
      const out = new Uint8Array(this.bitmapArea - (startPfn >> 3));
      out.set(b.subarray(0, len));
      if (nbits % 8 !== 0) out[len - 1]! &= (1 << (nbits % 8)) - 1;
      return out;
    };
    if (!this.opts.singleBitmap) this.writeSparse(this.bitmap1Offset + (startPfn >> 3), bytes(ram), last);
    this.writeSparse(this.bitmap2Offset + (startPfn >> 3), bytes(dump), last);
    this.windowCounts.push(count);
    this.dumped += count;
    this.bitmapPfn = endPfn;
  }

  /**
   * Writes bitmap bytes leaving all-zero 64 KiB stretches unwritten (they read as zeros: a holey
   * address space costs no disk); `end` writes the last stretch anyway, so the file reaches it.
   */
  private writeSparse(offset: number, b: Uint8Array, end: boolean): void {
    let from = -1;
    for (let i = 0; i < b.length; i += SPARSE_CHUNK) {
      const zero = allZero(b.subarray(i, i + SPARSE_CHUNK)) && !(end && i + SPARSE_CHUNK >= b.length);
      if (!zero && from < 0) from = i;
      if (zero && from >= 0) {
        this.sink.write(offset + from, b.subarray(from, i));
        from = -1;
      }
    }
    if (from >= 0) this.sink.write(offset + from, b.subarray(from));
  }

  /** After the last bitmap window: places the descriptor table and the data, ready for pages. */
  startPages(): void {
    if (this.total >= 0) return;
    if (this.bitmapPfn !== this.maxPfnN && this.maxPfnN > 0) throw new RangeError(`bitmaps given up to pfn ${this.bitmapPfn} of ${this.maxPfnN}`);
    this.total = this.dumped;
    this.dataPos = this.dataOffset + this.total * PageDesc.size;
    if (this.opts.shareZeroPages ?? true) {
      // The shared zero page goes first in the data area.
      const bs = this.pageSize;
      const zero = new Uint8Array(bs);
      const n = this.flag ? this.opts.compress!(zero, this.scratch) : bs;
      const stored = n < bs ? this.scratch.slice(0, n) : zero;
      this.zeroDesc = encodeStruct(PageDesc, { offset: BigInt(this.dataPos), size: stored.length, flags: n < bs ? this.flag : 0 }, this.le);
      this.sink.write(this.dataPos, stored);
      this.dataPos += stored.length;
    }
  }

  /**
   * The next window's pages follow: `dump` holds the dump bits of [startPfn, endPfn) again (bit 0 =
   * startPfn), for the same window given to writeBitmaps, and must select as many pages as it did.
   * Every page of the previous window must be written first.
   */
  pageWindow(startPfn: number, endPfn: number, dump: Uint8Array): void {
    if (this.total < 0) throw new Error('pageWindow() comes after startPages()');
    const index = this.win ? this.win.index + 1 : 0;
    if (this.win && this.nextIndex !== this.windowEndIndex) throw new RangeError(`pages of window ${this.win.start}-${this.win.end} are not all written`);
    const expectStart = this.win ? this.win.end : 0;
    if (startPfn !== expectStart || index >= this.windowCounts.length) throw new RangeError(`page window ${startPfn}-${endPfn} is not the next bitmap window`);
    const count = popcountBitmap(dump, endPfn - startPfn);
    if (count !== this.windowCounts[index]) {
      throw new Error(`page window ${startPfn}-${endPfn} selects ${count} pages, its bitmap ${this.windowCounts[index]}: the dump read differently the second time`);
    }
    this.win = { start: startPfn, end: endPfn, bits: dump, index };
    this.windowEndIndex = this.nextIndex + count;
    this.lastPfn = startPfn - 1;
  }

  private nextDumpedPfn(after: number): number {
    const w = this.win;
    if (!w) return -1;
    const bits = w.bits;
    const n = w.end - w.start;
    for (let p = Math.max(0, after + 1 - w.start); p < n; p++) {
      if ((p & 7) === 0) {
        while (p + 8 <= n && bits[p >> 3] === 0) p += 8;
        if (p >= n) break;
      }
      if (getBit(bits, p)) return w.start + p;
    }
    return -1;
  }

  private checkPfn(pfn: number | bigint): void {
    if (this.finished) throw new Error('the dump is already finished');
    const expected = this.nextDumpedPfn(this.lastPfn);
    if (Number(pfn) !== expected) {
      throw new RangeError(
        expected < 0
          ? `pfn 0x${pfn.toString(16)}: every page the bitmap ${this.win && this.win.end < this.maxPfnN ? 'window ' : ''}selects is written already`
          : `pages go in bitmap order: expected pfn 0x${expected.toString(16)}, got 0x${pfn.toString(16)}`,
      );
    }
    this.lastPfn = expected;
  }

  /** Writes the next dumped page (the next set bit of the dump bitmap), compressing it. */
  writePage(pfn: number | bigint, page: Uint8Array): void {
    if (page.length !== this.pageSize) throw new RangeError(`a page is ${this.pageSize} bytes, got ${page.length}`);
    this.checkPfn(pfn);
    if (this.zeroDesc && allZero(page)) {
      this.zeroPages++;
      this.addDesc(this.zeroDesc);
      return;
    }
    let n = this.pageSize;
    if (this.flag) n = this.opts.compress!(page, this.scratch);
    if (n < this.pageSize) this.store(this.scratch.subarray(0, n), this.flag);
    else this.store(page, 0);
  }

  /** Writes the next dumped page as a zero page (the shared zero page's descriptor when sharing). */
  writeZeroPage(pfn: number | bigint): void {
    if (!this.zeroDesc) return this.writePage(pfn, new Uint8Array(this.pageSize));
    this.checkPfn(pfn);
    this.zeroPages++;
    this.addDesc(this.zeroDesc);
  }

  /**
   * Records the next dumped page as lost (it could not be read): its descriptor stays empty, which
   * readers show as lost, and finish() marks the dump incomplete.
   */
  writeLostPage(pfn: number | bigint): void {
    this.checkPfn(pfn);
    this.lostPages++;
    this.addDesc(new Uint8Array(PageDesc.size));
  }

  /** Writes the next dumped page as already-stored data (flags 0 = raw, else its codec bit). */
  writeStoredPage(pfn: number | bigint, flags: number, data: Uint8Array): void {
    if ((flags & ~CODEC_FLAGS_MASK) !== 0) throw new RangeError(`unknown page flags 0x${flags.toString(16)}`);
    if (flags === 0 && data.length !== this.pageSize) throw new RangeError('a raw page must be one page long');
    this.checkPfn(pfn);
    this.store(data, flags);
  }

  private store(data: Uint8Array, flags: number): void {
    if (flags === 0) this.rawPages++;
    // The descriptor goes straight into the batch (PageDesc: offset i64, size u32, flags u32,
    // page_flags u64 = 0): no object or array per page.
    // The offset as two 32-bit halves (dataPos < 2^53): no BigInt per page.
    const o = this.batchCount * PageDesc.size;
    const dv = this.descView;
    const le = this.le;
    const lo = this.dataPos % 0x100000000;
    const hi = (this.dataPos - lo) / 0x100000000;
    dv.setUint32(o + (le ? 0 : 4), lo, le);
    dv.setUint32(o + (le ? 4 : 0), hi, le);
    dv.setUint32(o + 8, data.length, le);
    dv.setUint32(o + 12, flags, le);
    dv.setUint32(o + 16, 0, le);
    dv.setUint32(o + 20, 0, le);
    this.descAdded();
    this.sink.write(this.dataPos, data);
    this.dataPos += data.length;
  }

  private addDesc(desc: Uint8Array): void {
    this.descBatch.set(desc, this.batchCount * PageDesc.size);
    this.descAdded();
  }

  private descAdded(): void {
    this.batchCount++;
    this.nextIndex++;
    if (this.batchCount === DESC_BATCH) this.flushDescs();
  }

  private flushDescs(): void {
    if (this.batchCount === 0) return;
    this.sink.write(this.dataOffset + this.batchFirst * PageDesc.size, this.descBatch.subarray(0, this.batchCount * PageDesc.size));
    this.batchFirst += this.batchCount;
    this.batchCount = 0;
  }

  /**
   * Writes the remaining descriptors. With `incomplete` (or when pages are missing) the header is
   * marked DUMP_DH_COMPRESSED_INCOMPLETE: descriptors never written stay zero, which readers show
   * as lost pages.
   */
  finish(opts: { incomplete?: boolean } = {}): KdumpWriterResult {
    if (!this.finished) {
      this.flushDescs();
      const total = Math.max(this.total, this.dumped);
      const incomplete = opts.incomplete || this.total < 0 || this.nextIndex < total || this.lostPages > 0;
      if (incomplete) {
        writeStruct(DiskDumpHeader, this.headerBytes, { status: this.flag | DUMP_DH_COMPRESSED_INCOMPLETE }, 0, this.le);
        this.sink.write(0, this.headerBytes);
      }
      // Make sure the file reaches the end of the descriptor table even if pages are missing.
      const tableEnd = this.dataOffset + total * PageDesc.size;
      if (this.total >= 0 && this.nextIndex < total && this.dataPos <= tableEnd) this.sink.write(tableEnd - 1, new Uint8Array(1));
      this.sink.flush();
      this.finished = true;
    }
    return {
      pagesWritten: this.nextIndex,
      zeroPages: this.zeroPages,
      rawPages: this.rawPages,
      lostPages: this.lostPages,
      bytes: Math.max(this.dataPos, this.dataOffset),
    };
  }
}

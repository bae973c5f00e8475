// The kernel log (printk buffer) from VMCOREINFO alone, no vmlinux:
//  - the lockless ring buffer (Linux 5.10+): descriptor ring + info array + text data ring;
//  - the variable-length record buffer `log_buf` of struct printk_log (3.5 – 5.9);
//  - the plain character ring of older kernels (log_end).
// Formatting follows `makedumpfile --dump-dmesg` (src of truth for the default output).
import { NotInDumpError, ParseError } from '../errors.ts';
import { struct, readStruct } from '../format/struct.ts';
import { Gaps, type Completeness } from './completeness.ts';
import type { VmcoreInfo } from './vmcoreinfo.ts';
import { missingKey } from './vmcoreinfo.ts';
import { hex } from '../text.ts';
import { readU32 as u32, readU64 as u64, view as dv, type VirtualMemory } from './virtual-memory.ts';

export interface LogRecord {
  seq: bigint;
  /** Timestamp in nanoseconds since boot (local_clock). */
  tsNsec: bigint;
  level: number;
  facility: number;
  flags: number;
  /** Caller id: bit 31 set = CPU number, else thread id; undefined when the kernel does not record it. */
  callerId: number | undefined;
  text: Uint8Array;
  /** Follow-on dictionary: dev_info SUBSYSTEM/DEVICE (lockless) or the record's dict (log_buf). */
  dict: string[];
}

export interface KernelLog {
  format: 'lockless ring buffer' | 'variable-length log_buf' | 'plain log_buf';
  records: LogRecord[];
  /** True when the kernel stored caller ids (lockless always; log_buf with CONFIG_PRINTK_CALLER). */
  hasCallerId: boolean;
  /** Plain character ring (pre-3.5): the text in order. */
  plainText?: Uint8Array;
  /** Records that could not be read (memory not in the dump, damaged descriptors, a cycle): the others are returned. */
  completeness: Completeness;
}

const FOR_LOG = 'the kernel log';
const DESC_FLAGS_SHIFT = 62n;
const DESC_ID_MASK = (1n << DESC_FLAGS_SHIFT) - 1n;
const DESC_COMMITTED = 1n;
const DESC_FINALIZED = 2n;
const MAX_LOG_BYTES = 1 << 30; // a larger printk buffer is a damaged dump, not a real one

/** Throws the missing-key error when VMCOREINFO locates no printk buffer at all. */
export function checkLogKeys(info: VmcoreInfo): void {
  if (!info.has('SYMBOL(prb)') && !info.has('SYMBOL(log_buf)')) throw missingKey('SYMBOL(prb) or SYMBOL(log_buf)', FOR_LOG);
}

/** `dumpLevel`: the dump's, to say what it excluded. */
export function readKernelLog(mem: VirtualMemory, info: VmcoreInfo, dumpLevel?: number): KernelLog {
  checkLogKeys(info);
  const gaps = new Gaps(dumpLevel);
  if (info.has('SYMBOL(prb)')) return readLockless(mem, info, gaps);
  return info.has('SYMBOL(log_end)') ? readPlain(mem, info) : readVariableLength(mem, info, gaps);
}

const RECORD = 'printk record';


function checkedSize(n: number, what: string): number {
  if (!(n > 0 && n <= MAX_LOG_BYTES)) {
    throw new ParseError(`${what} is ${n} bytes, not a plausible printk buffer size`, { hint: 'the dump is damaged' });
  }
  return n;
}

function cstr(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]!);
  return s;
}

// ---------------------------------------------------------------- lockless ring buffer (5.10+)

function readLockless(mem: VirtualMemory, info: VmcoreInfo, gaps: Gaps): KernelLog {
  const off = (k: string) => info.requireOffset(k, FOR_LOG);
  const size = (k: string) => info.requireSize(k, FOR_LOG);
  const counter = info.offset('atomic_long_t.counter') ?? 0;

  const prbAddr = u64(mem, info.requireSymbol('prb', FOR_LOG));
  const prb = mem.readVirt(prbAddr, size('printk_ringbuffer'));
  const p = dv(prb);
  const oDescRing = off('printk_ringbuffer.desc_ring');
  const oTextRing = off('printk_ringbuffer.text_data_ring');
  const countBits = p.getUint32(oDescRing + off('prb_desc_ring.count_bits'), true);
  const sizeBits = p.getUint32(oTextRing + off('prb_data_ring.size_bits'), true);
  if (countBits > 24 || sizeBits > 30) {
    throw new ParseError(`printk ring buffer at ${hex(prbAddr)} has count_bits ${countBits}, size_bits ${sizeBits}`, {
      hint: 'the dump is damaged',
    });
  }
  const count = 1 << countBits;
  const dataSize = 1 << sizeBits;
  const descSize = size('prb_desc');
  const infoSize = size('printk_info');
  // The rings are read page by page as records use them: a log far from full touches a fraction.
  const descArr = new LazyBytes(mem, p.getBigUint64(oDescRing + off('prb_desc_ring.descs'), true), checkedSize(descSize * count, 'prb descriptor ring'));
  const infoArr = new LazyBytes(mem, p.getBigUint64(oDescRing + off('prb_desc_ring.infos'), true), checkedSize(infoSize * count, 'prb info array'));
  const dataArr = new LazyBytes(mem, p.getBigUint64(oTextRing + off('prb_data_ring.data'), true), checkedSize(dataSize, 'prb text data ring'));
  const descs = descArr.bytes;
  const infos = infoArr.bytes;
  const data = dataArr.bytes;
  const tailId = p.getBigUint64(oDescRing + off('prb_desc_ring.tail_id') + counter, true);
  const headId = p.getBigUint64(oDescRing + off('prb_desc_ring.head_id') + counter, true);

  const oStateVar = off('prb_desc.state_var') + counter;
  const oLpos = off('prb_desc.text_blk_lpos');
  const oBegin = oLpos + off('prb_data_blk_lpos.begin');
  const oNext = oLpos + off('prb_data_blk_lpos.next');
  const oSeq = off('printk_info.seq');
  const oTs = off('printk_info.ts_nsec');
  const oTextLen = off('printk_info.text_len');
  // facility and flags:5/level:3 follow text_len (u16); the kernel does not export their offsets.
  const oFacility = oTextLen + 2;
  const oLevel = oTextLen + 3;
  const oCaller = info.offset('printk_info.caller_id');
  const oDev = info.offset('printk_info.dev_info');
  const oSubsys = oDev === undefined ? undefined : oDev + (info.offset('dev_printk_info.subsystem') ?? 0);
  const oDevice = oDev === undefined ? undefined : oDev + (info.offset('dev_printk_info.device') ?? 16);
  const lenSubsys = info.length('printk_info_subsystem') ?? 16;
  const lenDevice = info.length('printk_info_device') ?? 48;

  const dd = dv(descs);
  const di = dv(infos);
  const records: LogRecord[] = [];
  const wordSize = 8;
  const countN = BigInt(count);
  const dataSizeN = BigInt(dataSize);

  const one = (id: bigint) => {
    const idx = Number(id % countN);
    const d = idx * descSize;
    descArr.ensure(d, descSize);
    const sv = dd.getBigUint64(d + oStateVar, true);
    const state = (sv >> DESC_FLAGS_SHIFT) & 3n;
    if ((sv & DESC_ID_MASK) !== id) {
      // Between tail and head every descriptor holds its own id: another one is damage.
      gaps.note(RECORD, 'damaged', `printk record id ${id}: its descriptor holds id ${sv & DESC_ID_MASK}`);
      return;
    }
    // Reserved (being written at the crash) or reusable (its text overwritten): not a record, as in the kernel.
    if (state !== DESC_COMMITTED && state !== DESC_FINALIZED) return;
    const beginLpos = dd.getBigUint64(d + oBegin, true);
    const nextLpos = dd.getBigUint64(d + oNext, true);
    if (beginLpos % dataSizeN === nextLpos % dataSizeN) return; // data-less record
    // As the kernel's get_data(): a block wraps when its last byte (next - 1) lies in a later pass
    // over the ring than its first; its text then starts at the ring's start. Since 6.18 (and
    // stable backports) a block may end exactly at the ring's end without wrapping, where
    // `begin > next % size` (crash's and makedumpfile's test) would wrongly call it wrapped.
    const wrapped = beginLpos / dataSizeN !== BigInt.asUintN(64, nextLpos - 1n) / dataSizeN;
    let begin = wrapped ? 0 : Number(beginLpos % dataSizeN);
    const end = wrapped ? Number(nextLpos % dataSizeN) : Math.min(dataSize, begin + Number(BigInt.asUintN(64, nextLpos - beginLpos)));
    begin += wordSize; // the block starts with its descriptor id
    const i = idx * infoSize;
    infoArr.ensure(i, infoSize);
    let textLen = di.getUint16(i + oTextLen, true);
    if (end - begin < textLen) textLen = Math.max(0, end - begin);
    dataArr.ensure(begin, textLen);
    const dict: string[] = [];
    if (oSubsys !== undefined && oDevice !== undefined) {
      const subsystem = cstr(infos, i + oSubsys, lenSubsys);
      const device = cstr(infos, i + oDevice, lenDevice);
      if (subsystem) dict.push(`SUBSYSTEM=${subsystem}`);
      if (device) dict.push(`DEVICE=${device}`);
    }
    records.push({
      seq: di.getBigUint64(i + oSeq, true),
      tsNsec: di.getBigUint64(i + oTs, true),
      facility: infos[i + oFacility]!,
      level: infos[i + oLevel]! >> 5,
      flags: infos[i + oLevel]! & 0x1f,
      callerId: oCaller === undefined ? undefined : di.getUint32(i + oCaller, true),
      text: data.subarray(begin, begin + textLen),
      dict,
    });
  };

  // A record whose descriptor or text is not in the dump is left out and counted, not fatal.
  const tryOne = (id: bigint) => {
    try {
      one(id);
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
      gaps.add(RECORD, e, `printk record id ${id}`);
    }
  };
  let id = tailId & DESC_ID_MASK;
  let steps = 0;
  for (; id !== (headId & DESC_ID_MASK); id = (id + 1n) & DESC_ID_MASK) {
    if (++steps > count) {
      gaps.note('printk descriptor ring', 'damaged', `printk descriptor ids run from ${tailId} to ${headId}, more than the ring's ${count}: stopped`);
      break;
    }
    tryOne(id);
  }
  tryOne(id);
  return { format: 'lockless ring buffer', records, hasCallerId: oCaller !== undefined, completeness: gaps.result() };
}

/** A kernel array read on demand, a virtual page at a time; `bytes` holds what has been read. */
class LazyBytes {
  readonly bytes: Uint8Array;
  private readonly mem: VirtualMemory;
  private readonly base: bigint;
  private readonly lead: number; // offset of `base` inside its page
  private readonly loaded: Uint8Array;

  constructor(mem: VirtualMemory, base: bigint, size: number) {
    this.mem = mem;
    this.base = base;
    this.bytes = new Uint8Array(size);
    this.lead = Number(base & 0xfffn);
    this.loaded = new Uint8Array(Math.ceil((this.lead + size) / 4096));
  }

  ensure(off: number, len: number): void {
    if (len <= 0) return;
    const last = Math.min(this.loaded.length - 1, Math.floor((this.lead + off + len - 1) / 4096));
    for (let pg = Math.floor((this.lead + off) / 4096); pg <= last; pg++) {
      if (this.loaded[pg]) continue;
      // Read the run of pages not loaded yet in one call.
      let end = pg;
      while (end < last && !this.loaded[end + 1]) end++;
      const from = Math.max(0, pg * 4096 - this.lead);
      const to = Math.min(this.bytes.length, (end + 1) * 4096 - this.lead);
      this.bytes.set(this.mem.readVirt(this.base + BigInt(from), to - from), from);
      this.loaded.fill(1, pg, end + 1);
      pg = end;
    }
  }
}

// ---------------------------------------------------------------- variable-length log_buf (3.5 – 5.9)

function readVariableLength(mem: VirtualMemory, info: VmcoreInfo, gaps: Gaps): KernelLog {
  const logBuf = u64(mem, info.requireSymbol('log_buf', FOR_LOG));
  const bufLen = checkedSize(u32(mem, info.requireSymbol('log_buf_len', FOR_LOG)) | 0, 'log_buf_len');
  const firstIdx = u32(mem, info.requireSymbol('log_first_idx', FOR_LOG));
  const nextIdx = u32(mem, info.requireSymbol('log_next_idx', FOR_LOG));
  const hdrName = info.has('SIZE(printk_log)') ? 'printk_log' : 'log';
  const hdrSize = info.requireSize(hdrName, FOR_LOG);
  const oTs = info.requireOffset(`${hdrName}.ts_nsec`, FOR_LOG);
  const oLen = info.requireOffset(`${hdrName}.len`, FOR_LOG);
  const oTextLen = info.requireOffset(`${hdrName}.text_len`, FOR_LOG);
  const oCaller = info.offset(`${hdrName}.caller_id`);
  // dict_len, facility and flags:5/level:3 follow text_len in struct printk_log.
  const hdr = struct('printk_log', hdrSize, {
    ts_nsec: { off: oTs, type: 'u64' },
    len: { off: oLen, type: 'u16' },
    text_len: { off: oTextLen, type: 'u16' },
    dict_len: { off: oTextLen + 2, type: 'u16' },
    facility: { off: oTextLen + 4, type: 'u8' },
    flags_level: { off: oTextLen + 5, type: 'u8' },
  });
  const buf = mem.readVirt(logBuf, bufLen);
  const records: LogRecord[] = [];
  const at = (pos: number) => {
    if (pos < 0 || pos + hdrSize > bufLen) {
      throw new ParseError(`printk record index ${pos} lies outside log_buf (${bufLen} bytes)`, { hint: 'the log buffer is damaged' });
    }
    return readStruct(hdr, buf, pos);
  };
  const seen = new Set<number>();
  let pos = firstIdx;
  let seq = 0n;
  try {
    while (pos !== nextIdx) {
      if (seen.has(pos)) {
        gaps.note('printk log_buf', 'damaged', `printk log_buf records form a cycle at index ${pos}: the buffer is damaged, stopped there`);
        break;
      }
      seen.add(pos);
      let h = at(pos);
      let rec = pos;
      if (h.len === 0) {
        // End-of-buffer marker: this record is the one at the start of the buffer.
        rec = 0;
        h = at(0);
        if (h.len === 0) throw new ParseError('printk log_buf wraps to an empty record at index 0', { hint: 'the log buffer is damaged' });
      }
      const textStart = rec + hdrSize;
      const textEnd = Math.min(bufLen, textStart + h.text_len);
      const dictEnd = Math.min(bufLen, textEnd + h.dict_len);
      records.push({
        seq: seq++,
        tsNsec: h.ts_nsec,
        facility: h.facility,
        level: h.flags_level >> 5,
        flags: h.flags_level & 0x1f,
        callerId: oCaller === undefined ? undefined : dv(buf).getUint32(rec + oCaller, true),
        text: buf.subarray(textStart, textEnd),
        dict: splitDict(buf.subarray(textEnd, dictEnd)),
      });
      pos = rec + h.len;
    }
  } catch (e) {
    if (!(e instanceof ParseError) || records.length === 0) throw e;
    gaps.add('printk log_buf', e, `stopped after ${records.length} records`);
  }
  return { format: 'variable-length log_buf', records, hasCallerId: oCaller !== undefined, completeness: gaps.result() };
}

function splitDict(b: Uint8Array): string[] {
  if (b.length === 0) return [];
  return ascii.decode(b)
    .split('\0')
    .filter((s) => s.length > 0);
}

// ---------------------------------------------------------------- plain character ring (< 3.5)

function readPlain(mem: VirtualMemory, info: VmcoreInfo): KernelLog {
  const logBuf = u64(mem, info.requireSymbol('log_buf', FOR_LOG));
  const bufLen = checkedSize(u32(mem, info.requireSymbol('log_buf_len', FOR_LOG)) | 0, 'log_buf_len');
  const logEnd = u32(mem, info.requireSymbol('log_end', FOR_LOG));
  const buf = mem.readVirt(logBuf, bufLen);
  let text: Uint8Array;
  if (logEnd < bufLen) text = buf.subarray(0, logEnd);
  else {
    const idx = logEnd & (bufLen - 1);
    text = new Uint8Array(bufLen);
    text.set(buf.subarray(idx));
    text.set(buf.subarray(0, idx), bufLen - idx);
  }
  return { format: 'plain log_buf', records: [], hasCallerId: false, plainText: text, completeness: new Gaps().result() };
}

// ---------------------------------------------------------------- formatting

export interface FormatOptions {
  /** Show the caller id column "[  T123] " (default: as makedumpfile: only for log_buf with caller ids). */
  caller?: boolean;
  /** Prefix each record with "<N>", N = facility * 8 + level, like `dmesg -r`. */
  raw?: boolean;
  /** The time column for a timestamp in ns (default: "[%5llu.%06lu] " as makedumpfile prints it). */
  time?: (tsNsec: bigint) => string;
  /** Print the dev_info / dict follow-on lines under each record. */
  dict?: boolean;
}

/** The console log levels by number, with util-linux dmesg's names. */
export const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'] as const;

/** "[%5llu.%06lu] " of a timestamp in ns. */
export function formatTimestamp(tsNsec: bigint): string {
  const secs = tsNsec / 1_000_000_000n;
  const usecs = (tsNsec % 1_000_000_000n) / 1000n;
  return `[${secs.toString().padStart(5)}.${usecs.toString().padStart(6, '0')}] `;
}

export function formatCaller(id: number): string {
  const s = (id & 0x80000000 ? 'C' : 'T') + String(id & 0x7fffffff);
  return `[${s.padStart(6)}] `;
}

/**
 * One record as makedumpfile prints it: prefix, text with newlines continued under the prefix,
 * non-printable bytes as \xNN. (makedumpfile passes \r, \v, \f raw and prints bytes >= 0x80 as
 * \xffffffNN; we escape all of them as \xNN so nothing reaches a terminal raw.)
 */
export function formatRecord(r: LogRecord, opts: FormatOptions = {}, log?: Pick<KernelLog, 'format'>): string {
  let prefix = (opts.time ?? formatTimestamp)(r.tsNsec);
  const caller = opts.caller ?? log?.format === 'variable-length log_buf';
  if (caller && r.callerId !== undefined) prefix += formatCaller(r.callerId);
  if (opts.raw) prefix = `<${r.facility * 8 + r.level}>` + prefix;
  const indent = ' '.repeat(prefix.length);
  let out = prefix + escapeText(r.text, indent);
  if (opts.dict) for (const d of r.dict) out += '\n' + indent + escapeText(latin1Bytes(d), indent);
  return out;
}

function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

const HEX = '0123456789abcdef';
const ascii = new TextDecoder('latin1');

/** Log text for a terminal: printable ASCII, space and tab as is, '\n' + indent, others as \xNN. */
export function escapeText(text: Uint8Array, indent = ''): string {
  let out = '';
  let run = 0; // start of the current run of plain bytes
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ((c >= 0x20 && c < 0x7f) || c === 0x09) continue;
    if (i > run) out += ascii.decode(text.subarray(run, i));
    out += c === 0x0a ? '\n' + indent : '\\x' + HEX[c >> 4] + HEX[c & 15];
    run = i + 1;
  }
  if (text.length > run) out += ascii.decode(text.subarray(run));
  return out;
}

/** The whole log as makedumpfile --dump-dmesg prints it (each record ends with a newline). */
export function formatLog(log: KernelLog, opts: FormatOptions = {}): string {
  if (log.plainText) return escapeText(log.plainText);
  let out = '';
  for (const r of log.records) out += formatRecord(r, opts, log) + '\n';
  return out;
}

/** A JSON-friendly object for one record (--json). */
export function recordJson(r: LogRecord): Record<string, unknown> {
  return {
    seq: Number(r.seq),
    tsNsec: Number(r.tsNsec),
    time: formatTimestamp(r.tsNsec).trim().slice(1, -1).trim(),
    level: r.level,
    facility: r.facility,
    caller: r.callerId === undefined ? undefined : formatCaller(r.callerId).trim().slice(1, -1).trim(),
    text: new TextDecoder().decode(r.text),
    dict: r.dict.length ? r.dict : undefined,
  };
}

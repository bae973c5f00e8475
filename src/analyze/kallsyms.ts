// The dump's own kallsyms: the kernel's compressed symbol tables, read from memory at the addresses
// VMCOREINFO gives (SYMBOL(kallsyms_names|num_syms|token_table|token_index|offsets|relative_base),
// exported since Linux 6.0; older: kallsyms_addresses).
//   kallsyms_names: per symbol a length (1 byte, or 2 when the first has bit 7 set: big symbols,
//     6.1+) then that many token indexes; tokens expand through kallsyms_token_index (u16[256]) into
//     kallsyms_token_table (NUL-terminated strings). The first expanded char is the nm type letter.
//   kallsyms_offsets: s32 per symbol. With KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP until 6.14) a
//     non-negative offset is an absolute value and a negative one means relative_base - 1 - offset;
//     otherwise the address is relative_base + (u32)offset.
import { ParseError } from '../errors.ts';
import type { VirtualMemory } from './virtual-memory.ts';
import { MAX_OFFSET, type KernelSymbol, type SymbolTable } from './symbols.ts';
import type { VmcoreInfo } from './vmcoreinfo.ts';
import { missingKey } from './vmcoreinfo.ts';

const FOR_KALLSYMS = "the dump's kallsyms";
const MAX_SYMS = 4_000_000;
const MAX_NAMES_BYTES = 64 << 20;
/** The kernel's longest symbol name, type letter included (KSYM_NAME_LEN, 512 since 6.1; 128 before). */
const KSYM_NAME_LEN = 512;

export function hasKallsyms(info: VmcoreInfo): boolean {
  return info.has('SYMBOL(kallsyms_names)') && info.has('SYMBOL(kallsyms_num_syms)');
}

export function readKallsyms(mem: VirtualMemory, info: VmcoreInfo, source = 'kallsyms in the dump'): KallsymsTable {
  if (!hasKallsyms(info)) throw missingKey('SYMBOL(kallsyms_names) and SYMBOL(kallsyms_num_syms)', FOR_KALLSYMS);
  const sym = (n: string) => info.requireSymbol(n, FOR_KALLSYMS);
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  const numSyms = dv(mem.readVirt(sym('kallsyms_num_syms'), 4)).getUint32(0, true);
  if (numSyms === 0 || numSyms > MAX_SYMS) {
    throw new ParseError(`kallsyms_num_syms is ${numSyms}`, { hint: 'the dump is damaged, or its kallsyms are not in it' });
  }
  // Tokens: 256 NUL-terminated strings.
  const tokenTable = sym('kallsyms_token_table');
  const index = dv(mem.readVirt(sym('kallsyms_token_index'), 512));
  let tableLen = 0;
  for (let i = 0; i < 256; i++) tableLen = Math.max(tableLen, index.getUint16(i * 2, true));
  const table = mem.readVirt(tokenTable, tableLen + 256);
  const tokens: Tokens = { bytes: table, start: new Int32Array(256), end: new Int32Array(256) };
  for (let i = 0; i < 256; i++) {
    const start = index.getUint16(i * 2, true);
    let end = start;
    while (end < table.length && table[end] !== 0) end++;
    tokens.start[i] = start;
    tokens.end[i] = end;
  }

  // Names: the array ends before kallsyms_markers / token_table; read up to the token table.
  const namesAddr = sym('kallsyms_names');
  const namesLen = tokenTable > namesAddr && tokenTable - namesAddr < BigInt(MAX_NAMES_BYTES) ? Number(tokenTable - namesAddr) : numSyms * 32;
  const names = mem.readVirt(namesAddr, namesLen);

  // Where each name's tokens are; the names are expanded only when asked for.
  const at = new Uint32Array(numSyms);
  const count = new Uint16Array(numSyms);
  const length = new Uint16Array(numSyms);
  let pos = 0;
  for (let i = 0; i < numSyms; i++) {
    if (pos >= names.length) throw new ParseError(`kallsyms_names ends at symbol ${i} of ${numSyms}`, { hint: 'the dump is damaged' });
    let len = names[pos++]!;
    if (len & 0x80) len = (len & 0x7f) | (names[pos++]! << 7);
    if (len === 0 || pos + len > names.length) {
      throw new ParseError(`kallsyms_names entry ${i} has length ${len} at byte ${pos}`, { hint: 'the dump is damaged' });
    }
    at[i] = pos;
    count[i] = len;
    // A real name is at most KSYM_NAME_LEN bytes: longer means damaged tokens or names.
    let bytes = 0;
    for (let k = 0; k < len; k++) bytes += tokens.end[names[pos + k]!]! - tokens.start[names[pos + k]!]!;
    if (bytes > KSYM_NAME_LEN) {
      throw new ParseError(`kallsyms name ${i} of ${numSyms} expands to more than ${KSYM_NAME_LEN} bytes`, { hint: 'the dump is damaged (kallsyms_names or the token table)' });
    }
    length[i] = bytes;
    pos += len;
  }
  const { hi, lo } = readAddresses(mem, info, numSyms);
  return new KallsymsTable(source, { names, at, count, length, tokens }, hi, lo);
}

/** kallsyms_token_table: token t is bytes[start[t]] .. bytes[end[t]). */
interface Tokens {
  bytes: Uint8Array;
  start: Int32Array;
  end: Int32Array;
}

/** Name i (type letter first) is the tokens names[at[i]] .. names[at[i] + count[i]), length[i] bytes. */
interface Names {
  names: Uint8Array;
  at: Uint32Array;
  count: Uint16Array;
  length: Uint16Array;
  tokens: Tokens;
}

/** Every symbol's address as two u32 halves (no BigInt per symbol: a dump has 50k–200k of them). */
function readAddresses(mem: VirtualMemory, info: VmcoreInfo, n: number): { hi: Uint32Array; lo: Uint32Array } {
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  /** Address i = base + delta (|delta| < 2^52), wrapping at 2^64 like the kernel's u64. */
  const set = (i: number, baseHi: number, baseLo: number, delta: number) => {
    const v = baseLo + delta;
    const carry = Math.floor(v / 0x1_0000_0000);
    lo[i] = v >>> 0;
    hi[i] = (baseHi + carry) >>> 0;
  };
  const halves = (v: bigint) => [Number(v >> 32n), Number(v & 0xffffffffn)] as const;
  const absolute = info.symbol('kallsyms_addresses');
  if (absolute !== undefined && !info.has('SYMBOL(kallsyms_offsets)')) {
    const b = mem.readVirt(absolute, n * 8);
    const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < n; i++) {
      lo[i] = d.getUint32(i * 8, true);
      hi[i] = d.getUint32(i * 8 + 4, true);
    }
    return { hi, lo };
  }
  const offsetsAddr = info.requireSymbol('kallsyms_offsets', FOR_KALLSYMS);
  const baseSym = info.symbol('kallsyms_relative_base');
  const b = mem.readVirt(offsetsAddr, n * 4);
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (baseSym === undefined) {
    // Newer kernels have no relative base: each offset is PC-relative, counted from its own slot
    // (the kernel's offset_to_ptr(&kallsyms_offsets[i])).
    const [h, l] = halves(offsetsAddr);
    for (let i = 0; i < n; i++) set(i, h, l, i * 4 + d.getInt32(i * 4, true));
    return { hi, lo };
  }
  const [h, l] = halves(new DataView(mem.readVirt(baseSym, 8).slice().buffer).getBigUint64(0, true));
  let anyNegative = false;
  for (let i = 0; i < n && !anyNegative; i++) anyNegative = d.getInt32(i * 4, true) < 0;
  for (let i = 0; i < n; i++) {
    if (anyNegative) {
      const off = d.getInt32(i * 4, true);
      if (off >= 0) set(i, 0, 0, off);
      else set(i, h, l, -1 - off);
    } else {
      set(i, h, l, d.getUint32(i * 4, true));
    }
  }
  return { hi, lo };
}

/** byName's bucket of a name: its length, first and last byte (a name is looked up a few dozen times per run). */
const bucketKey = (length: number, first: number, last: number, mask: number) => (Math.imul(Math.imul(length, 0x3b) + first, 0x3b) + last) & mask;

/**
 * The dump's kallsyms as read: names as token lists, addresses as u32 halves, sorted by address
 * once. A name is expanded and a KernelSymbol made only for the symbols asked for; `byName` has its
 * own index. It answers as SortedSymbolTable does (same order, same choice among aliases).
 */
export class KallsymsTable implements SymbolTable {
  readonly source: string;
  readonly count: number;
  private readonly names: Names;
  /** Sorted by address: symbol i is kernel symbol order[i]. */
  private readonly order: Uint32Array;
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly made: (KernelSymbol | undefined)[];
  private readonly scratch = new Uint8Array(KSYM_NAME_LEN);
  private buckets: { start: Int32Array; ids: Int32Array } | undefined;

  constructor(source: string, names: Names, hi: Uint32Array, lo: Uint32Array) {
    this.source = source;
    this.names = names;
    const n = hi.length;
    // Symbols at address 0 are left out (unless all are): SortedSymbolTable's rule.
    let zeros = 0;
    let sorted = true;
    for (let i = 0, last = -1; i < n; i++) {
      if (hi[i] === 0 && lo[i] === 0) zeros++;
      else if (last >= 0 && (hi[i]! < hi[last]! || (hi[i] === hi[last] && lo[i]! < lo[last]!))) sorted = false;
      else last = i;
    }
    let order = new Uint32Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) if (zeros === n || hi[i] !== 0 || lo[i] !== 0) order[m++] = i;
    order = order.subarray(0, m);
    // Stable: aliases keep the kernel's order.
    if (!sorted) order = Uint32Array.from(Array.from(order).sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b));
    this.count = m;
    this.order = order;
    this.hi = m === n && sorted ? hi : order.map((i) => hi[i]!);
    this.lo = m === n && sorted ? lo : order.map((i) => lo[i]!);
    this.made = new Array(this.count);
  }

  all(): readonly KernelSymbol[] {
    const out: KernelSymbol[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.symbol(i);
    return out;
  }

  byAddress(address: bigint): { symbol: KernelSymbol; offset: bigint } | undefined {
    if (this.count === 0 || address < 0n || address > 0xffffffffffffffffn) return undefined;
    const h = Number(address >> 32n);
    const l = Number(address & 0xffffffffn);
    const below = (i: number) => this.hi[i]! < h || (this.hi[i] === h && this.lo[i]! <= l);
    if (!below(0)) return undefined;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (below(mid)) lo = mid;
      else hi = mid - 1;
    }
    // Among aliases at one address prefer the first global symbol, like kallsyms does.
    let best = lo;
    for (let i = lo; i >= 0 && this.hi[i] === this.hi[lo] && this.lo[i] === this.lo[lo]; i--) if (!this.isLocal(i)) best = i;
    const symbol = this.symbol(best);
    const offset = address - symbol.address;
    if (offset > MAX_OFFSET) return undefined;
    return { symbol, offset };
  }

  /** The first global symbol of that name in address order, else the first local one. */
  byName(name: string): KernelSymbol | undefined {
    const { start, ids } = (this.buckets ??= this.indexNames());
    const key = bucketKey(name.length + 1, name.charCodeAt(0) || 0, name.charCodeAt(name.length - 1) || 0, start.length - 2);
    let local: number | undefined;
    for (let b = start[key]!; b < start[key + 1]!; b++) {
      const i = ids[b]!;
      if (!this.nameIs(i, name)) continue;
      if (!this.isLocal(i)) return this.symbol(i);
      local ??= i;
    }
    return local === undefined ? undefined : this.symbol(local);
  }

  /** The symbols bucketed by bucketKey (a counting sort: each bucket in address order). */
  private indexNames(): { start: Int32Array; ids: Int32Array } {
    const { names, at, count, length, tokens } = this.names;
    let size = 1024;
    while (size < this.count) size *= 2;
    const keys = new Int32Array(this.count);
    const start = new Int32Array(size + 1);
    for (let i = 0; i < this.count; i++) {
      const k = this.order[i]!;
      // The byte after the type letter, and the last one.
      let first = 0;
      let seen = 0;
      for (let j = at[k]!, end = j + count[k]!; j < end && seen < 2; j++) {
        const t = names[j]!;
        for (let b = tokens.start[t]!; b < tokens.end[t]! && seen < 2; b++, seen++) first = tokens.bytes[b]!;
      }
      if (seen < 2) first = 0;
      let last = 0;
      for (let j = at[k]! + count[k]! - 1; j >= at[k]!; j--) {
        const t = names[j]!;
        if (tokens.end[t]! > tokens.start[t]!) {
          last = tokens.bytes[tokens.end[t]! - 1]!;
          break;
        }
      }
      if (length[k]! < 2) last = 0;
      keys[i] = bucketKey(length[k]!, first, last, size - 1);
      start[keys[i]! + 1]!++;
    }
    for (let b = 0; b < size; b++) start[b + 1]! += start[b]!;
    const fill = start.slice(0, size);
    const ids = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) ids[fill[keys[i]!]!++] = i;
    return { start, ids };
  }

  private nameIs(i: number, name: string): boolean {
    const { names, at, count, length, tokens } = this.names;
    const k = this.order[i]!;
    if (length[k] !== name.length + 1) return false;
    let c = -1; // the type letter first
    for (let j = at[k]!, end = j + count[k]!; j < end; j++) {
      const t = names[j]!;
      for (let b = tokens.start[t]!; b < tokens.end[t]!; b++, c++) if (c >= 0 && tokens.bytes[b] !== name.charCodeAt(c)) return false;
    }
    return true;
  }

  /** Name i's bytes, type letter first, into the scratch buffer; returns the length. */
  private expand(i: number): number {
    const { names, at, count, tokens } = this.names;
    const k = this.order[i]!;
    let o = 0;
    for (let j = at[k]!, end = j + count[k]!; j < end; j++) {
      const t = names[j]!;
      for (let b = tokens.start[t]!; b < tokens.end[t]!; b++) this.scratch[o++] = tokens.bytes[b]!;
    }
    return o;
  }

  private isLocal(i: number): boolean {
    this.expand(i);
    return this.scratch[0]! >= 0x61 && this.scratch[0]! <= 0x7a;
  }

  private symbol(i: number): KernelSymbol {
    let s = this.made[i];
    if (!s) {
      const len = this.expand(i);
      s = {
        name: String.fromCharCode(...this.scratch.subarray(1, len)),
        type: len ? String.fromCharCode(this.scratch[0]!) : '',
        address: (BigInt(this.hi[i]!) << 32n) | BigInt(this.lo[i]!),
      };
      this.made[i] = s;
    }
    return s;
  }
}

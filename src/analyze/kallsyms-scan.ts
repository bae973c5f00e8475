// Kallsyms for kernels that do not name them in VMCOREINFO (before 6.0): find the tables in the
// kernel image in memory by their shape, then decode them with the normal reader (kallsyms.ts).
//
// scripts/kallsyms.c lays the tables out in .rodata in this order, each 8-byte aligned:
//   kallsyms_offsets (s32 × N) | kallsyms_addresses (u64 × N), kallsyms_relative_base (u64),
//   kallsyms_num_syms (u32), kallsyms_names, kallsyms_markers (u32 per 256 symbols),
//   kallsyms_token_table (256 NUL-terminated strings), kallsyms_token_index (u16 × 256).
// The token index is unmistakable (0 then 255 small increasing steps, each landing just after a NUL
// of the token table before it); from there every other table is found walking backwards and is
// checked (marker count vs N, names ending exactly at the markers, symbol 256 at markers[1]).
import { NotInDumpError } from '../errors.ts';
import { readKallsyms, type KallsymsTable } from './kallsyms.ts';
import type { KernelMemory } from './kernel-memory.ts';
import { VmcoreInfo } from './vmcoreinfo.ts';

const CHUNK = 1 << 20;
const MAX_SCAN = 160 << 20; // bytes of kernel image searched
const MAX_NAMES = 4 << 20;

export interface KallsymsLocation {
  tokenIndex: bigint;
  tokenTable: bigint;
  markers: bigint;
  names: bigint;
  numSyms: bigint;
  numSymsValue: number;
  offsets?: bigint;
  relativeBase?: bigint;
  addresses?: bigint;
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Whether the 512 bytes at `o` look like kallsyms_token_index. */
function looksLikeTokenIndex(b: Uint8Array, o: number): boolean {
  if (u16(b, o) !== 0) return false;
  let prev = 0;
  for (let i = 1; i < 256; i++) {
    const v = u16(b, o + 2 * i);
    if (v <= prev + 1 || v > prev + 64) return false;
    prev = v;
  }
  return true;
}

/** The token table's start for a token index at `p` (virtual), or undefined. */
function findTokenTable(mem: KernelMemory, p: bigint, index: number[]): bigint | undefined {
  const last = index[255]!;
  const span = last + 80;
  let bytes: Uint8Array;
  try {
    bytes = mem.readVirt(p - BigInt(span), span);
  } catch (e) {
    if (e instanceof NotInDumpError) return undefined;
    throw e;
  }
  for (let back = ((last + 2 + 7) & ~7); back <= last + 72; back += 8) {
    const t = span - back; // offset of the candidate table in `bytes`
    let ok = true;
    for (let i = 1; i < 256 && ok; i++) ok = bytes[t + index[i]! - 1] === 0 && bytes[t + index[i]!] !== 0;
    if (!ok) continue;
    // The last token ends within the padding before the index.
    let end = t + last;
    while (end < span && bytes[end] !== 0) end++;
    if (end >= span || span - end > 8) continue;
    for (let k = t; k < end && ok; k++) ok = bytes[k] === 0 || (bytes[k]! >= 0x20 && bytes[k]! < 0x7f);
    if (ok) return p - BigInt(back);
  }
  return undefined;
}

/** Reads `length` bytes; where the dump lacks pages (freed init memory, filtered), page by page with those as zeros. */
function readWithHoles(mem: KernelMemory, addr: bigint, length: number): Uint8Array {
  try {
    return mem.readVirt(addr, length); // physically contiguous pages in one read (the kernel image is)
  } catch (e) {
    if (!(e instanceof NotInDumpError)) throw e;
  }
  const out = new Uint8Array(length);
  for (let o = 0; o < length; ) {
    const n = Math.min(length - o, 4096 - Number((addr + BigInt(o)) & 4095n));
    try {
      out.set(mem.readVirt(addr + BigInt(o), n), o);
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
    }
    o += n;
  }
  return out;
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Finds the tables, or undefined when the image holds nothing that checks out. The tables end
 * .rodata, a few MiB below the kernel's data (swapper_pg_dir, init_uts_ns, the log: VMCOREINFO names
 * them), where the text and .rodata before them are 15–25 MiB: the chunks below the lowest of those
 * are searched nearest first, then the rest of the image upwards.
 */
export function locateKallsyms(mem: KernelMemory, info: VmcoreInfo): KallsymsLocation | undefined {
  const start = info.symbol('_stext') ?? mem.arch.kernelText + (info.kernelOffset ?? 0n);
  const data = ['swapper_pg_dir', 'init_top_pgt', 'init_uts_ns', 'prb', 'log_buf']
    .map((n) => info.symbol(n))
    .filter((a): a is bigint => a !== undefined && a > start && a - start < BigInt(MAX_SCAN))
    .reduce((a, b) => (b < a ? b : a), start + BigInt(MAX_SCAN));
  const below = Math.ceil(Number(data - start) / CHUNK);
  for (let k = below - 1; k >= 0; k--) {
    const found = searchChunk(mem, start + BigInt(k * CHUNK));
    if (found && found !== 'empty') return found;
  }
  let missing = 0;
  for (let off = below * CHUNK; off < MAX_SCAN; off += CHUNK) {
    const found = searchChunk(mem, start + BigInt(off));
    if (found === 'empty') {
      if (++missing > 8) break; // well past the end of the image
      continue;
    }
    missing = 0;
    if (found) return found;
  }
  return undefined;
}

/** The tables whose token index lies in the chunk at `at` (plus 512 bytes), or 'empty' when the dump has none of its bytes. */
function searchChunk(mem: KernelMemory, at: bigint): KallsymsLocation | 'empty' | undefined {
  const b = readWithHoles(mem, at, CHUNK + 512);
  if (allZero(b)) return 'empty';
  for (let o = 0; o + 512 <= b.length; o += 8) {
    if (b[o] !== 0 || b[o + 1] !== 0 || b[o + 2]! < 2) continue;
    if (!looksLikeTokenIndex(b, o)) continue;
    const index = Array.from({ length: 256 }, (_, i) => u16(b, o + 2 * i));
    const found = fromTokenIndex(mem, at + BigInt(o), index);
    if (found) return found;
  }
  return undefined;
}

export function fromTokenIndex(mem: KernelMemory, p: bigint, index: number[]): KallsymsLocation | undefined {
  const table = findTokenTable(mem, p, index);
  if (table === undefined) return undefined;
  const base = table - BigInt(MAX_NAMES);
  const win = readWithHoles(mem, base, MAX_NAMES);
  const tableAt = MAX_NAMES;
  const align8 = (x: number) => (x + 7) & ~7;
  // kallsyms_num_syms at an 8-aligned S (u32 + 4 bytes of padding), names from S+8; the names must
  // decode to exactly N entries, the markers after them must match, and the token table must follow
  // the markers directly or after kallsyms_seqs_of_names (3 bytes per symbol, Linux 6.2+ and some
  // stable kernels).
  for (let s = tableAt - 16; s >= 8; s -= 8) {
    const n = u32(win, s);
    if (n < 256 || n > 4_000_000 || u32(win, s + 4) !== 0) continue;
    const starts: number[] = [];
    let pos = s + 8;
    let i = 0;
    for (; i < n && pos < tableAt; i++) {
      if (i % 256 === 0) starts.push(pos - (s + 8));
      let len = win[pos++]!;
      if (len & 0x80) len = (len & 0x7f) | (win[pos++]! << 7);
      if (len === 0) break;
      pos += len;
    }
    if (i !== n || pos > tableAt) continue;
    const markersAt = align8(pos);
    const m = starts.length;
    if (!starts.every((v, k) => u32(win, markersAt + 4 * k) === v)) continue;
    const afterMarkers = align8(markersAt + 4 * m);
    if (afterMarkers !== tableAt && align8(afterMarkers + 3 * n) !== tableAt) continue;
    const loc: KallsymsLocation = {
      tokenIndex: p,
      tokenTable: table,
      markers: base + BigInt(markersAt),
      names: base + BigInt(s + 8),
      numSyms: base + BigInt(s),
      numSymsValue: n,
    };
    // Base-relative offsets (x86_64 default since 4.6) or absolute addresses before that.
    const r = s - 8;
    const relBase = new DataView(win.buffer, win.byteOffset + r, 8).getBigUint64(0, true);
    if (relBase >= mem.arch.kernelMap) {
      loc.relativeBase = base + BigInt(r);
      loc.offsets = base + BigInt(r - align8(4 * n));
    } else {
      loc.addresses = base + BigInt(s - 8 * n);
    }
    return loc;
  }
  return undefined;
}

/** VMCOREINFO with the found tables added as SYMBOL() entries, for the normal kallsyms reader. */
export function withKallsyms(info: VmcoreInfo, loc: KallsymsLocation): VmcoreInfo {
  const h = (v: bigint) => v.toString(16);
  const lines = [
    `SYMBOL(kallsyms_names)=${h(loc.names)}`,
    `SYMBOL(kallsyms_num_syms)=${h(loc.numSyms)}`,
    `SYMBOL(kallsyms_token_table)=${h(loc.tokenTable)}`,
    `SYMBOL(kallsyms_token_index)=${h(loc.tokenIndex)}`,
    `SYMBOL(kallsyms_markers)=${h(loc.markers)}`,
  ];
  if (loc.offsets !== undefined) lines.push(`SYMBOL(kallsyms_offsets)=${h(loc.offsets)}`, `SYMBOL(kallsyms_relative_base)=${h(loc.relativeBase!)}`);
  else lines.push(`SYMBOL(kallsyms_addresses)=${h(loc.addresses!)}`);
  return new VmcoreInfo(`${info.raw.replace(/\n*$/, '\n')}${lines.join('\n')}\n`);
}

/** The kallsyms found in the kernel image (kernels before 6.0), or undefined when nothing checks out. */
export function imageKallsyms(mem: KernelMemory, info: VmcoreInfo): KallsymsTable | undefined {
  const loc = locateKallsyms(mem, info);
  if (!loc) return undefined;
  return readKallsyms(mem, withKallsyms(info, loc), 'kallsyms found in the kernel image');
}

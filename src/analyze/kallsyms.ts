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
import { SortedSymbolTable, type KernelSymbol } from './symbols.ts';
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

export function readKallsyms(mem: VirtualMemory, info: VmcoreInfo): SortedSymbolTable {
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
  const tokens: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) {
    const start = index.getUint16(i * 2, true);
    let end = start;
    while (end < table.length && table[end] !== 0) end++;
    tokens.push(table.subarray(start, end));
  }

  // Names: the array ends before kallsyms_markers / token_table; read up to the token table.
  const namesAddr = sym('kallsyms_names');
  const namesLen = tokenTable > namesAddr && tokenTable - namesAddr < BigInt(MAX_NAMES_BYTES) ? Number(tokenTable - namesAddr) : numSyms * 32;
  const names = mem.readVirt(namesAddr, namesLen);

  // Expand every name into one byte buffer, '\n'-separated, and decode it once: far faster than
  // building ~100k strings token by token.
  let out = new Uint8Array(namesLen * 4);
  let o = 0;
  let pos = 0;
  for (let i = 0; i < numSyms; i++) {
    if (pos >= names.length) throw new ParseError(`kallsyms_names ends at symbol ${i} of ${numSyms}`, { hint: 'the dump is damaged' });
    let len = names[pos++]!;
    if (len & 0x80) len = (len & 0x7f) | (names[pos++]! << 7);
    if (len === 0 || pos + len > names.length) {
      throw new ParseError(`kallsyms_names entry ${i} has length ${len} at byte ${pos}`, { hint: 'the dump is damaged' });
    }
    const nameStart = o;
    for (let k = 0; k < len; k++) {
      const t = tokens[names[pos + k]!]!;
      // A real name is at most KSYM_NAME_LEN bytes: longer means damaged tokens or names (and
      // would take gigabytes to expand).
      if (o + t.length - nameStart > KSYM_NAME_LEN) {
        throw new ParseError(`kallsyms name ${i} of ${numSyms} expands to more than ${KSYM_NAME_LEN} bytes`, { hint: 'the dump is damaged (kallsyms_names or the token table)' });
      }
      if (o + t.length + 1 > out.length) {
        const bigger = new Uint8Array(out.length * 2);
        bigger.set(out);
        out = bigger;
      }
      for (let j = 0; j < t.length; j++) out[o++] = t[j]!;
    }
    out[o++] = 0x0a;
    pos += len;
  }
  const decoded = new TextDecoder('latin1').decode(out.subarray(0, o - 1)).split('\n');
  const addresses = readAddresses(mem, info, numSyms);
  const syms: KernelSymbol[] = decoded.map((s, i) => ({ name: s.slice(1), type: s.charAt(0), address: addresses[i]! }));
  return new SortedSymbolTable("kallsyms in the dump", syms);
}

function readAddresses(mem: VirtualMemory, info: VmcoreInfo, n: number): bigint[] {
  const out: bigint[] = new Array(n);
  const absolute = info.symbol('kallsyms_addresses');
  if (absolute !== undefined && !info.has('SYMBOL(kallsyms_offsets)')) {
    const b = mem.readVirt(absolute, n * 8);
    const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < n; i++) out[i] = d.getBigUint64(i * 8, true);
    return out;
  }
  const offsetsAddr = info.requireSymbol('kallsyms_offsets', FOR_KALLSYMS);
  const baseSym = info.symbol('kallsyms_relative_base');
  const b = mem.readVirt(offsetsAddr, n * 4);
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (baseSym === undefined) {
    // Newer kernels have no relative base: each offset is PC-relative, counted from its own slot
    // (the kernel's offset_to_ptr(&kallsyms_offsets[i])).
    for (let i = 0; i < n; i++) out[i] = (offsetsAddr + BigInt(i * 4) + BigInt(d.getInt32(i * 4, true))) & 0xffffffffffffffffn;
    return out;
  }
  const base = new DataView(mem.readVirt(baseSym, 8).slice().buffer).getBigUint64(0, true);
  let anyNegative = false;
  for (let i = 0; i < n && !anyNegative; i++) anyNegative = d.getInt32(i * 4, true) < 0;
  for (let i = 0; i < n; i++) {
    if (anyNegative) {
      const off = d.getInt32(i * 4, true);
      out[i] = off >= 0 ? BigInt(off) : (base - 1n - BigInt(off)) & 0xffffffffffffffffn;
    } else {
      out[i] = (base + BigInt(d.getUint32(i * 4, true))) & 0xffffffffffffffffn;
    }
  }
  return out;
}

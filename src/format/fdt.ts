// Flattened device tree (DTB): parse into a tree, edit, serialize.
// Format: devicetree-specification v0.4 ch. 5 (header, memory reservation block, structure block of
// BEGIN_NODE/END_NODE/PROP tokens, strings block). Everything is big-endian.
// Used by the arm64 loader to hand the next kernel its /chosen (bootargs, initrd, kaslr-seed, rng-seed)
// and, for crash loads, linux,elfcorehdr and linux,usable-memory-range.
import { ParseError } from '../errors.ts';
import { readStruct, struct, writeStruct } from './struct.ts';

export const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
/** The version we write; last_comp_version 16 as dtc writes it. */
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;
/** Bounds so a damaged blob can never make us loop or allocate without end. */
const MAX_DEPTH = 64;
const MAX_RESERVE_ENTRIES = 4096;

export const fdtHeader = struct('fdt_header', 40, {
  magic: { off: 0x00, type: 'u32' },
  totalsize: { off: 0x04, type: 'u32' },
  off_dt_struct: { off: 0x08, type: 'u32' },
  off_dt_strings: { off: 0x0c, type: 'u32' },
  off_mem_rsvmap: { off: 0x10, type: 'u32' },
  version: { off: 0x14, type: 'u32' },
  last_comp_version: { off: 0x18, type: 'u32' },
  boot_cpuid_phys: { off: 0x1c, type: 'u32' },
  size_dt_strings: { off: 0x20, type: 'u32' },
  size_dt_struct: { off: 0x24, type: 'u32' },
});

const fdtReserveEntry = struct('fdt_reserve_entry', 16, {
  address: { off: 0, type: 'u64' },
  size: { off: 8, type: 'u64' },
});

export interface FdtProperty {
  name: string;
  value: Uint8Array;
}

export interface FdtNode {
  /** Node name with unit address ("memory@40000000"); "" for the root. */
  name: string;
  props: FdtProperty[];
  children: FdtNode[];
}

export interface FdtReserve {
  address: bigint;
  size: bigint;
}

export interface Fdt {
  root: FdtNode;
  /** The /memreserve/ block. */
  reserved: FdtReserve[];
  bootCpuidPhys: number;
}

const BE = false;
const latin1 = new TextDecoder('latin1');

/** True when `bytes` starts with the FDT magic. */
export function isFdt(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) === FDT_MAGIC;
}

/** Parses a DTB. Throws ParseError (with the byte offset) on anything damaged. */
export function parseFdt(bytes: Uint8Array, source = '<dtb>'): Fdt {
  const fail = (msg: string, offset: number, hint?: string): never => {
    throw new ParseError(`device tree: ${msg}`, { offset, source, hint });
  };
  if (bytes.length < fdtHeader.size) fail(`${bytes.length} bytes is shorter than the 40-byte header`, 0, 'not a DTB');
  const h = readStruct(fdtHeader, bytes, 0, BE);
  if (h.magic !== FDT_MAGIC) fail(`bad magic 0x${h.magic.toString(16)} (want 0xd00dfeed)`, 0, 'not a DTB');
  if (h.totalsize > bytes.length) fail(`header says ${h.totalsize} bytes, file has ${bytes.length}`, 4, 'the DTB is truncated');
  if (h.last_comp_version > FDT_VERSION) fail(`version ${h.version} needs a reader of version ${h.last_comp_version}`, 0x18);
  const blob = bytes.subarray(0, h.totalsize);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.length);
  const within = (off: number, len: number, what: string, at: number) => {
    if (off < 0 || len < 0 || off + len > blob.length) fail(`${what} [${off}, +${len}) lies outside the ${blob.length}-byte blob`, at);
  };
  within(h.off_dt_struct, h.size_dt_struct, 'structure block', 0x08);
  within(h.off_dt_strings, h.size_dt_strings, 'strings block', 0x0c);

  // Memory reservation block: (address, size) pairs up to a (0, 0) entry.
  const reserved: FdtReserve[] = [];
  for (let off = h.off_mem_rsvmap; ; off += fdtReserveEntry.size) {
    within(off, fdtReserveEntry.size, 'memory reservation entry', off);
    const e = readStruct(fdtReserveEntry, blob, off, BE);
    if (e.address === 0n && e.size === 0n) break;
    if (reserved.length >= MAX_RESERVE_ENTRIES) fail(`more than ${MAX_RESERVE_ENTRIES} memory reservations`, off);
    reserved.push(e);
  }

  const strings = blob.subarray(h.off_dt_strings, h.off_dt_strings + h.size_dt_strings);
  const stringAt = (nameoff: number, at: number): string => {
    const end = strings.indexOf(0, nameoff);
    if (nameoff >= strings.length || end < 0) fail(`property name offset ${nameoff} outside the strings block`, at);
    return latin1.decode(strings.subarray(nameoff, end));
  };

  const structEnd = h.off_dt_struct + h.size_dt_struct;
  let off = h.off_dt_struct;
  const token = (): number => {
    within(off, 4, 'token', off);
    const t = dv.getUint32(off);
    off += 4;
    return t;
  };
  const align4 = (n: number) => (n + 3) & ~3;

  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    if (off >= structEnd) fail('structure block ends without FDT_END', off, 'the DTB is truncated');
    const at = off;
    const t = token();
    if (t === FDT_NOP) continue;
    if (t === FDT_BEGIN_NODE) {
      const end = blob.indexOf(0, off);
      if (end < 0 || end >= structEnd) fail('node name runs past the structure block', at);
      const node: FdtNode = { name: latin1.decode(blob.subarray(off, end)), props: [], children: [] };
      off = align4(end + 1);
      if (stack.length === 0) {
        if (root) fail('a second root node', at);
        root = node;
      } else {
        stack[stack.length - 1]!.children.push(node);
      }
      if (stack.length >= MAX_DEPTH) fail(`nodes nested deeper than ${MAX_DEPTH}`, at);
      stack.push(node);
    } else if (t === FDT_END_NODE) {
      if (!stack.pop()) fail('FDT_END_NODE without a node', at);
    } else if (t === FDT_PROP) {
      const node = stack[stack.length - 1];
      if (!node) fail('property outside any node', at);
      const len = token();
      const nameoff = token();
      within(off, len, 'property value', at);
      node!.props.push({ name: stringAt(nameoff, at), value: blob.slice(off, off + len) });
      off = align4(off + len);
    } else if (t === FDT_END) {
      if (stack.length) fail(`FDT_END with ${stack.length} node(s) still open`, at);
      break;
    } else {
      fail(`unknown token 0x${t.toString(16)}`, at);
    }
  }
  if (!root) fail('no root node', h.off_dt_struct);
  return { root: root!, reserved, bootCpuidPhys: h.boot_cpuid_phys };
}

/** Serializes a tree to a DTB (version 17), property names shared in the strings block. */
export function serializeFdt(fdt: Fdt): Uint8Array {
  const structParts: Uint8Array[] = [];
  let structSize = 0;
  const push = (b: Uint8Array) => {
    structParts.push(b);
    structSize += b.length;
  };
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    push(b);
  };
  const padded = (b: Uint8Array) => {
    const p = new Uint8Array((b.length + 3) & ~3);
    p.set(b);
    push(p);
  };
  const enc = new TextEncoder();
  const stringOffsets = new Map<string, number>();
  const stringParts: Uint8Array[] = [];
  let stringsSize = 0;
  const nameoff = (name: string): number => {
    let o = stringOffsets.get(name);
    if (o === undefined) {
      o = stringsSize;
      stringOffsets.set(name, o);
      const b = enc.encode(name + '\0');
      stringParts.push(b);
      stringsSize += b.length;
    }
    return o;
  };
  const walk = (node: FdtNode, depth: number) => {
    if (depth > MAX_DEPTH) throw new ParseError(`device tree: nodes nested deeper than ${MAX_DEPTH}`);
    u32(FDT_BEGIN_NODE);
    padded(enc.encode(node.name + '\0'));
    for (const p of node.props) {
      u32(FDT_PROP);
      u32(p.value.length);
      u32(nameoff(p.name));
      padded(p.value);
    }
    for (const c of node.children) walk(c, depth + 1);
    u32(FDT_END_NODE);
  };
  walk(fdt.root, 0);
  u32(FDT_END);

  const offRsv = fdtHeader.size; // 40: already 8-aligned
  const rsvSize = (fdt.reserved.length + 1) * fdtReserveEntry.size;
  const offStruct = offRsv + rsvSize;
  const offStrings = offStruct + structSize;
  const total = offStrings + stringsSize;
  const out = new Uint8Array(total);
  writeStruct(
    fdtHeader,
    out,
    {
      magic: FDT_MAGIC,
      totalsize: total,
      off_dt_struct: offStruct,
      off_dt_strings: offStrings,
      off_mem_rsvmap: offRsv,
      version: FDT_VERSION,
      last_comp_version: FDT_LAST_COMP_VERSION,
      boot_cpuid_phys: fdt.bootCpuidPhys,
      size_dt_strings: stringsSize,
      size_dt_struct: structSize,
    },
    0,
    BE,
  );
  fdt.reserved.forEach((r, i) => writeStruct(fdtReserveEntry, out, r, offRsv + i * fdtReserveEntry.size, BE));
  let o = offStruct;
  for (const p of structParts) {
    out.set(p, o);
    o += p.length;
  }
  for (const p of stringParts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- Tree access and edits ----

/** The node at an absolute path ("/", "/chosen", "/memory@40000000"); undefined if absent. */
export function findNode(fdt: Fdt, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = fdt.root;
  for (const part of path.split('/').filter(Boolean)) {
    node = node.children.find((c) => c.name === part) ?? node.children.find((c) => c.name.split('@')[0] === part && !part.includes('@'));
    if (!node) return undefined;
  }
  return node;
}

/** The node at `path`, created (with its parents) when absent. */
export function ensureNode(fdt: Fdt, path: string): FdtNode {
  let node = fdt.root;
  for (const part of path.split('/').filter(Boolean)) {
    let next = node.children.find((c) => c.name === part);
    if (!next) {
      next = { name: part, props: [], children: [] };
      node.children.push(next);
    }
    node = next;
  }
  return node;
}

export function getProp(node: FdtNode, name: string): Uint8Array | undefined {
  return node.props.find((p) => p.name === name)?.value;
}

/** Sets (replacing in place, or appending) a property. */
export function setProp(node: FdtNode, name: string, value: Uint8Array): void {
  const p = node.props.find((q) => q.name === name);
  if (p) p.value = value;
  else node.props.push({ name, value });
}

/** Removes a property; returns whether it was there. */
export function deleteProp(node: FdtNode, name: string): boolean {
  const i = node.props.findIndex((p) => p.name === name);
  if (i < 0) return false;
  node.props.splice(i, 1);
  return true;
}

// ---- Property value encodings ----

export function encodeString(s: string): Uint8Array {
  return new TextEncoder().encode(s + '\0');
}

/** A string property (NUL-terminated); for string lists, the first entry. */
export function decodeString(v: Uint8Array): string {
  const nul = v.indexOf(0);
  return latin1.decode(nul < 0 ? v : v.subarray(0, nul));
}

export function decodeStringList(v: Uint8Array): string[] {
  const parts = latin1.decode(v).split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function encodeU32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

export function encodeU64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v);
  return b;
}

/** Reads a 1- or 2-cell (u32 or u64) integer property. */
export function decodeInt(v: Uint8Array, where = 'property'): bigint {
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  if (v.length === 4) return BigInt(dv.getUint32(0));
  if (v.length === 8) return dv.getBigUint64(0);
  throw new ParseError(`device tree: ${where} is ${v.length} bytes, want a 4- or 8-byte integer`);
}

/** Encodes numbers as `cells`-wide big-endian cell groups; throws when a value does not fit. */
export function encodeCells(values: bigint[], cells: number[], where: string): Uint8Array {
  const out = new Uint8Array(values.length * 4 * Math.max(...cells, 1));
  const dv = new DataView(out.buffer);
  let o = 0;
  values.forEach((v, i) => {
    const n = cells[i % cells.length]!;
    if (n < 1 || n > 2) throw new ParseError(`device tree: ${where}: ${n} cells per number is not supported`);
    if (v < 0n || v >= 1n << BigInt(32 * n)) {
      throw new ParseError(`device tree: ${where}: 0x${v.toString(16)} does not fit in ${n} cell(s)`);
    }
    if (n === 2) dv.setUint32(o, Number(v >> 32n));
    dv.setUint32(o + 4 * (n - 1), Number(v & 0xffffffffn));
    o += 4 * n;
  });
  return out.subarray(0, o);
}

/** Splits a `reg`-style value into (address, size) pairs with the given cell counts. */
export function decodeReg(v: Uint8Array, addressCells: number, sizeCells: number, where = 'reg'): FdtReserve[] {
  const stride = 4 * (addressCells + sizeCells);
  if (stride === 0 || v.length % stride !== 0) {
    throw new ParseError(`device tree: ${where} is ${v.length} bytes, not a multiple of ${stride} (#address-cells ${addressCells}, #size-cells ${sizeCells})`);
  }
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  const cellsAt = (o: number, n: number) => {
    let x = 0n;
    for (let i = 0; i < n; i++) x = (x << 32n) | BigInt(dv.getUint32(o + 4 * i));
    return x;
  };
  const out: FdtReserve[] = [];
  for (let o = 0; o < v.length; o += stride) {
    out.push({ address: cellsAt(o, addressCells), size: cellsAt(o + 4 * addressCells, sizeCells) });
  }
  return out;
}

/** #address-cells and #size-cells of a node (defaults 2 and 1 per the spec, as the kernel reads them). */
export function cellCounts(node: FdtNode): { addressCells: number; sizeCells: number } {
  const a = getProp(node, '#address-cells');
  const s = getProp(node, '#size-cells');
  return { addressCells: a ? Number(decodeInt(a)) : 2, sizeCells: s ? Number(decodeInt(s)) : 1 };
}

/** The RAM ranges of every `device_type = "memory"` node under the root. */
export function memoryRanges(fdt: Fdt): FdtReserve[] {
  const { addressCells, sizeCells } = cellCounts(fdt.root);
  const out: FdtReserve[] = [];
  for (const c of fdt.root.children) {
    const dt = getProp(c, 'device_type');
    const reg = getProp(c, 'reg');
    if (dt && decodeString(dt) === 'memory' && reg) out.push(...decodeReg(reg, addressCells, sizeCells, `/${c.name}/reg`));
  }
  return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** Ranges under /reserved-memory (each child's `reg`), with their node names. */
export function reservedMemory(fdt: Fdt): Array<FdtReserve & { name: string }> {
  const rm = findNode(fdt, '/reserved-memory');
  if (!rm) return [];
  const { addressCells, sizeCells } = cellCounts(rm);
  const out: Array<FdtReserve & { name: string }> = [];
  for (const c of rm.children) {
    const reg = getProp(c, 'reg');
    if (reg) for (const r of decodeReg(reg, addressCells, sizeCells, `/reserved-memory/${c.name}/reg`)) out.push({ ...r, name: c.name });
  }
  return out;
}

/** A deep copy (the loader edits a copy, never the caller's tree). */
export function cloneFdt(fdt: Fdt): Fdt {
  const copy = (n: FdtNode): FdtNode => ({
    name: n.name,
    props: n.props.map((p) => ({ name: p.name, value: p.value.slice() })),
    children: n.children.map(copy),
  });
  return { root: copy(fdt.root), reserved: fdt.reserved.map((r) => ({ ...r })), bootCpuidPhys: fdt.bootCpuidPhys };
}

// ---- Text form (for --debug and tests): a dts-like listing ----

function isPrintableStrings(v: Uint8Array): boolean {
  if (v.length === 0 || v[v.length - 1] !== 0 || v[0] === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === 0) {
      if (v[i - 1] === 0) return false;
    } else if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function formatValue(v: Uint8Array): string {
  if (v.length === 0) return '';
  if (isPrintableStrings(v)) return ' = ' + decodeStringList(v).map((s) => JSON.stringify(s)).join(', ');
  if (v.length % 4 === 0) {
    const dv = new DataView(v.buffer, v.byteOffset, v.length);
    const cells: string[] = [];
    for (let o = 0; o < v.length; o += 4) cells.push('0x' + dv.getUint32(o).toString(16).padStart(8, '0'));
    return ` = <${cells.join(' ')}>`;
  }
  return ` = [${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
}

/** A dts-like rendering of a subtree (values as strings, <cells> or [bytes]). */
export function formatFdtNode(node: FdtNode, indent = ''): string {
  const lines = [`${indent}${node.name || '/'} {`];
  for (const p of node.props) lines.push(`${indent}\t${p.name}${formatValue(p.value)};`);
  for (const c of node.children) lines.push(formatFdtNode(c, indent + '\t'));
  lines.push(`${indent}};`);
  return lines.join('\n');
}

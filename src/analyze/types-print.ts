// Prints kernel data with BTF types: a structure at an address with member names and nested types
// (like crash's `struct` or gdb's `print *p`), and a type's layout with offsets and sizes (like pahole).
import type { Btf, BtfType } from './btf.ts';
import { hex } from '../text.ts';

export interface PrintOptions {
  /** Nested struct/union depth printed before "{...}". */
  maxDepth?: number;
  /** Array elements printed before "...". */
  maxElems?: number;
}


/** Reads an unsigned/signed integer of `size` bytes (1..8) at `off`. */
function readInt(b: Uint8Array, off: number, size: number, signed: boolean): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return signed ? BigInt.asIntN(size * 8, v) : v;
}

function readBits(b: Uint8Array, bitOffset: number, bitSize: number, signed: boolean): bigint {
  const first = bitOffset >> 3;
  const last = (bitOffset + bitSize - 1) >> 3;
  let v = 0n;
  for (let i = last; i >= first; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
  v = (v >> BigInt(bitOffset & 7)) & ((1n << BigInt(bitSize)) - 1n);
  return signed ? BigInt.asIntN(bitSize, v) : v;
}

function cString(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : c === 0x22 ? '\\"' : c === 0x5c ? '\\\\' : `\\${c.toString(8).padStart(3, '0')}`;
  }
  return `"${s}"`;
}

/**
 * Formats the value of type `typeId` held in `bytes` (which start at the value) as C-like text,
 * one member per line for structs and unions.
 */
export function formatValue(btf: Btf, typeId: number, bytes: Uint8Array, opts: PrintOptions = {}, indent = '', depth = 0): string {
  const maxDepth = opts.maxDepth ?? 6;
  const maxElems = opts.maxElems ?? 16;
  const t = btf.resolve(typeId);
  switch (t.kind) {
    case 'int': {
      const i = t.int!;
      if (i.bits && i.bits < t.size * 8) return String(readBits(bytes, i.bitOffset, i.bits, i.signed));
      const v = readInt(bytes, 0, t.size, i.signed);
      if (i.bool) return v ? 'true' : 'false';
      if (i.char) return `${v} '${v >= 0x20n && v < 0x7fn ? String.fromCharCode(Number(v)) : '\\' + v.toString(8)}'`;
      return String(v);
    }
    case 'ptr':
      return hex(readInt(bytes, 0, 8, false));
    case 'enum':
    case 'enum64': {
      const v = readInt(bytes, 0, t.size, t.kindFlag);
      const name = t.values!.find((x) => x.value === v || BigInt.asUintN(t.size * 8, x.value) === v)?.name;
      return name ?? String(v);
    }
    case 'float':
      return t.size === 8
        ? String(new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true))
        : t.size === 4
          ? String(new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true))
          : `<float${t.size * 8}>`;
    case 'array': {
      const a = t.array!;
      const elem = btf.resolve(a.typeId);
      const esz = btf.sizeOf(a.typeId);
      if (elem.kind === 'int' && elem.size === 1 && (elem.int!.char || elem.name === 'char')) {
        return cString(bytes.subarray(0, a.nelems));
      }
      if (esz === 0 || a.nelems === 0) return '{}';
      const n = Math.min(a.nelems, maxElems);
      const items: string[] = [];
      for (let i = 0; i < n; i++) items.push(formatValue(btf, a.typeId, bytes.subarray(i * esz, (i + 1) * esz), opts, indent + '  ', depth + 1));
      if (a.nelems > n) items.push(`... (${a.nelems - n} more)`);
      return items.some((x) => x.includes('\n')) ? `{\n${items.map((x) => indent + '  ' + x).join(',\n')}\n${indent}}` : `{${items.join(', ')}}`;
    }
    case 'struct':
    case 'union': {
      if (depth >= maxDepth) return '{...}';
      const lines: string[] = [];
      for (const m of t.members!) {
        const mt = btf.resolve(m.typeId);
        let v: string;
        if (m.bitSize) {
          const signed = mt.kind === 'int' ? mt.int!.signed : false;
          v = String(readBits(bytes, m.bitOffset, m.bitSize, signed));
        } else {
          const off = m.bitOffset >> 3;
          v = formatValue(btf, m.typeId, bytes.subarray(off, off + btf.sizeOf(m.typeId)), opts, indent + '  ', depth + 1);
        }
        lines.push(`${indent}  ${m.name || '<anonymous>'} = ${v},`);
      }
      return lines.length ? `{\n${lines.join('\n')}\n${indent}}` : '{}';
    }
    case 'void':
    case 'fwd':
      return '<incomplete type>';
    default:
      return `<${t.kind}>`;
  }
}

/** "struct task_struct {\n  ...\n}" for the struct at `addr`, read with `read`. */
export function formatStructAt(btf: Btf, type: BtfType, addr: bigint, read: (addr: bigint, len: number) => Uint8Array, opts: PrintOptions = {}): string {
  const size = btf.sizeOf(type.id);
  const bytes = read(addr, size);
  return `${btf.typeName(type.id)} at ${hex(addr)} (${size} bytes) = ${formatValue(btf, type.id, bytes, opts)}`;
}

export interface LayoutLine {
  offset: number;
  bitOffset: number;
  bitSize: number;
  size: number;
  name: string;
  type: string;
  depth: number;
}

/** Member layout of a struct/union (nested anonymous and named members to `maxDepth`). */
export function typeLayout(btf: Btf, type: BtfType, maxDepth = 1): LayoutLine[] {
  const out: LayoutLine[] = [];
  const walk = (t: BtfType, base: number, depth: number) => {
    for (const m of t.members ?? []) {
      const bit = base + m.bitOffset;
      out.push({
        offset: bit >> 3,
        bitOffset: bit,
        bitSize: m.bitSize,
        size: m.bitSize ? 0 : btf.sizeOf(m.typeId),
        name: m.name,
        type: btf.typeName(m.typeId),
        depth,
      });
      const mt = btf.resolve(m.typeId);
      if ((mt.kind === 'struct' || mt.kind === 'union') && (m.name === '' || depth + 1 < maxDepth)) walk(mt, bit, depth + 1);
    }
  };
  walk(btf.resolve(type.id), 0, 0);
  return out;
}

export function formatTypeLayout(btf: Btf, type: BtfType, maxDepth = 1): string {
  const t = btf.resolve(type.id);
  if (t.kind === 'enum' || t.kind === 'enum64') {
    return `${btf.typeName(t.id)} {\n${t.values!.map((v) => `  ${v.name} = ${v.value},`).join('\n')}\n};  /* ${t.size} bytes */`;
  }
  if (t.kind !== 'struct' && t.kind !== 'union') {
    return `${type.kind === 'typedef' ? `typedef ${btf.typeName(type.typeId)} ${type.name}` : btf.typeName(type.id)};  /* ${btf.sizeOf(type.id)} bytes */`;
  }
  const lines = typeLayout(btf, t, maxDepth).map((l) => {
    const pos = l.bitSize ? `${l.offset}:${l.bitOffset & 7}` : String(l.offset);
    const decl = `${'  '.repeat(l.depth + 1)}${declare(l.type, l.name || '<anonymous>')}${l.bitSize ? `:${l.bitSize}` : ''};`;
    return `${decl.padEnd(56)} /* ${pos.padStart(6)} ${l.bitSize ? `${l.bitSize} bits` : String(l.size).padStart(5)} */`;
  });
  return `${btf.typeName(t.id)} {\n${lines.join('\n')}\n};  /* ${t.size} bytes */`;
}

/** C declarator: "char[16]" + "comm" → "char comm[16]"; "void (*)(int)" + "fn" → "void (*fn)(int)". */
export function declare(type: string, name: string): string {
  const arr = /^(.*?)((\[\d+\])+)$/.exec(type);
  if (arr) return `${arr[1]} ${name}${arr[2]}`;
  const i = type.indexOf('(*)');
  if (i >= 0) return `${type.slice(0, i)}(*${name})${type.slice(i + 3)}`;
  return type.endsWith('*') ? `${type}${name}` : `${type} ${name}`;
}

/** The value as plain JSON-ready data: structs as objects, arrays as lists, char[] as strings, pointers as hex. */
export function valueJson(btf: Btf, typeId: number, bytes: Uint8Array, maxDepth = 6, depth = 0): unknown {
  const t = btf.resolve(typeId);
  switch (t.kind) {
    case 'int': {
      const i = t.int!;
      if (i.bits && i.bits < t.size * 8) return readBits(bytes, i.bitOffset, i.bits, i.signed);
      const v = readInt(bytes, 0, t.size, i.signed);
      return i.bool ? v !== 0n : v;
    }
    case 'ptr':
      return hex(readInt(bytes, 0, 8, false));
    case 'enum':
    case 'enum64': {
      const v = readInt(bytes, 0, t.size, t.kindFlag);
      return t.values!.find((x) => x.value === v || BigInt.asUintN(t.size * 8, x.value) === v)?.name ?? v;
    }
    case 'array': {
      const a = t.array!;
      const elem = btf.resolve(a.typeId);
      if (elem.kind === 'int' && elem.size === 1 && (elem.int!.char || elem.name === 'char')) {
        const end = bytes.subarray(0, a.nelems).indexOf(0);
        return String.fromCharCode(...bytes.subarray(0, end < 0 ? a.nelems : end));
      }
      const esz = btf.sizeOf(a.typeId);
      if (esz === 0) return [];
      return Array.from({ length: Math.min(a.nelems, 4096) }, (_, i) => valueJson(btf, a.typeId, bytes.subarray(i * esz, (i + 1) * esz), maxDepth, depth + 1));
    }
    case 'struct':
    case 'union': {
      if (depth >= maxDepth) return '{...}';
      const out: Record<string, unknown> = {};
      t.members!.forEach((m, i) => {
        const mt = btf.resolve(m.typeId);
        const v = m.bitSize
          ? readBits(bytes, m.bitOffset, m.bitSize, mt.kind === 'int' ? mt.int!.signed : false)
          : valueJson(btf, m.typeId, bytes.subarray(m.bitOffset >> 3, (m.bitOffset >> 3) + btf.sizeOf(m.typeId)), maxDepth, depth + 1);
        out[m.name || `<anonymous ${i}>`] = v;
      });
      return out;
    }
    case 'float':
      return Number(formatValue(btf, typeId, bytes));
    default:
      return null;
  }
}

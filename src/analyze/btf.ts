// BTF (BPF Type Format) reader: the compact type information a kernel built with
// CONFIG_DEBUG_INFO_BTF carries in its image (between the symbols __start_BTF and __stop_BTF) and
// exports as /sys/kernel/btf/vmlinux. Format: the kernel's Documentation/bpf/btf.rst.
//
// Types are indexed on parse (one offset per type id) and decoded on demand. Damaged data stops the
// index at the damage: the types before it stay usable and `damage` says where and what.
import { ParseError } from '../errors.ts';
import { readStruct, struct } from '../format/struct.ts';
import { hex } from '../text.ts';

export const BTF_MAGIC = 0xeb9f;

const BtfHeader = struct('btf_header', 24, {
  magic: { off: 0, type: 'u16' },
  version: { off: 2, type: 'u8' },
  flags: { off: 3, type: 'u8' },
  hdrLen: { off: 4, type: 'u32' },
  typeOff: { off: 8, type: 'u32' },
  typeLen: { off: 12, type: 'u32' },
  strOff: { off: 16, type: 'u32' },
  strLen: { off: 20, type: 'u32' },
});

/** struct btf_type: name_off, info (vlen:16, kind:5 at bit 24, kind_flag at bit 31), size_or_type. */
const BTF_TYPE_SIZE = 12;

export const BTF_KINDS = [
  'void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const',
  'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
] as const;
export type BtfKind = (typeof BTF_KINDS)[number];

/** Bytes of data after the 12-byte btf_type for each kind (per vlen entry for the list kinds). */
function trailingBytes(kind: BtfKind, vlen: number): number {
  switch (kind) {
    case 'int':
    case 'var':
    case 'decl_tag':
      return 4;
    case 'array':
      return 12;
    case 'struct':
    case 'union':
    case 'datasec':
    case 'enum64':
      return 12 * vlen;
    case 'enum':
    case 'func_proto':
      return 8 * vlen;
    default:
      return 0;
  }
}

export interface BtfMember {
  name: string;
  typeId: number;
  /** Offset from the start of the struct in bits. */
  bitOffset: number;
  /** Width for a bitfield, 0 otherwise. */
  bitSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** Byte size (int, struct, union, enum, enum64, float, datasec). */
  size: number;
  /** The referenced type (ptr, typedef, const, volatile, restrict, type_tag, func, var, decl_tag, func_proto return). */
  typeId: number;
  kindFlag: boolean;
  /** struct/union members. */
  members?: BtfMember[];
  /** enum/enum64 values. */
  values?: { name: string; value: bigint }[];
  /** array element type, index type and element count. */
  array?: { typeId: number; indexTypeId: number; nelems: number };
  /** int encoding. */
  int?: { signed: boolean; char: boolean; bool: boolean; bitOffset: number; bits: number };
  /** func_proto parameters. */
  params?: { name: string; typeId: number }[];
  /** datasec variables. */
  vars?: { typeId: number; offset: number; size: number }[];
  /** var linkage, decl_tag component index. */
  extra?: number;
}

export interface ResolvedMember {
  /** Byte offset of the member (of the byte holding its first bit for bitfields). */
  offset: number;
  bitOffset: number;
  bitSize: number;
  typeId: number;
}

const MAX_CHAIN = 64; // typedef/const/ptr chains in real kernels are short; bound them anyway

/**
 * Where a vmlinux BTF blob starts in `bytes` (4-byte aligned, as the kernel's .BTF section is): a
 * header with the magic, version 1, hdr_len 24, types right after it and strings right after them,
 * the string section starting with its empty string. Its total size too; undefined when none is.
 */
export function findBtfHeader(bytes: Uint8Array, maxSize = 64 << 20): { offset: number; size: number } | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off + 24 <= bytes.length; off += 4) {
    if (bytes[off] !== 0x9f || bytes[off + 1] !== 0xeb || bytes[off + 2] !== 1 || dv.getUint32(off + 4, true) !== 24) continue;
    const typeOff = dv.getUint32(off + 8, true);
    const typeLen = dv.getUint32(off + 12, true);
    const strOff = dv.getUint32(off + 16, true);
    const strLen = dv.getUint32(off + 20, true);
    if (typeOff !== 0 || strOff !== typeLen || typeLen === 0 || strLen === 0) continue;
    const size = 24 + strOff + strLen;
    if (size > maxSize) continue;
    const firstString = off + 24 + strOff;
    if (firstString < bytes.length && bytes[firstString] !== 0) continue;
    return { offset: off, size };
  }
  return undefined;
}

export class Btf {
  readonly bytes: Uint8Array;
  readonly name: string;
  /** Set when the data is damaged: types after this point are not available. */
  readonly damage: string | undefined;
  private readonly dv: DataView;
  private readonly typesStart: number;
  private readonly strStart: number;
  private readonly strLen: number;
  /** offsets[id] = byte offset of type `id` (ids start at 1; 0 is void). */
  private readonly offsets: Uint32Array;
  private readonly cache = new Map<number, BtfType>();
  private readonly byName = new Map<string, number[]>();
  private strText: string | undefined;
  private readonly decoder = new TextDecoder();

  private constructor(bytes: Uint8Array, name: string) {
    this.bytes = bytes;
    this.name = name;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < BtfHeader.size) throw new ParseError(`BTF: ${bytes.length} bytes is too short for a header`, { source: name, offset: 0 });
    const h = readStruct(BtfHeader, bytes);
    if (h.magic !== BTF_MAGIC) {
      throw new ParseError(`BTF: bad magic ${hex(h.magic)} (want 0xeb9f)`, { source: name, offset: 0, hint: 'not BTF data, or big-endian BTF' });
    }
    if (h.version !== 1) throw new ParseError(`BTF: unsupported version ${h.version}`, { source: name, offset: 2 });
    if (h.hdrLen < BtfHeader.size || h.hdrLen > bytes.length) throw new ParseError(`BTF: bad header length ${h.hdrLen}`, { source: name, offset: 4 });
    this.typesStart = h.hdrLen + h.typeOff;
    this.strStart = h.hdrLen + h.strOff;
    this.strLen = h.strLen;
    if (this.strStart + this.strLen > bytes.length) {
      throw new ParseError(`BTF: string section [${this.strStart}, +${this.strLen}) runs past the ${bytes.length} bytes of data`, {
        source: name,
        offset: 16,
        hint: 'the BTF data is truncated',
      });
    }
    const { offsets, damage } = this.index(Math.min(this.typesStart + h.typeLen, bytes.length), this.typesStart + h.typeLen > bytes.length);
    this.offsets = offsets;
    this.damage = damage;
  }

  /** Parses raw BTF (e.g. /sys/kernel/btf/vmlinux or the bytes between __start_BTF and __stop_BTF). */
  static parse(bytes: Uint8Array, name = '<btf>'): Btf {
    return new Btf(bytes, name);
  }

  /** Number of type ids including void (id 0). */
  get count(): number {
    return this.offsets.length;
  }

  private index(end: number, truncated: boolean): { offsets: Uint32Array; damage: string | undefined } {
    let offs = new Uint32Array(1 << 16);
    let n = 1;
    let p = this.typesStart;
    let damage: string | undefined;
    while (p < end) {
      if (p + BTF_TYPE_SIZE > end) {
        damage = `type ${n} at offset ${p}: record header runs past the type section`;
        break;
      }
      const info = this.dv.getUint32(p + 4, true);
      const kindNo = (info >>> 24) & 0x1f;
      const kind = BTF_KINDS[kindNo];
      if (kindNo === 0 || kind === undefined) {
        damage = `type ${n} at offset ${p}: unknown kind ${kindNo}`;
        break;
      }
      const nameOff = this.dv.getUint32(p, true);
      if (nameOff >= this.strLen) {
        damage = `type ${n} at offset ${p}: name offset ${nameOff} outside the ${this.strLen}-byte string section`;
        break;
      }
      const len = BTF_TYPE_SIZE + trailingBytes(kind, info & 0xffff);
      if (p + len > end) {
        damage = `type ${n} (${kind}) at offset ${p}: ${len} bytes run past the type section`;
        break;
      }
      if (n === offs.length) {
        const bigger = new Uint32Array(offs.length * 2);
        bigger.set(offs);
        offs = bigger;
      }
      offs[n++] = p;
      p += len;
    }
    if (!damage && truncated) damage = `type section truncated at offset ${end}`;
    return { offsets: offs.slice(0, n), damage };
  }

  /** The string at `off` in the string section. */
  str(off: number): string {
    if (off === 0) return '';
    if (off >= this.strLen) throw new ParseError(`BTF: string offset ${off} outside the string section`, { source: this.name });
    const s = this.strStart + off;
    let e = s;
    const lim = this.strStart + this.strLen;
    while (e < lim && this.bytes[e] !== 0) e++;
    return this.decoder.decode(this.bytes.subarray(s, e));
  }

  /** Decodes type `id` (0 is void). */
  type(id: number): BtfType {
    if (id === 0) return { id: 0, kind: 'void', name: 'void', size: 0, typeId: 0, kindFlag: false };
    const hit = this.cache.get(id);
    if (hit) return hit;
    if (!(id > 0 && id < this.offsets.length)) {
      throw new ParseError(`BTF: type id ${id} does not exist (${this.offsets.length - 1} types${this.damage ? '; data damaged: ' + this.damage : ''})`, { source: this.name });
    }
    const p = this.offsets[id]!;
    const dv = this.dv;
    const info = dv.getUint32(p + 4, true);
    const kind = BTF_KINDS[(info >>> 24) & 0x1f]!;
    const vlen = info & 0xffff;
    const kindFlag = (info >>> 31) !== 0;
    const sizeOrType = dv.getUint32(p + 8, true);
    const t: BtfType = { id, kind, name: this.str(dv.getUint32(p, true)), size: 0, typeId: 0, kindFlag };
    const d = p + BTF_TYPE_SIZE;
    switch (kind) {
      case 'int': {
        t.size = sizeOrType;
        const e = dv.getUint32(d, true);
        const enc = (e >>> 24) & 0xf;
        t.int = { signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0, bitOffset: (e >>> 16) & 0xff, bits: e & 0xff };
        break;
      }
      case 'float':
      case 'datasec':
        t.size = sizeOrType;
        if (kind === 'datasec') {
          t.vars = [];
          for (let i = 0; i < vlen; i++) {
            const q = d + 12 * i;
            t.vars.push({ typeId: dv.getUint32(q, true), offset: dv.getUint32(q + 4, true), size: dv.getUint32(q + 8, true) });
          }
        }
        break;
      case 'struct':
      case 'union': {
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++) {
          const q = d + 12 * i;
          const off = dv.getUint32(q + 8, true);
          t.members.push({
            name: this.str(dv.getUint32(q, true)),
            typeId: dv.getUint32(q + 4, true),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        break;
      }
      case 'enum':
      case 'enum64': {
        t.size = sizeOrType;
        t.values = [];
        for (let i = 0; i < vlen; i++) {
          if (kind === 'enum') {
            const q = d + 8 * i;
            const v = kindFlag ? BigInt(dv.getInt32(q + 4, true)) : BigInt(dv.getUint32(q + 4, true));
            t.values.push({ name: this.str(dv.getUint32(q, true)), value: v });
          } else {
            const q = d + 12 * i;
            let v = (BigInt(dv.getUint32(q + 8, true)) << 32n) | BigInt(dv.getUint32(q + 4, true));
            if (kindFlag) v = BigInt.asIntN(64, v);
            t.values.push({ name: this.str(dv.getUint32(q, true)), value: v });
          }
        }
        break;
      }
      case 'array':
        t.array = { typeId: dv.getUint32(d, true), indexTypeId: dv.getUint32(d + 4, true), nelems: dv.getUint32(d + 8, true) };
        break;
      case 'func_proto':
        t.typeId = sizeOrType;
        t.params = [];
        for (let i = 0; i < vlen; i++) {
          const q = d + 8 * i;
          t.params.push({ name: this.str(dv.getUint32(q, true)), typeId: dv.getUint32(q + 4, true) });
        }
        break;
      case 'var':
        t.typeId = sizeOrType;
        t.extra = dv.getUint32(d, true);
        break;
      case 'decl_tag':
        t.typeId = sizeOrType;
        t.extra = dv.getInt32(d, true);
        break;
      default: // ptr, fwd, typedef, volatile, const, restrict, func, type_tag
        t.typeId = sizeOrType;
    }
    this.cache.set(id, t);
    return t;
  }

  /** All type ids with this exact name (any kind), in id order. */
  idsByName(name: string): number[] {
    const hit = this.byName.get(name);
    if (hit) return hit;
    // The string section as one latin1 string (1 char per byte) finds "\0name\0" fast; then the
    // ids are the types whose name_off points there.
    this.strText ??= new TextDecoder('latin1').decode(this.bytes.subarray(this.strStart, this.strStart + this.strLen));
    const want = new Set<number>();
    const needle = '\0' + name + '\0';
    for (let i = this.strText.indexOf(needle); i >= 0; i = this.strText.indexOf(needle, i + 1)) want.add(i + 1);
    const ids: number[] = [];
    if (want.size) {
      for (let id = 1; id < this.offsets.length; id++) {
        if (want.has(this.dv.getUint32(this.offsets[id]!, true))) ids.push(id);
      }
    }
    this.byName.set(name, ids);
    return ids;
  }

  /** Every distinct type name (for pattern search). */
  names(): string[] {
    const out = new Set<string>();
    for (let id = 1; id < this.offsets.length; id++) {
      const off = this.dv.getUint32(this.offsets[id]!, true);
      if (off !== 0) out.add(this.str(off));
    }
    return [...out];
  }

  /**
   * Finds a named type. `spec` may be "struct foo", "union foo", "enum foo" or a plain name (then the
   * first complete struct/union/enum/typedef/int/float of that name). Forward declarations lose to
   * complete definitions.
   */
  find(spec: string, kind?: BtfKind): BtfType | undefined {
    let name = spec.trim();
    const m = /^(struct|union|enum)\s+(\S+)$/.exec(name);
    const kinds: BtfKind[] = m
      ? m[1] === 'enum'
        ? ['enum', 'enum64']
        : [m[1] as BtfKind]
      : kind
        ? [kind]
        : ['struct', 'union', 'typedef', 'enum', 'enum64', 'int', 'float'];
    if (m) name = m[2]!;
    for (const k of kinds) {
      for (const id of this.idsByName(name)) {
        const t = this.type(id);
        if (t.kind === k) return t;
      }
    }
    return undefined;
  }

  /** Like find, but throws a ParseError naming the type when it is missing. */
  get(spec: string, kind?: BtfKind): BtfType {
    const t = this.find(spec, kind);
    if (!t) {
      throw new ParseError(`BTF has no type '${spec}'${this.damage ? ` (BTF damaged: ${this.damage})` : ''}`, { source: this.name });
    }
    return t;
  }

  /** Skips typedef, const, volatile, restrict and type_tag. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let i = 0; i < MAX_CHAIN; i++) {
      if (t.kind !== 'typedef' && t.kind !== 'const' && t.kind !== 'volatile' && t.kind !== 'restrict' && t.kind !== 'type_tag') return t;
      t = this.type(t.typeId);
    }
    throw new ParseError(`BTF: type ${id}: typedef/qualifier chain longer than ${MAX_CHAIN} (loop?)`, { source: this.name });
  }

  /** Size in bytes of a type (pointers are 8 bytes: this reader is for 64-bit kernels). */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case 'ptr':
        return 8;
      case 'array': {
        const a = t.array!;
        return a.nelems * this.sizeOf(a.typeId);
      }
      case 'func':
      case 'func_proto':
      case 'void':
      case 'fwd':
        return 0;
      default:
        return t.size;
    }
  }

  /**
   * A member of a struct/union by dotted path ("thread.sp", "se.on_rq"); anonymous struct/union
   * members are searched through, as in C.
   */
  member(typeOrId: BtfType | number | string, path: string): ResolvedMember {
    let t = typeof typeOrId === 'string' ? this.get(typeOrId) : typeof typeOrId === 'number' ? this.type(typeOrId) : typeOrId;
    let bitOffset = 0;
    let found: { typeId: number; bitSize: number } | undefined;
    for (const part of path.split('.')) {
      const s = this.resolve(t.id);
      if (s.kind !== 'struct' && s.kind !== 'union') {
        throw new ParseError(`BTF: '${path}': '${typeLabel(s)}' has no members`, { source: this.name });
      }
      const hit = this.findMember(s, part, 0);
      if (!hit) throw new ParseError(`BTF: ${typeLabel(s)} has no member '${part}'`, { source: this.name, hint: 'this kernel version lays the structure out differently' });
      bitOffset += hit.bitOffset;
      found = { typeId: hit.typeId, bitSize: hit.bitSize };
      t = this.type(hit.typeId);
    }
    return { offset: Math.floor(bitOffset / 8), bitOffset, bitSize: found!.bitSize, typeId: found!.typeId };
  }

  /** Byte offset of a member path; shorthand for member(...).offset. */
  offsetOf(typeOrId: BtfType | number | string, path: string): number {
    return this.member(typeOrId, path).offset;
  }

  /** Whether a struct has a member path (for layouts that changed across kernel versions). */
  hasMember(typeOrId: BtfType | number | string, path: string): boolean {
    try {
      this.member(typeOrId, path);
      return true;
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      return false;
    }
  }

  private findMember(s: BtfType, name: string, depth: number): BtfMember | undefined {
    if (depth > 16) return undefined;
    for (const m of s.members ?? []) {
      if (m.name === name) return m;
      if (m.name === '') {
        const inner = this.resolve(m.typeId);
        if (inner.kind === 'struct' || inner.kind === 'union') {
          const sub = this.findMember(inner, name, depth + 1);
          if (sub) return { ...sub, bitOffset: sub.bitOffset + m.bitOffset };
        }
      }
    }
    return undefined;
  }

  /** A C-like spelling of a type: "struct list_head *", "unsigned int[16]", "int (*)(void)". */
  typeName(id: number, depth = 0): string {
    if (depth > MAX_CHAIN) return '?';
    const t = this.type(id);
    switch (t.kind) {
      case 'void':
        return 'void';
      case 'struct':
      case 'union':
      case 'enum':
        return `${t.kind} ${t.name || '(anonymous)'}`;
      case 'enum64':
        return `enum ${t.name || '(anonymous)'}`;
      case 'fwd':
        return `${t.kindFlag ? 'union' : 'struct'} ${t.name}`;
      case 'ptr': {
        const to = this.type(t.typeId);
        if (to.kind === 'func_proto') return this.protoName(to, '(*)', depth);
        return `${this.typeName(t.typeId, depth + 1)} *`;
      }
      case 'const':
      case 'volatile':
      case 'restrict':
        return `${t.kind} ${this.typeName(t.typeId, depth + 1)}`;
      case 'type_tag':
        return this.typeName(t.typeId, depth + 1);
      case 'array':
        return `${this.typeName(t.array!.typeId, depth + 1)}[${t.array!.nelems}]`;
      case 'func_proto':
        return this.protoName(t, '', depth);
      case 'func':
      case 'var':
      case 'decl_tag':
        return t.name;
      default:
        return t.name;
    }
  }

  private protoName(t: BtfType, inner: string, depth: number): string {
    const params = (t.params ?? []).map((p) => (p.typeId === 0 ? '...' : this.typeName(p.typeId, depth + 1)));
    return `${this.typeName(t.typeId, depth + 1)} ${inner}(${params.length ? params.join(', ') : 'void'})`;
  }
}

export function typeLabel(t: BtfType): string {
  return t.kind === 'struct' || t.kind === 'union' || t.kind === 'enum' ? `${t.kind} ${t.name || '(anonymous)'}` : t.name || t.kind;
}

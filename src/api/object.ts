// Kernel objects typed from BTF: an address in the crashed kernel's memory and the type found
// there, read on demand (drgn's Object, reduced to what analysis scripts use): members, pointers
// followed, array elements, integers, strings, container_of. No I/O: memory comes through the
// dump's VirtualMemory, so this runs in Node and in the viewer's worker alike.
import { ParseError } from '../errors.ts';
import type { Btf, BtfType } from '../analyze/btf.ts';
import { typeLabel } from '../analyze/btf.ts';
import type { VirtualMemory } from '../analyze/virtual-memory.ts';
import { hex } from '../text.ts';
import { ObjectError } from './errors.ts';

/**
 * A type: a BTF type id, or a pointer to / array of a type that BTF may not spell out itself
 * (`struct mutex *`, `atomic_long_t[42]`).
 */
export type KType =
  | number
  | {
      /** The type pointed to. */
      readonly pointerTo: KType;
    }
  | {
      /** The element type. */
      readonly arrayOf: KType;
      /** The number of elements. */
      readonly length: number;
    };

/** What a KObject needs from its dump: the types, the memory, a name for messages. */
export interface ObjectContext {
  /** The kernel's types. */
  readonly btf: Btf;
  /** The kernel's virtual memory. */
  readonly memory: VirtualMemory;
}

const MAX_STRING = 1 << 16;

/** Resolves typedefs and qualifiers of a BTF id; synthetic types are returned as they are. */
function resolved(btf: Btf, t: KType): KType {
  return typeof t === 'number' ? btf.resolve(t).id : t;
}

/** The C spelling of a type: "struct task_struct *", "atomic_long_t[40]". */
export function typeName(btf: Btf, t: KType): string {
  if (typeof t === 'number') return btf.typeName(t);
  if ('pointerTo' in t) return `${typeName(btf, t.pointerTo)} *`;
  return `${typeName(btf, t.arrayOf)}[${t.length}]`;
}

/** Size in bytes of a type (pointers: 8). */
export function sizeOf(btf: Btf, t: KType): number {
  if (typeof t === 'number') return btf.sizeOf(t);
  if ('pointerTo' in t) return 8;
  return t.length * sizeOf(btf, t.arrayOf);
}

/**
 * Parses a C type spelling into a KType: "struct task_struct", "struct task_struct *",
 * "atomic_long_t[12]", "unsigned long", "char *". Throws a ParseError naming a type BTF lacks.
 */
export function parseType(btf: Btf, spec: string): KType {
  let s = spec.trim();
  const arrays: number[] = [];
  for (let m = /\[(\d+)\]\s*$/.exec(s); m; m = /\[(\d+)\]\s*$/.exec(s)) {
    arrays.unshift(Number(m[1]));
    s = s.slice(0, m.index).trim();
  }
  let stars = 0;
  while (s.endsWith('*')) {
    stars++;
    s = s.slice(0, -1).trim();
  }
  s = C_ALIASES[s.replace(/\s+/g, ' ')] ?? s;
  let t: KType;
  if (s === 'void') t = 0;
  else {
    const found = btf.find(s);
    if (!found) throw new ParseError(`BTF has no type '${s}'${btf.damage ? ` (BTF damaged: ${btf.damage})` : ''}`, { source: btf.name });
    t = found.id;
  }
  for (let i = 0; i < stars; i++) t = { pointerTo: t };
  for (let i = arrays.length - 1; i >= 0; i--) t = { arrayOf: t, length: arrays[i]! };
  return t;
}

/** C spellings and the names BTF (from DWARF) gives the same integer types. */
const C_ALIASES: Record<string, string> = {
  'unsigned long': 'long unsigned int',
  'unsigned long int': 'long unsigned int',
  long: 'long int',
  'unsigned long long': 'long long unsigned int',
  'long long': 'long long int',
  unsigned: 'unsigned int',
  'unsigned short': 'short unsigned int',
  short: 'short int',
  'signed char': 'signed char',
};

/** Where a bitfield member sits. */
export interface BitField {
  /** Bits from the object's address to the field's first bit. */
  offset: number;
  /** Width in bits. */
  size: number;
}

/** A KObject as JSON. */
export interface ObjectJson {
  /** The C type. */
  type: string;
  /** The address, 0x… */
  address: string;
}

/** What kind of value a type holds, with typedefs and qualifiers resolved. */
type Shape =
  | { kind: 'pointer'; to: KType }
  | { kind: 'array'; of: KType; length: number }
  | { kind: 'int'; size: number; signed: boolean; bool: boolean; char: boolean }
  | { kind: 'enum'; size: number; signed: boolean; type: BtfType }
  | { kind: 'compound'; type: BtfType }
  | { kind: 'other'; type: BtfType };

function shapeOf(btf: Btf, t: KType): Shape {
  const r = resolved(btf, t);
  if (typeof r !== 'number') return 'pointerTo' in r ? { kind: 'pointer', to: r.pointerTo } : { kind: 'array', of: r.arrayOf, length: r.length };
  const b = btf.type(r);
  switch (b.kind) {
    case 'ptr':
      return { kind: 'pointer', to: b.typeId };
    case 'array':
      return { kind: 'array', of: b.array!.typeId, length: b.array!.nelems };
    case 'int':
      return { kind: 'int', size: b.size, signed: b.int!.signed, bool: b.int!.bool, char: b.int!.char };
    case 'enum':
    case 'enum64':
      return { kind: 'enum', size: b.size, signed: b.kindFlag, type: b };
    case 'struct':
    case 'union':
      return { kind: 'compound', type: b };
    default:
      return { kind: 'other', type: b };
  }
}

/**
 * One kernel object: a typed address in the crashed kernel's memory. Reading happens on use
 * (`value()`, `string()`, `deref()`), so making objects and walking members is free.
 *
 * Errors: memory the dump does not hold throws {@link NotInDumpError} (it names the address); a
 * NULL pointer followed, an index out of range or a member the type lacks throws
 * {@link ObjectError} (it names the address); nothing else escapes.
 *
 * @example
 * const init = dump.object('init_task');
 * init.member('comm').string();                 // "swapper/0"
 * init.member('tasks.next').deref();            // struct list_head
 * init.member('mm').isNull();                   // true: kernel threads have no mm
 */
export class KObject {
  /** The dump's types and memory. */
  readonly ctx: ObjectContext;
  /** The object's type. */
  readonly type: KType;
  /** Its kernel virtual address. */
  readonly address: bigint;
  /** For a bitfield member: its bit offset from `address` and width. */
  readonly bits: BitField | undefined;

  constructor(ctx: ObjectContext, type: KType, address: bigint, bits?: BitField) {
    this.ctx = ctx;
    this.type = type;
    this.address = address;
    this.bits = bits && bits.size ? bits : undefined;
  }

  /** The C spelling of the type ("struct task_struct", "char[16]"). */
  get typeName(): string {
    return typeName(this.ctx.btf, this.type);
  }

  /** Size of the object in bytes. */
  get size(): number {
    return sizeOf(this.ctx.btf, this.type);
  }

  private shape(): Shape {
    return shapeOf(this.ctx.btf, this.type);
  }

  /** The object's bytes. */
  bytes(): Uint8Array {
    return this.ctx.memory.readVirt(this.address, this.size);
  }

  /**
   * A member by name or dotted path ("thread.sp", "se.on_rq"); anonymous structs and unions are
   * searched through as in C. On a pointer to a struct, the pointer is followed first (like `->`).
   */
  member(path: string): KObject {
    let obj: KObject = this;
    const sh = this.shape();
    if (sh.kind === 'pointer') obj = this.deref();
    else if (sh.kind !== 'compound') throw new ObjectError(`'${this.typeName}' has no members (asked for '${path}')`, this.address);
    const btf = this.ctx.btf;
    let m;
    try {
      m = btf.member(resolved(btf, obj.type) as number, path);
    } catch (e) {
      if (e instanceof ParseError) throw new ObjectError(`${obj.typeName} has no member '${path}'`, obj.address, 'this kernel version lays the structure out differently');
      throw e;
    }
    const byteOff = m.bitSize ? Math.floor(m.bitOffset / 8) : m.offset;
    return new KObject(this.ctx, m.typeId, obj.address + BigInt(byteOff), m.bitSize ? { offset: m.bitOffset - byteOff * 8, size: m.bitSize } : undefined);
  }

  /** Whether the type (or the struct a pointer points to) has this member path. */
  hasMember(path: string): boolean {
    const sh = this.shape();
    const t = sh.kind === 'pointer' ? resolved(this.ctx.btf, sh.to) : resolved(this.ctx.btf, this.type);
    return typeof t === 'number' && this.ctx.btf.hasMember(t, path);
  }

  /** A pointer's value (the address it holds). */
  pointer(): bigint {
    const sh = this.shape();
    if (sh.kind !== 'pointer') throw new ObjectError(`'${this.typeName}' is not a pointer`, this.address);
    return this.ctx.memory.readVirt(this.address, 8).reduce((acc, b, i) => acc | (BigInt(b) << BigInt(8 * i)), 0n);
  }

  /** Whether a pointer is NULL. */
  isNull(): boolean {
    return this.pointer() === 0n;
  }

  /** The object a pointer points to (`*p`); ObjectError on NULL or on a pointer to void. */
  deref(): KObject {
    const sh = this.shape();
    if (sh.kind !== 'pointer') throw new ObjectError(`'${this.typeName}' is not a pointer`, this.address);
    const p = this.pointer();
    if (p === 0n) throw new ObjectError(`NULL pointer '${this.typeName}' followed`, this.address);
    return new KObject(this.ctx, sh.to, p);
  }

  /** Element `i` of an array, or `p[i]` for a pointer. */
  index(i: number): KObject {
    const sh = this.shape();
    if (sh.kind === 'array') {
      // A flexible array member (`struct upid numbers[]`) has length 0 in BTF: any index is C's.
      if (!Number.isInteger(i) || i < 0 || (sh.length > 0 && i >= sh.length)) throw new ObjectError(`index ${i} out of range for '${this.typeName}'`, this.address);
      return new KObject(this.ctx, sh.of, this.address + BigInt(i * sizeOf(this.ctx.btf, sh.of)));
    }
    if (sh.kind === 'pointer') {
      const p = this.pointer();
      if (p === 0n) throw new ObjectError(`NULL pointer '${this.typeName}' indexed`, this.address);
      return new KObject(this.ctx, sh.to, p + BigInt(i * sizeOf(this.ctx.btf, sh.to)));
    }
    throw new ObjectError(`'${this.typeName}' is neither an array nor a pointer`, this.address);
  }

  /** Number of elements of an array type. */
  get length(): number {
    const sh = this.shape();
    if (sh.kind !== 'array') throw new ObjectError(`'${this.typeName}' is not an array`, this.address);
    return sh.length;
  }

  /** The elements of an array. */
  elements(): KObject[] {
    return Array.from({ length: this.length }, (_, i) => this.index(i));
  }

  /**
   * The value of an integer, enum, bool or pointer as a bigint (pointers unsigned; signed types
   * sign-extended; bitfields extracted). One-member structs such as atomic_t / atomic_long_t read
   * as their member.
   */
  bigint(): bigint {
    const sh = this.shape();
    if (sh.kind === 'pointer') return this.pointer();
    if (sh.kind === 'compound' && sh.type.members?.length === 1) return this.member(sh.type.members[0]!.name).bigint();
    if (sh.kind !== 'int' && sh.kind !== 'enum') throw new ObjectError(`'${this.typeName}' is not an integer`, this.address);
    if (this.bits) {
      const nbytes = Math.ceil((this.bits.offset + this.bits.size) / 8);
      const raw = this.ctx.memory.readVirt(this.address, nbytes).reduce((acc, b, i) => acc | (BigInt(b) << BigInt(8 * i)), 0n);
      const v = (raw >> BigInt(this.bits.offset)) & ((1n << BigInt(this.bits.size)) - 1n);
      return sh.signed ? BigInt.asIntN(this.bits.size, v) : v;
    }
    if (![1, 2, 4, 8].includes(sh.size)) throw new ObjectError(`'${this.typeName}' has size ${sh.size}`, this.address);
    const raw = this.ctx.memory.readVirt(this.address, sh.size).reduce((acc, b, i) => acc | (BigInt(b) << BigInt(8 * i)), 0n);
    return sh.signed ? BigInt.asIntN(sh.size * 8, raw) : raw;
  }

  /** The value as a JavaScript number (integers up to 2^53; use bigint() for addresses). */
  number(): number {
    const v = this.bigint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new ObjectError(`'${this.typeName}' value ${v} does not fit a number; use bigint()`, this.address);
    }
    return Number(v);
  }

  /** The value as a boolean (non-zero). */
  bool(): boolean {
    return this.bigint() !== 0n;
  }

  /** The name of an enum value ("NR_FREE_PAGES"), or undefined when the value has none. */
  enumName(): string | undefined {
    const sh = this.shape();
    if (sh.kind !== 'enum') throw new ObjectError(`'${this.typeName}' is not an enum`, this.address);
    const v = this.bigint();
    return sh.type.values?.find((e) => e.value === v)?.name;
  }

  /**
   * A C string: a char array (up to its length or NUL) or a char pointer (up to NUL, at most `max`
   * bytes), decoded as Latin-1 like the kernel's bytes.
   */
  string(max = MAX_STRING): string {
    const sh = this.shape();
    let addr: bigint;
    let limit = max;
    if (sh.kind === 'array') {
      addr = this.address;
      limit = Math.min(max, sh.length * sizeOf(this.ctx.btf, sh.of));
    } else if (sh.kind === 'pointer') {
      addr = this.pointer();
      if (addr === 0n) throw new ObjectError(`NULL string pointer '${this.typeName}'`, this.address);
    } else throw new ObjectError(`'${this.typeName}' is not a string (char array or pointer)`, this.address);
    let s = '';
    for (let off = 0; off < limit; ) {
      const n = Math.min(limit - off, 4096 - Number((addr + BigInt(off)) & 4095n));
      const b = this.ctx.memory.readVirt(addr + BigInt(off), n);
      const nul = b.indexOf(0);
      const part = nul < 0 ? b : b.subarray(0, nul);
      for (let i = 0; i < part.length; i += 8192) s += String.fromCharCode(...part.subarray(i, i + 8192));
      if (nul >= 0) break;
      off += n;
    }
    return s;
  }

  /** The same address seen as another type (`*(T *)&obj`). */
  cast(type: KType | string): KObject {
    const t = typeof type === 'string' ? parseType(this.ctx.btf, type) : type;
    return new KObject(this.ctx, t, this.address);
  }

  /** A pointer object's value seen as a pointer to another type, then followed (`*(T *)p`). */
  derefAs(type: KType | string): KObject {
    const t = typeof type === 'string' ? parseType(this.ctx.btf, type) : type;
    const p = this.pointer();
    if (p === 0n) throw new ObjectError(`NULL pointer '${this.typeName}' followed`, this.address);
    return new KObject(this.ctx, t, p);
  }

  /**
   * container_of: the `type` that holds this object (or, for a pointer, the object it points to)
   * as its `member`. `obj.containerOf('struct task_struct', 'tasks')`.
   */
  containerOf(type: string | KType, member: string): KObject {
    const addr = this.shape().kind === 'pointer' ? this.pointer() : this.address;
    return containerOf(this.ctx, addr, type, member);
  }

  /** As JSON (a script's result): the type and the address. */
  toJSON(): ObjectJson {
    return { type: this.typeName, address: hex(this.address) };
  }

  /** "struct task_struct at 0xffff…". */
  toString(): string {
    return `${this.typeName} at ${hex(this.address)}`;
  }
}

/** The `type` whose `member` is at `addr` (container_of). */
export function containerOf(ctx: ObjectContext, addr: bigint, type: string | KType, member: string): KObject {
  const t = typeof type === 'string' ? parseType(ctx.btf, type) : type;
  if (addr === 0n) throw new ObjectError(`container_of(NULL, ${typeName(ctx.btf, t)}, ${member})`, addr);
  const r = resolved(ctx.btf, t);
  if (typeof r !== 'number') throw new ObjectError(`container_of: '${typeName(ctx.btf, t)}' is not a struct`, addr);
  let off: number;
  try {
    off = ctx.btf.offsetOf(r, member);
  } catch (e) {
    if (e instanceof ParseError) throw new ObjectError(`${typeLabel(ctx.btf.type(r))} has no member '${member}'`, addr);
    throw e;
  }
  return new KObject(ctx, t, (addr - BigInt(off)) & 0xffffffffffffffffn);
}

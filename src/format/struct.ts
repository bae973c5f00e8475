// Binary layouts declared once: a table of (field -> offset, type) per struct, read and written
// with DataView. Every format module declares its structs with `struct(...)` and never scatters
// offsets through its code.

export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | 'i64' | `bytes:${number}` | `cstr:${number}`;
export interface Field {
  readonly off: number;
  readonly type: FieldType;
}
type ValueOf<T extends FieldType> = T extends 'u64' | 'i64'
  ? bigint
  : T extends `bytes:${number}`
    ? Uint8Array
    : T extends `cstr:${number}`
      ? string
      : number;
export type StructValue<F extends Record<string, Field>> = { -readonly [K in keyof F]: ValueOf<F[K]['type']> };

export interface Struct<F extends Record<string, Field>> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
}

export function struct<const F extends Record<string, Field>>(name: string, size: number, fields: F): Struct<F> {
  for (const [k, f] of Object.entries(fields)) {
    if (f.off + fieldSize(f.type) > size) throw new Error(`struct ${name}.${k} lies outside its ${size} bytes`);
  }
  return { name, size, fields };
}

export function fieldSize(t: FieldType): number {
  switch (t) {
    case 'u8':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
    case 'i32':
      return 4;
    case 'u64':
    case 'i64':
      return 8;
    default:
      return Number(t.slice(t.indexOf(':') + 1));
  }
}

const textDecoder = new TextDecoder('latin1');

/** Reads one struct at `offset` of `bytes` (which must hold all of it). */
export function readStruct<F extends Record<string, Field>>(
  s: Struct<F>,
  bytes: Uint8Array,
  offset = 0,
  littleEndian = true,
): StructValue<F> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, s.size);
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(s.fields)) out[k] = readField(dv, f, littleEndian);
  return out as StructValue<F>;
}

function readField(dv: DataView, f: Field, le: boolean): unknown {
  switch (f.type) {
    case 'u8':
      return dv.getUint8(f.off);
    case 'u16':
      return dv.getUint16(f.off, le);
    case 'u32':
      return dv.getUint32(f.off, le);
    case 'i32':
      return dv.getInt32(f.off, le);
    case 'u64':
      return dv.getBigUint64(f.off, le);
    case 'i64':
      return dv.getBigInt64(f.off, le);
    default: {
      const n = fieldSize(f.type);
      const raw = new Uint8Array(dv.buffer, dv.byteOffset + f.off, n);
      if (f.type.startsWith('bytes:')) return raw.slice();
      const nul = raw.indexOf(0);
      return textDecoder.decode(nul < 0 ? raw : raw.subarray(0, nul));
    }
  }
}

/** Writes the given fields of a struct into `bytes` at `offset`; fields left out stay as they are. */
export function writeStruct<F extends Record<string, Field>>(
  s: Struct<F>,
  bytes: Uint8Array,
  values: Partial<StructValue<F>>,
  offset = 0,
  littleEndian = true,
): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, s.size);
  for (const [k, v] of Object.entries(values)) {
    const f = s.fields[k];
    if (!f) throw new Error(`struct ${s.name} has no field ${k}`);
    writeField(dv, f, v, littleEndian);
  }
  return bytes;
}

/** A new zeroed buffer holding one struct with the given fields. */
export function encodeStruct<F extends Record<string, Field>>(
  s: Struct<F>,
  values: Partial<StructValue<F>>,
  littleEndian = true,
): Uint8Array {
  return writeStruct(s, new Uint8Array(s.size), values, 0, littleEndian);
}

function writeField(dv: DataView, f: Field, v: unknown, le: boolean): void {
  switch (f.type) {
    case 'u8':
      return dv.setUint8(f.off, v as number);
    case 'u16':
      return dv.setUint16(f.off, v as number, le);
    case 'u32':
      return dv.setUint32(f.off, v as number, le);
    case 'i32':
      return dv.setInt32(f.off, v as number, le);
    case 'u64':
      return dv.setBigUint64(f.off, v as bigint, le);
    case 'i64':
      return dv.setBigInt64(f.off, v as bigint, le);
    default: {
      const n = fieldSize(f.type);
      const dst = new Uint8Array(dv.buffer, dv.byteOffset + f.off, n);
      dst.fill(0);
      const src = typeof v === 'string' ? new TextEncoder().encode(v) : (v as Uint8Array);
      dst.set(src.subarray(0, f.type.startsWith('cstr:') ? n - 1 : n));
    }
  }
}

// A writer for cpio "newc" archives (the format the Linux kernel unpacks as an initramfs).
// Pure: no Node APIs. The archive is returned as a list of chunks so large files are not copied.
//
// newc layout per entry: a 110-byte ASCII header ("070701" + 13 fields of 8 hex digits), the path
// (NUL-terminated) padded so header+name is a multiple of 4, then the data padded to 4. The archive
// ends with an entry named "TRAILER!!!". Several archives may be concatenated (the kernel reads on).

/** The header fields after the magic, in order, each 8 hex digits (linux/usr/gen_init_cpio.c order). */
const NEWC_FIELDS = [
  'ino',
  'mode',
  'uid',
  'gid',
  'nlink',
  'mtime',
  'filesize',
  'devmajor',
  'devminor',
  'rdevmajor',
  'rdevminor',
  'namesize',
  'check',
] as const;
type NewcHeader = Record<(typeof NEWC_FIELDS)[number], number>;
const NEWC_MAGIC = '070701';
export const NEWC_HEADER_SIZE = NEWC_MAGIC.length + NEWC_FIELDS.length * 8; // 110

// File type bits of st_mode.
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export type CpioEntry =
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev' | 'blockdev'; path: string; major: number; minor: number; mode?: number };

const enc = new TextEncoder();

export function encodeNewcHeader(h: NewcHeader): Uint8Array {
  let s = NEWC_MAGIC;
  for (const f of NEWC_FIELDS) {
    const v = h[f];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`cpio header ${f}=${v} does not fit 32 bits`);
    s += v.toString(16).padStart(8, '0');
  }
  return enc.encode(s);
}

/** Parses one newc header (for tests and for reading archives back). */
export function decodeNewcHeader(bytes: Uint8Array, offset = 0): NewcHeader {
  const s = new TextDecoder('latin1').decode(bytes.subarray(offset, offset + NEWC_HEADER_SIZE));
  if (s.length < NEWC_HEADER_SIZE || !s.startsWith(NEWC_MAGIC)) throw new Error(`no cpio newc header at offset ${offset}`);
  const out = {} as NewcHeader;
  NEWC_FIELDS.forEach((f, i) => (out[f] = parseInt(s.slice(6 + i * 8, 14 + i * 8), 16)));
  return out;
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;
const ZEROS = new Uint8Array(4);

/** Normalizes a path to the archive's form: relative, no leading "/" or "./", no empty parts. */
export function archivePath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.some((x) => x === '..')) throw new Error(`cpio path must not contain '..': ${p}`);
  return parts.join('/');
}

/**
 * An initramfs being assembled. Parent directories are added automatically; adding a path twice
 * replaces the earlier entry (last one wins, like the kernel when unpacking).
 */
export class CpioArchive {
  private readonly entries = new Map<string, CpioEntry>();

  add(e: CpioEntry): this {
    const path = archivePath(e.path);
    if (path === '') return this;
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent && !this.entries.has(parent)) this.add({ type: 'dir', path: parent });
    this.entries.delete(path); // keep insertion order meaningful: a replaced entry moves to the end
    this.entries.set(path, { ...e, path });
    return this;
  }
  file(path: string, data: Uint8Array | string, mode = 0o644): this {
    return this.add({ type: 'file', path, data: typeof data === 'string' ? enc.encode(data) : data, mode });
  }
  dir(path: string, mode = 0o755): this {
    return this.add({ type: 'dir', path, mode });
  }
  symlink(path: string, target: string): this {
    return this.add({ type: 'symlink', path, target });
  }
  has(path: string): boolean {
    return this.entries.has(archivePath(path));
  }
  get(path: string): CpioEntry | undefined {
    return this.entries.get(archivePath(path));
  }
  paths(): string[] {
    return [...this.entries.keys()];
  }
  /** Total size of the file data (what the archive unpacks to, roughly). */
  dataSize(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.type === 'file') n += e.data.length;
    return n;
  }

  /** The archive as chunks, trailer included; concatenate them (or write them in order). */
  encode(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let ino = 1;
    let pos = 0;
    const push = (b: Uint8Array) => {
      if (b.length) out.push(b);
      pos += b.length;
    };
    const emit = (name: string, mode: number, data: Uint8Array, rdev: [number, number] = [0, 0]) => {
      const nameBytes = enc.encode(name + '\0');
      push(
        encodeNewcHeader({
          ino: name === 'TRAILER!!!' ? 0 : ino++,
          mode,
          uid: 0,
          gid: 0,
          nlink: (mode & 0o170000) === S_IFDIR ? 2 : 1,
          mtime: 0,
          filesize: data.length,
          devmajor: 0,
          devminor: 0,
          rdevmajor: rdev[0],
          rdevminor: rdev[1],
          namesize: nameBytes.length,
          check: 0,
        }),
      );
      push(nameBytes);
      push(ZEROS.subarray(0, pad4(pos)));
      push(data);
      push(ZEROS.subarray(0, pad4(pos)));
    };
    for (const e of this.entries.values()) {
      switch (e.type) {
        case 'file':
          emit(e.path, S_IFREG | (e.mode ?? 0o644), e.data);
          break;
        case 'dir':
          emit(e.path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0));
          break;
        case 'symlink':
          emit(e.path, S_IFLNK | 0o777, enc.encode(e.target));
          break;
        case 'chardev':
        case 'blockdev':
          emit(e.path, (e.type === 'chardev' ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600), new Uint8Array(0), [e.major, e.minor]);
          break;
      }
    }
    emit('TRAILER!!!', 0, new Uint8Array(0));
    return out;
  }
}

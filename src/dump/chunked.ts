// A dump stream stored as numbered chunk files plus a manifest written last, so a transfer cut by a
// network failure resumes (chunks already stored with the same SHA-256 are not sent again) and the
// far side can check what it holds (every chunk's size and SHA-256, and the whole stream's). A
// directory without its manifest is incomplete by construction. The stream is whatever the saver
// wrote sequentially: makedumpfile's flattened format (save -F), which vmcore-ts opens as it is and
// `convert -R` rebuilds into the plain file. Pure: storage and hashing come from the caller.
import { ParseError } from '../errors.ts';

export const MANIFEST_FORMAT = 'kexec-ts chunked dump 1';
export const MANIFEST_SUFFIX = '.manifest.json';

/** An incremental hash (node:crypto's sha256 in Node). */
export interface Hasher {
  update(bytes: Uint8Array): void;
  /** Lower-case hex. */
  digest(): string;
}

export interface ChunkEntry {
  file: string;
  /** Size and SHA-256 of the chunk as stored (sealed, when the dump is encrypted). */
  size: number;
  sha256: string;
}

/** How the chunks are sealed to a recipient's public key (src/host/dump-crypto.ts); the target needs no secret. */
export interface ManifestEncryption {
  scheme: string;
  [field: string]: string;
}

/** Seals one chunk (index, plain bytes) → the bytes stored. Deterministic for the same index and bytes (resume). */
export type Sealer = (index: number, plain: Uint8Array) => Uint8Array;

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  name: string;
  /** What the concatenated chunks are. */
  stream: 'flattened';
  /** Size and SHA-256 of the stream (the plain one, when encrypted: checked on decryption). */
  size: number;
  sha256: string;
  chunkBytes: number;
  chunks: ChunkEntry[];
  created: string;
  encryption?: ManifestEncryption;
  /**
   * When the chunks are stored as one file beside the manifest (an S3 object sent as a multipart
   * upload, a part per chunk): its name; the chunks are its consecutive byte ranges. Else each chunk
   * is its own file.
   */
  object?: string;
}

/** Where chunks go: a local (or NFS-mounted) directory, an SSH server, … */
export interface ChunkStore {
  /** For messages: `ssh://root@host/var/crash/x`. */
  readonly where: string;
  /** Chunk files already stored, with their SHA-256 (to resume). */
  stored(prefix: string): Map<string, string>;
  /** Stores one file whole or not at all (written aside, then renamed). */
  put(file: string, bytes: Uint8Array): void;
  /**
   * A store that checks what it holds itself (S3 parts without a SHA-256: by MD5): whether `file`
   * is already stored with these bytes. Without it, `stored()`'s SHA-256 decides.
   */
  holds?(file: string, bytes: Uint8Array, sha256: string): boolean;
  /** A store that joins the chunks into one object (S3 CompleteMultipartUpload): called after the last chunk, before the manifest; returns the object's name. */
  join?(chunks: ChunkEntry[]): string;
  /** Ends what the store keeps open (an ssh connection shared by the chunks); called once, done or not. */
  close?(): void;
}

export interface ChunkedResult {
  manifest: Manifest;
  /** Chunks sent now. */
  sent: number;
  /** Chunks already stored with the same SHA-256 (a resumed transfer). */
  kept: number;
}

export const chunkFile = (name: string, index: number) => `${name}.part-${String(index).padStart(5, '0')}`;

/** Cuts a sequential stream into `chunkBytes` pieces and stores those the store does not hold yet. */
export class ChunkedWriter {
  private readonly buf: Uint8Array;
  private used = 0;
  private size = 0;
  private readonly chunks: ChunkEntry[] = [];
  private readonly whole: Hasher;
  private readonly existing: Map<string, string>;
  private sent = 0;
  private kept = 0;
  private readonly store: ChunkStore;
  private readonly name: string;
  private readonly chunkBytes: number;
  private readonly newHasher: () => Hasher;
  private readonly seal?: { sealer: Sealer; manifest: ManifestEncryption };
  constructor(store: ChunkStore, name: string, chunkBytes: number, newHasher: () => Hasher, seal?: { sealer: Sealer; manifest: ManifestEncryption }) {
    this.store = store;
    this.name = name;
    this.chunkBytes = chunkBytes;
    this.newHasher = newHasher;
    this.seal = seal;
    if (!/^[\w.+-]+$/.test(name)) throw new ParseError(`dump name ${JSON.stringify(name)}: use letters, digits, '.', '_', '+', '-'`);
    this.buf = new Uint8Array(chunkBytes);
    this.whole = newHasher();
    this.existing = store.stored(`${name}.part-`);
  }

  /** Appends stream bytes (copied: the caller may reuse them). */
  write(bytes: Uint8Array): void {
    this.whole.update(bytes);
    this.size += bytes.length;
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.chunkBytes - this.used);
      this.buf.set(bytes.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === this.chunkBytes) this.flush();
    }
  }

  private flush(): void {
    if (this.used === 0) return;
    const plain = this.buf.subarray(0, this.used);
    const bytes = this.seal ? this.seal.sealer(this.chunks.length, plain) : plain;
    const h = this.newHasher();
    h.update(bytes);
    const entry = { file: chunkFile(this.name, this.chunks.length), size: bytes.length, sha256: h.digest() };
    const held = this.store.holds ? this.store.holds(entry.file, bytes, entry.sha256) : this.existing.get(entry.file) === entry.sha256;
    if (held) this.kept++;
    else {
      this.store.put(entry.file, bytes);
      this.sent++;
    }
    this.chunks.push(entry);
    this.used = 0;
  }

  /** Stores the last chunk, then the manifest (last of all). */
  end(created: Date): ChunkedResult {
    this.flush();
    const object = this.store.join?.(this.chunks);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      name: this.name,
      stream: 'flattened',
      size: this.size,
      sha256: this.whole.digest(),
      chunkBytes: this.chunkBytes,
      chunks: this.chunks,
      created: created.toISOString(),
      ...(this.seal ? { encryption: this.seal.manifest } : {}),
      ...(object !== undefined ? { object } : {}),
    };
    this.store.put(this.name + MANIFEST_SUFFIX, new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n'));
    return { manifest, sent: this.sent, kept: this.kept };
  }
}

/** A manifest's text, checked; `where` names it in errors. */
export function parseManifest(text: string, where: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new ParseError(`${where}: not a manifest (${(e as Error).message})`);
  }
  const ok =
    m && m.format === MANIFEST_FORMAT && typeof m.size === 'number' && /^[0-9a-f]{64}$/.test(m.sha256 ?? '') && Array.isArray(m.chunks) &&
    (m.object === undefined || (typeof m.object === 'string' && /^[\w.+-]+$/.test(m.object))) &&
    m.chunks.every((c) => typeof c?.file === 'string' && /^[\w.+-]+$/.test(c.file) && typeof c.size === 'number' && /^[0-9a-f]{64}$/.test(c.sha256 ?? ''));
  if (!ok) throw new ParseError(`${where}: not a ${MANIFEST_FORMAT} manifest (format, size, sha256 or chunks missing or malformed)`);
  return m;
}

export interface ChunkProblem {
  file: string;
  /** The chunk's bytes in the stream: [start, end). */
  start: number;
  end: number;
  problem: string;
}

export interface Verification {
  problems: ChunkProblem[];
  /** The whole stream's SHA-256 matched (false when a chunk did not); undefined: encrypted and no key given. */
  streamOk: boolean | undefined;
}

/**
 * Checks every chunk against the manifest (`read` returns a chunk's bytes, undefined when missing),
 * then the stream's SHA-256 over all of them. Stops hashing the stream at the first bad chunk.
 */
export function verifyChunks(
  m: Manifest,
  read: (file: string) => Uint8Array | undefined,
  newHasher: () => Hasher,
  /** Opens a sealed chunk (encrypted dumps); without it the stream's SHA-256 of an encrypted dump is not checked. */
  open?: (index: number, sealed: Uint8Array) => Uint8Array,
  /** Receives the stream's bytes in order while every chunk so far is good (to write it out). */
  out?: (plain: Uint8Array) => void,
): Verification {
  const problems: ChunkProblem[] = [];
  const whole = newHasher();
  const plainStream = !m.encryption || open !== undefined;
  let at = 0;
  let plainSize = 0;
  for (const [index, c] of m.chunks.entries()) {
    const range = { file: c.file, start: at, end: at + c.size };
    at += c.size;
    const bytes = read(c.file);
    if (bytes === undefined) {
      problems.push({ ...range, problem: 'missing' });
      continue;
    }
    if (bytes.length !== c.size) {
      problems.push({ ...range, problem: `${bytes.length} bytes, the manifest says ${c.size}` });
      continue;
    }
    const h = newHasher();
    h.update(bytes);
    const got = h.digest();
    if (got !== c.sha256) problems.push({ ...range, problem: `SHA-256 ${got}, the manifest says ${c.sha256}` });
    else if (problems.length === 0 && plainStream) {
      const plain = m.encryption ? open!(index, bytes) : bytes;
      plainSize += plain.length;
      whole.update(plain);
      out?.(plain);
    }
  }
  const size = m.encryption ? plainSize : at;
  if (problems.length === 0 && plainStream && size !== m.size) problems.push({ file: '(manifest)', start: 0, end: m.size, problem: `the stream is ${size} bytes, the manifest says ${m.size}` });
  return { problems, streamOk: problems.length > 0 ? false : plainStream ? whole.digest() === m.sha256 : undefined };
}

// Reading an initramfs as the kernel unpacks it: cpio newc archives, possibly several concatenated
// (an uncompressed early archive with microcode, then a compressed main one), each part gzip, xz,
// zstd or plain. Pure: the caller decompresses a part (src/host/initrd-size.ts: zlib, xz, zstd).
import { ParseError } from '../errors.ts';
import { decodeNewcHeader, NEWC_HEADER_SIZE, S_IFREG } from './cpio.ts';

export type InitrdCompression = 'gzip' | 'xz' | 'zstd';

/** A part's compression by its magic; undefined for a plain newc archive; anything else is not an initramfs. */
export function initrdCompression(bytes: Uint8Array, source = 'initrd'): InitrdCompression | undefined {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes[0] === 0xfd && bytes[1] === 0x37) return 'xz';
  if (bytes[0] === 0x28 && bytes[1] === 0xb5) return 'zstd';
  if (new TextDecoder('latin1').decode(bytes.subarray(0, 6)) === '070701') return undefined;
  throw new ParseError('not a cpio archive (gzip, xz, zstd or plain newc)', { source, offset: 0 });
}

/** One cpio entry of an initramfs: its path, mode and (for files) its bytes. */
export interface InitrdEntry {
  name: string;
  mode: number;
  data: Uint8Array;
}

const pad4 = (n: number) => (n + 3) & ~3;

/**
 * Every entry of an initramfs, in order. `decompress` unpacks a compressed part (which runs to the
 * end of the file); plain parts are read in place and may be followed by more archives.
 */
export function* initrdEntries(file: Uint8Array, decompress: (part: Uint8Array, c: InitrdCompression) => Uint8Array, source = 'initrd'): Generator<InitrdEntry> {
  let rest = file;
  for (let archives = 0; rest.length > 0 && archives < 16; archives++) {
    const c = initrdCompression(rest, source);
    const bytes = c ? decompress(rest, c) : rest;
    let off = 0;
    let ended = false;
    for (let entries = 0; off + NEWC_HEADER_SIZE <= bytes.length && entries < 10_000_000; entries++) {
      const h = decodeNewcHeader(bytes, off);
      const name = new TextDecoder('latin1').decode(bytes.subarray(off + NEWC_HEADER_SIZE, off + NEWC_HEADER_SIZE + h.namesize - 1));
      off = pad4(off + NEWC_HEADER_SIZE + h.namesize);
      if (name === 'TRAILER!!!') {
        ended = true;
        break;
      }
      yield { name, mode: h.mode, data: bytes.subarray(off, off + h.filesize) };
      off = pad4(off + h.filesize);
    }
    if (!ended) throw new ParseError('cpio archive without a TRAILER!!! entry', { source, offset: off });
    if (c) break; // a compressed archive runs to the end of the file
    let next = off;
    while (next < rest.length && rest[next] === 0) next++; // padding between concatenated archives
    rest = rest.subarray(next);
  }
}

/** Sum of the regular files' sizes (what the initramfs takes in tmpfs once unpacked). */
export function unpackedSize(entries: Iterable<InitrdEntry>): bigint {
  let total = 0n;
  for (const e of entries) if ((e.mode & 0o170000) === S_IFREG) total += BigInt(e.data.length);
  return total;
}

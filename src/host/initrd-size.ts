// Sizes `kdump-ts estimate` needs from files: a bzImage's init_size, and how much an initramfs
// unpacks to (cpio newc, possibly several concatenated archives, gzip / xz / zstd compressed).
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { ParseError } from '../errors.ts';
import { parseBzImage } from '../format/bzimage.ts';
import { decodeNewcHeader, NEWC_HEADER_SIZE } from '../initramfs/cpio.ts';

/** init_size from a bzImage's setup header: the memory the kernel needs from its load address on. */
export function bzImageInitSize(image: Uint8Array, source = 'kernel'): bigint {
  return BigInt(parseBzImage(image, source).header.init_size);
}

const pad4 = (n: number) => (n + 3) & ~3;

/** Decompresses an initramfs by its magic (gzip in-process; xz and zstd with their tools). */
export function decompressInitrd(bytes: Uint8Array, source = 'initrd'): Uint8Array {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return gunzipSync(bytes);
  const tool = bytes[0] === 0xfd && bytes[1] === 0x37 ? 'xz' : bytes[0] === 0x28 && bytes[1] === 0xb5 ? 'zstd' : undefined;
  if (tool) return execFileSync(tool, ['-dc'], { input: bytes, maxBuffer: 1 << 31 });
  if (new TextDecoder('latin1').decode(bytes.subarray(0, 6)) === '070701') return bytes;
  throw new ParseError('not a cpio archive (gzip, xz, zstd or plain newc)', { source, offset: 0 });
}

/** One cpio entry of an initramfs: its path, mode and (for files) its bytes. */
export interface InitrdEntry {
  name: string;
  mode: number;
  data: Uint8Array;
}

/**
 * Every entry of an initramfs, in order. Handles an uncompressed early archive (microcode)
 * followed by a compressed main one, like the kernel.
 */
export function* initrdEntries(file: Uint8Array, source = 'initrd'): Generator<InitrdEntry> {
  let rest = file;
  for (let archives = 0; rest.length > 0 && archives < 16; archives++) {
    const bytes = decompressInitrd(rest, source);
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
    if (bytes !== rest) break; // a compressed archive runs to the end of the file
    let next = off;
    while (next < rest.length && rest[next] === 0) next++; // padding between concatenated archives
    rest = rest.subarray(next);
  }
}

/** Sum of the file sizes in an initramfs (what it takes in tmpfs once unpacked). */
export function initrdUnpackedSize(file: Uint8Array, source = 'initrd'): bigint {
  let total = 0n;
  for (const e of initrdEntries(file, source)) if ((e.mode & 0o170000) === 0o100000) total += BigInt(e.data.length);
  return total;
}

// The initramfs decompressors `kdump-ts estimate` and `test` need: gzip in-process, xz and zstd with
// their tools. Reading the archives is src/initramfs/initrd-read.ts's.
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { initrdEntries as readEntries, unpackedSize, type InitrdCompression, type InitrdEntry } from '../initramfs/initrd-read.ts';

function decompressPart(part: Uint8Array, c: InitrdCompression): Uint8Array {
  return c === 'gzip' ? gunzipSync(part) : execFileSync(c, ['-dc'], { input: part, maxBuffer: 1 << 31 });
}

/** Every entry of an initramfs file, in order. */
export function initrdEntries(file: Uint8Array, source = 'initrd'): Generator<InitrdEntry> {
  return readEntries(file, decompressPart, source);
}

/** Sum of the file sizes in an initramfs (what it takes in tmpfs once unpacked). */
export function initrdUnpackedSize(file: Uint8Array, source = 'initrd'): bigint {
  return unpackedSize(initrdEntries(file, source));
}

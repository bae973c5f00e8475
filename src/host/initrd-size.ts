// The initramfs decompressors `kdump-ts estimate` and `test` need: gzip in-process, xz and zstd with
// their tools. Reading the archives is src/initramfs/initrd-read.ts's.
import { decompressWith } from './initramfs-collect.ts';
import { gunzipSync } from 'node:zlib';
import { initrdEntries as readEntries, unpackedSize, type InitrdCompression, type InitrdEntry } from '../initramfs/initrd-read.ts';

function decompressPart(part: Uint8Array, c: InitrdCompression, source: string): Uint8Array {
  return c === 'gzip' ? gunzipSync(part) : decompressWith(c, source, part);
}

/** Every entry of an initramfs file, in order. */
export function initrdEntries(file: Uint8Array, source = 'initrd'): Generator<InitrdEntry> {
  return readEntries(file, (part, c) => decompressPart(part, c, source), source);
}

/** Sum of the file sizes in an initramfs (what it takes in tmpfs once unpacked). */
export function initrdUnpackedSize(file: Uint8Array, source = 'initrd'): bigint {
  return unpackedSize(initrdEntries(file, source));
}

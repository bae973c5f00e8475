// Reading an initramfs as the kernel unpacks it (src/initramfs/initrd-read.ts), the decompression given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CpioArchive } from './cpio.ts';
import { initrdCompression, initrdEntries, unpackedSize } from './initrd-read.ts';

const archive = (files: Record<string, string>) => {
  const a = new CpioArchive();
  for (const [p, text] of Object.entries(files)) a.file(p, text);
  return Buffer.concat(a.encode());
};

test('initrd read: a plain early archive, zero padding, then a compressed main one (decompressed by the caller) give every entry in order', () => {
  const early = archive({ 'kernel/x86/microcode/GenuineIntel.bin': 'ucode' });
  const main = gzipSync(archive({ init: '#!/bin/sh\n', 'etc/kdump-ts.release': '6.1\n' }));
  const file = Buffer.concat([early, new Uint8Array(512), main]);
  const asked: string[] = [];
  const entries = [...initrdEntries(file, (part, c) => (asked.push(c), gunzipSync(part)))];
  assert.deepEqual(asked, ['gzip']);
  assert.deepEqual(entries.map((e) => e.name), ['kernel', 'kernel/x86', 'kernel/x86/microcode', 'kernel/x86/microcode/GenuineIntel.bin', 'init', 'etc', 'etc/kdump-ts.release']);
  assert.equal(unpackedSize(entries), BigInt('ucode'.length + '#!/bin/sh\n'.length + '6.1\n'.length));
});

test('initrd read: compression by magic; not an initramfs, or an archive without its trailer, is one ParseError', () => {
  assert.equal(initrdCompression(Uint8Array.of(0xfd, 0x37, 0x7a)), 'xz');
  assert.equal(initrdCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)), 'zstd');
  assert.equal(initrdCompression(archive({ a: 'b' })), undefined);
  assert.throws(() => initrdCompression(new TextEncoder().encode('hello'), 'img'), (e: Error & { source?: string }) => e.name === 'ParseError' && /^not a cpio archive/.test(e.message) && e.source === 'img');
  const cut = archive({ a: 'b' }).subarray(0, 120);
  assert.throws(() => [...initrdEntries(cut, () => cut, 'img')], /without a TRAILER!!! entry/);
});

// mkinitrd decompresses .ko.xz / .ko.zst modules and estimate/test read xz/zstd initramfs with the
// xz and zstd programs: a missing one is one clear error naming the Debian package to install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KexecError } from '../../src/errors.ts';
import { CpioArchive } from '../../src/initramfs/cpio.ts';
import { decompressFile } from '../../src/host/initramfs-collect.ts';
import { initrdUnpackedSize } from '../../src/host/initrd-size.ts';

function withoutPath<T>(body: () => T): T {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    return body();
  } finally {
    process.env.PATH = saved;
  }
}

test('decompressFile of a .ko.xz without the xz program: KexecError "… is xz-compressed and the xz program is not installed", hint apt-get install xz-utils (not spawnSync xz ENOENT)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-decomp-'));
  try {
    const ko = join(dir, 'virtio_blk.ko.xz');
    writeFileSync(ko, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
    assert.throws(() => withoutPath(() => decompressFile(ko)), (e: unknown) => {
      assert.ok(e instanceof KexecError);
      assert.equal(e.message, `${ko} is xz-compressed and the xz program is not installed`);
      assert.equal(e.hint, 'install it: apt-get install xz-utils');
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a zstd initramfs without the zstd program: KexecError naming the initramfs, hint apt-get install zstd', () => {
  const zstdFrame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
  assert.throws(() => withoutPath(() => initrdUnpackedSize(zstdFrame, '/boot/initrd.img-6.12')), (e: unknown) => {
    assert.ok(e instanceof KexecError, String(e));
    assert.equal(e.message, '/boot/initrd.img-6.12 is zstd-compressed and the zstd program is not installed');
    assert.equal(e.hint, 'install it: apt-get install zstd');
    return true;
  });
});

test('a zstd initramfs (Debian\'s default compression) is read with the zstd program: unpacked size = the files\' sizes (its output buffer bound was negative: 1 << 31)', (t) => {
  if (spawnSync('sh', ['-c', 'command -v zstd']).status !== 0) return t.skip('zstd is not installed');
  const a = new CpioArchive().file('init', '#!/bin/sh\n', 0o755).file('usr/lib/big', new Uint8Array(100_000));
  const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
  const zst = execFileSync('zstd', ['-q', '-c'], { input: concat(a.encode()) });
  assert.equal(initrdUnpackedSize(zst, 'initrd.img.zst'), BigInt(a.dataSize()));
});

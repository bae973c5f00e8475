// What a load refuses before it reads or allocates much: devices, FIFOs and directories given as
// kernel/initrd/DTB, decompression bombs, initrds larger than the kernel takes, and plans for
// impossible memory maps or options. Nothing here allocates more than a few MiB (sparse files,
// bombs refused from their headers, or a cap injected for the test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describeError } from '../../src/cli/run.ts';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { decompressImage, MAX_DECOMPRESSED_IMAGE } from '../../src/kexec/image-compression.ts';
import type { LoadRequest } from '../../src/kexec/load.ts';
import { probeSection } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage, fakeVmlinux } from './synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'kexec-limits-'));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
/** A file of `size` bytes that takes neither disk nor memory. */
const sparse = (name: string, size: number) => {
  const p = join(dir, name);
  execFileSync('truncate', ['-s', String(size), p]);
  return p;
};
const iomem = file('iomem', probeSection('IOMEM'));
const kernel = file('vmlinuz', fakeBzImage(FIXTURE_KERNEL));

const plan = (o: Partial<LoadRequest>) =>
  planKernelLoad({ kernel, kind: 'load', syscall: 'load', cmdline: 'console=ttyS0', dryRun: true, machine: { iomem }, ...o });
/** The one line kexec-ts prints for the error `p` rejects with (fails when it resolves). */
async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => assert.fail('accepted'),
    (x: unknown) => x,
  );
  const d = describeError(e);
  assert.doesNotMatch(d.line, /internal error/);
  assert.equal(d.line.split('\n').length, 1);
  return d.line;
}

test('kernel, initrd and DTB must be regular files: a character device, a directory or a FIFO is named and refused before reading', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  assert.match(await refusal(plan({ kernel: '/dev/zero' })), /^kernel \/dev\/zero is a character device, not a regular file — give the kernel file itself$/);
  assert.match(await refusal(plan({ kernel: '/dev/zero', syscall: 'file' })), /kernel \/dev\/zero is a character device/);
  assert.match(await refusal(plan({ initrd: folder })), /^initrd .*folder is a directory, not a regular file/);
  assert.match(await refusal(plan({ initrd: folder, syscall: 'file' })), /initrd .*folder is a directory/);
  // opening a FIFO must not wait for a writer
  assert.match(await refusal(plan({ dtb: fifo })), /^device tree .*fifo is a FIFO, not a regular file/);
  assert.match(await refusal(plan({ initrd: fifo })), /initrd .*fifo is a FIFO/);
});

test('an initrd over 2 GiB is refused naming its size and the limit (not "internal error"); for kexec_load also one over half of RAM', async () => {
  const huge = sparse('initrd-3g', 3 * 2 ** 30);
  for (const syscall of ['file', 'load'] as const) {
    assert.match(await refusal(plan({ syscall, initrd: huge })), /^initrd .*initrd-3g is 3221225472 bytes \(3\.00 GiB\): the largest initrd the kernel reads is 2147483647 bytes \(2 GiB - 1\)/);
  }
  // the fixture machine has 1 GiB of RAM: a 700 MiB initrd cannot be a kexec_load segment
  assert.match(await refusal(plan({ initrd: sparse('initrd-700m', 700 * 2 ** 20) })), /is 734003200 bytes \(0\.68 GiB\): more than half of RAM \(0\.50 GiB\)/);
  // a kernel file larger than one read
  assert.match(await refusal(plan({ kernel: sparse('vmlinux-3g', 3 * 2 ** 30) })), /^kernel .*vmlinux-3g is 3221225472 bytes: more than kexec-ts reads/);
});

/** A zstd frame (no checksum, 128 KiB window) of `blocks` RLE blocks, each 128 KiB of `byte`: 4 bytes each. */
function zstdRleBomb(blocks: number, byte = 0): Uint8Array {
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3];
  for (let i = 0; i < blocks; i++) {
    const h = ((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    out.push(h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, byte);
  }
  return Uint8Array.from(out);
}

test('zstd bomb: 16 KiB of RLE blocks standing for 1 GiB is refused from its block headers, nothing decompressed', async () => {
  // the construction is real zstd: a small one decodes to its blocks (and the zstd tool agrees)
  const small = zstdRleBomb(3, 0x5a);
  const d = await decompressImage(small, 'small.zst');
  assert.equal(d.data.length, 3 * 128 * 1024);
  assert.ok(d.data.every((b) => b === 0x5a));
  const z = spawnSync('zstd', ['-dc'], { input: small });
  if (z.status === 0) assert.equal(z.stdout.length, 3 * 128 * 1024);
  const bomb = zstdRleBomb(8192);
  assert.ok(bomb.length < 40_000);
  const before = process.memoryUsage().rss;
  await assert.rejects(
    decompressImage(bomb, 'bomb.zst'),
    (e: unknown) => describeError(e).line === `bomb.zst: the zstd kernel image decompresses to more than ${MAX_DECOMPRESSED_IMAGE} bytes (512 MiB), more than a kernel image can be — a bootable kernel is far smaller: an unstripped vmlinux? strip it (objcopy --strip-debug) or decompress it first`,
  );
  assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20, 'refused without decompressing');
  // through a load: one line
  assert.match(await refusal(plan({ kernel: file('bomb.zst', bomb) })), /zstd kernel image decompresses to more than 536870912 bytes/);
  // a frame declaring a window over the cap (the decoder would allocate it)
  const bigWindow = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3, 0x01, 0x00, 0x00]);
  await assert.rejects(decompressImage(bigWindow, 'w.zst'), /decompresses to more than/);
});

test('gzip bomb: decompression stops at the cap (node:zlib and fflate alike), whatever the gzip trailer claims', async () => {
  const cap = 1 << 20;
  const gz = gzipSync(new Uint8Array(8 << 20), { level: 1 });
  const lying = Uint8Array.from(gz);
  new DataView(lying.buffer).setUint32(lying.length - 4, 4096, true); // ISIZE says 4 KiB
  const native = (d: Uint8Array, max: number) => gunzipSync(d, { maxOutputLength: max });
  for (const data of [gz, lying]) {
    await assert.rejects(decompressImage(data, 'k.gz', { maxSize: cap }), /gzip kernel image decompresses to more than 1048576 bytes \(1 MiB\)/);
    await assert.rejects(decompressImage(data, 'k.gz', { maxSize: cap, gzip: native }), /gzip kernel image decompresses to more than 1048576 bytes/);
  }
  // under the cap: the same bytes either way
  const ok = gzipSync(fakeVmlinux([{ vaddr: 0xffffffff81000000n, paddr: 0x1000000n, filesz: 0x3000, memsz: 0x8000 }], 0xffffffff81000000n));
  assert.deepEqual((await decompressImage(ok, 'v.gz', { maxSize: cap })).data, new Uint8Array((await decompressImage(ok, 'v.gz', { maxSize: cap, gzip: native })).data));
  assert.equal(MAX_DECOMPRESSED_IMAGE, 512 * 2 ** 20);
});

test('memory maps and options that cannot be planned: one line each', async () => {
  // a range past 64 bits (it used to place the kernel at 0xfffffffffcc00000)
  const wide = file('iomem-wide', '00001000-0009fbff : System RAM\nfffffffff0000000-1000000000fffffff : System RAM\n');
  assert.match(await refusal(plan({ machine: { iomem: wide } })), /iomem-wide at offset 31 \(0x1f\): range beyond 64 bits: fffffffff0000000-1000000000fffffff : System RAM/);
  // RAM no CPU can address (the allocator places top-down: it would plan at 0xfffffffffcc00000)
  const high = file('iomem-high', '00001000-0009fbff : System RAM\n00100000-3fffffff : System RAM\nfff0000000000000-ffffffffffffffff : System RAM\n');
  assert.match(await refusal(plan({ machine: { iomem: high } })), /^RAM at 0xfff0000000000000-0xffffffffffffffff lies beyond 52-bit physical addresses/);
  // two "Crash kernel" reservations that overlap
  const overlap = file('iomem-overlap', probeSection('IOMEM').replace('  2e000000-3dffffff : Crash kernel\n', '  2e000000-3dffffff : Crash kernel\n  30000000-31ffffff : Crash kernel\n'));
  assert.match(await refusal(plan({ kind: 'crash', machine: { iomem: overlap } })), /the "Crash kernel" ranges 0x2e000000-0x3dffffff and 0x30000000-0x31ffffff overlap/);
  // --mem-min above --mem-max: a usage error that says so (not "no room for the kernel")
  const e = await plan({ memMin: 0x30000000n, memMax: 0x20000000n }).catch((x: unknown) => x);
  assert.deepEqual(describeError(e), { line: '--mem-min 0x30000000 is above --mem-max 0x20000000: no memory is left to place the segments in', code: 2 });
  // an empty --memmap directory (it used to fall back to this machine's /proc/iomem)
  const empty = join(dir, 'memmap-empty');
  mkdirSync(empty);
  assert.match(await refusal(plan({ machine: { memmap: empty } })), /memmap-empty holds no memory ranges/);
  assert.match(await refusal(plan({ machine: { memmap: join(dir, 'no-such-memmap') } })), /no-such-memmap does not exist/);
});

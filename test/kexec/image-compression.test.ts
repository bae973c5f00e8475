import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { decompressImage, imageCompression } from '../../src/kexec/image-compression.ts';
import { ParseError } from '../../src/errors.ts';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import type { PlannedLoad } from '../../src/kexec/load.ts';
import { describeError } from '../../src/cli/run.ts';
import { probeSection } from './fixture.ts';
import { fakeVmlinux } from './synthetic.ts';

const KBASE = 0xffffffff81000000n;
const vmlinux = fakeVmlinux([{ vaddr: KBASE, paddr: 0x1000000n, filesz: 0x3000, memsz: 0x8000 }], KBASE);
const dir = mkdtempSync(join(tmpdir(), 'kexec-z-'));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};

/** The system's compressor over `data`, or undefined when the tool is not installed. */
function tool(cmd: string, args: string[], data: Uint8Array): Uint8Array | undefined {
  const r = spawnSync(cmd, args, { input: data, maxBuffer: 1 << 30 });
  return r.status === 0 ? new Uint8Array(r.stdout) : undefined;
}

test('gzip kernel: decompressed by fflate and by a native gunzip alike; an uncompressed file is returned as is', async () => {
  const gz = gzipSync(vmlinux);
  assert.equal(imageCompression(gz), 'gzip');
  const a = await decompressImage(gz, 'vmlinux.gz');
  assert.equal(a.compression, 'gzip');
  assert.equal(a.fileSize, gz.length);
  assert.deepEqual(a.data, vmlinux);
  assert.deepEqual(new Uint8Array((await decompressImage(gz, 'vmlinux.gz', { gzip: (d, max) => gunzipSync(d, { maxOutputLength: max }) })).data), vmlinux);
  const raw = await decompressImage(vmlinux, 'vmlinux');
  assert.equal(raw.compression, undefined);
  assert.equal(raw.data, vmlinux);
});

test('zstd kernel (as the zstd tool and the kernel build write it) decompresses to the vmlinux', async (t) => {
  const zst = tool('zstd', ['-c', '-19'], vmlinux);
  if (!zst) return t.skip('zstd is not installed');
  assert.equal(imageCompression(zst), 'zstd');
  assert.deepEqual((await decompressImage(zst, 'vmlinux.zst')).data, vmlinux);
});

test('xz, bzip2, lz4 kernels are named with the tool to decompress them; damaged gzip is one clear error', async (t) => {
  const xz = tool('xz', ['-c'], vmlinux);
  if (!xz) return t.skip('xz is not installed');
  await assert.rejects(decompressImage(xz, 'vmlinux.xz'), (e: unknown) => e instanceof ParseError && /xz-compressed kernel images are not supported/.test(e.message) && /unxz -k vmlinux\.xz/.test(e.hint ?? ''));
  await assert.rejects(decompressImage(new TextEncoder().encode('BZh91AY&SY'), 'k.bz2'), /bzip2-compressed/);
  await assert.rejects(decompressImage(Uint8Array.of(0x02, 0x21, 0x4c, 0x18, 0, 0), 'k.lz4'), /lz4 \(legacy\)-compressed/);
  const gz = gzipSync(vmlinux);
  await assert.rejects(decompressImage(gz.subarray(0, gz.length >> 1), 'cut.gz'), (e: unknown) => e instanceof ParseError && /cannot decompress the gzip kernel image/.test(e.message));
});

test('kexec-ts --dry-run -l vmlinux.gz / .zst plans exactly what the uncompressed vmlinux plans; .xz is refused in one line', async () => {
  const iomem = file('iomem', probeSection('IOMEM'));
  const run = (k: string) => planKernelLoad({ kernel: k, kind: 'load', syscall: 'load', cmdline: 'console=ttyS0', dryRun: true, machine: { iomem } });
  // the RNG seed differs from run to run: compare the layout, not the bytes
  const layout = (p: PlannedLoad) => p.plan.segments.map((s) => [s.what, s.mem, s.memsz]);
  const plain = layout(await run(file('vmlinux', vmlinux)));
  assert.deepEqual(layout(await run(file('vmlinux.gz', gzipSync(vmlinux)))), plain);
  const zst = tool('zstd', ['-c'], vmlinux);
  if (zst) assert.deepEqual(layout(await run(file('vmlinux.zst', zst))), plain);
  const xz = tool('xz', ['-c'], vmlinux);
  if (xz) {
    const e = await run(file('vmlinux.xz', xz)).catch((x: unknown) => x);
    assert.match(describeError(e).line, /xz-compressed kernel images are not supported/);
    assert.equal(describeError(e).line.split('\n').length, 1);
  }
});

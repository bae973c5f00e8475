import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import {
  describeArm64Image,
  identifyArm64Kernel,
  parseArm64Image,
  unwrapArm64Kernel,
  zbootHeader,
  ZBOOT_IMAGE_TYPE,
} from '../src/format/arm64-image.ts';
import { writeStruct } from '../src/format/struct.ts';
import { ParseError } from '../src/errors.ts';
import { recordedImageHeader } from './arm64-fixture.ts';

test('arm64 Image: the header of Debian bookworm linux-image-6.1.0-50-cloud-arm64 reads as `kexec -d` printed it', () => {
  const { head } = recordedImageHeader();
  const i = parseArm64Image(head);
  // guest-probe.txt: image_arm64_load: text_offset 0, image_size 0x1aa0000, PE format: yes
  assert.equal(i.textOffset, 0n);
  assert.equal(i.imageSize, 0x1aa0000n);
  assert.equal(i.pageSize, 4096);
  assert.equal(i.bigEndian, false);
  assert.equal(i.placementAnywhere, true);
  assert.equal(i.hasPeHeader, true);
  assert.equal(i.legacy, false);
  assert.match(describeArm64Image(i), /image_size 0x1aa0000, 4K pages, little-endian, placement anywhere, EFI stub/);
  assert.deepEqual(identifyArm64Kernel(head), { kind: 'image' });
});

test('arm64 Image: a pre-3.17 header (image_size 0) gets kexec-tools\' assumed 0x80000 / 16 MiB', () => {
  const h = recordedImageHeader().head.slice(0, 64);
  new DataView(h.buffer).setBigUint64(0x10, 0n, true);
  const i = parseArm64Image(h);
  assert.equal(i.legacy, true);
  assert.equal(i.textOffset, 0x80000n);
  assert.equal(i.imageSize, 16n << 20n);
});

test('arm64 Image: gzip and gzip EFI zboot containers unwrap to the same Image', () => {
  const image = recordedImageHeader().head;
  const gz = new Uint8Array(gzipSync(image));
  assert.deepEqual(identifyArm64Kernel(gz), { kind: 'gzip' });
  assert.deepEqual(unwrapArm64Kernel(gz).image, image);
  // A zboot file as zboot-header.S lays it out: MZ, "zimg", payload offset/size, "gzip", PE magic.
  const zboot = new Uint8Array(4096 + gz.length);
  writeStruct(zbootHeader, zboot, { mz_magic: 0x5a4d, image_type: ZBOOT_IMAGE_TYPE, payload_offset: 4096, payload_size: gz.length, compress_type: 'gzip', pe_header: 0x40 });
  zboot.set(gz, 4096);
  const u = unwrapArm64Kernel(zboot);
  assert.equal(u.container.kind, 'zboot');
  assert.deepEqual(u.image, image);
  writeStruct(zbootHeader, zboot, { compress_type: 'zstd' });
  assert.throws(() => unwrapArm64Kernel(zboot), /compressed with "zstd": only gzip is supported/);
});

test('arm64 Image: wrong, short and damaged files give one ParseError line', () => {
  assert.throws(() => parseArm64Image(new Uint8Array(10)), (e: unknown) => e instanceof ParseError && /shorter than the 64-byte header/.test(e.message));
  assert.throws(() => parseArm64Image(new Uint8Array(64)), /no "ARM\\x64" magic/);
  assert.throws(() => unwrapArm64Kernel(new TextEncoder().encode('#!/bin/sh\necho not a kernel\n'.padEnd(100))), /not an arm64 kernel/);
  const gz = new Uint8Array(gzipSync(recordedImageHeader().head));
  assert.throws(() => unwrapArm64Kernel(gz.subarray(0, gz.length / 2)), (e: unknown) => e instanceof ParseError && /does not inflate/.test(e.message));
  const odd = recordedImageHeader().head.slice(0, 64);
  new DataView(odd.buffer).setBigUint64(0x08, 0x80001n, true);
  assert.throws(() => parseArm64Image(odd), /text_offset 0x80001 is not page aligned/);
});

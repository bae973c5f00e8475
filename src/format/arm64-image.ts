// arm64 kernel files: the Image header (Documentation/arch/arm64/booting.rst) and the containers a
// distribution may ship it in — a gzip stream (Ubuntu-style vmlinuz), or an EFI zboot PE image
// ("zimg", drivers/firmware/efi/libstub/zboot-header.S) whose payload is a compressed Image.
// Debian's own arm64 kernels (bookworm 6.1, trixie 6.12, the cloud flavour included) are plain
// Images with an EFI PE header (the file is named vmlinuz but is not compressed; CONFIG_EFI_ZBOOT off).
import { gunzipSync } from 'fflate';
import { ParseError } from '../errors.ts';
import { readStruct, struct } from './struct.ts';

/** "ARM\x64" at offset 0x38, little-endian. */
export const ARM64_IMAGE_MAGIC = 0x644d5241;
/** "zimg" at offset 4 of an EFI zboot image, little-endian. */
export const ZBOOT_IMAGE_TYPE = 0x676d697a;

export const arm64ImageHeader = struct('arm64_image_header', 64, {
  code0: { off: 0x00, type: 'u32' },
  code1: { off: 0x04, type: 'u32' },
  text_offset: { off: 0x08, type: 'u64' },
  image_size: { off: 0x10, type: 'u64' },
  flags: { off: 0x18, type: 'u64' },
  res2: { off: 0x20, type: 'u64' },
  res3: { off: 0x28, type: 'u64' },
  res4: { off: 0x30, type: 'u64' },
  magic: { off: 0x38, type: 'u32' },
  pe_header: { off: 0x3c, type: 'u32' },
});

/** EFI zboot header: an MZ stub that carries where the compressed Image is. */
export const zbootHeader = struct('zboot_header', 64, {
  mz_magic: { off: 0x00, type: 'u32' },
  image_type: { off: 0x04, type: 'u32' },
  payload_offset: { off: 0x08, type: 'u32' },
  payload_size: { off: 0x0c, type: 'u32' },
  compress_type: { off: 0x18, type: 'cstr:32' },
  linux_pe_magic: { off: 0x38, type: 'u32' },
  pe_header: { off: 0x3c, type: 'u32' },
});

/** Header flags, bit by bit (booting.rst). */
const FLAG_BE = 1n;
const FLAG_PAGE_SHIFT = 1n;
const FLAG_PLACEMENT_ANYWHERE = 1n << 3n;
const PAGE_SIZES: Record<number, number | undefined> = { 0: undefined, 1: 4096, 2: 16384, 3: 65536 };

/** What a pre-3.17 kernel (image_size 0) is assumed to be, as kexec-tools does. */
export const LEGACY_TEXT_OFFSET = 0x80000n;
export const LEGACY_IMAGE_SIZE = 16n << 20n;

export interface Arm64ImageInfo {
  textOffset: bigint;
  /** Bytes the kernel needs from its load address (text, data, bss, initial page tables). */
  imageSize: bigint;
  flags: bigint;
  bigEndian: boolean;
  /** Kernel page size; undefined when the header says "unspecified". */
  pageSize: number | undefined;
  /** Bit 3: the 2 MiB-aligned base may be anywhere in RAM (else as close to the start of DRAM as possible). */
  placementAnywhere: boolean;
  /** The Image carries an EFI PE/COFF header (EFI stub): "MZ" at 0 and pe_header set. */
  hasPeHeader: boolean;
  /** image_size was 0 (pre-3.17): textOffset and imageSize are kexec-tools' assumptions. */
  legacy: boolean;
}

/** True when the bytes start with an arm64 Image header. */
export function isArm64Image(bytes: Uint8Array): boolean {
  return bytes.length >= arm64ImageHeader.size && readStruct(arm64ImageHeader, bytes).magic === ARM64_IMAGE_MAGIC;
}

/** Reads and checks the 64-byte Image header. */
export function parseArm64Image(bytes: Uint8Array, source = '<Image>'): Arm64ImageInfo {
  if (bytes.length < arm64ImageHeader.size) {
    throw new ParseError(`arm64 Image: ${bytes.length} bytes is shorter than the 64-byte header`, { offset: 0, source, hint: 'not a kernel, or truncated' });
  }
  const h = readStruct(arm64ImageHeader, bytes);
  if (h.magic !== ARM64_IMAGE_MAGIC) {
    throw new ParseError(`arm64 Image: no "ARM\\x64" magic at 0x38 (found 0x${h.magic.toString(16)})`, { offset: 0x38, source, hint: 'not an arm64 kernel Image' });
  }
  const legacy = h.image_size === 0n;
  const pageCode = Number((h.flags >> FLAG_PAGE_SHIFT) & 3n);
  const info: Arm64ImageInfo = {
    textOffset: legacy ? LEGACY_TEXT_OFFSET : h.text_offset,
    imageSize: legacy ? LEGACY_IMAGE_SIZE : h.image_size,
    flags: h.flags,
    bigEndian: (h.flags & FLAG_BE) !== 0n,
    pageSize: PAGE_SIZES[pageCode],
    placementAnywhere: (h.flags & FLAG_PLACEMENT_ANYWHERE) !== 0n,
    hasPeHeader: bytes[0] === 0x4d && bytes[1] === 0x5a && h.pe_header !== 0,
    legacy,
  };
  if (info.textOffset % 4096n !== 0n) {
    throw new ParseError(`arm64 Image: text_offset 0x${info.textOffset.toString(16)} is not page aligned`, { offset: 0x08, source, hint: 'damaged header' });
  }
  return info;
}

export type Arm64KernelContainer =
  | { kind: 'image' }
  | { kind: 'gzip' }
  | { kind: 'zboot'; compression: string; payloadOffset: number; payloadSize: number };

/** Identifies what an arm64 kernel file is, from its first bytes; undefined if none of ours. */
export function identifyArm64Kernel(bytes: Uint8Array): Arm64KernelContainer | undefined {
  if (isArm64Image(bytes)) return { kind: 'image' };
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return { kind: 'gzip' };
  if (bytes.length >= zbootHeader.size) {
    const z = readStruct(zbootHeader, bytes);
    if ((z.mz_magic & 0xffff) === 0x5a4d && z.image_type === ZBOOT_IMAGE_TYPE) {
      return { kind: 'zboot', compression: z.compress_type, payloadOffset: z.payload_offset, payloadSize: z.payload_size };
    }
  }
  return undefined;
}

/** Largest Image we inflate (a decompression bomb guard; real arm64 Images are 20–60 MiB). */
const MAX_IMAGE_BYTES = 512 << 20;

/**
 * The uncompressed Image inside an arm64 kernel file: the bytes themselves for an Image, the
 * inflated stream for gzip and gzip zboot. Other zboot compressions (zstd, lzma, xz, lz4, lzo) are
 * refused with a clear line: the kernel's own kexec_file_load cannot take them either.
 */
export function unwrapArm64Kernel(bytes: Uint8Array, source = '<kernel>'): { image: Uint8Array; container: Arm64KernelContainer } {
  const c = identifyArm64Kernel(bytes);
  if (!c) throw new ParseError('not an arm64 kernel: no Image header, gzip stream or EFI zboot header', { offset: 0, source });
  if (c.kind === 'image') return { image: bytes, container: c };
  let compressed = bytes;
  if (c.kind === 'zboot') {
    if (c.compression !== 'gzip') {
      throw new ParseError(`EFI zboot image compressed with "${c.compression}": only gzip is supported`, {
        offset: 0x18,
        source,
        hint: 'decompress it first (the payload is at offset ' + c.payloadOffset + ')',
      });
    }
    if (c.payloadOffset + c.payloadSize > bytes.length || c.payloadSize === 0) {
      throw new ParseError(`EFI zboot payload [${c.payloadOffset}, +${c.payloadSize}) lies outside the ${bytes.length}-byte file`, { offset: 0x08, source, hint: 'the file is truncated' });
    }
    compressed = bytes.subarray(c.payloadOffset, c.payloadOffset + c.payloadSize);
  }
  let image: Uint8Array;
  try {
    image = gunzipSync(compressed);
  } catch (e) {
    throw new ParseError(`the gzip-compressed kernel does not inflate: ${(e as Error).message}`, { source, hint: 'the file is truncated or damaged' });
  }
  if (image.length > MAX_IMAGE_BYTES) throw new ParseError(`the kernel inflates to ${image.length} bytes, more than ${MAX_IMAGE_BYTES}`, { source });
  if (!isArm64Image(image)) throw new ParseError(`the ${c.kind} payload is not an arm64 Image`, { source });
  return { image, container: c };
}

/** One line for people: "Image 6.1: text_offset 0x0, image_size 0x1aa0000, 4K pages, LE, anywhere, EFI stub". */
export function describeArm64Image(i: Arm64ImageInfo): string {
  return [
    `text_offset 0x${i.textOffset.toString(16)}`,
    `image_size 0x${i.imageSize.toString(16)}${i.legacy ? ' (assumed: header has 0, pre-3.17 kernel)' : ''}`,
    i.pageSize ? `${i.pageSize / 1024}K pages` : 'page size unspecified',
    i.bigEndian ? 'big-endian' : 'little-endian',
    i.placementAnywhere ? 'placement anywhere' : 'placement near start of DRAM',
    i.hasPeHeader ? 'EFI stub (PE header)' : 'no PE header',
  ].join(', ');
}

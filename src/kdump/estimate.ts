// How much memory to reserve (crashkernel=) for our capture kernel, with the arithmetic shown.
// The capture kernel lives inside the reservation; at its peak it holds:
//   kernel       the kernel's init_size (bzImage header): its decompressed image, bss and early heap;
//                arm64: text_offset + image_size of the Image header (booting.rst: the memory the
//                kernel uses from its 2 MiB-aligned base, bss included), a gzip or EFI zboot one unwrapped
//   rootfs       the initramfs unpacked into tmpfs (capture = initramfs: busybox, node + libraries,
//                our bundle, modules; capture = root: busybox, modules and /init only)
//   peak         the larger of the two phases:
//                unpacking: the compressed initramfs (not freed yet) and as much again as the rootfs,
//                  because the kernel's initramfs tmpfs may fill only half of the memory
//                  (measured: 110 MiB of Node.js fails to unpack at 272M, needs 304M);
//                running: node's pages read from the root file system (capture = root; in the
//                  initramfs mode they are in rootfs already), vmcore-ts save, the kernel's own
//                  allocations after boot (slab, page tables, stacks)
//   struct page  64 bytes per 4 KiB page of the reservation itself (1/64 of it)
// rounded up to 16 MiB. The constants are measured (bench/crashkernel-min.ts, BENCHMARKS.md).
// Pure.
import { isBzImage, parseBzImage } from '../format/bzimage.ts';
import { identifyArm64Kernel, parseArm64Image, unwrapArm64Kernel } from '../format/arm64-image.ts';
import { ParseError } from '../errors.ts';

const MIB = 1n << 20n;

/** init_size from a bzImage's setup header: the memory the kernel needs from its load address on. */
export function bzImageInitSize(image: Uint8Array, source = 'kernel'): bigint {
  return BigInt(parseBzImage(image, source).header.init_size);
}

/**
 * The memory the capture kernel's image needs from its load address on, for either architecture a
 * crash load supports: a bzImage's init_size, an arm64 Image's text_offset + image_size; with the
 * estimate line's explanation.
 */
export function kernelMemory(image: Uint8Array, source = 'kernel'): { bytes: bigint; why: string } {
  if (isBzImage(image)) return { bytes: bzImageInitSize(image, source), why: KERNEL_WHY_BZIMAGE };
  if (identifyArm64Kernel(image)) {
    const info = parseArm64Image(unwrapArm64Kernel(image, source).image, source);
    return { bytes: info.textOffset + info.imageSize, why: 'arm64 Image text_offset + image_size: kernel, bss, early page tables' };
  }
  throw new ParseError('neither an x86 bzImage nor an arm64 Image (plain, gzip or EFI zboot): cannot tell the memory it needs', { source });
}

export const kernelMemorySize = (image: Uint8Array, source = 'kernel'): bigint => kernelMemory(image, source).bytes;

const KERNEL_WHY_BZIMAGE = 'bzImage init_size: decompressed kernel, bss, early heap';

/** Memory `vmcore-ts save` takes in the capture kernel (MemAvailable dropped 19–20 MiB at crashkernel=96M–256M, 1 GiB guest). */
export const SAVE_MEMORY = 24n * MIB;
/** The one-CPU capture kernel's own allocations after boot (slab, page tables, stacks; measured 21 MiB with a 2 MiB rootfs). */
export const KERNEL_RUNTIME = 16n * MIB;
/** capture = root: node's and its libraries' pages read from disk while vmcore-ts save runs (page cache it needs resident). */
export const NODE_TEXT = 8n * MIB;

export interface EstimateInput {
  /** bzImage init_size, arm64 text_offset + image_size (or a vmlinux's memory size). */
  kernelInitSize: bigint;
  /** What kernelInitSize is, for the line (default: the bzImage's). */
  kernelWhy?: string;
  /** Size of the initramfs file (compressed). */
  initrdSize: bigint;
  /** Bytes the initramfs unpacks to. */
  initrdUnpacked: bigint;
  saveMemory?: bigint;
  kernelRuntime?: bigint;
  /** Where node runs from (src/kdump/capture-mode.ts); default initramfs. */
  mode?: 'root' | 'initramfs';
  nodeText?: bigint;
}

export interface EstimateLine {
  what: string;
  bytes: bigint;
  why: string;
}

export interface Estimate {
  lines: EstimateLine[];
  /** Sum of the lines. */
  total: bigint;
  /** The value to put on the command line, e.g. 512n MiB → "crashkernel=512M". */
  recommended: bigint;
  param: string;
}

function roundUp(v: bigint, to: bigint): bigint {
  return ((v + to - 1n) / to) * to;
}

export function estimateCrashkernel(input: EstimateInput): Estimate {
  const mib = (b: bigint) => `${(Number(b) / Number(MIB)).toFixed(1)} MiB`;
  const text = input.mode === 'root' ? (input.nodeText ?? NODE_TEXT) : 0n;
  const save = input.saveMemory ?? SAVE_MEMORY;
  const runtime = input.kernelRuntime ?? KERNEL_RUNTIME;
  const unpacking = input.initrdSize + input.initrdUnpacked;
  const running = text + save + runtime;
  const lines: EstimateLine[] = [
    { what: 'kernel', bytes: input.kernelInitSize, why: input.kernelWhy ?? KERNEL_WHY_BZIMAGE },
    {
      what: 'rootfs',
      bytes: input.initrdUnpacked,
      why: input.mode === 'root' ? 'the initramfs unpacked into tmpfs (busybox, modules, /init)' : 'the initramfs unpacked into tmpfs (with Node.js)',
    },
    {
      what: 'peak',
      bytes: unpacking > running ? unpacking : running,
      why:
        `the larger of unpacking (${mib(unpacking)}: the compressed initramfs ${mib(input.initrdSize)}, and the rootfs again: its tmpfs may fill half the memory) ` +
        `and running (${mib(running)}: ${input.mode === 'root' ? `node's pages from the root file system ${mib(text)}, ` : ''}vmcore-ts save ${mib(save)}, kernel slab/page tables/stacks ${mib(runtime)})`,
    },
  ];
  const base = lines.reduce((n, l) => n + l.bytes, 0n);
  // struct page for every page of the reservation: R = base + R/64 → R = base * 64/63.
  const structPage = roundUp(base, 63n) / 63n;
  lines.push({ what: 'struct page', bytes: structPage, why: '64 bytes per 4 KiB page of the reservation' });
  const total = base + structPage;
  const recommended = roundUp(total, 16n * MIB);
  return { lines, total, recommended, param: `crashkernel=${recommended / MIB}M` };
}

/** The arithmetic as aligned text lines, in MiB with one decimal. */
export function formatEstimate(e: Estimate): string[] {
  const mib = (b: bigint) => (Number(b) / Number(MIB)).toFixed(1).padStart(8);
  const out = e.lines.map((l) => `  ${l.what.padEnd(15)} ${mib(l.bytes)} MiB  ${l.why}`);
  out.push(`  ${'total'.padEnd(15)} ${mib(e.total)} MiB`);
  out.push(`  → ${e.param} (rounded up to 16 MiB)`);
  return out;
}

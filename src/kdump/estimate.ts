// How much memory to reserve (crashkernel=) for our capture kernel, with the arithmetic shown.
// The capture kernel lives inside the reservation; at its peak it holds:
//   kernel       the kernel's init_size (bzImage header): its decompressed image, bss and early heap
//   rootfs       the initramfs unpacked into tmpfs (busybox, node + libraries, our bundle, modules;
//                node runs from there, so its text is not counted twice); with capture = root only
//                busybox, modules and /init:
//   node text    (capture = root) the pages of node and its libraries read from the root file
//                system as it runs: page cache, only what is touched
//   initrd|node  the larger of: the compressed initramfs as loaded (freed once unpacked, before
//                node starts) and the memory `vmcore-ts save` takes (its budget)
//   kernel runtime  slab, page tables, per-CPU areas, kernel stacks of a one-CPU kernel
//   struct page  64 bytes per 4 KiB page of the reservation itself (1/64 of it)
// plus a margin for the page cache the dump is written through, rounded up to 16 MiB.
// Pure.
import { parseBzImage } from '../format/bzimage.ts';

const MIB = 1n << 20n;

/** init_size from a bzImage's setup header: the memory the kernel needs from its load address on. */
export function bzImageInitSize(image: Uint8Array, source = 'kernel'): bigint {
  return BigInt(parseBzImage(image, source).header.init_size);
}

/** Memory `vmcore-ts save` may take (the save pipeline's budget: a fixed window of page frames + codec workers). */
export const DEFAULT_NODE_RSS = 128n * MIB;
/** An allowance for a one-CPU capture kernel's own allocations after boot (slab, page tables, stacks). */
export const KERNEL_RUNTIME = 48n * MIB;
/** Margin for page cache and writeback while the dump is written, as a fraction of the rest. */
export const MARGIN_PERCENT = 10n;
/** capture = root: node's and its libraries' pages read from disk while vmcore-ts save runs (resident file pages, measured). */
export const NODE_TEXT = 48n * MIB;

export interface EstimateInput {
  /** bzImage init_size (or a vmlinux's memory size). */
  kernelInitSize: bigint;
  /** Size of the initramfs file (compressed). */
  initrdSize: bigint;
  /** Bytes the initramfs unpacks to. */
  initrdUnpacked: bigint;
  nodeRss?: bigint;
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
  const node = input.nodeRss ?? DEFAULT_NODE_RSS;
  const mib = (b: bigint) => `${(Number(b) / Number(MIB)).toFixed(1)} MiB`;
  const lines: EstimateLine[] = [
    { what: 'kernel', bytes: input.kernelInitSize, why: 'bzImage init_size: decompressed kernel, bss, early heap' },
    {
      what: 'rootfs',
      bytes: input.initrdUnpacked,
      why: input.mode === 'root' ? 'the initramfs unpacked into tmpfs (busybox, modules, /init)' : 'the initramfs unpacked into tmpfs (with Node.js)',
    },
    ...(input.mode === 'root'
      ? [{ what: 'node text', bytes: input.nodeText ?? NODE_TEXT, why: 'node and its libraries, read from the root file system as they run (page cache)' }]
      : []),
    {
      what: 'initrd|node',
      bytes: node > input.initrdSize ? node : input.initrdSize,
      why: `the larger of the compressed initramfs (${mib(input.initrdSize)}, freed once unpacked) and vmcore-ts save (${mib(node)})`,
    },
    { what: 'kernel runtime', bytes: input.kernelRuntime ?? KERNEL_RUNTIME, why: 'slab, page tables, stacks of a one-CPU kernel' },
  ];
  const base = lines.reduce((n, l) => n + l.bytes, 0n);
  // struct page for every page of the reservation: R = base + R/64 + margin → solve for R.
  const structPage = roundUp(base, 63n) / 63n;
  lines.push({ what: 'struct page', bytes: structPage, why: '64 bytes per 4 KiB page of the reservation' });
  const sub = base + structPage;
  const margin = (sub * MARGIN_PERCENT) / 100n;
  lines.push({ what: 'margin', bytes: margin, why: `${MARGIN_PERCENT}% for page cache and writeback` });
  const total = sub + margin;
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

// arm64 Image (plain, gzip or EFI zboot) through kexec_load: kexec-tools' image-arm64 layout —
// packed bottom-up from the first 2 MiB-aligned hole that holds the kernel: kernel at base +
// text_offset, then initrd, DTB and purgatory right after it — with our own purgatory
// (purgatory/arm64/purgatory.S) that verifies SHA-256 and enters the kernel with x0 = DTB.
// Crash loads: everything inside the "Crash kernel" region, the kernel at its 2 MiB-aligned start,
// the ELF core header (from the kdump side) named in the DTB. Pure: bytes and a memory map in, a plan out.
import { KexecError, ParseError } from '../../../errors.ts';
import { hex, hexPadded } from '../../../text.ts';
import { Gunzip } from 'fflate';
import { describeArm64Image, identifyArm64Kernel, isArm64Image, parseArm64Image, unwrapArm64Kernel } from '../../../format/arm64-image.ts';
import { decodeString, findNode, getProp, isFdt, parseFdt } from '../../../format/fdt.ts';
import { walkIomem, type MemoryMap, type MemoryRange } from '../../memory-map.ts';
import {
  KEXEC_ARCH_AARCH64,
  KEXEC_ON_CRASH,
  PAGE_SIZE,
  SegmentAllocator,
  alignDown,
  alignUp,
  usableRanges,
  type KexecLoader,
  type KexecPlan,
  type PlanInput,
} from '../../plan.ts';
import { buildSecondDtb, KASLR_SEED_SIZE, pl011Console, RNG_SEED_SIZE } from './dtb.ts';
import { arm64PurgatoryDebugLine, finishArm64Purgatory, openArm64Purgatory } from './purgatory.ts';

/** MIN_KIMG_ALIGN: the kernel's base is 2 MiB aligned (booting.rst). */
export const ARM64_KERNEL_ALIGN = 2n << 20n;
const GiB = 1n << 30n;
/** booting.rst: the kernel and initrd must lie in one 1 GiB-aligned window of at most 32 GiB. */
const KERNEL_INITRD_WINDOW = 32n * GiB;
/** Resources nested under System RAM that kexec-tools does not treat as taken. */
const KEEP_NESTED = new Set(['Kernel code', 'Kernel data', 'Crash kernel']);


/**
 * The RAM a normal arm64 load may use, the way kexec-tools' arm64 get_memory_ranges reads
 * /proc/iomem: every "System RAM" range minus the resources nested in it (firmware "reserved",
 * …) except the running kernel's code and data and the crash region. Without an iomem tree, the
 * map's RAM ranges.
 */
export function arm64RamRanges(map: MemoryMap): MemoryRange[] {
  if (!map.iomem) return map.ranges.filter((r) => r.type === 'ram');
  const out: MemoryRange[] = [];
  for (const ram of walkIomem(map.iomem).filter((r) => r.name === 'System RAM')) {
    let start = ram.start;
    const holes = ram.children.filter((c) => !KEEP_NESTED.has(c.name)).sort((a, b) => (a.start < b.start ? -1 : 1));
    for (const h of holes) {
      if (h.start > start) out.push({ start, end: h.start - 1n, type: 'ram' });
      if (h.end + 1n > start) start = h.end + 1n;
    }
    if (start <= ram.end) out.push({ start, end: ram.end, type: 'ram' });
  }
  return out;
}

/** The first bytes of a gzip stream, inflated (enough to see a header). */
function gunzipHead(bytes: Uint8Array, want: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let got = 0;
  const g = new Gunzip((chunk) => {
    parts.push(chunk);
    got += chunk.length;
  });
  try {
    for (let off = 0; off < bytes.length && got < want && off < 1 << 20; off += 4096) g.push(bytes.subarray(off, off + 4096));
  } catch {
    return new Uint8Array(0);
  }
  const out = new Uint8Array(got);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function probe(image: Uint8Array): boolean {
  const c = identifyArm64Kernel(image);
  if (!c) return false;
  if (c.kind === 'gzip') return isArm64Image(gunzipHead(image, 64));
  return true;
}

/** Fresh random bytes for the DTB's seeds: Web Crypto, else the host's seed when it is long enough. */
function randomBytes(n: number, seed?: Uint8Array): Uint8Array {
  if (globalThis.crypto?.getRandomValues) return globalThis.crypto.getRandomValues(new Uint8Array(n));
  if (seed && seed.length >= n) return seed.slice(0, n);
  throw new KexecError('no random source for the DTB\'s kaslr-seed and rng-seed', { hint: 'run on Node.js 20 or newer' });
}

function plan(input: PlanInput): KexecPlan {
  const debug: string[] = [];
  const notes: string[] = [];
  const { image, container } = unwrapArm64Kernel(input.image, input.imageName);
  if (container.kind !== 'image') notes.push(`kernel unwrapped from ${container.kind === 'zboot' ? 'an EFI zboot image (gzip)' : 'a gzip stream'}: ${image.length} bytes`);
  const info = parseArm64Image(image, input.imageName);
  if (info.bigEndian) throw new KexecError('this is a big-endian arm64 kernel; kexec-ts loads little-endian kernels only');
  if (info.legacy) notes.push('image_size is 0 (pre-3.17 kernel): assuming text_offset 0x80000 and 16 MiB, as kexec-tools does');
  notes.push(`arm64 Image: ${describeArm64Image(info)}`);

  if (!input.dtb) {
    throw new KexecError('arm64 needs a device tree and none was found', { hint: 'pass --dtb FILE (on a running system: /sys/firmware/fdt, which needs root)' });
  }
  if (!isFdt(input.dtb)) throw new ParseError('--dtb is not a flattened device tree (no 0xd00dfeed magic)', { offset: 0, source: 'dtb' });
  const fdt = parseFdt(input.dtb, 'dtb');

  // Where segments may go.
  const ram = arm64RamRanges(input.memory);
  const usable = usableRanges(input, ram, 'arm64');
  debug.push('System RAM ranges;', ...ram.map((r) => `${hexPadded(r.start)}-${hexPadded(r.end)} (0)`));
  const alloc = new SegmentAllocator(usable, {
    ...(input.memMin !== undefined ? { memMin: input.memMin } : {}),
    ...(input.memMax !== undefined ? { memMax: input.memMax } : {}),
  });

  // Crash: the kdump side places the ELF core header (top-down in the region) first.
  let cmdline = input.cmdline;
  let elfcorehdr: { addr: bigint; size: bigint } | undefined;
  if (input.kind === 'crash' && input.crash) {
    const before = new Set(alloc.segments);
    const add = input.crash.addSegments(alloc);
    const header = alloc.segments.find((s) => !before.has(s));
    if (header) elfcorehdr = { addr: header.mem, size: BigInt(header.buf.length) };
    else notes.push('no ELF core header segment: the DTB gets no linux,elfcorehdr');
    // arm64 passes the header through the DTB (linux,elfcorehdr), not the command line.
    const extra = (add.cmdlineAppend ?? '').split(/\s+/).filter((w) => w && !w.startsWith('elfcorehdr=')).join(' ');
    if (extra) cmdline = cmdline ? `${cmdline} ${extra}` : extra;
    notes.push(...(add.notes ?? []));
    if (header) debug.push(`load_crashdump_segments: elfcorehdr ${hex(header.mem)}-${hex(header.mem + BigInt(header.buf.length) - 1n)}`);
  }

  // Kernel: the lowest 2 MiB-aligned base with text_offset + image_size free after it.
  const kernelMemsz = alignUp(info.imageSize > BigInt(image.length) ? info.imageSize : BigInt(image.length), PAGE_SIZE);
  const base = alloc.locate(info.textOffset + kernelMemsz, ARM64_KERNEL_ALIGN, 0n, (1n << 64n) - 1n, false);
  if (base === undefined) {
    throw new KexecError(`no 2 MiB-aligned hole of ${hex(info.textOffset + kernelMemsz)} bytes for the kernel`, {
      hint: input.kind === 'crash' ? 'reserve a larger crash kernel region (crashkernel=)' : 'the memory map has no room for this kernel',
    });
  }
  const kernel = alloc.add({ buf: image, mem: base + info.textOffset, memsz: kernelMemsz, what: 'kernel' });
  debug.push(
    `image_arm64_load: kernel_segment: ${hexPadded(kernel.mem)}`,
    `image_arm64_load: text_offset:    ${hexPadded(info.textOffset)}`,
    `image_arm64_load: image_size:     ${hexPadded(info.imageSize)}`,
    `image_arm64_load: PE format:      ${info.hasPeHeader ? 'yes' : 'no'}`,
  );
  const hole = { min: base + info.textOffset + info.imageSize, topDown: false } as const;
  const maxEnd = input.kind === 'crash' ? usable[usable.length - 1]!.end : undefined;

  let initrdPlaced: { start: bigint; size: bigint } | undefined;
  if (input.initrd) {
    const seg = alloc.place({ buf: input.initrd, ...hole, ...(maxEnd !== undefined ? { max: maxEnd } : {}), what: 'initrd' });
    const end = seg.mem + BigInt(input.initrd.length);
    if (alignUp(end, GiB) - alignDown(base, GiB) > KERNEL_INITRD_WINDOW) {
      throw new KexecError(`the kernel at ${hex(base)} and the initrd ending at ${hex(end)} do not fit in one 32 GiB window`, { hint: 'arm64 kernels need both within 32 GiB; use --mem-max' });
    }
    initrdPlaced = { start: seg.mem, size: BigInt(input.initrd.length) };
    debug.push(`initrd: base ${seg.mem.toString(16)}, size ${input.initrd.length.toString(16)}h (${input.initrd.length})`);
  }

  // The DTB (its final size is known before placement: its contents do not depend on its address).
  const random = randomBytes(KASLR_SEED_SIZE + RNG_SEED_SIZE, input.host?.rngSeed);
  const second = buildSecondDtb(fdt, {
    ...(cmdline !== '' ? { bootargs: cmdline } : {}),
    ...(initrdPlaced ? { initrd: initrdPlaced } : {}),
    random,
    ...(input.kind === 'crash' ? { crash: { ...(elfcorehdr ? { elfcorehdr } : {}), usable: usable.map((r) => ({ start: r.start, end: r.end })) } } : {}),
  });
  const dtb = alloc.place({ buf: second.bytes, ...hole, ...(maxEnd !== undefined ? { max: maxEnd } : {}), what: 'dtb' });
  debug.push(`dtb:    base ${dtb.mem.toString(16)}, size ${second.bytes.length.toString(16)}h (${second.bytes.length})`);
  notes.push(`DTB: ${second.changes.join('; ')}; kaslr-seed and rng-seed fresh`);
  if (cmdline === '') {
    const chosen = findNode(second.fdt, '/chosen');
    const kept = chosen && getProp(chosen, 'bootargs');
    cmdline = kept ? decodeString(kept) : '';
  }

  // Purgatory last, right after the DTB; patched once every segment is known.
  const purgatory = openArm64Purgatory(input.purgatory);
  const purgSeg = alloc.place({ buf: purgatory.text, ...hole, ...(maxEnd !== undefined ? { max: maxEnd } : {}), what: 'purgatory' });
  debug.push(arm64PurgatoryDebugLine(purgSeg, purgatory));
  const sink = pl011Console(fdt) ?? 0n;
  if (sink) notes.push(`purgatory reports on the PL011 at ${hex(sink)} (the DTB's stdout-path)`);

  const segments = alloc.segments;
  const sha256Regions = finishArm64Purgatory(purgatory, purgSeg, segments, {
    kernelEntry: kernel.mem,
    dtb: dtb.mem,
    sink,
    skipChecks: input.noChecks ?? false,
    ...(input.sha256 ? { sha256: input.sha256 } : {}),
    ...(input.corruptSegment ? { corruptSegment: input.corruptSegment } : {}),
  });
  notes.push(`kernel entry ${hex(kernel.mem)} with x0 = DTB at ${hex(dtb.mem)} (set by the purgatory at ${hex(purgSeg.mem + BigInt(purgatory.entryOffset))})`);
  return {
    arch: 'arm64',
    kind: input.kind,
    syscall: 'kexec_load',
    loader: 'arm64 Image',
    entry: purgSeg.mem + BigInt(purgatory.entryOffset),
    segments,
    cmdline,
    flags: KEXEC_ARCH_AARCH64 | (input.kind === 'crash' ? KEXEC_ON_CRASH : 0n),
    notes,
    usable,
    debug,
    sha256Regions,
  };
}

export const arm64ImageLoader: KexecLoader = {
  name: 'Image',
  arch: 'arm64',
  probe,
  plan,
};

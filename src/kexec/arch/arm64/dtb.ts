// The device tree the next arm64 kernel boots with: the running machine's DTB (or --dtb) with
// /chosen rewritten — what kexec-tools' setup_2nd_dtb and the kernel's own kexec_file path
// (of_kexec_alloc_and_setup_fdt) do:
//   bootargs                    the new command line (kept from the old DTB when none is given, as kexec-tools)
//   linux,initrd-start/-end     64-bit big-endian, end exclusive; deleted without an initrd
//   kaslr-seed, rng-seed        fresh random bytes (8 and 128), so the new kernel gets KASLR and entropy
//   linux,elfcorehdr            crash loads: <addr size> of the ELF core header
//   linux,usable-memory-range   crash loads: the crash kernel region(s), low range last
// Stale crash properties are dropped on normal loads (kexec'ing from a capture kernel).
import { KexecError } from '../../../errors.ts';
import {
  cellCounts,
  cloneFdt,
  decodeReg,
  decodeString,
  decodeStringList,
  deleteProp,
  encodeCells,
  encodeString,
  encodeU64,
  ensureNode,
  findNode,
  getProp,
  serializeFdt,
  setProp,
  type Fdt,
} from '../../../format/fdt.ts';

/** booting.rst: the DTB must not exceed 2 MiB. */
export const MAX_DTB_SIZE = 2 << 20;
export const KASLR_SEED_SIZE = 8;
/** RNG_SEED_SIZE of drivers/of/kexec.c. */
export const RNG_SEED_SIZE = 128;

export interface DtbEdits {
  /** The new command line; undefined keeps the DTB's bootargs. */
  bootargs?: string;
  initrd?: { start: bigint; size: bigint };
  /** Random bytes: the first 8 become kaslr-seed, the next 128 rng-seed. */
  random: Uint8Array;
  crash?: { elfcorehdr?: { addr: bigint; size: bigint }; usable: { start: bigint; end: bigint }[] };
}

/** Applies the edits to a copy of `fdt` and serializes it. */
export function buildSecondDtb(fdt: Fdt, e: DtbEdits): { bytes: Uint8Array; fdt: Fdt; changes: string[] } {
  const out = cloneFdt(fdt);
  const chosen = ensureNode(out, '/chosen');
  const changes: string[] = [];
  if (e.bootargs !== undefined && e.bootargs !== '') {
    setProp(chosen, 'bootargs', encodeString(e.bootargs));
    changes.push('bootargs set');
  } else {
    const old = getProp(chosen, 'bootargs');
    changes.push(old ? `bootargs kept from the DTB: ${JSON.stringify(decodeString(old))}` : 'no bootargs');
  }
  if (e.initrd) {
    setProp(chosen, 'linux,initrd-start', encodeU64(e.initrd.start));
    setProp(chosen, 'linux,initrd-end', encodeU64(e.initrd.start + e.initrd.size));
  } else {
    const hadStart = deleteProp(chosen, 'linux,initrd-start');
    const hadEnd = deleteProp(chosen, 'linux,initrd-end');
    if (hadStart || hadEnd) changes.push('old linux,initrd-start/end removed');
  }
  if (e.random.length < KASLR_SEED_SIZE + RNG_SEED_SIZE) throw new Error('buildSecondDtb: not enough random bytes');
  setProp(chosen, 'kaslr-seed', e.random.slice(0, KASLR_SEED_SIZE));
  setProp(chosen, 'rng-seed', e.random.slice(KASLR_SEED_SIZE, KASLR_SEED_SIZE + RNG_SEED_SIZE));
  deleteProp(chosen, 'linux,elfcorehdr');
  deleteProp(chosen, 'linux,usable-memory-range');
  if (e.crash) {
    const { addressCells, sizeCells } = cellCounts(out.root);
    const cells = [addressCells, sizeCells];
    if (e.crash.elfcorehdr) setProp(chosen, 'linux,elfcorehdr', encodeCells([e.crash.elfcorehdr.addr, e.crash.elfcorehdr.size], cells, 'linux,elfcorehdr'));
    const ranges = [...e.crash.usable].reverse().flatMap((r) => [r.start, r.end - r.start + 1n]);
    setProp(chosen, 'linux,usable-memory-range', encodeCells(ranges, cells, 'linux,usable-memory-range'));
    changes.push(`${e.crash.elfcorehdr ? 'linux,elfcorehdr and ' : ''}linux,usable-memory-range set`);
  }
  const bytes = serializeFdt(out);
  if (bytes.length > MAX_DTB_SIZE) {
    throw new KexecError(`the device tree is ${bytes.length} bytes; arm64 kernels accept at most ${MAX_DTB_SIZE}`, { hint: 'pass a smaller --dtb' });
  }
  return { bytes, fdt: out, changes };
}

/**
 * The PL011 UART the DTB's /chosen/stdout-path names (directly or through /aliases): its data
 * register is where the purgatory may print. undefined for other UARTs or none.
 */
export function pl011Console(fdt: Fdt): bigint | undefined {
  const chosen = findNode(fdt, '/chosen');
  const sp = chosen && getProp(chosen, 'stdout-path');
  if (!sp) return undefined;
  let path = decodeString(sp).split(':')[0]!;
  if (!path.startsWith('/')) {
    const aliases = findNode(fdt, '/aliases');
    const target = aliases && getProp(aliases, path);
    if (!target) return undefined;
    path = decodeString(target);
  }
  const node = findNode(fdt, path);
  const compat = node && getProp(node, 'compatible');
  const reg = node && getProp(node, 'reg');
  if (!compat || !reg || !decodeStringList(compat).includes('arm,pl011')) return undefined;
  // The UART's parent's cell counts (the root on -M virt).
  const parentPath = path.slice(0, path.lastIndexOf('/')) || '/';
  const parent = findNode(fdt, parentPath)!;
  const { addressCells, sizeCells } = cellCounts(parent);
  return decodeReg(reg, addressCells, sizeCells, `${path}/reg`)[0]?.address;
}

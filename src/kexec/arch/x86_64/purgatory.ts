// Our x86_64 purgatory in a plan: placed first (top-down, like kexec-tools), linked at its address,
// and finished last, when every other segment is known: kernel entry, boot_params address, serial
// port and one SHA-256 per segment patched in (see purgatory/entry64.S and purgatory/purgatory.c).
import { ParseError } from '../../../errors.ts';
import { type KexecSegment, type SegmentAllocator } from '../../plan.ts';
import { hex } from '../../../text.ts';
import { layoutRelocatable, linkRelocatable, openRelocatable, u64le, type LinkedPurgatory } from '../../purgatory-link.ts';
import { corruptVerifiedSegment, purgatoryRegionTable, type VerifiedRegion } from '../../purgatory-regions.ts';
import type { Sha256 } from '../../../sha256.ts';

/** kexec-tools keeps the purgatory and the boot parameters above 0x3000 (real-mode trampolines below). */
export const MIN_PURGATORY_ADDR = 0x3000n;
const SERIAL_PORTS: Record<string, number> = { ttyS0: 0x3f8, ttyS1: 0x2f8, ttyS2: 0x3e8, ttyS3: 0x2e8 };

export interface PlacedPurgatory {
  linked: LinkedPurgatory;
  segment: KexecSegment;
}

export function placePurgatory(alloc: SegmentAllocator, object: Uint8Array | undefined): PlacedPurgatory {
  if (!object) {
    throw new ParseError('the x86_64 purgatory object is missing', { hint: 'build it with `npm run build` (needs gcc and make)' });
  }
  const elf = openRelocatable(object);
  const layout = layoutRelocatable(elf);
  const segment = alloc.place({
    buf: new Uint8Array(layout.bufsz),
    memsz: BigInt(layout.memsz),
    align: BigInt(layout.align),
    min: MIN_PURGATORY_ADDR,
    what: 'purgatory',
  });
  const linked = linkRelocatable(elf, segment.mem);
  segment.buf = linked.bytes;
  return { linked, segment };
}

/** The serial port the purgatory reports on: the new command line's last console=ttySn, else none. */
export function serialPortFor(cmdline: string): number {
  let port = 0;
  for (const m of cmdline.matchAll(/(?:^|\s)console=(ttyS[0-3])\b/g)) port = SERIAL_PORTS[m[1]!] ?? port;
  return port;
}

export interface FinishOptions {
  kernelEntry: bigint;
  bootParams: bigint;
  cmdline: string;
  skipChecks: boolean;
  sha256?: Sha256;
  /** Test hook: damage one byte of this segment after its digest is taken. */
  corruptSegment?: string;
}

/** Patches the purgatory's variables; returns the regions it will verify. */
export function finishPurgatory(p: PlacedPurgatory, segments: KexecSegment[], o: FinishOptions): VerifiedRegion[] {
  const { table, regions, verified } = purgatoryRegionTable(p.segment, segments, o.sha256);
  const l = p.linked;
  l.setSymbol('kexec_ts_regions', table);
  l.setSymbol('kexec_ts_kernel_entry', u64le(o.kernelEntry));
  l.setSymbol('kexec_ts_boot_params', u64le(o.bootParams));
  l.setSymbol('kexec_ts_skip_checks', Uint8Array.of(o.skipChecks ? 1 : 0));
  const port = serialPortFor(o.cmdline);
  l.setSymbol('kexec_ts_serial_port', Uint8Array.of(port & 0xff, port >> 8));
  if (o.corruptSegment) corruptVerifiedSegment(verified, o.corruptSegment);
  return regions;
}

export const purgatoryDebugLine = (p: PlacedPurgatory): string => `Loaded purgatory at addr ${hex(p.segment.mem)}`;

// Our x86_64 purgatory in a plan: placed first (top-down, like kexec-tools), linked at its address,
// and finished last, when every other segment is known: kernel entry, boot_params address, serial
// port and one SHA-256 per segment patched in (see purgatory/entry64.S and purgatory/purgatory.c).
import { ParseError } from '../../../errors.ts';
import { type KexecSegment, type SegmentAllocator } from '../../plan.ts';
import { hex } from '../../../text.ts';
import { layoutRelocatable, linkRelocatable, openRelocatable, u64le, type LinkedPurgatory } from '../../purgatory-link.ts';
import { sha256 as sha256Ts, type Sha256 } from '../../sha256.ts';

export const PURGATORY_MAX_REGIONS = 16;
export const PURGATORY_REGION_SIZE = 48; // struct kexec_ts_region { u64 start, len; u8 sha256[32]; }
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
export function finishPurgatory(p: PlacedPurgatory, segments: KexecSegment[], o: FinishOptions): { start: bigint; len: bigint }[] {
  const hash = o.sha256 ?? sha256Ts;
  const others = segments.filter((s) => s !== p.segment);
  if (others.length > PURGATORY_MAX_REGIONS) throw new Error(`more than ${PURGATORY_MAX_REGIONS} segments to verify`);
  const table = new Uint8Array(PURGATORY_MAX_REGIONS * PURGATORY_REGION_SIZE);
  const dv = new DataView(table.buffer);
  const regions: { start: bigint; len: bigint }[] = [];
  others.forEach((s, i) => {
    // The purgatory checks the bytes we copy (buf); the kernel zero-fills the rest of memsz.
    const at = i * PURGATORY_REGION_SIZE;
    dv.setBigUint64(at, s.mem, true);
    dv.setBigUint64(at + 8, BigInt(s.buf.length), true);
    table.set(hash(s.buf), at + 16);
    regions.push({ start: s.mem, len: BigInt(s.buf.length) });
  });
  const l = p.linked;
  l.setSymbol('kexec_ts_regions', table);
  l.setSymbol('kexec_ts_kernel_entry', u64le(o.kernelEntry));
  l.setSymbol('kexec_ts_boot_params', u64le(o.bootParams));
  l.setSymbol('kexec_ts_skip_checks', Uint8Array.of(o.skipChecks ? 1 : 0));
  const port = serialPortFor(o.cmdline);
  l.setSymbol('kexec_ts_serial_port', Uint8Array.of(port & 0xff, port >> 8));
  if (o.corruptSegment) {
    const victim = others.find((s) => s.what === o.corruptSegment || s.what.startsWith(o.corruptSegment + ' '));
    if (!victim) throw new Error(`--debug-corrupt-segment: no segment named ${o.corruptSegment} (have: ${others.map((s) => s.what).join(', ')})`);
    victim.buf = victim.buf.slice();
    victim.buf[victim.buf.length >> 1]! ^= 0xff;
  }
  return regions;
}

export const purgatoryDebugLine = (p: PlacedPurgatory): string => `Loaded purgatory at addr ${hex(p.segment.mem)}`;

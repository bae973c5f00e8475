// Our arm64 purgatory (purgatory/arm64/purgatory.S) in a plan. The object is position independent
// and has no relocations: its .text is the whole segment. We patch its variables by symbol — kernel
// entry, DTB address, UART for messages, and one (start, len, SHA-256) per segment to verify — once
// every other segment is placed.
import { ParseError } from '../../../errors.ts';
import { EM_AARCH64, ET_REL, SHT_REL, SHT_RELA, openElf, sectionData } from '../../../format/elf.ts';
import { BufferSource } from '../../../io/source.ts';
import { type KexecSegment } from '../../plan.ts';
import { hex } from '../../../text.ts';
import { corruptVerifiedSegment, purgatoryRegionTable, type VerifiedRegion } from '../../purgatory-regions.ts';
import type { Sha256 } from '../../../sha256.ts';

const VARIABLES = ['kexec_ts_kernel_entry', 'kexec_ts_dtb', 'kexec_ts_sink', 'kexec_ts_skip_checks', 'kexec_ts_regions'] as const;
type Variable = (typeof VARIABLES)[number];

export interface Arm64Purgatory {
  /** The segment's bytes (.text), patched in place by finishArm64Purgatory. */
  text: Uint8Array;
  /** Offset of purgatory_start in text. */
  entryOffset: number;
  /** Offsets of the patched variables in text. */
  offsets: Record<Variable, number>;
}

/** Reads the assembled object (dist/purgatory-arm64.o) and checks it is what the loader expects. */
export function openArm64Purgatory(object: Uint8Array | undefined, name = 'purgatory-arm64.o'): Arm64Purgatory {
  if (!object) {
    throw new ParseError('the arm64 purgatory object is missing', {
      hint: 'build it with `npm run build` (needs llvm-mc from Debian\'s llvm package, or aarch64-linux-gnu-as)',
    });
  }
  const elf = openElf(new BufferSource(object, name));
  if (elf.header.type !== ET_REL || elf.header.machine !== EM_AARCH64) {
    throw new ParseError(`not an AArch64 relocatable object (e_type ${elf.header.type}, e_machine ${elf.header.machine})`, { source: name, offset: 16 });
  }
  if (elf.sections.some((s) => (s.type === SHT_RELA || s.type === SHT_REL) && s.size > 0)) {
    throw new ParseError('the arm64 purgatory has relocations; it must be position independent', { source: name, hint: 'reference variables through local labels' });
  }
  const textSec = elf.section('.text');
  if (!textSec || textSec.size === 0) throw new ParseError('the arm64 purgatory has no .text', { source: name });
  const symbols = elf.symbols().filter((s) => s.shndx === textSec.index);
  const offsetOf = (sym: string): number => {
    const s = symbols.find((x) => x.name === sym);
    if (!s) throw new ParseError(`the arm64 purgatory has no symbol ${sym}`, { source: name });
    return Number(s.value);
  };
  const offsets = Object.fromEntries(VARIABLES.map((v) => [v, offsetOf(v)])) as Record<Variable, number>;
  return { text: sectionData(elf.source, textSec).slice(), entryOffset: offsetOf('purgatory_start'), offsets };
}

export interface Arm64PurgatoryFinish {
  kernelEntry: bigint;
  dtb: bigint;
  /** UART data register to print progress and failures on; 0n for none. */
  sink: bigint;
  skipChecks: boolean;
  sha256?: Sha256;
  /** Test hook: damage one byte of this segment after its digest is taken. */
  corruptSegment?: string;
}

/** Patches the purgatory for the final segment list; returns the regions it verifies. */
export function finishArm64Purgatory(p: Arm64Purgatory, self: KexecSegment, segments: KexecSegment[], o: Arm64PurgatoryFinish): VerifiedRegion[] {
  const { table, regions, verified } = purgatoryRegionTable(self, segments, o.sha256);
  const dv = new DataView(p.text.buffer, p.text.byteOffset, p.text.length);
  const u64 = (v: Variable, value: bigint) => dv.setBigUint64(p.offsets[v], value, true);
  u64('kexec_ts_kernel_entry', o.kernelEntry);
  u64('kexec_ts_dtb', o.dtb);
  u64('kexec_ts_sink', o.sink);
  u64('kexec_ts_skip_checks', o.skipChecks ? 1n : 0n);
  p.text.set(table, p.offsets.kexec_ts_regions);
  self.buf = p.text;
  if (o.corruptSegment) corruptVerifiedSegment(verified, o.corruptSegment);
  return regions;
}

export const arm64PurgatoryDebugLine = (seg: KexecSegment, p: Arm64Purgatory): string =>
  `purgatory: ${hex(seg.mem)} entry ${hex(seg.mem + BigInt(p.entryOffset))} (${p.text.length} bytes, SHA-256 verifying)`;

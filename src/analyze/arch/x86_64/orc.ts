// ORC unwind tables of an x86_64 kernel, read from the dump: `.orc_unwind_ip` (s32 offsets relative
// to each entry's own address, sorted by ip) between __start_orc_unwind_ip/__stop_orc_unwind_ip and
// the parallel 6-byte `struct orc_entry` array at __start_orc_unwind.
//
// The entry's bitfield layout changed twice (arch/x86/include/asm/orc_types.h):
//   v1 (<= 6.2): sp_reg:4 bp_reg:4 type:2 end:1        types CALL=0 REGS=1 REGS_PARTIAL=2;
//                "undefined" is sp_reg == UNDEFINED, end of stack when `end` is also set.
//   v2 (6.3):    sp_reg:4 bp_reg:4 type:2 signal:1 end:1   (commit ffb1b4a41016)
//   v3 (>= 6.4): sp_reg:4 bp_reg:4 type:3 signal:1      types UNDEFINED=0 END_OF_STACK=1 CALL=2
//                REGS=3 REGS_PARTIAL=4 (commit fb799447ae29)
//   v4 (seen on Debian's 7.2): the v3 layout with the registers renumbered — SP=3, PREV_SP=8,
//                BP_INDIRECT=10 (BP, DX, R10, R13, SP_INDIRECT keep their numbers). Found on a real 7.2
//                dump: its `.orc_header` hash differs from 6.4's, and a plain `push` frame reads
//                sp_reg 3 / bp_reg 8 where 6.12 has 5 / 1. Decoded entries always carry v1–v3 numbers.
// Since 6.4 the kernel carries a 20-byte hash of orc_types.h at __start_orc_header; orcVersionOf()
// matches it against the known layouts, and only falls back to the release for older kernels.
import { NotInDumpError, ParseError } from '../../../errors.ts';
import type { SymbolTable } from '../../symbols.ts';
import type { VirtualMemory } from '../../virtual-memory.ts';

export const ORC_REG = {
  UNDEFINED: 0,
  PREV_SP: 1,
  DX: 2,
  DI: 3,
  BP: 4,
  SP: 5,
  R10: 6,
  R13: 7,
  BP_INDIRECT: 8,
  SP_INDIRECT: 9,
} as const;

export type OrcType = 'undefined' | 'end' | 'call' | 'regs' | 'regs_partial';
export type OrcVersion = 1 | 2 | 3 | 4;

export interface OrcEntry {
  spOffset: number;
  bpOffset: number;
  spReg: number;
  bpReg: number;
  type: OrcType;
  /** The ip is exact (interrupted here), not a return address: look it up as is. */
  signal: boolean;
}

export const ORC_ENTRY_SIZE = 6;

/** The ORC layout a kernel release uses ("6.1.0-56-cloud-amd64" → 1). */
export function orcVersionFor(release: string): OrcVersion {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return 3;
  const v = Number(m[1]) * 1000 + Number(m[2]);
  if (v >= 6004) return 3;
  if (v === 6003) return 2;
  return 1;
}

/** The .orc_header hashes of known layouts (hex of the 20 bytes at __start_orc_header). */
const ORC_HEADER_HASHES: Record<string, OrcVersion> = {
  'db84aed4103b31dd51e017f8f79783ca985c2c51': 2, // 6.3.10+ (commit ffb1b4a41016)
  'fe5d32bf581bd63b2ca9a5c65ba5a625eab3fe24': 3, // 6.4 .. 6.12 at least (commit fb799447ae29)
  '137c36ad7627c4dd55932176bb0ecdbd5041fc82': 4, // Debian sid 7.2
};
/** Registers not seen in a v4 table read as this (reported as an unknown base register). */
const ORC_REG_UNKNOWN = 15;
const V4_REGS: readonly number[] = [
  ORC_REG.UNDEFINED, ORC_REG_UNKNOWN, ORC_REG.DX, ORC_REG.SP, ORC_REG.BP, ORC_REG_UNKNOWN, ORC_REG.R10, ORC_REG.R13,
  ORC_REG.PREV_SP, ORC_REG.SP_INDIRECT, ORC_REG.BP_INDIRECT,
];

/**
 * The layout of this kernel's ORC entries: by the .orc_header hash when the kernel has one (6.4+),
 * else by release. An unknown hash (a newer kernel) is told apart by what most entries use as the
 * stack base: SP is 5 in v1–v3 and 3 in v4.
 */
export function orcVersionOf(header: Uint8Array | undefined, release: string, sampleEntries: () => Uint8Array): OrcVersion {
  if (header?.length === 20) {
    const known = ORC_HEADER_HASHES[Array.from(header, (b) => b.toString(16).padStart(2, '0')).join('')];
    if (known) return known;
    const sample = sampleEntries();
    let sp5 = 0;
    let sp3 = 0;
    for (let o = 0; o + ORC_ENTRY_SIZE <= sample.length; o += ORC_ENTRY_SIZE) {
      const reg = sample[o + 4]! & 0xf;
      if (reg === 5) sp5++;
      else if (reg === 3) sp3++;
    }
    return sp3 > sp5 ? 4 : 3;
  }
  return orcVersionFor(release);
}

export function decodeOrcEntry(b: Uint8Array, off: number, version: OrcVersion): OrcEntry {
  const dv = new DataView(b.buffer, b.byteOffset + off, ORC_ENTRY_SIZE);
  const bits = dv.getUint16(4, true);
  let spReg = bits & 0xf;
  let bpReg = (bits >> 4) & 0xf;
  if (version === 4) {
    spReg = V4_REGS[spReg] ?? ORC_REG_UNKNOWN;
    bpReg = V4_REGS[bpReg] ?? ORC_REG_UNKNOWN;
  }
  const base = { spOffset: dv.getInt16(0, true), bpOffset: dv.getInt16(2, true), spReg, bpReg };
  if (version >= 3) {
    const t = (bits >> 8) & 7;
    const type: OrcType = (['undefined', 'end', 'call', 'regs', 'regs_partial'] as const)[t] ?? 'undefined';
    return { ...base, type, signal: ((bits >> 11) & 1) !== 0 };
  }
  const t = (bits >> 8) & 3;
  const end = ((bits >> (version === 2 ? 11 : 10)) & 1) !== 0;
  const signalBit = version === 2 && ((bits >> 10) & 1) !== 0;
  let type: OrcType = (['call', 'regs', 'regs_partial'] as const)[t] ?? 'undefined';
  if (spReg === ORC_REG.UNDEFINED) type = end ? 'end' : 'undefined';
  // Before v2 every regs frame was a signal frame.
  return { ...base, type, signal: signalBit || type === 'regs' || type === 'regs_partial' };
}

const BLOCK = 4096;

/** The kernel image's ORC table, looked up by binary search over blocks read on demand. */
export class OrcTable {
  readonly count: number;
  readonly version: OrcVersion;
  private readonly mem: VirtualMemory;
  private readonly ipStart: bigint;
  private readonly entStart: bigint;
  private readonly blocks = new Map<number, DataView>();
  private firstIp: bigint | undefined;
  private lastIp: bigint | undefined;

  constructor(mem: VirtualMemory, t: { ipStart: bigint; ipStop: bigint; entStart: bigint; entStop?: bigint; version: OrcVersion }) {
    this.mem = mem;
    this.ipStart = t.ipStart;
    this.entStart = t.entStart;
    this.version = t.version;
    const bytes = t.ipStop - t.ipStart;
    if (bytes <= 0n || bytes % 4n !== 0n || bytes > 64n << 20n) {
      throw new ParseError(`ORC: bad __start_orc_unwind_ip..__stop_orc_unwind_ip range (${bytes} bytes)`);
    }
    this.count = Number(bytes / 4n);
    if (t.entStop !== undefined && t.entStop - t.entStart !== BigInt(this.count * ORC_ENTRY_SIZE)) {
      throw new ParseError(`ORC: ${this.count} ips but ${(t.entStop - t.entStart) / 6n} entries`, { hint: 'the ORC tables are damaged' });
    }
  }

  private ipAt(i: number): bigint {
    const byteOff = i * 4;
    const blk = Math.floor(byteOff / BLOCK);
    let dv = this.blocks.get(blk);
    if (!dv) {
      const len = Math.min(BLOCK, this.count * 4 - blk * BLOCK);
      const b = this.mem.readVirt(this.ipStart + BigInt(blk * BLOCK), len);
      dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      this.blocks.set(blk, dv);
    }
    return this.ipStart + BigInt(byteOff) + BigInt(dv.getInt32(byteOff - blk * BLOCK, true));
  }

  /** Whether `ip` lies inside the range the table describes (the kernel image's text). */
  covers(ip: bigint): boolean {
    this.firstIp ??= this.ipAt(0);
    this.lastIp ??= this.ipAt(this.count - 1);
    return ip >= this.firstIp && ip <= this.lastIp;
  }

  /** The entry for `ip`, or undefined when the table does not cover it. */
  find(ip: bigint): OrcEntry | undefined {
    if (!this.covers(ip)) return undefined;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.ipAt(mid) <= ip) lo = mid;
      else hi = mid - 1;
    }
    const b = this.mem.readVirt(this.entStart + BigInt(lo * ORC_ENTRY_SIZE), ORC_ENTRY_SIZE);
    return decodeOrcEntry(b, 0, this.version);
  }
}

/** The kernel image's ORC entry layout: by its .orc_header hash, else its release (and a sample of entries). */
export function kernelOrcVersion(symbols: SymbolTable, mem: VirtualMemory, release: string): OrcVersion {
  const read = (name: string, len: number): Uint8Array | undefined => {
    const a = symbols.byName(name)?.address;
    if (a === undefined) return undefined;
    try {
      return mem.readVirt(a, len);
    } catch (e) {
      if (e instanceof NotInDumpError) return undefined;
      throw e;
    }
  };
  return orcVersionOf(read('__start_orc_header', 20), release, () => read('__start_orc_unwind', 2048 * ORC_ENTRY_SIZE) ?? new Uint8Array(0));
}

/** The kernel image's ORC tables (__start_orc_unwind_ip..), or undefined when it has none (frame pointers then). */
export function kernelOrcTable(symbols: SymbolTable, mem: VirtualMemory, version: () => OrcVersion): OrcTable | undefined {
  const ipStart = symbols.byName('__start_orc_unwind_ip')?.address;
  const ipStop = symbols.byName('__stop_orc_unwind_ip')?.address;
  const entStart = symbols.byName('__start_orc_unwind')?.address;
  const entStop = symbols.byName('__stop_orc_unwind')?.address;
  if (ipStart === undefined || ipStop === undefined || entStart === undefined) return undefined;
  return new OrcTable(mem, { ipStart, ipStop, entStart, entStop, version: version() });
}

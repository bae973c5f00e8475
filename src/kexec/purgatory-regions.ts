// The table of segments a purgatory verifies before it jumps to the new kernel, the same for every
// architecture's purgatory (purgatory/purgatory.c, purgatory/arm64/purgatory.S): up to 16 of
// struct { u64 start, len; u8 sha256[32]; }, little-endian, ended by a zero len.
import type { KexecSegment } from './plan.ts';
import { sha256 as sha256Ts, type Sha256 } from '../sha256.ts';

export const PURGATORY_MAX_REGIONS = 16;
export const PURGATORY_REGION_SIZE = 48;

export interface VerifiedRegion {
  start: bigint;
  len: bigint;
}

/**
 * The table for `segments` minus the purgatory itself (`self`) and segments with nothing to copy:
 * the purgatory checks the bytes we copy (buf); the kernel zero-fills the rest of memsz.
 */
export function purgatoryRegionTable(self: KexecSegment, segments: KexecSegment[], hash: Sha256 = sha256Ts): { table: Uint8Array; regions: VerifiedRegion[]; verified: KexecSegment[] } {
  const verified = segments.filter((s) => s !== self && s.buf.length > 0);
  if (verified.length > PURGATORY_MAX_REGIONS) throw new Error(`more than ${PURGATORY_MAX_REGIONS} segments to verify`);
  const table = new Uint8Array(PURGATORY_MAX_REGIONS * PURGATORY_REGION_SIZE);
  const dv = new DataView(table.buffer);
  const regions = verified.map((s, i) => {
    const at = i * PURGATORY_REGION_SIZE;
    dv.setBigUint64(at, s.mem, true);
    dv.setBigUint64(at + 8, BigInt(s.buf.length), true);
    table.set(hash(s.buf), at + 16);
    return { start: s.mem, len: BigInt(s.buf.length) };
  });
  return { table, regions, verified };
}

/** Test hook (--debug-corrupt-segment NAME): damages one byte of a verified segment after its digest was taken. */
export function corruptVerifiedSegment(verified: KexecSegment[], name: string): void {
  const victim = verified.find((s) => s.what === name || s.what.startsWith(name + ' '));
  if (!victim) throw new Error(`--debug-corrupt-segment: no segment named ${name} (have: ${verified.map((s) => s.what).join(', ')})`);
  victim.buf = victim.buf.slice();
  victim.buf[victim.buf.length >> 1]! ^= 0xff;
}

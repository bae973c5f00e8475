// LZO1X: decompressor and a small greedy compressor, written from the bitstream description in
// Linux Documentation/staging/lzo.rst (version 0 streams, as makedumpfile -l writes with
// lzo1x_1_compress). Pure TypeScript, no Node APIs.
//
// Instructions (after the first byte), with `state` = literals copied by the previous instruction:
//   0000LLLL state 0: literal run of 3+len(L,4 bits)      state 4 after it
//   0000DDSS state 1-3: 2-byte match, dist (H<<2)+D+1       one byte H follows
//   0000DDSS state 4:   3-byte match, dist (H<<2)+D+2049    one byte H follows
//   0001HLLL         : match len 2+len(L,3 bits), dist 16384+(H<<14)+(LE16>>2); dist 16384 = end
//   001LLLLL         : match len 2+len(L,5 bits), dist (LE16>>2)+1
//   01LDDDSS         : match len 3+L, dist (H<<3)+D+1       one byte H follows
//   1LLDDDSS         : match len 5+L, dist (H<<3)+D+1       one byte H follows
// SS (in the opcode or the LE16's low bits) = literals copied right after the match.
// len(L,b): L if non-zero, else (2^b - 1) + 255 per zero byte + the first non-zero byte.

export class LzoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LzoError';
  }
}

/**
 * Decompresses one LZO1X stream into a buffer of exactly `outLength` bytes. Throws LzoError when the
 * input is damaged, overruns either buffer, or produces a different length. (One flat loop with
 * local variables: closures over mutated indices made it several times slower.)
 */
export function lzo1xDecompress(input: Uint8Array, outLength: number): Uint8Array {
  const out = new Uint8Array(outLength);
  const inLen = input.length;
  let ip = 0;
  let op = 0;
  let state = 0;
  let t = 0;
  let lit = 0; // literals to copy after the current instruction
  let len = 0;
  let dist = 0;
  if (inLen === 0) throw new LzoError('empty input');
  if (input[0]! > 17) {
    lit = input[ip++]! - 17;
    if (ip + lit > inLen || lit > outLength) throw new LzoError(`input overrun at byte ${ip}`);
    out.set(input.subarray(ip, ip + lit), 0);
    ip += lit;
    op = lit;
    state = lit < 4 ? lit : 4;
  }
  for (;;) {
    if (ip >= inLen) throw new LzoError(`input overrun at byte ${ip}`);
    t = input[ip++]!;
    if (t >= 64) {
      if (ip >= inLen) throw new LzoError(`input overrun at byte ${ip}`);
      dist = (input[ip++]! << 3) + ((t >> 2) & 7) + 1;
      len = t >= 128 ? 5 + ((t >> 5) & 3) : 3 + ((t >> 5) & 1);
      lit = t & 3;
    } else if (t >= 16) {
      // 001LLLLL (t >= 32) or 0001HLLL: a length with zero-byte extension, then an LE16.
      const mask = t >= 32 ? 31 : 7;
      len = t & mask;
      if (len === 0) {
        len = mask;
        for (;;) {
          if (ip >= inLen) throw new LzoError(`input overrun at byte ${ip}`);
          const b = input[ip++]!;
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
          if (len > outLength) throw new LzoError(`length runs past the ${outLength}-byte output`);
        }
      }
      len += 2;
      if (ip + 2 > inLen) throw new LzoError(`input overrun at byte ${ip}`);
      const le16 = input[ip]! | (input[ip + 1]! << 8);
      ip += 2;
      lit = le16 & 3;
      if (t >= 32) dist = (le16 >> 2) + 1;
      else {
        dist = 16384 + ((t & 8) << 11) + (le16 >> 2);
        if (dist === 16384) break; // end of stream
      }
    } else if (state === 0) {
      // Literal run of 3 + len(L, 4 bits).
      len = t;
      if (len === 0) {
        len = 15;
        for (;;) {
          if (ip >= inLen) throw new LzoError(`input overrun at byte ${ip}`);
          const b = input[ip++]!;
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
          if (len > outLength) throw new LzoError(`length runs past the ${outLength}-byte output`);
        }
      }
      len += 3;
      if (ip + len > inLen) throw new LzoError(`input overrun at byte ${ip}`);
      if (op + len > outLength) throw new LzoError(`output overrun copying ${len} literals at ${op}`);
      if (len > 32) {
        out.set(input.subarray(ip, ip + len), op);
        ip += len;
        op += len;
      } else {
        for (let k = 0; k < len; k++) out[op++] = input[ip++]!;
      }
      state = 4;
      continue;
    } else {
      if (ip >= inLen) throw new LzoError(`input overrun at byte ${ip}`);
      const d = (input[ip++]! << 2) + ((t >> 2) & 3);
      if (state === 4) {
        dist = d + 2049;
        len = 3;
      } else {
        dist = d + 1;
        len = 2;
      }
      lit = t & 3;
    }
    // Copy the match (may overlap its source), then `lit` literals.
    if (dist > op) throw new LzoError(`match distance ${dist} reaches before the output start at ${op}`);
    if (op + len > outLength) throw new LzoError(`output overrun copying a ${len}-byte match at ${op}`);
    if (dist >= len && len > 32) {
      out.copyWithin(op, op - dist, op - dist + len);
      op += len;
    } else {
      let from = op - dist;
      const end = op + len;
      while (op < end) out[op++] = out[from++]!;
    }
    if (lit > 0) {
      if (ip + lit > inLen) throw new LzoError(`input overrun at byte ${ip}`);
      if (op + lit > outLength) throw new LzoError(`output overrun copying ${lit} literals at ${op}`);
      for (let k = 0; k < lit; k++) out[op++] = input[ip++]!;
    }
    state = lit;
  }
  if (op !== outLength) throw new LzoError(`stream ends after ${op} of ${outLength} bytes`);
  if (ip !== inLen) throw new LzoError(`${inLen - ip} bytes follow the end-of-stream marker`);
  return out;
}

// The compressor: LZO1X-1's method (greedy; a 4-byte hash finds the latest earlier position with
// the same 4 bytes; skip ahead faster through data that keeps not matching), written for V8:
// one flat loop over locals, a typed-array hash table reused across calls (entries hold position +
// `base`; only entries at or above the current call's base are valid, so nothing is cleared per
// call), 32-bit reads through a DataView, matches extended 4 bytes at a time, and output written
// straight into the caller's buffer.
const HASH_BITS = 14;
const table = new Int32Array(1 << HASH_BITS);
let base = 0;
const MAX_DIST = 49151; // 16384 + 0x7fff, the farthest a 0001HLLL match reaches
const M2_MAX_DIST = 2048;
const M3_MAX_DIST = 16384;

/** The most bytes lzo1xCompressInto writes for `n` input bytes (all literals, plus headers). */
export function lzo1xMaxCompressedLength(n: number): number {
  return n + (n >> 4) + 64 + 3;
}

/**
 * LZO1X compression of `src` into `dst` (at least lzo1xMaxCompressedLength(src.length) bytes);
 * returns the compressed length. Output decodes with any LZO1X decompressor (liblzo2's
 * lzo1x_decompress_safe, the kernel's, lzo1xDecompress above).
 */
export function lzo1xCompressInto(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  if (dst.length < lzo1xMaxCompressedLength(n)) throw new RangeError(`lzo1xCompressInto: output buffer of ${dst.length} bytes, ${lzo1xMaxCompressedLength(n)} needed`);
  if (base + n + 1 > 0x7fff0000) {
    table.fill(0);
    base = 0;
  }
  const b0 = base + 1; // table values below b0 belong to earlier calls
  base = b0 + n;
  const dv = new DataView(src.buffer, src.byteOffset, n);
  let op = 0;
  let ii = 0; // first literal not yet written
  let sAt = -1; // where the previous match keeps its SS bits; -1 before the first match
  let i = 0;
  while (i + 4 <= n) {
    const v = dv.getInt32(i, true);
    const h = Math.imul(v, 0x1e35a7bd) >>> (32 - HASH_BITS);
    const cand = table[h]! - b0;
    table[h] = i + b0;
    if (cand < 0 || i - cand > MAX_DIST || dv.getInt32(cand, true) !== v) {
      i += 1 + ((i - ii) >> 5);
      continue;
    }
    const dist = i - cand;
    // Extend the match 4 bytes at a time; the first differing byte is the lowest set byte of the XOR.
    let len = 4;
    for (;;) {
      if (i + len + 4 > n) {
        while (i + len < n && src[cand + len] === src[i + len]) len++;
        break;
      }
      const x = dv.getInt32(i + len, true) ^ dv.getInt32(cand + len, true);
      if (x !== 0) {
        len += (31 - Math.clz32(x & -x)) >> 3;
        break;
      }
      len += 4;
    }

    // The literals before the match.
    const lit = i - ii;
    if (lit > 0) {
      if (sAt < 0 && lit <= 238) dst[op++] = 17 + lit;
      else if (sAt >= 0 && lit <= 3) dst[sAt]! |= lit;
      else op = putCount(dst, op, 0, lit - 3, 15);
      if (lit > 32) {
        dst.set(src.subarray(ii, i), op);
        op += lit;
      } else for (let k = ii; k < i; k++) dst[op++] = src[k]!;
    }

    // The match.
    if (len <= 8 && dist <= M2_MAX_DIST) {
      const d = dist - 1;
      sAt = op;
      dst[op++] = (len <= 4 ? 0x40 | ((len - 3) << 5) : 0x80 | ((len - 5) << 5)) | ((d & 7) << 2);
      dst[op++] = d >> 3;
    } else if (dist <= M3_MAX_DIST) {
      op = putCount(dst, op, 0x20, len - 2, 31);
      const d = (dist - 1) << 2;
      sAt = op;
      dst[op++] = d & 0xff;
      dst[op++] = d >> 8;
    } else {
      const d = dist - 16384;
      op = putCount(dst, op, 0x10 | ((d >> 14) << 3), len - 2, 7);
      sAt = op;
      dst[op++] = (d << 2) & 0xff;
      dst[op++] = (d >> 6) & 0xff;
    }
    i += len;
    ii = i;
  }

  // The literals left, then the end marker (a 0001HLLL match of distance 16384).
  const lit = n - ii;
  if (lit > 0) {
    if (sAt < 0 && lit <= 238) dst[op++] = 17 + lit;
    else if (sAt >= 0 && lit <= 3) dst[sAt]! |= lit;
    else op = putCount(dst, op, 0, lit - 3, 15);
    dst.set(src.subarray(ii, n), op);
    op += lit;
  }
  dst[op++] = 0x11;
  dst[op++] = 0;
  dst[op++] = 0;
  return op;
}

/** A count in the variable-length form at `op`: `opcode | n` if n fits under `mask`, else zero bytes. */
function putCount(dst: Uint8Array, op: number, opcode: number, n: number, mask: number): number {
  if (n <= mask) {
    dst[op++] = opcode | n;
    return op;
  }
  dst[op++] = opcode;
  let rem = n - mask;
  while (rem > 255) {
    dst[op++] = 0;
    rem -= 255;
  }
  dst[op++] = rem;
  return op;
}

let scratch = new Uint8Array(0);

/** LZO1X compression into a new buffer of the compressed length. */
export function lzo1xCompress(input: Uint8Array): Uint8Array {
  const need = lzo1xMaxCompressedLength(input.length);
  if (scratch.length < need) scratch = new Uint8Array(need);
  return scratch.slice(0, lzo1xCompressInto(input, scratch));
}

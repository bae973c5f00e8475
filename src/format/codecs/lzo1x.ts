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

const HASH_BITS = 13;
// The hash table is reused across calls: entries hold position + `base`, and only entries at or
// above the current call's base are valid, so no clearing per page.
const table = new Int32Array(1 << HASH_BITS);
let base = 0;
const MAX_DIST = 49151; // 16384 + 0x7fff, the farthest a 0001HLLL match reaches
const MIN_MATCH = 4;

/** Growable output buffer for the compressor. */
class Out {
  buf: Uint8Array;
  len = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  byte(b: number): void {
    if (this.len === this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf[this.len++] = b;
  }
  bytes(src: Uint8Array): void {
    if (this.len + src.length > this.buf.length) {
      const n = new Uint8Array((this.len + src.length) * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf.set(src, this.len);
    this.len += src.length;
  }
  /** A count in the variable-length form: `opcode | n` if it fits under `mask`, else zero bytes. */
  count(opcode: number, n: number, mask: number): void {
    if (n <= mask) return this.byte(opcode | n);
    this.byte(opcode);
    let rem = n - mask;
    while (rem > 255) {
      this.byte(0);
      rem -= 255;
    }
    this.byte(rem);
  }
}

/**
 * LZO1X compression (greedy, 4-byte hash matching, one pass). Output decodes with any LZO1X
 * decompressor (liblzo2's lzo1x_decompress_safe, the kernel's, lzo1xDecompress above).
 */
export function lzo1xCompress(input: Uint8Array): Uint8Array {
  const n = input.length;
  const out = new Out(n + (n >> 4) + 64);
  if (base + n + 1 > 0x7fff0000) {
    table.fill(0);
    base = 0;
  }
  base += 1;
  const b0 = base; // table values below b0 belong to earlier calls
  base += n;
  let litStart = 0;
  let sBitsAt = -1; // where the previous match keeps its SS bits; -1 before the first match

  const emitLiterals = (end: number) => {
    const lit = end - litStart;
    if (sBitsAt < 0) {
      // First instruction of the stream.
      if (lit === 0) return;
      if (lit <= 238) out.byte(17 + lit);
      else out.count(0, lit - 3, 15);
    } else if (lit === 0) {
      return;
    } else if (lit <= 3) {
      out.buf[sBitsAt]! |= lit;
    } else {
      out.count(0, lit - 3, 15);
    }
    out.bytes(input.subarray(litStart, end));
  };

  let i = 0;
  while (i + MIN_MATCH <= n) {
    const v = input[i]! | (input[i + 1]! << 8) | (input[i + 2]! << 16) | (input[i + 3]! << 24);
    const h = Math.imul(v, 0x9e3779b1) >>> (32 - HASH_BITS);
    const cand = table[h]! - b0;
    table[h] = i + b0;
    const dist = i - cand;
    if (
      cand < 0 ||
      dist > MAX_DIST ||
      input[cand] !== input[i] ||
      input[cand + 1] !== input[i + 1] ||
      input[cand + 2] !== input[i + 2] ||
      input[cand + 3] !== input[i + 3]
    ) {
      // Step faster through data that keeps not matching (long literal runs).
      i += 1 + ((i - litStart) >> 5);
      continue;
    }
    let len = MIN_MATCH;
    while (i + len < n && input[cand + len] === input[i + len]) len++;
    emitLiterals(i);
    if (len <= 8 && dist <= 2048) {
      const d = dist - 1;
      sBitsAt = out.len;
      if (len <= 4) out.byte(0x40 | ((len - 3) << 5) | ((d & 7) << 2));
      else out.byte(0x80 | ((len - 5) << 5) | ((d & 7) << 2));
      out.byte(d >> 3);
    } else if (dist <= 16384) {
      out.count(0x20, len - 2, 31);
      const d = (dist - 1) << 2;
      sBitsAt = out.len;
      out.byte(d & 0xff);
      out.byte(d >> 8);
    } else {
      const d = dist - 16384;
      out.count(0x10 | ((d >> 14) << 3), len - 2, 7);
      sBitsAt = out.len;
      out.byte((d << 2) & 0xff);
      out.byte((d >> 6) & 0xff);
    }
    // Index a few positions inside the match so later data can refer to them.
    const end = i + len;
    for (let j = i + 1; j < end && j + MIN_MATCH <= n; j += 3) {
      const w = input[j]! | (input[j + 1]! << 8) | (input[j + 2]! << 16) | (input[j + 3]! << 24);
      table[Math.imul(w, 0x9e3779b1) >>> (32 - HASH_BITS)] = j + b0;
    }
    i = end;
    litStart = i;
  }
  emitLiterals(n);
  out.byte(0x11);
  out.byte(0);
  out.byte(0);
  return out.buf.slice(0, out.len);
}

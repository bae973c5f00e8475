// Page bitmaps as makedumpfile writes them: bit for pfn p is byte p>>3, bit p&7 (LSB first).

export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Set bits among the first `nbits` bits. */
export function popcountBitmap(bits: Uint8Array, nbits: number): number {
  let n = 0;
  const whole = Math.min(bits.length, nbits >> 3);
  let i = 0;
  // Four bytes at a time where the buffer is aligned (a zero word, most of a sparse bitmap, is one test).
  if ((bits.byteOffset & 3) === 0) {
    const words = new Uint32Array(bits.buffer, bits.byteOffset, whole >> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) n += popcount32(words[w]!);
    i = words.length << 2;
  }
  for (; i < whole; i++) n += popcount32(bits[i]!);
  if (nbits & 7 && whole < bits.length) n += popcount32(bits[whole]! & ((1 << (nbits & 7)) - 1));
  return n;
}

/** Clears bits [from, to); returns how many of them were set. Whole bytes at a time inside the range. */
export function clearBits(bits: Uint8Array, from: number, to: number): number {
  let n = 0;
  let i = from;
  for (; i < to && i & 7; i++) n += clearBit(bits, i);
  for (; i + 8 <= to; i += 8) {
    const b = bits[i >> 3]!;
    if (b) {
      n += popcount32(b);
      bits[i >> 3] = 0;
    }
  }
  for (; i < to; i++) n += clearBit(bits, i);
  return n;
}

function clearBit(bits: Uint8Array, i: number): number {
  const m = 1 << (i & 7);
  if (!(bits[i >> 3]! & m)) return 0;
  bits[i >> 3]! &= ~m;
  return 1;
}

export function getBit(bits: Uint8Array, pfn: number): boolean {
  return ((bits[pfn >> 3]! >> (pfn & 7)) & 1) === 1;
}

export function setBit(bits: Uint8Array, pfn: number): void {
  bits[pfn >> 3]! |= 1 << (pfn & 7);
}

/** A zeroed bitmap for `nbits` pfns. */
export function newBitmap(nbits: number): Uint8Array {
  return new Uint8Array(Math.ceil(nbits / 8));
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clearBits, getBit, popcountBitmap } from '../src/format/bitmap.ts';

test('clearBits clears exactly [from, to) and returns how many were set, for ranges inside a byte, across bytes and empty', () => {
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let round = 0; round < 500; round++) {
    const bits = new Uint8Array(64).map(() => (rand() < 0.2 ? 0 : rand() < 0.5 ? 0xff : Math.floor(rand() * 256)));
    const from = Math.floor(rand() * 512);
    const to = from + Math.floor(rand() * (rand() < 0.3 ? 9 : 512 - from + 1));
    const end = Math.min(to, 512);
    const before = bits.slice();
    let set = 0;
    for (let i = from; i < end; i++) set += getBit(before, i) ? 1 : 0;
    assert.equal(clearBits(bits, from, end), set, `[${from}, ${end})`);
    for (let i = 0; i < 512; i++) assert.equal(getBit(bits, i), i >= from && i < end ? false : getBit(before, i), `bit ${i} of [${from}, ${end})`);
    assert.equal(popcountBitmap(bits, 512), popcountBitmap(before, 512) - set);
  }
});

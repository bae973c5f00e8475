import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeStruct, readStruct, struct } from '../src/format/struct.ts';

const demo = struct('demo', 24, {
  a: { off: 0, type: 'u32' },
  b: { off: 4, type: 'i32' },
  c: { off: 8, type: 'u64' },
  s: { off: 16, type: 'cstr:8' },
});

test('struct: encode then read returns the same field values, little and big endian', () => {
  for (const le of [true, false]) {
    const bytes = encodeStruct(demo, { a: 7, b: -2, c: 0xffffffff81000000n, s: 'KDUMP' }, le);
    assert.deepEqual(readStruct(demo, bytes, 0, le), { a: 7, b: -2, c: 0xffffffff81000000n, s: 'KDUMP' });
  }
});

test('struct: a field outside the declared size is rejected at declaration', () => {
  assert.throws(() => struct('bad', 4, { x: { off: 2, type: 'u32' } }), /outside/);
});

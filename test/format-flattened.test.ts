import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferSource } from '../src/io/source.ts';
import { ParseError } from '../src/errors.ts';
import { FlattenedSource, FlattenedWriter, FLAT_HEADER_SIZE } from '../src/format/flattened.ts';
import { openDump } from '../src/format/open-dump.ts';
import { purePageCompressor } from '../src/format/codecs/compress.ts';
import { FileSource } from '../src/host/file-source.ts';
import { FIXTURE, every, presentPfns, writeKdump } from './format-helpers.ts';

function stream(write: (w: FlattenedWriter) => void, end = true): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new FlattenedWriter((c) => chunks.push(c.slice()));
  write(w);
  if (end) w.end();
  return new Uint8Array(Buffer.concat(chunks));
}
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

test('flattened: records in any order, later ones winning where they overlap, gaps reading as zeros', () => {
  const s = new FlattenedSource(
    new BufferSource(
      stream((w) => {
        w.write(200, fill(10, 4)); // after a gap
        w.write(0, fill(100, 1));
        w.write(50, fill(100, 2));
        w.write(20, fill(10, 3));
      }),
    ),
  );
  assert.equal(s.records, 4);
  assert.equal(s.size, 210);
  assert.deepEqual(s.warnings, []);
  const b = s.read(0, 210);
  const want = new Uint8Array(210);
  want.fill(1, 0, 50).fill(3, 20, 30).fill(2, 50, 150).fill(4, 200, 210);
  assert.deepEqual(b, want);
  assert.deepEqual(s.read(25, 30), want.subarray(25, 55));
  assert.deepEqual(s.read(205, 100), want.subarray(205));
});

test('flattened: a damaged record header is a ParseError at its offset; a missing end marker is a warning', () => {
  const good = stream((w) => w.write(0, fill(10, 1)));
  const bad = good.slice();
  new DataView(bad.buffer).setBigInt64(FLAT_HEADER_SIZE + 8, -5n, false);
  assert.throws(() => new FlattenedSource(new BufferSource(bad)), (e: unknown) => e instanceof ParseError && e.offset === FLAT_HEADER_SIZE);
  const open = new FlattenedSource(new BufferSource(stream((w) => w.write(0, fill(10, 1)), false)));
  assert.match(open.warnings.join(), /without its end marker/);
  assert.deepEqual(open.read(0, 10), fill(10, 1));
});

test('flattened: an incomplete dump written to a stream (header rewritten at the end) reads as incomplete', () => {
  const fixture = openDump(new FileSource(FIXTURE));
  const pfns = every(presentPfns(fixture), 200);
  const bytes = stream((w) => writeKdump(fixture, w, pfns, { codec: 'lzo', compress: purePageCompressor('lzo'), stopAfter: 20 }));
  const d = openDump(new BufferSource(bytes));
  assert.equal(d.format, 'flattened kdump-compressed');
  assert.equal(d.incomplete, true);
  assert.deepEqual(d.readPage!(pfns[5]!), fixture.readPage!(pfns[5]!));
  assert.throws(() => d.readPage!(pfns[30]!), /never written/);
});

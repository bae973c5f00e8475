// vmcore-ts save's progress bar: redrawn in place with \r, never wider than the terminal (one
// column spare), sizes in binary units (MiB/GiB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressReporter, progressLine } from '../../src/cli/vmcore/save.ts';
import type { SaveProgress } from '../../src/dump/scan.ts';

const at = (pagesWritten: number, bytesWritten = pagesWritten * 1400): SaveProgress => ({
  phase: 'write',
  pfn: pagesWritten * 13,
  maxPfn: 262109 * 13,
  pagesWritten,
  pagesTotal: 262109,
  bytesWritten,
});

test('progressLine fits every width from 20 to 200 columns; the bar shrinks first, then the least important facts go', () => {
  for (let w = 20; w <= 200; w++) {
    for (const p of [at(0), at(131000), at(262109, 5 * 2 ** 30)]) {
      const line = progressLine(p, 12.3, w);
      assert.ok(line.length <= w, `${w}: ${line.length} > ${w}: ${line}`);
      assert.ok(!line.includes('\n'));
      assert.match(line, /^\[#* *\] +\d+\.\d%/, line);
    }
  }
  assert.match(progressLine(at(262109, 5 * 2 ** 30), 12.3, 79), /^\[#{10,30}\] 100\.0% 5\.00 GiB written, 416\.\d MiB\/s, ETA 0:00/);
  const wide = progressLine(at(131000), 12.3, 200);
  assert.match(wide, /^\[#{15} {15}\] +50\.0% 174\.9 MiB written, 14\.2 MiB\/s, ETA 0:12, 131000\/262109 pages, pfn 1703000\/3407417$/);
});

test('on an 80-column terminal every redraw starts with \\r and stays within 79 columns (no wrapping); off a terminal, a line per 10 %', () => {
  const writes: string[] = [];
  const r = new ProgressReporter(true, { isTTY: true, columns: 80, write: (s) => writes.push(s) });
  r.update({ phase: 'scan', pfn: 1000, maxPfn: 262109, pagesWritten: 0, pagesTotal: 0, bytesWritten: 0 });
  r.update(at(1));
  r.update(at(262109));
  r.done();
  assert.equal(writes.at(-1), '\n');
  const redraws = writes.slice(0, -1);
  assert.ok(redraws.length >= 3);
  for (const w of redraws) {
    assert.ok(w.startsWith('\r'), JSON.stringify(w));
    assert.ok(!w.includes('\n'), JSON.stringify(w));
    assert.ok(w.replace(/^\r/, '').replace(/\x1b\[K$/, '').length <= 79, JSON.stringify(w));
  }
  const lines: string[] = [];
  const plain = new ProgressReporter(true, { isTTY: false, write: (s) => lines.push(s) });
  for (let i = 0; i <= 10; i++) plain.update(at(Math.ceil((262109 * i) / 10)));
  assert.equal(lines.length, 11);
  assert.match(lines[10]!, /^100% .* MiB written, \d+\.(?:\d MiB|\d\d GiB)\/s, ETA 0:00, 262109\/262109 pages/);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.includes('\r')));
});

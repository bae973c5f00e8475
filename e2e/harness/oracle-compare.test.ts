// The oracles' switch and normalisation (issue 17): fast, no chroot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparable, notOurArch, oracleSkipReason } from './oracle-compare.ts';

test('oracle-compare: meminfo optional keys are compared only when both sides give them, with a note for each one left out', () => {
  const drgn = { MemTotal: 10, Buffers: 0, Cached: 5, KReclaimable: 3 };
  const ours = { MemTotal: 10, Cached: 5, KReclaimable: 4 };
  const c = comparable('meminfo', drgn, ours);
  assert.deepEqual(c.drgn, { MemTotal: 10, Cached: 5, KReclaimable: 3 });
  assert.deepEqual(c.ours, { MemTotal: 10, Cached: 5, KReclaimable: 4 });
  assert.deepEqual(c.notes, ['Buffers: drgn 0, ours leaves it out']);
});

test('oracle-compare: every other script is compared as it is (required meminfo keys are never dropped)', () => {
  const v = [{ name: 'a', size: 1 }];
  assert.deepEqual(comparable('modules', v, v), { drgn: v, ours: v, notes: [] });
  assert.deepEqual(comparable('meminfo', { MemFree: 1 }, {}).drgn, { MemFree: 1 });
});

test('oracle-compare: the oracles are opt-in (E2E_DRGN=1 or E2E_SUITES=all)', () => {
  const saved = { d: process.env.E2E_DRGN, s: process.env.E2E_SUITES };
  try {
    delete process.env.E2E_DRGN;
    process.env.E2E_SUITES = 'bookworm,trixie';
    assert.match(oracleSkipReason()!, /opt-in/);
  } finally {
    if (saved.d === undefined) delete process.env.E2E_DRGN;
    else process.env.E2E_DRGN = saved.d;
    if (saved.s === undefined) delete process.env.E2E_SUITES;
    else process.env.E2E_SUITES = saved.s;
  }
});

test("oracle-compare: our refusal of another architecture's kernel is told apart from a failure", () => {
  assert.ok(notOurArch("vmcore-ts: x.elf: the dump's kernel is ELF machine 183: analysis reads x86_64 kernels only — its format can still be read"));
  assert.equal(notOurArch('vmcore-ts: x.elf: not a dump'), undefined);
});

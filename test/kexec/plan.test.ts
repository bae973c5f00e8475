import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentAllocator, validatePlan, type KexecPlan } from '../../src/kexec/plan.ts';
import { KexecError } from '../../src/errors.ts';

const RAM = [
  { start: 0x400n, end: 0x9fbffn },
  { start: 0x100000n, end: 0x3ffdffffn },
];

test('allocator places top-down and bottom-up, page aligned, without overlap', () => {
  const a = new SegmentAllocator(RAM);
  const purg = a.place({ buf: new Uint8Array(0x70e0), memsz: 0x9000n, min: 0x3000n, what: 'purgatory' });
  assert.equal(purg.mem, 0x3ffd7000n);
  assert.equal(purg.memsz, 0x9000n);
  const setup = a.place({ buf: new Uint8Array(0x505b), align: 16n, min: 0x3000n, what: 'setup' });
  assert.equal(setup.mem, 0x3ffd1000n);
  const kernel = a.place({ buf: new Uint8Array(0xd827c0), memsz: 0x3378000n, align: 0x200000n, min: 0x1000000n, what: 'kernel' });
  assert.equal(kernel.mem, 0x3cc00000n);
  const initrd = a.place({ buf: new Uint8Array(0xddc549), min: 0x1000000n, what: 'initrd' });
  assert.equal(initrd.mem, 0x3be23000n);
  const rng = a.place({ buf: new Uint8Array(0x30), min: 0x100000n, topDown: false, what: 'rng' });
  assert.equal(rng.mem, 0x100000n);
  const low = a.place({ buf: new Uint8Array(16), topDown: false, what: 'low' });
  assert.equal(low.mem, 0x1000n, 'first page-aligned address in the RAM range starting at 0x400');
  assert.deepEqual(a.segments.map((s) => s.what), ['low', 'rng', 'initrd', 'kernel', 'setup', 'purgatory']);
});

test('allocator honours mem-min/mem-max and says when nothing fits', () => {
  const a = new SegmentAllocator(RAM, { memMin: 0x200000n, memMax: 0x2fffffn });
  assert.equal(a.place({ buf: new Uint8Array(10), what: 'x' }).mem, 0x2ff000n);
  assert.equal(a.place({ buf: new Uint8Array(10), topDown: false, what: 'y' }).mem, 0x200000n);
  assert.throws(() => a.place({ buf: new Uint8Array(0x200000), what: 'initrd' }), (e: unknown) => e instanceof KexecError && /no room for the initrd/.test(e.message));
});

function plan(segs: { mem: bigint; memsz: bigint; len?: number }[], entry = 0x100000n): KexecPlan {
  return {
    arch: 'x86_64', kind: 'load', syscall: 'kexec_load', loader: 't', entry, cmdline: '', flags: 0n, notes: [], debug: [],
    usable: RAM.map((r) => ({ ...r, type: 'ram' as const })),
    segments: segs.map((s, i) => ({ buf: new Uint8Array(s.len ?? 16), mem: s.mem, memsz: s.memsz, what: `s${i}` })),
  };
}

test('validation catches unaligned, overlapping, outside-RAM, oversize and too many segments', () => {
  validatePlan(plan([{ mem: 0x100000n, memsz: 0x1000n }]));
  const bad: [KexecPlan, RegExp][] = [
    [plan([{ mem: 0x100800n, memsz: 0x1000n }], 0x100800n), /not page aligned/],
    [plan([{ mem: 0x100000n, memsz: 0x2000n }, { mem: 0x101000n, memsz: 0x1000n }]), /overlap/],
    [plan([{ mem: 0x40000000n, memsz: 0x1000n }], 0x40000000n), /not inside usable memory/],
    [plan([{ mem: 0x100000n, memsz: 0x1000n, len: 0x1001 }]), /do not fit/],
    [plan(Array.from({ length: 17 }, (_, i) => ({ mem: 0x100000n + BigInt(i) * 0x1000n, memsz: 0x1000n }))), /at most 16/],
    [plan([{ mem: 0x100000n, memsz: 0x1000n }], 0x200000n), /in no segment/],
  ];
  for (const [p, re] of bad) assert.throws(() => validatePlan(p), (e: unknown) => e instanceof KexecError && re.test(e.message), String(re));
  assert.throws(() => validatePlan(plan([{ mem: 0x100000n, memsz: 0x20000000n }]), { totalRam: 0x3ff00000n }), /half of RAM/);
});

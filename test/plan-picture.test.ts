import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arm64ImageLoader } from '../src/kexec/arch/arm64/image.ts';
import { makeIa64Loader } from '../src/kexec/arch/ia64/elf-ia64.ts';
import { memoryMapFromIomem } from '../src/kexec/memory-map.ts';
import { formatBytes, markSegments, planPicture, planSvg } from '../src/kexec/plan-picture.ts';
import type { KexecPlan } from '../src/kexec/plan.ts';
import { arm64PurgatoryObject, recordedFdt, recordedImage, recordedIomem } from './arm64-fixture.ts';
import { ia64Machine, ia64Vmlinux } from './ia64-fixture.ts';

const purgatory = arm64PurgatoryObject();

function arm64Plan(): { plan: KexecPlan; memory: ReturnType<typeof memoryMapFromIomem> } {
  const memory = memoryMapFromIomem(recordedIomem());
  const plan = arm64ImageLoader.plan({ image: recordedImage(), imageName: 'Image', initrd: new Uint8Array(1234567), dtb: recordedFdt(), cmdline: 'console=ttyAMA0', kind: 'load', memory, purgatory: purgatory! });
  return { plan, memory };
}

test('plan picture: the arm64 guest — one 1 GiB RAM bar, segments at their scaled place, crash region marked', { skip: !purgatory && 'no arm64 purgatory (llvm-mc)' }, () => {
  const { plan, memory } = arm64Plan();
  const text = planPicture(plan, memory, { width: 64 });
  const barLine = text.split('\n').find((l) => l.includes('|') && l.includes('System RAM 1 GiB'))!;
  const bar = barLine.slice(barLine.indexOf('|') + 1, barLine.lastIndexOf('|'));
  assert.equal(bar.length, 64);
  // 1 GiB / 64 = 16 MiB a cell. Kernel 0x41a00000-0x4349ffff: cells 1..3; initrd, DTB and purgatory
  // share cell 3 with the kernel's end (the first segment found wins) — so K in 1..3.
  assert.equal(bar.slice(1, 4), 'KKK');
  // Crash kernel 0x6ac00000-0x7abfffff: cells 42..58 (0x2ac00000/16M = 42.75 → cell 42 is partly crash).
  assert.equal(bar.slice(43, 58), 'c'.repeat(15));
  // The firmware-reserved end of RAM (0x7ac00000-0x7fffffff) is not usable.
  assert.equal(bar.slice(59), '░'.repeat(5));
  // One table row per segment, with its exact range and the entry marked.
  assert.match(text, /0x0000000041a00000 0x000000004349ffff +26\.6 MiB +K  segment 0: kernel/);
  assert.match(text, /0x00000000435d0000 0x00000000435d0fff +4 KiB +P  segment 3: purgatory .*← entry 0x435d0000/);
  assert.match(text, /0x000000006ac00000 0x000000007abfffff +256 MiB +c  crash kernel region/);
});

test('plan picture: SVG is one well-formed document with a rect and label per segment', { skip: !purgatory && 'no arm64 purgatory (llvm-mc)' }, () => {
  const { plan, memory } = arm64Plan();
  const svg = planSvg(plan, memory);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal((svg.match(/<title>segment \d+:/g) ?? []).length, plan.segments.length);
  assert.match(svg, /<title>crash kernel region 0x6ac00000-0x7abfffff<\/title>/);
  assert.match(svg, /P purgatory @ 0x435d0000 \(4 KiB\) ← entry/);
  // Balanced elements: every opened <text>/<rect …>…</rect>/<svg> is closed.
  for (const tag of ['svg', 'text', 'title']) assert.equal((svg.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length, (svg.match(new RegExp(`</${tag}>`, 'g')) ?? []).length, tag);
});

test('plan picture: IA-64 plan — kernel PT_LOADs share one mark, every segment listed, reserved bands shaded', () => {
  const m = ia64Machine('hp-zx1-2g');
  const memory = memoryMapFromIomem(m.iomem);
  const plan = makeIa64Loader({ efiMemmap: m.efi }).plan({ image: ia64Vmlinux(), imageName: 'vmlinux', initrd: new Uint8Array(0x300000), cmdline: 'x', kind: 'load', memory });
  const marks = markSegments(plan.segments).map((p) => p.mark).join('');
  assert.equal(marks, 'KKKICMBLP');
  const text = planPicture(plan, memory);
  assert.match(text, /0x4000000 \|K{64}\| 0x4c00000  System RAM 12 MiB/);
  assert.match(text, /0x3fa00000 \|░{64}\| 0x40000000  reserved 6 MiB/);
  for (const s of plan.segments) assert.ok(text.includes(s.what), s.what);
});

test('plan picture: sizes print in binary units', () => {
  assert.equal(formatBytes(4096n), '4 KiB');
  assert.equal(formatBytes(0x1aa0000n), '26.6 MiB');
  assert.equal(formatBytes(1n << 30n), '1 GiB');
  assert.equal(formatBytes(0x12e000n), '1.18 MiB');
  assert.equal(formatBytes(100n), '100 B');
});

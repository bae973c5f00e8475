// A picture of a kexec plan: where in physical memory each segment lands (kernel, initrd, boot
// parameters, DTB, purgatory, ELF core header …) and where the crash kernel region is, drawn over
// the machine's memory ranges — as text for a terminal (`--dry-run`) and as SVG (`--svg FILE`).
// Pure: a plan and a memory map in, a string out.
import type { MemoryMap, MemoryRange, RangeType } from './memory-map.ts';
import type { KexecPlan, KexecSegment } from './plan.ts';
import { hex, hexPadded } from '../text.ts';

export interface PictureOptions {
  /** Characters per memory bar (default 64). */
  width?: number;
  /** Ranges smaller than this get a table row but no bar (default 1 MiB). */
  minBar?: bigint;
}

interface Region {
  start: bigint;
  /** Inclusive. */
  end: bigint;
  type: RangeType;
  name: string;
}

export interface PlacedSegment {
  index: number;
  seg: KexecSegment;
  /** One character standing for it in bars. */
  mark: string;
}

const TYPE_NAMES: Record<RangeType, string> = {
  ram: 'System RAM',
  reserved: 'reserved',
  acpi: 'ACPI Tables',
  nvs: 'ACPI Non-volatile Storage',
  uncached: 'Uncached RAM',
  unusable: 'Unusable memory',
  pmem: 'Persistent Memory',
  pram: 'Persistent Memory (legacy)',
};

const MARKS: [RegExp, string][] = [
  [/^kernel/i, 'K'],
  [/^initrd/i, 'I'],
  [/^dtb/i, 'D'],
  [/^purgatory/i, 'P'],
  [/^boot.?param|^real.mode|zero page/i, 'B'],
  [/core header|elfcorehdr/i, 'E'],
  [/^setup.?data/i, 'S'],
  [/^command line|cmdline/i, 'C'],
  [/^EFI memory map/i, 'M'],
  [/^loaded-segments/i, 'L'],
  [/^backup/i, 'U'],
];

/** Gives every segment a distinct mark: a letter for its kind, digits when two kinds share one. */
export function markSegments(segments: KexecSegment[]): PlacedSegment[] {
  const byKind = new Map<string, string>();
  const used = new Set<string>();
  let digit = 0;
  return segments.map((seg, index) => {
    const kind = seg.what.replace(/\s+\d+$/, ''); // "kernel PT_LOAD 1" -> same kind as "kernel PT_LOAD 0"
    let mark = byKind.get(kind);
    if (!mark) {
      const m = MARKS.find(([re]) => re.test(seg.what))?.[1] ?? seg.what.trim()[0]?.toUpperCase() ?? '?';
      mark = used.has(m) ? String(digit++ % 10) : m;
      used.add(mark);
      byKind.set(kind, mark);
    }
    return { index, seg, mark };
  });
}

/** The memory ranges to draw: /proc/iomem's top-level memory lines when we have them, else the map. */
function regionsOf(map: MemoryMap): Region[] {
  const out: Region[] = map.ranges.map((r: MemoryRange) => ({ start: r.start, end: r.end, type: r.type, name: TYPE_NAMES[r.type] }));
  if (map.iomem) {
    const top = new Set(map.iomem.map((r) => `${r.start}-${r.end}`));
    return out.filter((r) => top.has(`${r.start}-${r.end}`));
  }
  return out;
}

export function formatBytes(n: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2).replace(/\.?0+$/, '')} ${units[i]}`;
}

const h16 = (v: bigint) => '0x' + hexPadded(v);

/** One bar: a range scaled to `width` cells; each cell shows the segment, crash region, reserved part or free RAM it holds. */
function bar(r: Region, segs: PlacedSegment[], crash: { start: bigint; end: bigint }[], usable: { start: bigint; end: bigint }[], width: number): string {
  const size = r.end - r.start + 1n;
  const cells: string[] = [];
  for (let i = 0; i < width; i++) {
    const a = r.start + (size * BigInt(i)) / BigInt(width);
    const b = r.start + (size * BigInt(i + 1)) / BigInt(width) - 1n;
    const overlaps = (s: bigint, e: bigint) => s <= b && e >= a;
    const seg = segs.find((p) => overlaps(p.seg.mem, p.seg.mem + p.seg.memsz - 1n));
    if (seg) cells.push(seg.mark);
    else if (r.type !== 'ram') cells.push('░');
    else if (crash.some((c) => overlaps(c.start, c.end))) cells.push('c');
    else if (usable.some((u) => u.start <= a && u.end >= b)) cells.push('·');
    else cells.push('░');
  }
  return cells.join('');
}

/** The terminal picture: a bar per memory range, then one line per range, segment and crash region. */
export function planPicture(plan: KexecPlan, map: MemoryMap, opts: PictureOptions = {}): string {
  const width = opts.width ?? 64;
  const minBar = opts.minBar ?? 1n << 20n;
  const segs = markSegments(plan.segments);
  const crash = map.crashKernel;
  const usable = plan.kind === 'crash' ? [] : plan.usable;
  const regions = regionsOf(map);
  const lines: string[] = [];
  lines.push(
    `Physical memory and the ${plan.kind === 'crash' ? 'crash (kdump) ' : ''}plan: ${plan.loader}, ${plan.syscall}, ${plan.segments.length} segment(s), entry ${hex(plan.entry)}`,
    `  bars: each cell is 1/${width} of the range; letters are segments, c = crash kernel region, · = free usable RAM, ░ = reserved / not usable`,
    '',
  );
  for (const r of regions) {
    if (r.end - r.start + 1n < minBar) continue;
    lines.push(`  ${hex(r.start).padStart(14)} |${bar(r, segs, crash, usable, width)}| ${hex(r.end + 1n)}  ${r.name} ${formatBytes(r.end - r.start + 1n)}`);
  }
  lines.push('', `  ${'start'.padEnd(18)} ${'end (incl.)'.padEnd(18)} ${'size'.padStart(10)}  what`);
  type Row = { start: bigint; end: bigint; depth: number; text: string };
  const rows: Row[] = [];
  for (const r of regions) rows.push({ start: r.start, end: r.end, depth: 0, text: r.name });
  for (const c of crash) rows.push({ start: c.start, end: c.end, depth: 1, text: 'c  crash kernel region (crashkernel=)' });
  for (const p of segs) {
    const s = p.seg;
    const entry = plan.entry >= s.mem && plan.entry < s.mem + s.memsz ? `  ← entry ${hex(plan.entry)}` : '';
    rows.push({ start: s.mem, end: s.mem + s.memsz - 1n, depth: 2, text: `${p.mark}  segment ${p.index}: ${s.what} (${hex(BigInt(s.buf.length))} bytes of data)${entry}` });
  }
  rows.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.depth - b.depth));
  for (const row of rows) {
    lines.push(`  ${h16(row.start)} ${h16(row.end)} ${formatBytes(row.end - row.start + 1n).padStart(10)}  ${'  '.repeat(row.depth)}${row.text}`);
  }
  const outside = segs.filter((p) => !regions.some((r) => p.seg.mem >= r.start && p.seg.mem + p.seg.memsz - 1n <= r.end));
  if (outside.length) lines.push('', `  not inside any listed memory range: ${outside.map((p) => `${p.mark} ${p.seg.what}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

const COLORS: Record<string, string> = { K: '#4c72b0', I: '#55a868', D: '#8172b2', P: '#c44e52', B: '#dd8452', E: '#937860', S: '#da8bc3', C: '#ccb974', M: '#64b5cd', L: '#8c8c8c' };
const colorOf = (mark: string) => COLORS[mark] ?? '#7f7f7f';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The same picture as an SVG document: one band per memory range, segments drawn to scale (at least 2 px), labelled. */
export function planSvg(plan: KexecPlan, map: MemoryMap, opts: PictureOptions = {}): string {
  const minBar = opts.minBar ?? 1n << 20n;
  const segs = markSegments(plan.segments);
  // RAM bands (and any other range a segment or the crash region touches); other ranges are in the text table.
  const touches = (r: Region) =>
    segs.some((p) => p.seg.mem <= r.end && p.seg.mem + p.seg.memsz - 1n >= r.start) || map.crashKernel.some((c) => c.start <= r.end && c.end >= r.start);
  const regions = regionsOf(map).filter((r) => (r.type === 'ram' && r.end - r.start + 1n >= minBar) || touches(r));
  const W = 900;
  const left = 20;
  const barW = W - 2 * left;
  const bandH = 34;
  const labelH = 16;
  const parts: string[] = [];
  let y = 40;
  parts.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">${esc(`${plan.loader} — ${plan.kind === 'crash' ? 'crash (kdump) load' : 'load'} via ${plan.syscall}, entry ${hex(plan.entry)}`)}</text>`);
  for (const r of regions) {
    const size = r.end - r.start + 1n;
    const xOf = (a: bigint) => left + Number(((a - r.start) * BigInt(barW * 1000)) / size) / 1000;
    const inside = segs.filter((p) => p.seg.mem <= r.end && p.seg.mem + p.seg.memsz - 1n >= r.start);
    parts.push(`<text x="${left}" y="${y + 12}" font-size="12">${esc(`${r.name}  ${hex(r.start)} – ${hex(r.end + 1n)}  (${formatBytes(size)})`)}</text>`);
    y += 16;
    parts.push(`<rect x="${left}" y="${y}" width="${barW}" height="${bandH}" fill="${r.type === 'ram' ? '#f2f2f2' : '#d0d0d0'}" stroke="#555"/>`);
    for (const c of map.crashKernel) {
      if (c.end < r.start || c.start > r.end) continue;
      const x0 = xOf(c.start < r.start ? r.start : c.start);
      const x1 = xOf((c.end > r.end ? r.end : c.end) + 1n);
      parts.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(2, x1 - x0).toFixed(1)}" height="${bandH}" fill="#f6d6a8" stroke="#c08030" stroke-dasharray="4 2"><title>crash kernel region ${hex(c.start)}-${hex(c.end)}</title></rect>`);
    }
    let labelRow = 0;
    for (const p of inside) {
      const s = p.seg;
      const x0 = xOf(s.mem < r.start ? r.start : s.mem);
      const x1 = xOf((s.mem + s.memsz > r.end ? r.end + 1n : s.mem + s.memsz));
      const w = Math.max(2, x1 - x0);
      parts.push(`<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${bandH - 6}" fill="${colorOf(p.mark)}"><title>${esc(`segment ${p.index}: ${s.what} ${hex(s.mem)} +${hex(s.memsz)}`)}</title></rect>`);
      const ly = y + bandH + 12 + labelRow * labelH;
      parts.push(`<line x1="${(x0 + w / 2).toFixed(1)}" y1="${y + bandH}" x2="${(x0 + w / 2).toFixed(1)}" y2="${ly - 10}" stroke="${colorOf(p.mark)}"/>`);
      const label = `${p.mark} ${s.what} @ ${hex(s.mem)} (${formatBytes(s.memsz)})${plan.entry >= s.mem && plan.entry < s.mem + s.memsz ? ' ← entry' : ''}`;
      const anchor = x0 + w / 2 + label.length * 6.7 > W - 4 ? 'end' : 'start'; // 11px monospace ≈ 6.7 px a character
      parts.push(`<text x="${(x0 + w / 2).toFixed(1)}" y="${ly}" font-size="11" text-anchor="${anchor}" fill="#222">${esc(label)}</text>`);
      labelRow++;
    }
    y += bandH + 14 + labelRow * labelH + 10;
  }
  const legend = map.crashKernel.length ? `<rect x="${left}" y="${y}" width="14" height="10" fill="#f6d6a8" stroke="#c08030" stroke-dasharray="4 2"/><text x="${left + 20}" y="${y + 10}" font-size="11">crash kernel region</text>` : '';
  y += legend ? 20 : 0;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" viewBox="0 0 ${W} ${y + 10}" font-family="monospace">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...parts,
    legend,
    `</svg>`,
    '',
  ].join('\n');
}

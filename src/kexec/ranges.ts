// One range algebra for the kexec and kdump planners. Physical ranges are inclusive ([start, end],
// as /proc/iomem, /sys/firmware/memmap and the kernel's struct resource write them); the few
// half-open ones ([start, end): IA-64's EFI-page ranges, kexec-tools' loaded-ranges table) say so in
// their type and are converted at the edge of that code.

/** [start, end], end inclusive. */
export interface PhysRange {
  start: bigint;
  end: bigint;
}

/** [start, end), end exclusive. */
export interface HalfOpenRange {
  start: bigint;
  end: bigint;
}

export const toInclusive = (r: HalfOpenRange): PhysRange => ({ start: r.start, end: r.end - 1n });
export const toHalfOpen = (r: PhysRange): HalfOpenRange => ({ start: r.start, end: r.end + 1n });

const byStart = (a: { start: bigint }, b: { start: bigint }) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);

/** Sorts and merges overlapping or touching ranges (new objects; the input is not changed). */
export function mergeRanges(ranges: PhysRange[]): PhysRange[] {
  const out: PhysRange[] = [];
  for (const r of [...ranges].sort(byStart)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1n) {
      if (r.end > last.end) last.end = r.end;
    } else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** mergeRanges for half-open ranges; empty ones are dropped. */
export function mergeHalfOpenRanges(ranges: HalfOpenRange[]): HalfOpenRange[] {
  return mergeRanges(ranges.filter((r) => r.end > r.start).map(toInclusive)).map(toHalfOpen);
}

/** `ranges` minus `cut`, splitting where needed. */
export function subtractRange(ranges: PhysRange[], cut: PhysRange): PhysRange[] {
  const out: PhysRange[] = [];
  for (const r of ranges) {
    if (cut.end < r.start || cut.start > r.end) {
      out.push(r);
      continue;
    }
    if (cut.start > r.start) out.push({ start: r.start, end: cut.start - 1n });
    if (cut.end < r.end) out.push({ start: cut.end + 1n, end: r.end });
  }
  return out;
}

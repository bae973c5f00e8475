// The log timeline's buckets: pure, shared by the page (web/app.ts) and the tests.

/** Log records per time bucket, coloured by the worst (lowest) level in it. */
export interface TimelineBucket {
  /** Seconds since boot where the bucket starts. */
  from: number;
  count: number;
  worst: number;
  /** Index of its first record. */
  first: number;
}

export function logTimeline(times: readonly number[], levels: readonly number[], buckets: number): { from: number; to: number; width: number; buckets: TimelineBucket[] } {
  // A loop, not Math.min(...times): a million arguments overflow the stack.
  let from = times.length ? Infinity : 0;
  let to = times.length ? -Infinity : 0;
  for (const t of times) [from, to] = [Math.min(from, t), Math.max(to, t)];
  const width = (to - from) / buckets || 1;
  const out: TimelineBucket[] = [];
  times.forEach((t, i) => {
    const k = Math.min(buckets - 1, Math.floor((t - from) / width));
    const b = (out[k] ??= { from: from + k * width, count: 0, worst: 7, first: i });
    b.count++;
    b.worst = Math.min(b.worst, levels[i]!);
  });
  return { from, to, width, buckets: out.filter(Boolean) };
}

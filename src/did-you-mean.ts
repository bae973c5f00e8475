// "did you mean …?" for a mistyped option, command or configuration key.

/** The closest of `names` to `word` (≤ 2 edits, ≤ 1 for words of 4 letters or fewer; or a unique prefix). */
export function didYouMean(word: string, names: readonly string[], prefix = ''): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = editDistance(word, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  const limit = word.length <= 4 ? 1 : 2;
  if (best !== undefined && bestD <= limit) return prefix + best;
  const starts = names.filter((n) => n.startsWith(word) && word.length >= 2);
  return starts.length === 1 ? prefix + starts[0] : undefined;
}

/** Edits (insert, delete, replace, swap two neighbours) that turn a into b. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

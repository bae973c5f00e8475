// Version comparison of the UAPI Version Format Specification (the order systemd calls
// strverscmp_improved), written from the specification's text:
// https://uapi-group.org/specifications/specs/version_format_specification/

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isSpecial = (c: string | undefined) => isDigit(c) || isLetter(c) || c === '-' || c === '.' || c === '~' || c === '^';

/**
 * Negative when a sorts before (is older than) b, positive when after, 0 when equal. Where the
 * specification's prose and systemd's tests differ, the tests win (sd-boot sorts with that code):
 * "~" is older even than the end of the string ("1.0~rc1" < "1.0"), and "-", "^" and "." make a
 * string older than any other character in the same place ("123^1" < "123.1" < "123a"), while a
 * string that merely continues is newer ("1.0^" > "1.0").
 */
export function compareVersions(a: string, b: string): number {
  let i = 0;
  let j = 0;
  /** -1/1 when only one string has `c` here (that one is older), 0 when neither; 2 when both (skipped). */
  const older = (c: string) => {
    const x = a[i] === c;
    const y = b[j] === c;
    if (x !== y) return x ? -1 : 1;
    if (!x) return 0;
    i++, j++;
    return 2;
  };
  for (;;) {
    // characters outside a-z A-Z 0-9 - . ~ ^ are skipped
    while (i < a.length && !isSpecial(a[i])) i++;
    while (j < b.length && !isSpecial(b[j])) j++;
    let r = older('~');
    if (r === 2) continue;
    if (r) return r;
    // one string ended: the one with characters left is newer
    if (i >= a.length || j >= b.length) return Number(i < a.length) - Number(j < b.length);
    if ((r = older('-')) || (r = older('^')) || (r = older('.'))) {
      if (r === 2) continue;
      return r;
    }
    if (isDigit(a[i]) || isDigit(b[j])) {
      // numerical prefixes, leading zeroes skipped, an empty prefix is 0
      while (a[i] === '0') i++;
      while (b[j] === '0') j++;
      const si = i;
      const sj = j;
      while (isDigit(a[i])) i++;
      while (isDigit(b[j])) j++;
      const na = a.slice(si, i);
      const nb = b.slice(sj, j);
      if (na.length !== nb.length) return na.length < nb.length ? -1 : 1;
      if (na !== nb) return na < nb ? -1 : 1;
      continue;
    }
    // alphabetical prefixes, letter by letter (A < a); the longer one is newer
    while (isLetter(a[i]) && isLetter(b[j])) {
      if (a[i] !== b[j]) return a[i]! < b[j]! ? -1 : 1;
      i++, j++;
    }
    if (isLetter(a[i])) return 1;
    if (isLetter(b[j])) return -1;
  }
}

// Small text helpers every folder shares, one name per meaning (issue 11: six `hex` functions had
// three meanings). Pure.

/** '0x' and lowercase hex digits ('-0x…' when negative): an address, size or value for people. */
export function hex(v: bigint | number): string {
  return v < 0 ? '-0x' + (-v).toString(16) : '0x' + v.toString(16);
}

/** Lowercase hex digits, no prefix, zero-padded to `width` (16: a 64-bit address column, as kexec-tools and crash print them). */
export function hexPadded(v: bigint | number, width = 16): string {
  return v.toString(16).padStart(width, '0');
}

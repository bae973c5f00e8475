// GRUB's environment block (/boot/grub/grubenv, written by grub-editenv, grub-reboot,
// grub-set-default and save_env): "# GRUB Environment Block\n", then name=value lines, padded with
// '#' to 1024 bytes. A backslash escapes the next character (grub-core/lib/envblk.c's format).
import { ParseError } from '../errors.ts';

export const GRUBENV_SIGNATURE = '# GRUB Environment Block\n';
export const GRUBENV_SIZE = 1024;

/** The variables of a grubenv file; a file without the signature is a ParseError. */
export function parseGrubenv(bytes: Uint8Array, file: string): { vars: Map<string, string>; warnings: string[] } {
  const s = new TextDecoder('latin1').decode(bytes);
  if (!s.startsWith(GRUBENV_SIGNATURE)) throw new ParseError('not a GRUB environment block (no "# GRUB Environment Block" line)', { source: file, offset: 0, hint: 'recreate it with grub-editenv FILE create' });
  const warnings = bytes.length === GRUBENV_SIZE ? [] : [`${file}: ${bytes.length} bytes, GRUB writes ${GRUBENV_SIZE}`];
  const vars = new Map<string, string>();
  let i = GRUBENV_SIGNATURE.length;
  while (i < s.length) {
    let end = i;
    let line = '';
    while (end < s.length && s[end] !== '\n') {
      if (s[end] === '\\' && end + 1 < s.length) end++;
      line += s[end++];
    }
    const raw = s.slice(i, end);
    i = end + 1;
    if (raw.startsWith('#') || raw === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return { vars, warnings };
}

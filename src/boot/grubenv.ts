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
  for (const raw of rawLines(s)) {
    if (raw.startsWith('#') || raw === '') continue;
    const line = raw.replace(/\\([\s\S])/g, '$1');
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return { vars, warnings };
}

/** A name=value line as GRUB writes it: backslash and newline escaped with a backslash. */
const escape = (s: string) => s.replace(/[\\\n]/g, (c) => `\\${c}`);

/**
 * The block's lines after the signature, escapes kept (a backslash escapes the next character, a
 * newline too); the last is what follows the last newline (GRUB's '#' padding).
 */
function rawLines(s: string): string[] {
  const lines: string[] = [];
  let start = GRUBENV_SIGNATURE.length;
  for (let i = start; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '\n') {
      lines.push(s.slice(start, i));
      start = i + 1;
    }
  }
  lines.push(s.slice(start));
  return lines;
}

/**
 * The block with `writes` applied as GRUB's save_env and grub-editenv do: a variable's line replaced
 * in place (undefined: removed), a new one appended, every other line (the "# WARNING" comment
 * too) kept; '#' padding to the old block's size (at least 1024 bytes), so the file keeps its size
 * and the blocks GRUB writes in place. A ParseError when the variables no longer fit.
 */
export function writeGrubenv(bytes: Uint8Array, file: string, writes: readonly [string, string | undefined][]): Uint8Array {
  parseGrubenv(bytes, file);
  const s = new TextDecoder('latin1').decode(bytes);
  const lines = rawLines(s).slice(0, -1); // without the padding
  const nameOf = (line: string) => (line.startsWith('#') ? undefined : line.slice(0, line.indexOf('=')));
  for (const [k, v] of writes) {
    const i = lines.findIndex((l) => nameOf(l) === k);
    const line = v === undefined ? undefined : `${k}=${escape(v)}`;
    if (i >= 0 && line === undefined) lines.splice(i, 1);
    else if (i >= 0) lines[i] = line!;
    else if (line !== undefined) lines.push(line);
  }
  const body = GRUBENV_SIGNATURE + lines.map((l) => `${l}\n`).join('');
  const size = Math.max(bytes.length, GRUBENV_SIZE);
  if (body.length > size) throw new ParseError(`the variables take ${body.length} bytes, the block has ${size}`, { source: file, offset: 0, hint: 'grub-editenv FILE unset the variables no longer needed' });
  // latin1, as it was read: every character is one byte
  const block = new Uint8Array(size).fill(0x23);
  block.set(Uint8Array.from(body, (c) => c.charCodeAt(0)));
  return block;
}

// Node edge: secret files (the collector's tokens, a host's token): refused when others than the
// owner may read them, or when the owner is neither root nor the user running us.
import { readFileSync, statSync } from 'node:fs';
import { ParseError } from '../errors.ts';

export function readSecretFile(path: string, what: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ParseError(`${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if ((st.mode & 0o077) !== 0) throw new ParseError(`${what} ${path}: mode ${(st.mode & 0o777).toString(8)} lets others read it`, { hint: `chmod 600 ${path}` });
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) throw new ParseError(`${what} ${path}: owned by uid ${st.uid}, not root`, { hint: `chown root ${path}` });
  return readFileSync(path, 'utf8');
}

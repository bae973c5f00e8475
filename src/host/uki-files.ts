// Reads the UKIs of an ESP ($ESP/EFI/Linux/*.efi), their add-ons (NAME.efi.extra.d/*.addon.efi and
// the global $ESP/loader/addons/*.addon.efi) and checks each one's Authenticode signature against
// the trust given (certificates, or the machine's db/MOK/dbx: src/host/secure-boot.ts); src/boot/uki.ts turns them into entries and rejections.
import { ukiEntries, type UkiFile, type UkiSourceOptions } from '../boot/uki.ts';
import { ParseError } from '../errors.ts';
import type { AuthenticodeVerdict } from '../format/authenticode.ts';
import { parsePe } from '../format/pe.ts';
import { verifyAuthenticode, type Trust } from './authenticode-verify.ts';
import { listDir, readBytes } from './machine-files.ts';

/** The verdict for one file, or undefined when no trust was given (nothing to check against). */
function check(bytes: Uint8Array, path: string, trust: Trust | undefined): AuthenticodeVerdict | undefined {
  if (!trust) return undefined;
  try {
    return verifyAuthenticode(bytes, parsePe(bytes, path), trust, path);
  } catch (e) {
    if (e instanceof ParseError) return undefined; // not a PE image: ukiEntries says so
    throw e;
  }
}

const efiFiles = (root: string, dir: string, suffix: string) =>
  listDir(root, dir)
    .filter((n) => n.toLowerCase().endsWith(suffix) && !n.startsWith('.'))
    .sort()
    .map((n) => `${dir}/${n}`);

/** `esp` is the ESP's mount point as on the machine (/boot/efi, /efi, /boot); `root` as in machine-files.ts. */
export function readUkiFiles(root: string, esp: string, trust?: Trust): UkiFile[] {
  const globals = efiFiles(root, `${esp}/loader/addons`, '.addon.efi');
  const out: UkiFile[] = [];
  for (const path of efiFiles(root, `${esp}/EFI/Linux`, '.efi')) {
    const bytes = readBytes(root, path);
    if (!bytes) continue;
    const addons = [...globals.map((p) => ({ p, global: true })), ...efiFiles(root, `${path}.extra.d`, '.addon.efi').map((p) => ({ p, global: false }))].flatMap(({ p, global }) => {
      const b = readBytes(root, p);
      return b ? [{ path: p, bytes: b, global, signature: check(b, p, trust) }] : [];
    });
    out.push({ path, bytes, signature: check(bytes, path, trust), addons });
  }
  return out;
}

/** The Type #2 entries of an ESP and the candidates rejected, with reasons. */
export function ukiSource(root: string, esp: string, opts: UkiSourceOptions & { trust?: Trust }) {
  return ukiEntries(readUkiFiles(root, esp, opts.trust), opts);
}

// EFI variables as efivarfs shows them: a 4-byte attribute word, then the value. The boot loader
// interface's strings (LoaderEntryDefault, LoaderEntryOneShot, LoaderInfo, …) are UTF-16LE, NUL-terminated.
// https://systemd.io/BOOT_LOADER_INTERFACE/

/** systemd's boot loader interface vendor GUID. */
export const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

/** Where efivarfs shows the boot loader interface's variable NAME (a machine path). */
export const loaderVariablePath = (name: string) => `/sys/firmware/efi/efivars/${name}-${LOADER_GUID}`;

/** The string an efivarfs file holds, or undefined when it is too short to hold one. */
export function efiVariableString(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4) return undefined;
  const body = bytes.subarray(4, 4 + ((bytes.length - 4) & ~1));
  const s = new TextDecoder('utf-16le').decode(body);
  const nul = s.indexOf('\0');
  return nul >= 0 ? s.slice(0, nul) : s;
}

/** An efivarfs file's bytes for a string (tests and fixtures): attributes NV|BS|RT, UTF-16LE, NUL. */
export function efiVariableBytes(value: string): Uint8Array {
  const out = new Uint8Array(4 + (value.length + 1) * 2);
  new DataView(out.buffer).setUint32(0, 7, true);
  for (let i = 0; i < value.length; i++) new DataView(out.buffer).setUint16(4 + i * 2, value.charCodeAt(i), true);
  return out;
}

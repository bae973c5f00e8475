// Removing an EFI variable through efivarfs (/sys/firmware/efi/efivars/NAME-GUID): the kernel makes
// every variable file but a few well-known ones immutable, so the flag is cleared first
// (FS_IOC_SETFLAGS, as systemd and `chattr -i` do), then the file is unlinked, which deletes the
// variable in the firmware. On a plain file (a --root tree, tests) the flags ioctl may not apply:
// then the unlink alone. Restoring writes the saved bytes back (attributes + data: efivarfs creates
// the variable).
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { KexecError } from '../errors.ts';
import { libcFunction } from './koffi.ts';

/** linux/fs.h, 64-bit ABIs (x86_64, arm64): _IOR('f', 1, long), _IOW('f', 2, long). */
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_IMMUTABLE_FL = 0x10;

function clearImmutable(path: string): void {
  const ioctl = libcFunction('int ioctl(int fd, unsigned long req, ...)') as ((fd: number, req: number, type: string, flags: number[]) => number) | undefined;
  if (!ioctl) return; // no FFI: the unlink says whether the flag was in the way
  const fd = openSync(path, 'r');
  try {
    const flags = [0];
    if (ioctl(fd, FS_IOC_GETFLAGS, '_Inout_ int *', flags) !== 0 || !(flags[0]! & FS_IMMUTABLE_FL)) return;
    flags[0] = flags[0]! & ~FS_IMMUTABLE_FL;
    ioctl(fd, FS_IOC_SETFLAGS, '_Inout_ int *', flags);
  } finally {
    closeSync(fd);
  }
}

/** Deletes the variable (or the plain file standing for it). A KexecError naming the file when it cannot. */
export function removeEfiVariable(path: string): void {
  try {
    clearImmutable(path);
    unlinkSync(path);
  } catch (e) {
    throw new KexecError(`${path}: cannot remove the EFI variable: ${(e as Error).message}`, { hint: 'run as root; `chattr -i FILE && rm FILE` removes it by hand' });
  }
}

/** Writes a variable back as it was read (4 attribute bytes, then the data). */
export function restoreEfiVariable(path: string, bytes: Uint8Array): void {
  writeFileSync(path, bytes);
}

// Removing an EFI variable the way efivarfs needs it (src/host/efivarfs.ts): the kernel makes variable
// files immutable, so the flag is cleared (FS_IOC_SETFLAGS through koffi) before the unlink. Checked on
// a plain file made immutable with chattr +i (root, a file system with the flag: ext4 here), never on
// this machine's efivars; restoring writes the saved bytes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KexecError } from '../../src/errors.ts';
import { removeEfiVariable, restoreEfiVariable } from '../../src/host/efivarfs.ts';

const dir = mkdtempSync(join(tmpdir(), 'kexec-ts-efivarfs-'));
const file = join(dir, 'LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f');
const bytes = new Uint8Array([7, 0, 0, 0, ...Buffer.from('e2e-count.conf\0', 'utf16le')]);
let immutable: string | false = false;
try {
  writeFileSync(file, bytes);
  execFileSync('chattr', ['+i', file], { stdio: 'ignore' });
} catch {
  immutable = 'cannot make a file immutable here (chattr +i needs root and a file system with the flag)';
  rmSync(dir, { recursive: true, force: true });
}

test('efivarfs: an immutable variable file is removed (flag cleared, then unlinked); restoring writes the same bytes back; a missing one is a KexecError naming it', { skip: immutable }, () => {
  try {
    assert.throws(() => writeFileSync(file, 'x'), /EPERM/, 'the file is immutable to begin with');
    removeEfiVariable(file);
    assert.ok(!existsSync(file));
    restoreEfiVariable(file, bytes);
    assert.deepEqual(new Uint8Array(readFileSync(file)), bytes);
    rmSync(file);
    assert.throws(() => removeEfiVariable(file), (e: unknown) => e instanceof KexecError && e.message.startsWith(`${file}: cannot remove the EFI variable: ENOENT`));
  } finally {
    try {
      execFileSync('chattr', ['-i', file], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

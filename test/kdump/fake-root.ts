// A directory tree shaped like a machine's / for kdump-ts's --root (tests only).
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const probe = readFileSync('fixtures/x86_64-debian-6.1/guest-probe.txt', 'latin1');
/** The fixture machine's /proc/iomem (1 GiB guest, crashkernel=256M at 0x2e000000). */
export const FIXTURE_IOMEM = /===IOMEM\n([\s\S]*?)===/.exec(probe)![1]!;

/** A directory tree shaped like the fixture machine's / (1 GiB guest, crashkernel=256M); `files` add or replace. */
export function fakeRoot(files: Record<string, string | Uint8Array> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'kdump-root-'));
  const all: Record<string, string | Uint8Array> = {
    '/proc/iomem': FIXTURE_IOMEM,
    '/proc/cmdline': 'console=ttyS0 panic=-1 crashkernel=256M\n',
    '/proc/sys/kernel/osrelease': '6.1.0-56-cloud-amd64\n',
    '/proc/self/mountinfo': '21 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n22 21 0:21 / /proc rw - proc proc rw\n',
    '/sys/kernel/kexec_crash_loaded': '0\n',
    '/sys/kernel/kexec_crash_size': '268435456\n',
    '/boot/vmlinuz-6.1.0-56-cloud-amd64': 'kernel',
    '/dev/vda1': '',
    ...files,
  };
  for (const [p, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  mkdirSync(join(root, 'var/crash'), { recursive: true });
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  symlinkSync('../../vda1', join(root, 'dev/disk/by-uuid/0f4c-77aa'));
  return root;
}

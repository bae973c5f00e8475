// crash, the reference analysis tool, on a dump of a Debian-system guest: run from a Debian root of
// the guest's suite (test/packaging/debian-root.ts: mmdebstrap + `crash`, cached as a tarball),
// since the host's crash (bookworm's 8.0.2) is older than the kernels it must read (trixie's 6.12:
// crash 8.0.6). The vmlinux (with debug info: harness/kernels.ts getDebugVmlinux) and the dump are
// hard-linked into the root, so deleting the root never reaches the originals.
import { copyFileSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTarball, openDebianRoot, type Run } from '../../test/packaging/debian-root.ts';

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** Runs `crash -s -i COMMANDS VMLINUX VMCORE` with `commands` (then `quit`); bounded at 10 min. */
export function runCrash(suite: string, vmlinux: string, vmcore: string, commands: string[]): Run {
  const root = openDebianRoot(debianRootTarball(suite, ['crash']).tarball);
  try {
    mkdirSync(join(root.dir, 'dump'));
    linkOrCopy(vmlinux, join(root.dir, 'dump', 'vmlinux'));
    linkOrCopy(vmcore, join(root.dir, 'dump', 'vmcore'));
    writeFileSync(join(root.dir, 'dump', 'commands'), [...commands, 'quit'].join('\n') + '\n');
    return root.run(['sh', '-c', 'crash -s -i /dump/commands /dump/vmlinux /dump/vmcore </dev/null'], 10 * 60_000, { allowFail: true });
  } finally {
    root.dispose();
  }
}

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

/** The Debian sid root with the newest reference tools (crash 9.0.2, drgn, makedumpfile, kexec-tools), cached. */
export const SID_TOOLS = ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools'];

/**
 * crash 9.0.2 (sid) on a dump, each of `commands` preceded by a "=== COMMAND" line (crash's own
 * `!echo`); returns the whole output and each command's text.
 */
export function crashSidOutputs(vmlinux: string, vmcore: string, commands: string[]): { text: string; byCommand: Map<string, string> } {
  const root = openDebianRoot(debianRootTarball('sid', SID_TOOLS).tarball);
  try {
    mkdirSync(join(root.dir, 'dump'));
    linkOrCopy(vmlinux, join(root.dir, 'dump', 'vmlinux'));
    linkOrCopy(vmcore, join(root.dir, 'dump', 'vmcore'));
    writeFileSync(join(root.dir, 'dump', 'commands'), [...commands.flatMap((c) => [`!echo "=== ${c}"`, c]), 'quit'].join('\n') + '\n');
    const text = root.run(['sh', '-c', 'crash -s -i /dump/commands /dump/vmlinux /dump/vmcore </dev/null 2>&1'], 10 * 60_000, { allowFail: true }).stdout;
    return { text, byCommand: splitCrashOutputs(text) };
  } finally {
    root.dispose();
  }
}

/** "=== COMMAND" sections of a crash -i run (crash ends rd -a without a newline: a marker may follow on the same line). */
export function splitCrashOutputs(text: string): Map<string, string> {
  return new Map(
    text
      .split(/=== /)
      .filter(Boolean)
      .map((block) => [block.slice(0, block.indexOf('\n')), block.slice(block.indexOf('\n') + 1)] as const),
  );
}

// crash, the reference analysis tool, on a dump of a Debian-system guest: run from a Debian root of
// the guest's suite (test/packaging/debian-root.ts: mmdebstrap + `crash`, cached as a tarball),
// since the host's crash (bookworm's 8.0.2) is older than the kernels it must read (trixie's 6.12:
// crash 8.0.6). The root, the links of the vmlinux (with debug info: harness/kernels.ts
// getDebugVmlinux) and the dump into it, and the run are harness/drgn-tool.ts's ReferenceTools
// (which also runs sid's crash 9.0.2 and drgn 0.3.0 side by side).
import type { Run } from '../../test/packaging/debian-root.ts';
import { withReferenceTools } from './drgn-tool.ts';

/** Runs `crash -s -i COMMANDS VMLINUX VMCORE` with `commands` (then `quit`) in SUITE's crash root; bounded at 10 min. */
export function runCrash(suite: string, vmlinux: string, vmcore: string, commands: string[]): Run {
  return withReferenceTools((tools) => {
    const { stdout, stderr, status } = tools.crashRaw(tools.addDump('dump', vmcore, vmlinux), commands);
    return { stdout, stderr, status };
  }, suite, ['crash']);
}

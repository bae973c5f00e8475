// The reference tools on arm64 dumps, run on this (x86_64) host from the cached Debian sid root
// (test/packaging/debian-root.ts): drgn 0.3.0 reads foreign-architecture dumps, so with the arm64
// -dbg vmlinux it gives the crashed thread's frames, the kernel log and the task list. Debian's
// amd64 makedumpfile cannot: it is built for the host's architecture only (its --dump-dmesg on an
// arm64 dump fails in x86_64 page-table code), so the kernel log's reference here is drgn's
// get_dmesg(). The dump and vmlinux are hard-linked into the root, so disposing of it never reaches them.
import { copyFileSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTarball, openDebianRoot } from '../../test/packaging/debian-root.ts';

/** The sid root every oracle uses (this exact list and order hits the cached tarball). */
export const SID_ROOT_PACKAGES = ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools'];

export interface DrgnFrame {
  name: string | null;
  pc: string;
  inline: boolean;
  interrupted: boolean;
}
export interface DrgnReference {
  crashedTid: number;
  frames: DrgnFrame[];
  tasks: { pid: number; comm: string }[];
  dmesg: string;
  version: string;
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

const SCRIPT = `
import json, drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_dmesg
prog = drgn.Program()
prog.set_core_dump('/dump/vmcore')
prog.load_debug_info(['/dump/vmlinux'])
t = prog.crashed_thread()
frames = [{'name': f.name, 'pc': hex(f.pc), 'inline': f.is_inline, 'interrupted': f.interrupted} for f in t.stack_trace()]
tasks = [{'pid': int(x.pid), 'comm': x.comm.string_().decode('latin-1')} for x in for_each_task(prog)]
open('/dump/dmesg.txt', 'wb').write(get_dmesg(prog))
print(json.dumps({'crashedTid': t.tid, 'frames': frames, 'tasks': tasks, 'version': drgn.__version__}))
`;

/** drgn's view of an arm64 (or any) dump with its vmlinux: the crashed thread's frames, tasks, log. */
export function drgnReference(vmcore: string, vmlinux: string): DrgnReference {
  const root = openDebianRoot(debianRootTarball('sid', SID_ROOT_PACKAGES).tarball);
  try {
    mkdirSync(join(root.dir, 'dump'));
    linkOrCopy(vmcore, join(root.dir, 'dump', 'vmcore'));
    linkOrCopy(vmlinux, join(root.dir, 'dump', 'vmlinux'));
    writeFileSync(join(root.dir, 'dump', 'ref.py'), SCRIPT);
    const r = root.run(['python3', '/dump/ref.py'], 10 * 60_000);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Omit<DrgnReference, 'dmesg'>;
    return { ...out, dmesg: readFileSync(join(root.dir, 'dump', 'dmesg.txt'), 'latin1') };
  } finally {
    root.dispose();
  }
}

/** Function names of drgn's frames without the inlined ones (one per real call frame, as a frame-record walk sees them). */
export function drgnCallFrames(frames: readonly DrgnFrame[]): string[] {
  return frames.filter((f) => !f.inline).map((f) => f.name ?? f.pc);
}

/** A symbol name without the compiler's clone suffixes (.constprop.0, .isra.0, .part.0, .cold): DWARF names the function without them. */
export const baseName = (name: string): string => name.replace(/\.(constprop|isra|part|cold|llvm)(\.\d+)*.*$/, '');

// The reference tools on arm64 dumps, run on this (x86_64) host:
// - drgn 0.3.0 from the cached Debian sid root (test/packaging/debian-root.ts) reads
//   foreign-architecture dumps, so with the arm64 -dbg vmlinux it gives the crashed thread's frames,
//   the kernel log and the task list. The dump and vmlinux are hard-linked into the root.
// - makedumpfile is built for one architecture: the sid root's amd64 build fails on arm64 dumps in
//   x86_64 page-table code. Debian's arm64 build of sid's makedumpfile 1.7.8 (unpacked from the
//   packages by mmdebstrap --variant=extract, cached) runs under qemu-aarch64-static (the host
//   suite's qemu-user-static, unpacked, never installed). It needs an ELF core whose program headers
//   follow the ELF header, as /proc/vmcore's do: QEMU's own dump puts a section header there, which
//   makedumpfile misreads ("Can't get the number of PT_LOAD"), so it reads what `vmcore-ts save -E`
//   wrote from QEMU's dump. It stops on 52-bit VA with 4 KiB pages ("VA Bits 52 not supported", fixed
//   only after 1.7.9): trixie's arm64 kernels have no makedumpfile reference.
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTarball, openDebianRoot, sh, type Run } from '../../test/packaging/debian-root.ts';
import assert from 'node:assert/strict';
import { KdumpCompressedDump } from '../../src/format/kdump-compressed.ts';
import { FileSource } from '../../src/host/file-source.ts';
import { cacheDir } from './cache.ts';
import { downloadSuiteDebs, hostDebianMirror } from './kernels.ts';

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
  /** kthreadd's (pid 2) frames: a task that was not running, unwound from its saved context. */
  kthreadd: DrgnFrame[];
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
def frames_of(trace):
    return [{'name': f.name, 'pc': hex(f.pc), 'inline': f.is_inline, 'interrupted': f.interrupted} for f in trace]
frames = frames_of(t.stack_trace())
kthreadd = frames_of(prog.stack_trace(2))
tasks = [{'pid': int(x.pid), 'comm': x.comm.string_().decode('latin-1')} for x in for_each_task(prog)]
open('/dump/dmesg.txt', 'wb').write(get_dmesg(prog))
print(json.dumps({'crashedTid': t.tid, 'frames': frames, 'kthreadd': kthreadd, 'tasks': tasks, 'version': drgn.__version__}))
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

/** Unpacked once: sid's arm64 makedumpfile with its libraries (mmdebstrap --variant=extract) and qemu-aarch64-static. */
export async function arm64Makedumpfile(log: (s: string) => void = () => {}): Promise<{ run(args: string[], timeoutMs?: number): Run; version: string }> {
  const dir = cacheDir('arm64-makedumpfile');
  const root = join(dir, 'root');
  if (!existsSync(join(root, 'usr/bin/makedumpfile'))) {
    log('unpacking sid arm64 makedumpfile (mmdebstrap --variant=extract)');
    const tar = join(dir, 'root.tar');
    const tmp = `${root}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      sh('mmdebstrap', ['--quiet', '--variant=extract', '--aptopt=Acquire::Check-Valid-Until "false"', '--architectures=arm64', '--include=makedumpfile', 'sid', tar, hostDebianMirror()], 15 * 60_000);
      sh('tar', ['-xf', tar, '-C', tmp], 5 * 60_000, { allowFail: true }); // device nodes fail unprivileged; not needed
      for (const d of ['lib', 'bin', 'sbin']) if (!existsSync(join(tmp, d))) symlinkSync(`usr/${d}`, join(tmp, d)); // merged /usr: no base-files ran
      rmSync(root, { recursive: true, force: true });
      renameSync(tmp, root);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(tar, { force: true });
    }
  }
  const qemu = join(dir, 'qemu-aarch64-static');
  if (!existsSync(qemu)) {
    const [deb] = await downloadSuiteDebs('bookworm', ['qemu-user-static'], log);
    const tmp = join(dir, `qemu.tmp-${process.pid}`);
    try {
      sh('dpkg-deb', ['-x', deb!, tmp], 5 * 60_000);
      renameSync(join(tmp, 'usr/bin/qemu-aarch64-static'), qemu);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const run = (args: string[], timeoutMs = 10 * 60_000) => sh(qemu, ['-L', root, join(root, 'usr/bin/makedumpfile'), ...args], timeoutMs, { allowFail: true });
  const version = /version (\S+)/.exec(run(['-v']).stdout)?.[1] ?? '?';
  return { run, version };
}

/** makedumpfile 1.7.8 prints the lockless ring's caller id too, 8 wide ("[      T0]"); the kernel's (and vmcore-ts dmesg -c) is 6 wide. */
export const callerColumnAsKernel = (log: string): string => log.replace(/^(\[[ 0-9.]+\] )\[ *([TC]\d+)\]/gm, (_m, ts: string, id: string) => `${ts}[${id.padStart(6)}]`);

/** The 2nd bitmap of a kdump-compressed file and the pfns whose descriptor points at its one shared zero page. */
export function keptAndZero(file: string): { kd: KdumpCompressedDump; bitmap: Uint8Array; zero: number[] } {
  const kd = new KdumpCompressedDump(new FileSource(file));
  const bitmap = kd.source.read(kd.bitmap2Offset, Math.ceil(Number(kd.maxPfn) / 8));
  const pfns: number[] = [];
  for (let p = 0; p < Number(kd.maxPfn); p++) if ((bitmap[p >> 3]! >> (p & 7)) & 1) pfns.push(p);
  const desc = kd.source.read(kd.dataOffset, pfns.length * 24); // struct page_desc: u64 offset, u32 size, u32 flags, u64 page_flags
  const view = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  const byOffset = new Map<bigint, number[]>();
  pfns.forEach((p, i) => {
    const off = view.getBigUint64(i * 24, true);
    const list = byOffset.get(off);
    if (list) list.push(p);
    else byOffset.set(off, [p]);
  });
  const shared = [...byOffset.values()].filter((l) => l.length > 1);
  assert.ok(shared.length <= 1, `${file}: ${shared.length} page data offsets shared by several pages (only the zero page may be)`);
  return { kd, bitmap, zero: shared[0] ?? [] };
}

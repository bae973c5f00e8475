// Issue 16's start-up row against drgn: `vmcore-ts dmesg` (no vmlinux; also started from a V8
// snapshot, as the Debian package runs it) and drgn 0.3.0's get_dmesg
// (with the -dbg vmlinux), both on the bundled 6.1 dump, interleaved, 5 runs, medians. drgn runs in
// the cached Debian sid root (chroot: a few ms of its time). The vmlinux comes from the e2e cache
// (e2e/harness/kernels.ts getDebugVmlinux fetched it: ~/.cache/kexec-ts/dbg/6.1.0-56-cloud-amd64).
//   node --import tsx bench/drgn-dmesg.ts [RUNS]
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianRootTarball, openDebianRoot } from '../test/packaging/debian-root.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const runs = Number(process.argv[2] ?? 5);
const DUMP = new URL('../fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump', import.meta.url).pathname;
const VMLINUX = join(process.env.KEXEC_TS_CACHE ?? join(homedir(), '.cache/kexec-ts'), 'dbg/6.1.0-56-cloud-amd64/vmlinux');
const CLI = new URL('../dist/vmcore-ts.cjs', import.meta.url).pathname;
if (!existsSync(VMLINUX)) throw new Error(`${VMLINUX}: missing (the e2e harness's getDebugVmlinux fetches it)`);
if (!existsSync(CLI)) throw new Error(`${CLI}: missing (npm run build)`);

const snapDir = mkdtempSync(join(tmpdir(), 'bench-snapshot-'));
// vmcore-ts dmesg as the Debian package starts it (packaging/deb/vmcore-ts-snapshot): from a start-up snapshot.
const SNAPSHOT = [...NODE_ARGS, '--snapshot-blob', join(snapDir, 'dmesg.blob')];
if (spawnSync(process.execPath, [...SNAPSHOT, '--build-snapshot', CLI.replace(/\.cjs$/, '-dmesg.cjs')], { stdio: 'inherit' }).status !== 0) throw new Error('node --build-snapshot dist/vmcore-ts-dmesg.cjs failed');
const root = openDebianRoot(debianRootTarball('sid', ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools']).tarball);
try {
  linkSync(DUMP, join(root.dir, 'tmp/dump'));
  linkSync(VMLINUX, join(root.dir, 'tmp/vmlinux'));
  writeFileSync(join(root.dir, 'tmp/dmesg.py'), 'import sys\nfrom drgn.helpers.linux.printk import get_dmesg\nsys.stdout.buffer.write(get_dmesg(prog))\n');
  const drgn: number[] = [];
  const ours: number[] = [];
  const snap: number[] = [];
  const load0 = loadavg()[0]!.toFixed(2);
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    root.run(['drgn', '-q', '-c', '/tmp/dump', '-s', '/tmp/vmlinux', '/tmp/dmesg.py'], 120_000);
    drgn.push(performance.now() - t);
    t = performance.now();
    const r = spawnSync(process.execPath, [...NODE_ARGS, CLI, 'dmesg', DUMP], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`vmcore-ts dmesg: exit ${r.status}`);
    ours.push(performance.now() - t);
    t = performance.now();
    const s = spawnSync(process.execPath, [...SNAPSHOT, 'dmesg', DUMP], { stdio: 'ignore' });
    if (s.status !== 0) throw new Error(`vmcore-ts dmesg from the start-up snapshot: exit ${s.status}`);
    snap.push(performance.now() - t);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${runs} runs each, interleaved; load average ${load0} -> ${loadavg()[0]!.toFixed(2)}`);
  console.log(`drgn 0.3.0 get_dmesg (vmlinux): median ${median(drgn).toFixed(0)} ms (${drgn.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`vmcore-ts dmesg (no vmlinux):   median ${median(ours).toFixed(0)} ms (${ours.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`vmcore-ts dmesg (.deb: snapshot): median ${median(snap).toFixed(0)} ms (${snap.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`drgn / vmcore-ts: ${(median(drgn) / median(ours)).toFixed(1)}x, from the snapshot ${(median(drgn) / median(snap)).toFixed(1)}x (goal: 4x)`);
} finally {
  root.dispose();
  rmSync(snapDir, { recursive: true, force: true });
}

// Issue 16's start-up row against drgn: `vmcore-ts dmesg` (no vmlinux) and drgn 0.3.0's get_dmesg
// (with the -dbg vmlinux), both on the bundled 6.1 dump, interleaved, medians. vmcore-ts runs four
// ways: this host's node (the npm install) from the bundle and from a V8 start-up snapshot, and
// Debian trixie's own nodejs package (20.19: shared libnode, no built-in snapshot of its own) from the
// bundle and from the snapshot the Debian package builds for it (packaging/deb/vmcore-ts-snapshot).
// drgn runs in the cached Debian sid root and trixie's node in the cached trixie root, both by chroot
// (a few ms of their time; `chroot ROOT /bin/true` is printed). The vmlinux comes from the e2e cache
// (e2e/harness/kernels.ts getDebugVmlinux fetched it: ~/.cache/kexec-ts/dbg/6.1.0-56-cloud-amd64).
//   node --import tsx bench/drgn-dmesg.ts [RUNS]
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianRootTarball, openDebianRoot, ROOT_PACKAGES } from '../test/packaging/debian-root.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const runs = Number(process.argv[2] ?? 5);
const DUMP = new URL('../fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump', import.meta.url).pathname;
const VMLINUX = join(process.env.KEXEC_TS_CACHE ?? join(homedir(), '.cache/kexec-ts'), 'dbg/6.1.0-56-cloud-amd64/vmlinux');
const DIST = new URL('../dist', import.meta.url).pathname;
const CLI = join(DIST, 'vmcore-ts.cjs');
if (!existsSync(VMLINUX)) throw new Error(`${VMLINUX}: missing (the e2e harness's getDebugVmlinux fetches it)`);
if (!existsSync(CLI)) throw new Error(`${CLI}: missing (npm run build)`);

function check(r: { status: number | null; stderr?: unknown }, what: string): void {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${String(r.stderr ?? '').split('\n')[0]}`);
}

const snapDir = mkdtempSync(join(tmpdir(), 'bench-snapshot-'));
// vmcore-ts dmesg as the Debian package starts it: from a start-up snapshot built for this node.
const SNAPSHOT = [...NODE_ARGS, '--snapshot-blob', join(snapDir, 'dmesg.blob')];
check(spawnSync(process.execPath, [...SNAPSHOT, '--build-snapshot', join(DIST, 'vmcore-ts-dmesg.cjs')], { stdio: 'inherit' }), 'node --build-snapshot dist/vmcore-ts-dmesg.cjs');
const sid = openDebianRoot(debianRootTarball('sid', ['python3-drgn', 'crash', 'makedumpfile', 'kexec-tools']).tarball);
const trixie = openDebianRoot(debianRootTarball('trixie', ['nodejs', ...ROOT_PACKAGES]).tarball);
try {
  linkSync(DUMP, join(sid.dir, 'tmp/dump'));
  linkSync(VMLINUX, join(sid.dir, 'tmp/vmlinux'));
  writeFileSync(join(sid.dir, 'tmp/dmesg.py'), 'import sys\nfrom drgn.helpers.linux.printk import get_dmesg\nsys.stdout.buffer.write(get_dmesg(prog))\n');
  linkSync(DUMP, join(trixie.dir, 'tmp/dump'));
  cpSync(DIST, join(trixie.dir, 'opt/dist'), { recursive: true });
  const debianNode = trixie.run(['node', '--version']).stdout.trim();
  const DEB_SNAPSHOT = ['node', ...NODE_ARGS, '--snapshot-blob', '/opt/dmesg.blob'];
  trixie.run([...DEB_SNAPSHOT, '--build-snapshot', '/opt/dist/vmcore-ts-dmesg.cjs']);

  const variants: [string, () => void][] = [
    ['drgn 0.3.0 get_dmesg (vmlinux)', () => void sid.run(['drgn', '-q', '-c', '/tmp/dump', '-s', '/tmp/vmlinux', '/tmp/dmesg.py'])],
    [`vmcore-ts dmesg, node ${process.version}, bundle`, () => check(spawnSync(process.execPath, [...NODE_ARGS, CLI, 'dmesg', DUMP], { stdio: 'ignore' }), 'vmcore-ts dmesg')],
    [`vmcore-ts dmesg, node ${process.version}, snapshot`, () => check(spawnSync(process.execPath, [...SNAPSHOT, 'dmesg', DUMP], { stdio: 'ignore' }), 'vmcore-ts dmesg from the snapshot')],
    [`vmcore-ts dmesg, Debian's node ${debianNode}, bundle`, () => void trixie.run(['node', ...NODE_ARGS, '/opt/dist/vmcore-ts.cjs', 'dmesg', '/tmp/dump'])],
    [`vmcore-ts dmesg, Debian's node ${debianNode}, snapshot (.deb)`, () => void trixie.run([...DEB_SNAPSHOT, 'dmesg', '/tmp/dump'])],
    ['chroot ROOT /bin/true', () => void trixie.run(['/bin/true'])],
  ];
  const times = variants.map((): number[] => []);
  const load0 = loadavg()[0]!.toFixed(2);
  for (let i = 0; i < runs; i++) {
    variants.forEach(([, run], v) => {
      const t = performance.now();
      run();
      times[v]!.push(performance.now() - t);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${runs} runs each, interleaved; load average ${load0} -> ${loadavg()[0]!.toFixed(2)}`);
  const drgn = median(times[0]!);
  variants.forEach(([name], v) => {
    const m = median(times[v]!);
    const ratio = v === 0 || v === variants.length - 1 ? '' : `  drgn / this: ${(drgn / m).toFixed(1)}x (goal: 4x)`;
    console.log(`${name.padEnd(52)} median ${m.toFixed(0).padStart(4)} ms (${times[v]!.map((x) => x.toFixed(0)).join(' ')})${ratio}`);
  });
} finally {
  sid.dispose();
  trixie.dispose();
  rmSync(snapDir, { recursive: true, force: true });
}

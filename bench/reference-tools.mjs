// Shared by bench/dmesg-info.mjs and bench/summary.mjs: timing a command (wall time, time to its
// first output line, CPU time) and finding the reference tools that need a vmlinux (crash, drgn).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';

export const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
/** The fixture's kernel (fixtures/x86_64-debian-6.1/README.md); bench/setup.sh caches its vmlinux here. */
const FIXTURE_VMLINUX = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kexec-ts', 'dbg', '6.1.0-56-cloud-amd64', 'vmlinux');

/**
 * node's flags as the package's bin starts it (bin/vmcore-ts.cjs's `#!/usr/bin/env -S node
 * …` line: src/node-args.ts), then `script`: what users run, without env's extra exec.
 */
export function vmcoreTsNode(script) {
  const flags = readFileSync('bin/vmcore-ts.cjs', 'utf8').split('\n')[0].split(' ').slice(3);
  return [...flags, script];
}

/**
 * node's arguments for `vmcore-ts dmesg` started from a V8 start-up snapshot, as the Debian package
 * runs it (packaging/deb/vmcore-ts-snapshot): builds the snapshot of dist/vmcore-ts-dmesg.cjs into
 * `dir` with this node and the bin's flags. The command's own arguments follow.
 */
export function dmesgSnapshotNode(dir) {
  const flags = vmcoreTsNode('').slice(0, -1);
  const blob = join(dir, 'vmcore-ts-dmesg.blob');
  const r = spawnSync(process.execPath, [...flags, '--snapshot-blob', blob, '--build-snapshot', 'dist/vmcore-ts-dmesg.cjs'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node --build-snapshot dist/vmcore-ts-dmesg.cjs: exit ${r.status}: ${r.stderr}`);
  return [...flags, '--snapshot-blob', blob];
}

export const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
export const load = () => loadavg()[0].toFixed(2);

/**
 * The vmlinux for `dump`: $VMLINUX, else (for the fixture) the one bench/setup.sh fetched.
 * Returns undefined, after saying how to get it, when there is none.
 */
export function findVmlinux(dump) {
  const v = process.env.VMLINUX ?? (dump === FIXTURE && existsSync(FIXTURE_VMLINUX) ? FIXTURE_VMLINUX : undefined);
  if (v && existsSync(v)) return v;
  console.log(
    v
      ? `VMLINUX=${v} does not exist: crash and drgn skipped`
      : dump === FIXTURE
        ? `crash and drgn skipped: no vmlinux for the fixture. Run \`bash bench/setup.sh\` (as root: installs python3-drgn, fetches the 283 MB linux-image-6.1.0-56-cloud-amd64-dbg once into ${FIXTURE_VMLINUX}), or pass VMLINUX=path`
        : 'crash and drgn skipped: pass VMLINUX=path to the vmlinux (with debug info) of the dump\'s kernel',
  );
  return undefined;
}

/** Runs a command once: wall time and time until its first stdout newline (ms), stdout. `okExit`: exit codes taken as success (default 0). */
export function timeOnce(cmd, args, input, okExit = [0]) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first;
    const out = [];
    const p = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'] });
    if (input !== undefined) p.stdin.end(input);
    p.stdout.on('data', (b) => {
      if (first === undefined && b.includes(10)) first = process.hrtime.bigint();
      out.push(b);
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const end = process.hrtime.bigint();
      if (!okExit.includes(code)) return reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`));
      resolve({ wall: Number(end - t0) / 1e6, first: Number((first ?? end) - t0) / 1e6, stdout: Buffer.concat(out).toString() });
    });
  });
}

/** CPU time (user + system, ms, 10 ms resolution) of the children waited for so far (/proc/self/stat cutime + cstime). */
function childCpuMs() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // fields 16, 17; USER_HZ = 100
}

/**
 * Runs every tool `runs` times (a tool may ask for fewer), interleaved round by round so that a
 * change in the machine's load hits all of them alike. Returns the medians of wall time, first-line
 * time and CPU time per tool. A tool: { name, cmd, args (array, or (run) => array), input?, runs?,
 * okExit? (exit codes that count as success, default [0]), check?(stdout of its first run) }.
 */
export async function measureAll(tools, runs) {
  const samples = tools.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, t] of tools.entries()) {
      if (i >= (t.runs ?? runs)) continue;
      const c0 = childCpuMs();
      const x = await timeOnce(t.cmd, typeof t.args === 'function' ? t.args(i) : t.args, t.input, t.okExit);
      x.cpu = childCpuMs() - c0;
      if (i === 0) t.check?.(x.stdout);
      samples[k].push(x);
    }
  }
  return tools.map((t, k) => {
    const med = (key) => samples[k].map((x) => x[key]).sort((a, b) => a - b)[Math.floor(samples[k].length / 2)];
    return { name: t.name, runs: samples[k].length, wall: med('wall'), first: med('first'), cpu: med('cpu') };
  });
}

/** The results as a table. */
export function printTable(results) {
  console.log(`${'tool'.padEnd(40)} ${'runs'.padStart(4)} ${'wall ms'.padStart(9)} ${'first line ms'.padStart(14)} ${'CPU ms'.padStart(8)}`);
  for (const r of results) {
    console.log(`${r.name.padEnd(40)} ${String(r.runs).padStart(4)} ${r.wall.toFixed(1).padStart(9)} ${r.first.toFixed(1).padStart(14)} ${r.cpu.toFixed(0).padStart(8)}`);
  }
}

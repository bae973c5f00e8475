// Benchmark (issue 15): `vmcore-ts save -c -d 1` against makedumpfile on the same arm64 dump. The input
// is the unfiltered ELF of the bookworm 6.1 arm64 guest (1 GiB RAM; QEMU's dump-guest-memory,
// harness/arm64-dump.ts) rewritten by `vmcore-ts save -E -d 0` (makedumpfile cannot read QEMU's ELF:
// its program headers do not follow the ELF header), so both tools read the same file.
// makedumpfile is Debian's arm64 build (1.7.8, sid) run by qemu-aarch64-static on this x86_64 host
// (harness/arm64-oracles.ts unpacks both into $CACHE/arm64-makedumpfile): qemu-user translates every
// arm64 instruction, so its times are inflated by the emulation — they bound it, they do not measure
// it. For scale, the same save on an x86_64 dump of the same guest size (the e2e harness's
// bookworm-qemu64.elf, 1 GiB guest) by vmcore-ts and by the host's native makedumpfile (1.7.2) runs in
// the same interleaving, and — to measure what qemu-user costs makedumpfile — that same x86_64
// makedumpfile on that same dump under qemu-x86_64-static (from the cached qemu-user-static .deb the
// harness downloaded; skipped without it): its time over the native run is the emulation factor
// (x86_64 on x86_64; arm64 on x86_64 is not the same translation, so it is an estimate). Wall and CPU (user + system) from /usr/bin/time, peak RSS, output size;
// medians of RUNS (default 3), the tools interleaved round by round; load averages printed.
//   node bench/arm64-save.mjs [--runs N] [--levels 1,31] [--no-x86]
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmcoreTsNode } from './reference-tools.mjs';

const argv = process.argv.slice(2);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const runs = Number(opt('--runs', '3'));
const levels = opt('--levels', '1').split(',').map(Number);
const cache = process.env.KEXEC_TS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kexec-ts');
const arm64Elf = join(cache, 'vmcore', 'arm64-bookworm.elf');
const x86Elf = join(cache, 'vmcore', 'bookworm-qemu64.elf');
const mdfDir = join(cache, 'arm64-makedumpfile');
const qemu = join(mdfDir, 'qemu-aarch64-static');
const mdfRoot = join(mdfDir, 'root');
for (const [f, how] of [[arm64Elf, 'E2E_ARM64=1 node scripts/run-tests.mjs e2e/arm64-vmcore makes it'], [qemu, 'E2E_ARM64=1 node scripts/run-tests.mjs e2e/arm64-levels unpacks it'], [join(mdfRoot, 'usr/bin/makedumpfile'), 'the same']]) {
  if (!existsSync(f)) {
    console.log(`${f} is missing: ${how}`);
    process.exit(1);
  }
}
if (!existsSync('dist/vmcore-ts.mjs') || !existsSync('dist/compress-worker.mjs')) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
const work = mkdtempSync(join(tmpdir(), 'bench-arm64-save-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** One run under /usr/bin/time: wall s, CPU s (user + system), peak RSS MB, output bytes. */
function timed(cmd, args, out) {
  rmSync(out, { force: true });
  const tf = join(work, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%e %U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const [wall, user, sys, rssKb] = readFileSync(tf, 'utf8').trim().split(/\s+/).map(Number);
  const size = existsSync(out) ? statSync(out).size : 0;
  rmSync(out, { force: true });
  return { wall, cpu: user + sys, user, sys, rss: rssKb / 1024, size };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Both tools read what vmcore-ts save -E -d 0 wrote from QEMU's ELF (once, not timed).
const input = join(work, 'arm64-bookworm-d0.elf');
const conv = spawnSync(process.execPath, [...vmcoreTsNode('dist/vmcore-ts.mjs'), 'save', '-E', '-d', '0', '--message-level', '0', arm64Elf, input], { encoding: 'utf8' });
if (conv.status !== 0) throw new Error(`vmcore-ts save -E -d 0: ${conv.stderr}`);
const mdfVersion = /version (\S+)/.exec(spawnSync(qemu, ['-L', mdfRoot, join(mdfRoot, 'usr/bin/makedumpfile'), '-v'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
const hostMdf = spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' });
const hostMdfVersion = hostMdf.status === 0 ? (/version (\S+)/.exec(hostMdf.stdout)?.[1] ?? '?') : undefined;
const x86 = !argv.includes('--no-x86') && existsSync(x86Elf);
// qemu-x86_64-static from the cached qemu-user-static .deb (harness/kernels.ts downloadSuiteDebs).
let qemuX86;
const debDir = join(cache, 'debs', 'bookworm');
const deb = existsSync(debDir) ? readdirSync(debDir).find((f) => f.startsWith('qemu-user-static_') && f.endsWith('_amd64.deb')) : undefined;
if (x86 && hostMdfVersion && deb) {
  const x = spawnSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./usr/bin/qemu-x86_64-static`, 'sh', join(debDir, deb), work]);
  if (x.status === 0) qemuX86 = join(work, 'usr/bin/qemu-x86_64-static');
}

console.log(`arm64 input: ${arm64Elf} as save -E -d 0 wrote it (${(statSync(input).size / 2 ** 30).toFixed(2)} GiB); x86_64: ${x86 ? `${x86Elf} (${(statSync(x86Elf).size / 2 ** 30).toFixed(2)} GiB)` : 'skipped'}; ${runs} runs, medians`);
for (const level of levels) {
  const out = join(work, 'out');
  const tools = [
    { name: `vmcore-ts save -c -d ${level} (arm64 dump)`, cmd: process.execPath, args: [...vmcoreTsNode('dist/vmcore-ts.mjs'), 'save', '-c', '-d', String(level), '--message-level', '0', input, out] },
    { name: `makedumpfile ${mdfVersion} arm64 under qemu-user`, cmd: qemu, args: ['-L', mdfRoot, join(mdfRoot, 'usr/bin/makedumpfile'), '-c', '-d', String(level), '--message-level', '0', input, out] },
  ];
  if (x86) {
    tools.push({ name: `vmcore-ts save -c -d ${level} (x86_64 dump)`, cmd: process.execPath, args: [...vmcoreTsNode('dist/vmcore-ts.mjs'), 'save', '-c', '-d', String(level), '--message-level', '0', x86Elf, out] });
    if (hostMdfVersion) tools.push({ name: `makedumpfile ${hostMdfVersion} x86_64 native`, cmd: 'makedumpfile', args: ['-c', '-d', String(level), '--message-level', '0', x86Elf, out] });
    if (qemuX86) tools.push({ name: `makedumpfile ${hostMdfVersion} x86_64 under qemu-user`, cmd: qemuX86, args: ['/usr/bin/makedumpfile', '-c', '-d', String(level), '--message-level', '0', x86Elf, out] });
  }
  const samples = tools.map(() => []);
  const loads = [load()];
  for (let i = 0; i < runs; i++) {
    for (const [k, t] of tools.entries()) samples[k].push(timed(t.cmd, t.args, out));
    loads.push(load());
  }
  console.log(`\n-c -d ${level}; load averages (1, 5, 15 min) before and after each round: ${loads.join(' | ')}`);
  console.log(`${'tool'.padEnd(46)} ${'wall s'.padStart(7)} ${'CPU s'.padStart(7)} ${'user'.padStart(6)} ${'sys'.padStart(6)} ${'RSS MB'.padStart(7)} ${'size MB'.padStart(8)}`);
  const med = tools.map((t, k) => {
    const s = samples[k];
    const m = { wall: median(s.map((x) => x.wall)), cpu: median(s.map((x) => x.cpu)), user: median(s.map((x) => x.user)), sys: median(s.map((x) => x.sys)), rss: Math.max(...s.map((x) => x.rss)), size: s.at(-1).size };
    console.log(`${t.name.padEnd(46)} ${m.wall.toFixed(2).padStart(7)} ${m.cpu.toFixed(2).padStart(7)} ${m.user.toFixed(2).padStart(6)} ${m.sys.toFixed(2).padStart(6)} ${m.rss.toFixed(0).padStart(7)} ${(m.size / 1e6).toFixed(1).padStart(8)}`);
    return m;
  });
  console.log(`makedumpfile (qemu-user) / vmcore-ts on the arm64 dump: wall ${(med[1].wall / med[0].wall).toFixed(2)}x, CPU ${(med[1].cpu / med[0].cpu).toFixed(2)}x (inflated by the emulation)`);
  if (x86) console.log(`vmcore-ts arm64 / x86_64 dump: wall ${(med[0].wall / med[2].wall).toFixed(2)}x, CPU ${(med[0].cpu / med[2].cpu).toFixed(2)}x`);
  if (x86 && hostMdfVersion) console.log(`makedumpfile arm64 under qemu-user (arm64 dump) / x86_64 native (x86_64 dump): wall ${(med[1].wall / med[3].wall).toFixed(2)}x, CPU ${(med[1].cpu / med[3].cpu).toFixed(2)}x (different dumps of the same guest size)`);
  if (qemuX86) {
    const factor = med[4].cpu / med[3].cpu;
    console.log(`emulation factor (x86_64 makedumpfile under qemu-user / native, same dump): wall ${(med[4].wall / med[3].wall).toFixed(2)}x, CPU ${factor.toFixed(2)}x; makedumpfile arm64 natively, estimated: ${(med[1].cpu / factor).toFixed(2)} s CPU = ${(med[1].cpu / factor / med[0].cpu).toFixed(2)}x vmcore-ts's`);
  }
}

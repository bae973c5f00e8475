// Benchmark: `kexec-ts boot --list` (discovery + the default choice, issue 13; goal < 150 ms) on a
// /boot with 20 entries, two ways: GRUB (the real trixie grub.cfg with its submenu grown to 10 kernels,
// normal + recovery each: 21 entries, as update-grub writes them) and systemd-boot (20 BLS Type #1
// entries in the ESP with loader.conf). Reports the median of RUNS for the library call in a warm
// process (with the UKI source, as the command runs it) and for the whole command (`node dist/kexec-ts.mjs boot --list --root DIR`, start-up included).
// Usage: node scripts/build.mjs && node --import tsx bench/boot-list.ts [RUNS]
import './fleet-env.mjs';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverBoot } from '../src/boot/discover.ts';
import { ukiSource } from '../src/boot/uki.ts';
import { readBootMachine } from '../src/host/boot-files.ts';
import { hostImageTrust } from '../src/host/image-trust.ts';
import { NODE_ARGS } from '../src/node-args.ts';

const runs = Number(process.argv[2] ?? 21);
const KERNELS = 10;
const V = '6.12.117+deb13-cloud-amd64';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function grubRoot(dir: string): void {
  cpSync('test/fixtures/boot/debian-trixie', dir, { recursive: true, verbatimSymlinks: true });
  const cfg = readFileSync(join(dir, 'boot/grub/grub.cfg'), 'utf8');
  const start = cfg.indexOf("\tmenuentry 'Debian GNU/Linux, with Linux");
  const end = cfg.indexOf('\n}\n', start);
  const pair = cfg.slice(start, end + 1);
  const versions = Array.from({ length: KERNELS }, (_, i) => `6.12.${117 - i}+deb13-cloud-amd64`);
  writeFileSync(join(dir, 'boot/grub/grub.cfg'), cfg.slice(0, start) + versions.map((v) => pair.replaceAll(V, v)).join('') + cfg.slice(end + 1));
  for (const v of versions) for (const f of ['vmlinuz', 'initrd.img']) writeFileSync(join(dir, `boot/${f}-${v}`), 'stand-in\n');
}

function sdBootRoot(dir: string): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/fstab'), 'UUID=77aa88bb-0000-4000-8000-000000000001 / ext4 defaults 0 1\nUUID=ABCD-1234 /efi vfat umask=0077 0 2\n');
  mkdirSync(join(dir, 'efi/loader/entries'), { recursive: true });
  writeFileSync(join(dir, 'efi/loader/loader.conf'), 'timeout 3\ndefault debian-*\n');
  for (let i = 0; i < 20; i++) {
    const v = `6.${i}.0-1-amd64`;
    mkdirSync(join(dir, `efi/m/${v}`), { recursive: true });
    for (const f of ['linux', 'initrd']) writeFileSync(join(dir, `efi/m/${v}/${f}`), 'stand-in\n');
    writeFileSync(join(dir, `efi/loader/entries/debian-${v}.conf`), `title Debian\nversion ${v}\nmachine-id m\nsort-key debian\nlinux /m/${v}/linux\ninitrd /m/${v}/initrd\noptions root=UUID=77aa88bb-0000-4000-8000-000000000001 ro quiet\n`);
  }
}

/** Wall time and the child's CPU time (user + system, from /usr/bin/time), in ms. */
function timed(argv: string[]): { wall: number; cpu: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  const out = r.stderr;
  const wall = performance.now() - t;
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(out);
  return { wall, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN };
}

const base = mkdtempSync(join(tmpdir(), 'kexec-ts-bench-boot-'));
try {
  console.log(`boot --list bench: ${runs} runs, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);
  for (const [name, argv] of [['node -e 0 (start-up alone)', [process.execPath, '-e', '0']], ['kexec-ts --help (the bundle loaded)', [process.execPath, ...NODE_ARGS, 'dist/kexec-ts.mjs', '--help']]] as const) {
    const r = Array.from({ length: runs }, () => timed([...argv]));
    console.log(`${name}: median ${median(r.map((x) => x.wall)).toFixed(1)} ms wall, ${median(r.map((x) => x.cpu)).toFixed(0)} ms CPU`);
  }
  for (const [name, make] of [['GRUB (trixie grub.cfg, 10 kernels)', grubRoot], ['systemd-boot (20 BLS entries)', sdBootRoot]] as const) {
    const dir = join(base, name.split(' ')[0]!);
    make(dir);
    const t0 = performance.now();
    const list = () => discoverBoot(readBootMachine({ root: dir }), [ukiSource(hostImageTrust(dir))]);
    const first = list();
    const cold = performance.now() - t0;
    const lib: number[] = [];
    const libCpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      list();
      const d = process.cpuUsage(c);
      lib.push(performance.now() - t);
      libCpu.push((d.user + d.system) / 1000);
    }
    const cmd: number[] = [];
    const cmdCpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = timed([process.execPath, ...NODE_ARGS, 'dist/kexec-ts.mjs', 'boot', '--list', '--root', dir]);
      cmd.push(r.wall);
      cmdCpu.push(r.cpu);
    }
    console.log(`${name}: ${first.entries.length} entries, default ${first.default?.id}`);
    console.log(`  library: first call ${cold.toFixed(1)} ms, then median ${median(lib).toFixed(2)} ms wall, ${median(libCpu).toFixed(2)} ms CPU`);
    console.log(`  command (node start-up included): median ${median(cmd).toFixed(1)} ms wall (min ${Math.min(...cmd).toFixed(1)}), ${median(cmdCpu).toFixed(0)} ms CPU`);
  }
} finally {
  rmSync(base, { recursive: true });
}

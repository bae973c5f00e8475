// The smallest working crashkernel= for each capture mode, in a busybox guest of a real Debian
// kernel under QEMU (TCG): bisect in 16 MiB steps, a step working when the capture saves the dump
// and vmcore-ts dmesg and makedumpfile --dump-dmesg read it (e2e/kdump-ts-small.ts). Prints each
// try, both minimums, their ratio, `kdump-ts estimate`'s figure for each mode's initramfs, and the load.
// --modes=kdump-tools (root): Debian's kdump-tools in the Debian-system guest's kdump-tools image
// (e2e/debian-kdump-tools-min.ts: crashkernel= rewritten in its GRUB snippet, reboot, sysrq-c).
// Usage: node --import tsx bench/crashkernel-min.ts [SUITE] [--modes=root,initramfs,kdump-tools] [--low=MiB] [--high=MiB] [--cpu=qemu64] [--at=MiB]
//   --at=N: one capture at crashkernel=N M per mode (no bisect). Each run is bounded (8 min).
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCapture, type CaptureKind } from '../e2e/kdump-ts-small.ts';
import { runKdumpTools } from '../e2e/debian-kdump-tools-min.ts';
import { REPO } from '../e2e/harness/initramfs.ts';
import { getKernel } from '../e2e/harness/kernels.ts';
import { bzImageInitSize, estimateCrashkernel } from '../src/kdump/estimate.ts';
import { initrdUnpackedSize } from '../src/host/initrd-size.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const suite = args.find((a) => !a.startsWith('--')) ?? 'bookworm';
const cpu = opt('cpu') ?? 'qemu64';
type Mode = CaptureKind | 'kdump-tools';
const modes = (opt('modes') ?? 'root,initramfs').split(',') as Mode[];
const STEP = 16;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function tryAt(mode: Mode, mib: number): Promise<{ ok: boolean }> {
  const t0 = Date.now();
  if (mode === 'kdump-tools') {
    const k = await runKdumpTools({ suite, crashkernelMiB: mib });
    process.stdout.write(`  kdump-tools crashkernel=${mib}M: ${k.ok ? 'works' : 'FAILS'} (${k.why}) in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()}\n`);
    return k;
  }
  const r = await runCapture({ suite, cpu, crashkernelMiB: mib, mode, timeoutMs: 8 * 60_000 });
  const low = r.lowestMemAvailableKiB !== undefined ? `, lowest MemAvailable ${(r.lowestMemAvailableKiB / 1024).toFixed(1)} MiB` : '';
  process.stdout.write(`  ${mode} crashkernel=${mib}M: ${r.ok ? 'works' : 'FAILS'} (${r.why}${low}) in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()}\n`);
  r.result?.cleanup();
  return r;
}

/** `kdump-ts estimate`'s arithmetic for the guest kernel and the initramfs that mode built (the same pure function). */
async function estimateFor(mode: CaptureKind): Promise<number> {
  const kernel = await getKernel(suite);
  const initrd = readFileSync(join(REPO, 'e2e', 'out', `kdump-ts-small-initrd-${suite}-${mode}.img`));
  const e = estimateCrashkernel({ kernelInitSize: bzImageInitSize(readFileSync(kernel.vmlinuz)), initrdSize: BigInt(initrd.length), initrdUnpacked: initrdUnpackedSize(initrd), mode });
  return Number(e.recommended >> 20n);
}

const at = opt('at');
const found: Record<string, number | undefined> = {};
process.stdout.write(`crashkernel= bisect on ${suite} -cpu ${cpu}, ${STEP} MiB steps; load ${load()}\n`);
for (const mode of modes) {
  if (at) {
    await tryAt(mode, Number(at));
    continue;
  }
  // lo fails (or is the floor), hi works; both multiples of STEP.
  let lo = Number(opt('low') ?? (mode === 'initramfs' ? 192 : 64));
  let hi = Number(opt('high') ?? (mode === 'initramfs' ? 448 : 320));
  if (!(await tryAt(mode, hi)).ok) {
    process.stdout.write(`  ${mode}: fails even at ${hi}M: raise --high\n`);
    continue;
  }
  if ((await tryAt(mode, lo)).ok) hi = lo;
  while (hi - lo > STEP) {
    const mid = lo + Math.floor((hi - lo) / STEP / 2) * STEP;
    if ((await tryAt(mode, mid)).ok) hi = mid;
    else lo = mid;
  }
  found[mode] = hi;
  const est = mode === 'kdump-tools' ? undefined : await estimateFor(mode);
  process.stdout.write(`${mode}: smallest working crashkernel=${hi}M${est ? `; kdump-ts estimate: ${est}M (${(est - hi) / STEP} steps above)` : ''}; load ${load()}\n`);
}
if (found.root && found.initramfs) {
  process.stdout.write(`smallest working: capture = root ${found.root}M, capture = initramfs ${found.initramfs}M, ratio ${(found.root / found.initramfs).toFixed(2)}\n`);
}
if (found.root && found['kdump-tools']) {
  process.stdout.write(`smallest working: kdump-ts (capture = root) ${found.root}M, kdump-tools ${found['kdump-tools']}M, ratio ${(found.root / found['kdump-tools']).toFixed(2)}\n`);
}

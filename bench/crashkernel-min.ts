// The smallest working crashkernel= for each capture mode, in a busybox guest of a real Debian
// kernel under QEMU (TCG): bisect in 16 MiB steps, a step working when the capture saves the dump
// and vmcore-ts dmesg and makedumpfile --dump-dmesg read it (e2e/kdump-ts-small.ts). Prints each
// try, both minimums, their ratio, `kdump-ts estimate`'s figure for each mode's initramfs, and the load.
// Debian-system guest modes (e2e/debian-crashkernel-min.ts: 1 GiB, SeaBIOS + GRUB, systemd;
// crashkernel= rewritten in the tool's GRUB snippet, update-grub, reboot, sysrq-c, the dump checked
// in /var/crash and read by the host's vmcore-ts dmesg; ~4-7 min per try under TCG):
//   --modes=kdump-tools       Debian's kdump-tools
//   --modes=kexec-ts-debian   our .deb installed with apt-get (capture = auto -> root); prints what
//                             `kdump-ts estimate` says in the guest
// These walk in 16 MiB steps from --start (default 112: kdump-ts estimate's figure for Debian's
// kernels): down while a try works, up while it fails, at most --max-tries tries (default 4).
// Usage: node --import tsx bench/crashkernel-min.ts [SUITE] [--modes=root,initramfs,kdump-tools,kexec-ts-debian]
//          [--low=MiB] [--high=MiB] [--start=MiB] [--max-tries=N] [--cpu=qemu64] [--at=MiB]
//          [--timeout-min=12]
//   --at=N: one capture at crashkernel=N M per mode (no bisect). Each busybox run is bounded (8 min), each Debian
//   one by --timeout-min (default 12; a too-small reservation can hang or thrash the capture, so a timeout counts as a failure:
//   raise it under load, where kdump-tools' first boot alone builds its initrd for 3 min).
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCapture, type CaptureKind } from '../e2e/kdump-ts-small.ts';
import { runMinTry, type MinTool } from '../e2e/debian-crashkernel-min.ts';
import { REPO } from '../e2e/harness/initramfs.ts';
import { getKernel } from '../e2e/harness/kernels.ts';
import { bzImageInitSize, estimateCrashkernel } from '../src/kdump/estimate.ts';
import { initrdUnpackedSize } from '../src/host/initrd-size.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const suite = args.find((a) => !a.startsWith('--')) ?? 'bookworm';
const cpu = opt('cpu') ?? 'qemu64';
type DebianMode = 'kdump-tools' | 'kexec-ts-debian';
type Mode = CaptureKind | DebianMode;
const DEBIAN_TOOL: Record<DebianMode, MinTool> = { 'kdump-tools': 'kdump-tools', 'kexec-ts-debian': 'kexec-ts' };
const isDebian = (m: Mode): m is DebianMode => m in DEBIAN_TOOL;
const modes = (opt('modes') ?? 'root,initramfs').split(',') as Mode[];
const STEP = 16;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function tryAt(mode: Mode, mib: number): Promise<{ ok: boolean }> {
  const t0 = Date.now();
  const lowest = (kib: number | undefined) => (kib !== undefined ? `, lowest MemAvailable ${(kib / 1024).toFixed(1)} MiB` : '');
  if (isDebian(mode)) {
    const k = await runMinTry(DEBIAN_TOOL[mode], { suite, crashkernelMiB: mib, timeoutMs: Number(opt('timeout-min') ?? 12) * 60_000 });
    if (k.estimate && !guestEstimate) {
      guestEstimate = k.estimate;
      process.stdout.write(`  kdump-ts estimate in the guest: ${k.estimate}\n`);
    }
    process.stdout.write(`  ${mode} crashkernel=${mib}M: ${k.ok ? 'works' : 'FAILS'} (${k.why}${lowest(k.lowestMemAvailableKiB)}) in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()}\n`);
    return k;
  }
  const r = await runCapture({ suite, cpu, crashkernelMiB: mib, mode, timeoutMs: 8 * 60_000 });
  const low = lowest(r.lowestMemAvailableKiB);
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

/** What `kdump-ts estimate` printed in the Debian guest (kexec-ts-debian), from the first try that got that far. */
let guestEstimate: string | undefined;

/** Debian modes: from `start`, 16 MiB steps down while it works, up while it fails; the smallest working size or undefined. */
async function walk(mode: DebianMode, start: number, floor: number, ceiling: number, maxTries: number): Promise<number | undefined> {
  let best: number | undefined;
  let worst: number | undefined;
  let mib = start;
  for (let tries = 0; tries < maxTries && mib >= floor && mib <= ceiling; tries++) {
    if ((await tryAt(mode, mib)).ok) best = mib;
    else worst = mib;
    if (best !== undefined && worst !== undefined && best - worst === STEP) return best;
    mib = best === mib ? mib - STEP : mib + STEP;
  }
  process.stdout.write(`  ${mode}: no bound within ${maxTries} tries (smallest working ${best ?? '-'}M, largest failing ${worst ?? '-'}M)\n`);
  return best !== undefined && mib < floor ? best : undefined;
}

const at = opt('at');
const found: Record<string, number | undefined> = {};
process.stdout.write(`crashkernel= bisect on ${suite} -cpu ${cpu}, ${STEP} MiB steps; load ${load()}\n`);
for (const mode of modes) {
  if (at) {
    await tryAt(mode, Number(at));
    continue;
  }
  if (isDebian(mode)) {
    const m = await walk(mode, Number(opt('start') ?? 112), Number(opt('low') ?? 64), Number(opt('high') ?? 512), Number(opt('max-tries') ?? 4));
    found[mode] = m;
    const est = guestEstimate ? /crashkernel=(\d+)M/.exec(guestEstimate.slice(guestEstimate.lastIndexOf('→')))?.[1] : undefined;
    process.stdout.write(`${mode}: smallest working crashkernel=${m ?? '?'}M${est && m ? `; kdump-ts estimate in the guest: ${est}M (${(Number(est) - m) / STEP} steps above)` : ''}; load ${load()}\n`);
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
  const est = await estimateFor(mode);
  process.stdout.write(`${mode}: smallest working crashkernel=${hi}M${est ? `; kdump-ts estimate: ${est}M (${(est - hi) / STEP} steps above)` : ''}; load ${load()}\n`);
}
if (found.root && found.initramfs) {
  process.stdout.write(`smallest working: capture = root ${found.root}M, capture = initramfs ${found.initramfs}M, ratio ${(found.root / found.initramfs).toFixed(2)}\n`);
}
if (found['kexec-ts-debian'] && found['kdump-tools']) {
  process.stdout.write(`smallest working in the Debian-system guest: kexec-ts (.deb) ${found['kexec-ts-debian']}M, kdump-tools ${found['kdump-tools']}M, ratio ${(found['kexec-ts-debian'] / found['kdump-tools']).toFixed(2)}\n`);
}
if (found.root && found['kdump-tools']) {
  process.stdout.write(`smallest working: kdump-ts (capture = root) ${found.root}M, kdump-tools ${found['kdump-tools']}M, ratio ${(found.root / found['kdump-tools']).toFixed(2)}\n`);
}

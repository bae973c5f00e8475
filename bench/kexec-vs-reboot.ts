// kexec vs firmware reboot on real Debian kernels under QEMU (TCG), same guest (1 GiB, -smp 1, same
// initramfs): host time from `-e` (and from `-l`) to the next kernel's /init, against `reboot -f`
// through the firmware to the same kernel's /init, plus the new kernel's uptime at /init (time spent
// inside that kernel).
//   SeaBIOS (default): kexec -l / kexec -s -l (kexec-tools) vs reboot -f.
//   --uefi: OVMF, the realistic comparison (a firmware reboot runs the whole UEFI start again):
//           kexec-ts -c -l + kexec-ts -e and kexec -c -l + kexec -e vs reboot -f; before each of
//           the three the guest has run the same kexec-ts load (Node.js: see uefi-scenarios.ts).
// Usage: node --import tsx bench/kexec-vs-reboot.ts [SUITE...] [--cpu=max] [--uefi]   (default: bookworm trixie)
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { runScenario, type Marker, type ScenarioResult } from '../e2e/harness/scenario.ts';
import { recordTimings } from '../e2e/harness/testing.ts';
import { firmwareReboot, kexecReboot } from '../e2e/scenarios.ts';
import { firmwareRebootUefi, kexecUefi } from '../e2e/uefi-scenarios.ts';

const args = process.argv.slice(2);
const cpu = args.find((a) => a.startsWith('--cpu='))?.slice(6) ?? 'max';
const uefi = args.includes('--uefi');
const suites = args.filter((a) => !a.startsWith('--'));
if (suites.length === 0) suites.push('bookworm', 'trixie');

const s = (ms: number) => (ms / 1000).toFixed(1);
const nth = (r: ScenarioResult, stage: string, name: string, n: number) => r.markers.filter((m) => m.stage === stage && m.name === name)[n]!;

interface Row {
  path: string;
  /** the -e (or reboot -f) marker, the -l marker when there is one, and the next /init */
  exec: Marker;
  load?: Marker;
  init: Marker;
}

console.log('| suite (kernel) | firmware | path | -e → next /init (host) | -l + -e → next /init | inside the new kernel (uptime at /init) | vs reboot -f | load avg |');
console.log('|---|---|---|---|---|---|---|---|');
for (const suite of suites) {
  let rows: Row[];
  let kexecRun: ScenarioResult;
  const fw = await runScenario(uefi ? { ...firmwareRebootUefi(suite, cpu), name: 'bench-reboot-uefi' } : { ...firmwareReboot(suite, cpu), name: 'bench-reboot' });
  const reboot: Row = { path: 'reboot -f', exec: fw.marker('first', 'reboot-f'), init: nth(fw, 'first', 'boot', 1) };
  if (uefi) {
    const k = (kexecRun = await runScenario({ ...(await kexecUefi(suite, cpu, { bench: true })), name: 'bench-kexec-uefi' }));
    rows = [
      { path: 'kexec-ts -c -l, kexec-ts -e', load: k.marker('first', 'kexec-l'), exec: k.marker('first', 'kexec-e'), init: k.marker('second', 'boot') },
      { path: 'kexec -c -l, kexec -e', load: k.marker('second', 'kexec-l'), exec: k.marker('second', 'kexec-e'), init: k.marker('third', 'boot') },
    ];
  } else {
    const k = (kexecRun = await runScenario({ ...kexecReboot(suite, cpu, randomBytes(4096)), name: 'bench-kexec' }));
    rows = [
      { path: 'kexec -l, kexec -e', exec: k.marker('first', 'kexec-e'), init: k.marker('second', 'boot') },
      { path: 'kexec -s -l, kexec -e', exec: k.marker('second', 'kexec-e'), init: k.marker('third', 'boot') },
    ];
  }
  const load = loadavg()[0]!.toFixed(1);
  const rebootMs = reboot.init.hostMs - reboot.exec.hostMs;
  for (const r of [...rows, reboot]) {
    const ms = r.init.hostMs - r.exec.hostMs;
    const withLoad = r.load ? `${s(r.init.hostMs - r.load.hostMs)} s` : '—';
    const ratio = r === reboot ? '1' : [`${(ms / rebootMs).toFixed(2)} (-e)`, ...(r.load ? [`${((r.init.hostMs - r.load.hostMs) / rebootMs).toFixed(2)} (-l + -e)`] : [])].join(', ');
    console.log(`| ${suite} (${kexecRun.kernel.release}) | ${uefi ? 'OVMF' : 'SeaBIOS'} | ${r.path} | ${s(ms)} s | ${withLoad} | ${r.init.uptime.toFixed(1)} s | ${ratio} | ${load} |`);
  }
  recordTimings(kexecRun, uefi ? 'bench-kexec-uefi' : 'bench-kexec');
  recordTimings(fw, uefi ? 'bench-reboot-uefi' : 'bench-reboot');
  kexecRun.cleanup();
  fw.cleanup();
}

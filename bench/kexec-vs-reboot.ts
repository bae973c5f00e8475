// kexec vs firmware reboot on real Debian kernels under QEMU (TCG): the time from `kexec -e` to the
// next kernel's /init, against `reboot -f` through SeaBIOS to the same kernel's /init, same guest
// (1 GiB, -smp 1, same initramfs). Host time between the console markers, plus the new kernel's
// uptime at /init (time spent inside that kernel).
// Usage: node --import tsx bench/kexec-vs-reboot.ts [SUITE...] [--cpu=max]   (default: bookworm trixie)
import { randomBytes } from 'node:crypto';
import { runScenario, type ScenarioResult } from '../e2e/harness/scenario.ts';
import { recordTimings } from '../e2e/harness/testing.ts';
import { firmwareReboot, kexecReboot } from '../e2e/scenarios.ts';

const args = process.argv.slice(2);
const cpu = args.find((a) => a.startsWith('--cpu='))?.slice(6) ?? 'max';
const suites = args.filter((a) => !a.startsWith('--'));
if (suites.length === 0) suites.push('bookworm', 'trixie');

const s = (ms: number) => (ms / 1000).toFixed(1);
const nth = (r: ScenarioResult, stage: string, name: string, n: number) => r.markers.filter((m) => m.stage === stage && m.name === name)[n]!;

console.log('| suite (kernel) | path | command -> next /init (host) | of which inside the new kernel (uptime at /init) | load avg |');
console.log('|---|---|---|---|---|');
for (const suite of suites) {
  const k = await runScenario({ ...kexecReboot(suite, cpu, randomBytes(4096)), name: 'bench-kexec' });
  const fw = await runScenario({ ...firmwareReboot(suite, cpu), name: 'bench-reboot' });
  const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
  const rows: [string, number, number][] = [
    ['kexec -l, kexec -e', k.marker('second', 'boot').hostMs - k.marker('first', 'kexec-e').hostMs, k.marker('second', 'boot').uptime],
    ['kexec -s -l, kexec -e', k.marker('third', 'boot').hostMs - k.marker('second', 'kexec-e').hostMs, k.marker('third', 'boot').uptime],
    ['reboot -f (SeaBIOS)', nth(fw, 'first', 'boot', 1).hostMs - fw.marker('first', 'reboot-f').hostMs, nth(fw, 'first', 'boot', 1).uptime],
  ];
  for (const [path, ms, up] of rows) console.log(`| ${suite} (${k.kernel.release}) | ${path} | ${s(ms)} s | ${up.toFixed(1)} s | ${load} |`);
  recordTimings(k, 'bench-kexec');
  recordTimings(fw, 'bench-reboot');
  k.cleanup();
  fw.cleanup();
}

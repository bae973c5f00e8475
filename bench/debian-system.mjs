// Issue 12's figures on real Debian systems, ours and the reference tools' in one run: runs
// e2e/debian-lifecycle.test.ts (our .deb: crash -> back, systemctl reboot vs systemctl kexec on SeaBIOS
// and OVMF, kexec-ts vs kexec-tools loading the kexec) and e2e/debian-kdump-tools.test.ts (Debian's
// kdump-tools in the same kind of guest), then prints the table and the ratios from the records
// they append to e2e/out/timings.jsonl. Every guest runs alone (E2E_SEQUENTIAL=1: the lifecycle's two
// guests one after the other), so ours and kdump-tools' figures are taken alike. TCG guests on a shared
// host: read the load with every figure.
// Usage: node bench/debian-system.mjs [--all]   (--all: bookworm too; as root, ~30-60 min)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const all = process.argv.includes('--all');
const start = new Date().toISOString();
const load0 = loadavg().map((x) => x.toFixed(1)).join(' ');
const r = spawnSync(process.execPath, ['e2e/run.mjs', '--debian', ...(all ? ['--all'] : []), 'debian-lifecycle', 'debian-kdump-tools'], { stdio: 'inherit', env: { ...process.env, E2E_SEQUENTIAL: '1' } });
const load1 = loadavg().map((x) => x.toFixed(1)).join(' ');
if (r.status !== 0) console.error(`bench/debian-system: the e2e run failed (exit ${r.status}); the table has what was recorded`);

const records = readFileSync(new URL('../e2e/out/timings.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((x) => x.at >= start && (x.scenario === 'debian-lifecycle' || x.scenario === 'debian-kdump-tools'));
const s = (v) => (v === undefined ? '–' : `${v.toFixed(1)} s`);
const ratio = (a, b) => (a === undefined || b === undefined ? '–' : (a / b).toFixed(2));
const mib = (bytes) => (bytes === undefined ? '–' : `${(bytes / 1048576).toFixed(1)} MiB`);

console.log(`\nDebian systems, ${start} (load ${load0} at the start, ${load1} at the end)\n`);
console.log('| suite | figure | kexec-ts | reference | ratio (goal) |');
console.log('|---|---|---|---|---|');
for (const suite of [...new Set(records.map((x) => x.suite))]) {
  const ours = records.findLast((x) => x.suite === suite && x.scenario === 'debian-lifecycle')?.extra ?? {};
  const kt = records.findLast((x) => x.suite === suite && x.scenario === 'debian-kdump-tools')?.extra ?? {};
  const rows = [
    ['sysrq-c → dump saved → multi-user.target (SeaBIOS)', s(ours.crashToMultiUserSeabiosS), `kdump-tools ${s(kt.crashToMultiUserS)}`, `${ratio(ours.crashToMultiUserSeabiosS, kt.crashToMultiUserS)} (≤ 0.8)`],
    ['sysrq-c → dump saved → multi-user.target (OVMF)', s(ours.crashToMultiUserOvmfS), '–', '–'],
    ['systemctl kexec → multi-user.target, SeaBIOS (new kernel)', s(ours.kexecNewKernelSeabiosS), `systemctl reboot ${s(ours.rebootSeabiosS)}`, `${ratio(ours.kexecNewKernelSeabiosS, ours.rebootSeabiosS)} (≤ 0.5)`],
    ['kexec-ts reboot (GRUB\'s default) → multi-user.target, SeaBIOS', s(ours.kexecTsRebootSeabiosS), `systemctl reboot ${s(ours.rebootSeabiosS)}`, `${ratio(ours.kexecTsRebootSeabiosS, ours.rebootSeabiosS)} (≤ 0.5, issue 13)`],
    ['systemctl kexec → multi-user.target, OVMF (same kernel)', s(ours.kexecTsOvmfS), `systemctl reboot ${s(ours.rebootOvmfS)}`, `${ratio(ours.kexecTsOvmfS, ours.rebootOvmfS)} (≤ 0.5)`],
    ['systemctl kexec, loaded by kexec-ts vs kexec-tools (OVMF)', s(ours.kexecTsOvmfS), `kexec-tools ${s(ours.kexecToolsOvmfS)}`, `${ratio(ours.kexecTsOvmfS, ours.kexecToolsOvmfS)} (≤ 1.0)`],
    ['the load command (kexec -l)', ours.kexecTsLoadMs === undefined ? '–' : `${ours.kexecTsLoadMs} ms`, ours.kexecToolsLoadMs === undefined ? '–' : `kexec-tools ${ours.kexecToolsLoadMs} ms`, ratio(ours.kexecTsLoadMs, ours.kexecToolsLoadMs)],
    ['capture initramfs', mib(ours.captureInitrdBytes), `kdump-tools ${mib(kt.captureInitrdBytes)}`, ratio(ours.captureInitrdBytes, kt.captureInitrdBytes)],
    ['.deb / installed size', `${mib(ours.debBytes)} / ${ours.installedKiB === undefined ? '–' : `${(ours.installedKiB / 1024).toFixed(1)} MiB`}`, '–', 'report'],
  ];
  for (const [figure, a, b, c] of rows) console.log(`| ${suite} | ${figure} | ${a} | ${b} | ${c} |`);
}
process.exit(r.status ?? 1);

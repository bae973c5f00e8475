// Prints the latest e2e timings (e2e/out/timings.jsonl, appended by every scenario run) as
// Markdown for BENCHMARKS.md: wall time per scenario and the guest uptime at each stage's markers.
// Usage: node e2e/timings-report.mjs [SCENARIO...]
import { readFileSync } from 'node:fs';

const want = process.argv.slice(2);
const latest = new Map();
for (const line of readFileSync(new URL('out/timings.jsonl', import.meta.url), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  if (want.length && !want.includes(r.scenario)) continue;
  latest.set(`${r.scenario} ${r.suite} ${r.cpu}`, r);
}
console.log('| scenario | kernel | cpu | wall (QEMU) | guest uptime at markers (s) |');
console.log('|---|---|---|---|---|');
for (const r of latest.values()) {
  const marks = r.markers
    .filter((m) => !/:(disk|stage-start|exit|kexec-loaded)$/.test(m.key))
    .map((m) => `${m.key} ${m.uptime.toFixed(1)}`)
    .join(', ');
  const extra = r.extra ? ' — ' + Object.entries(r.extra).map(([k, v]) => `${k} ${Number(v).toFixed(1)}`).join(', ') : '';
  console.log(`| ${r.scenario} | ${r.release} | ${r.cpu} | ${(r.wallMs / 1000).toFixed(0)} s (${(r.qemuMs / 1000).toFixed(0)} s) | ${marks}${extra} |`);
}

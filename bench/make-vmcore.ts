// Makes an unfiltered raw ELF /proc/vmcore of a guest of any memory size for the save benchmark
// (bench/save.mjs): the e2e kdump scenario (kexec -p, sysrq-c, `makedumpfile -E -d 0` in the capture
// kernel) in a MEM MiB guest, cached as ~/.cache/kexec-ts/vmcore/SUITE-CPU-<N>g.elf with a .json
// beside it (the 1 GiB ones the e2e kdump test caches are SUITE-CPU.elf). One QEMU run (TCG): about
// 3 minutes for 2 GiB.
//   node --import tsx bench/make-vmcore.ts [SUITE] [MEM_MIB] [CPU]     (default: bookworm 2048 qemu64)
import { randomBytes } from 'node:crypto';
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../e2e/harness/cache.ts';
import { runScenario } from '../e2e/harness/scenario.ts';
import { kdump } from '../e2e/scenarios.ts';

const [suite = 'bookworm', mem = '2048', cpu = 'qemu64'] = process.argv.slice(2);
const memoryMiB = Number(mem);
if (!Number.isInteger(memoryMiB) || memoryMiB < 512) throw new Error(`MEM_MIB must be an integer >= 512, not ${mem}`);
const name = memoryMiB === 1024 ? `${suite}-${cpu}` : `${suite}-${cpu}-${memoryMiB % 1024 === 0 ? `${memoryMiB / 1024}g` : `${memoryMiB}m`}`;
const dir = cacheDir('vmcore');
const dest = join(dir, `${name}.elf`);

const started = Date.now();
const r = await runScenario({
  ...kdump(suite, cpu, `BENCH-CRASH-${randomBytes(6).toString('hex')}`, true, memoryMiB),
  name: `bench-vmcore-${memoryMiB}m`,
  timeoutMs: 30 * 60_000,
  log: process.env.E2E_VERBOSE ? (s) => process.stderr.write(s + '\n') : undefined,
});
r.marker('capture', 'saved-raw');
r.disk.copyOut('vmcore-raw.elf', `${dest}.tmp`);
renameSync(`${dest}.tmp`, dest);
writeFileSync(
  join(dir, `${name}.json`),
  JSON.stringify({ suite, cpu, memoryMiB, release: r.kernel.release, version: r.kernel.version, vmcore: dest, made: new Date().toISOString() }, null, 1) + '\n',
);
r.cleanup();
console.log(`${dest}: ${(statSync(dest).size / 2 ** 30).toFixed(2)} GiB, kernel ${r.kernel.release}, ${((Date.now() - started) / 1000).toFixed(0)} s`);

// Options only some kernel types take are declared by their loader (kexec-tools' file_type usage()):
// the CLI's option table and help come from the declarations, and the plan refuses one given for a
// loader that does not declare it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { LOADERS, LOADER_OPTIONS, loaderOptionsUsage, loaderTakes } from '../../src/kexec/loaders.ts';
import { describeError } from '../../src/cli/run.ts';
import { probeSection } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

test('loader options: --dtb belongs to the arm64 Image loader, --efi-memmap to elf-ia64, none to the x86_64 loaders', () => {
  const owners = Object.fromEntries(LOADER_OPTIONS.map((o) => [o.name, LOADERS.filter((l) => loaderTakes(l.name, o.name)).map((l) => l.name)]));
  assert.deepEqual(owners, { dtb: ['Image'], 'efi-memmap': ['elf-ia64'] });
  assert.ok(!loaderTakes('bzImage64', 'dtb') && !loaderTakes('elf-x86_64', 'efi-memmap'));
});

test('kexec-ts --help lists every loader option with its declared usage line', () => {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kexec-ts.ts', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const line of loaderOptionsUsage().split('\n')) assert.ok(r.stdout.includes(line + '\n'), `help has: ${line}`);
  assert.match(r.stdout, /^ {6}--dtb=FILE {11}device tree \(arm64\)$/m);
});

test('--efi-memmap with an x86_64 kernel is refused in one line: the elf-ia64 loader declares it, bzImage64 does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loader-options-'));
  const file = (name: string, data: string | Uint8Array) => (writeFileSync(join(dir, name), data), join(dir, name));
  const req = {
    kernel: file('vmlinuz', fakeBzImage(FIXTURE_KERNEL)),
    efiMemmap: file('efi-memmap', ''),
    kind: 'load' as const,
    syscall: 'load' as const,
    cmdline: '',
    dryRun: true,
    machine: { iomem: file('iomem', probeSection('IOMEM')) },
  };
  await assert.rejects(planKernelLoad(req), (e: unknown) => (assert.equal(describeError(e).line, '--efi-memmap is for IA-64 kernels'), true));
});

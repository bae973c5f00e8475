// `kexec-ts -p -d --dry-run --root DIR` (the library's planKernelLoad): the crash load planned with the machine's real facts (crash
// notes, VMCOREINFO, kernel text, read from DIR as from / on a live machine) prints the ELF core
// header lines kexec-tools prints for `kexec -c -p -d` on the fixture machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { dryRunText, type LoadRequest } from '../../src/kexec/load.ts';
import { probeSection } from './fixture.ts';
import { FIXTURE_KERNEL, fakeBzImage } from './synthetic.ts';

const kexecP = probeSection('KEXEC_P');
const theirs = (prefix: string) => kexecP.split('\n').filter((l) => l.startsWith(prefix));

/** The fixture machine's /proc and /sys, as far as a crash load reads them. */
function fixtureRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'kexec-root-'));
  const text = /kernel vaddr = 0x([0-9a-f]+) size = (0x[0-9a-f]+)/.exec(kexecP)!;
  const files: Record<string, string> = {
    'proc/iomem': probeSection('IOMEM'),
    'sys/kernel/vmcoreinfo': probeSection('VMCOREINFO'),
    // kexec-tools read the kernel text from /proc/kcore; _text.._end gives the same range
    'proc/kallsyms': `${text[1]} T _text\n${(BigInt('0x' + text[1]) + BigInt(text[2]!)).toString(16)} B _end\n`,
  };
  for (const line of probeSection('CRASHNOTES').trim().split('\n')) {
    const [dir, addr, size] = line.split(' ');
    files[`${dir!.slice(1)}/crash_notes`] = `${addr}\n`;
    files[`${dir!.slice(1)}/crash_notes_size`] = `${size}\n`;
  }
  for (const [p, t] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), t);
  }
  return root;
}

/** kexec-ts -p -c --dry-run --root ROOT KERNEL [--initrd] --command-line CMDLINE [-d]: what it prints. */
async function planCrash(root: string, kernel: string, cmdline: string, o: Partial<LoadRequest> & { debug?: boolean } = {}): Promise<string> {
  const { debug, ...req } = o;
  const p = await planKernelLoad({ kernel, kind: 'crash', syscall: 'load', cmdline, dryRun: true, machine: { root }, ...req });
  return dryRunText(p, { debug: !!debug });
}

test('-p -d --dry-run --root: the ELF core header lines of kexec -c -p -d (PT_NOTEs, VMCOREINFO, kernel text equal; RAM without the backup range)', async () => {
  const root = fixtureRoot();
  const dir = mkdtempSync(join(tmpdir(), 'kexec-p-'));
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage(FIXTURE_KERNEL));
  writeFileSync(join(dir, 'initrd'), new Uint8Array(0x10000));
  const r = { out: await planCrash(root, join(dir, 'vmlinuz'), 'console=ttyS0 stage=capture', { initrd: join(dir, 'initrd'), debug: true }) };
  const ours = (prefix: string) => r.out.split('\n').filter((l) => l.startsWith(prefix));
  assert.deepEqual(ours('Elf header: p_type = 4'), theirs('Elf header: p_type = 4'));
  assert.deepEqual(ours('vmcoreinfo header'), theirs('vmcoreinfo header'));
  assert.deepEqual(ours('Kernel text Elf header'), theirs('Kernel text Elf header'));
  // RAM: the same physical ranges but kexec-tools' backup of the low 640 KiB (see test/kdump/crash-load.test.ts);
  // p_vaddr differs (no /proc/kcore here: the default direct-map base)
  const ram = (l: string) => l.replace(/ p_vaddr = 0x[0-9a-f]+/, '');
  assert.deepEqual(ours('Elf header: p_type = 1').map(ram), theirs('Elf header: p_type = 1').slice(1).map(ram));
  const at = /^Created elf header segment at (0x[0-9a-f]+)$/m.exec(r.out);
  assert.ok(at, 'names where the header went');
  const cmdline = r.out.split('\n')[r.out.split('\n').indexOf('Command line after adding elfcorehdr') + 1];
  assert.equal(cmdline, `console=ttyS0 stage=capture elfcorehdr=${BigInt(at[1]!) / 1024n}K`);
  // the header lines come before the loader's, as in kexec -d
  assert.ok(r.out.indexOf('Elf header: p_type = 4') < r.out.indexOf('Loaded purgatory at'));
});

test('-p --dry-run on a machine without crash notes plans the region and says what is missing', async () => {
  const root = fixtureRoot();
  const dir = mkdtempSync(join(tmpdir(), 'kexec-p-'));
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage(FIXTURE_KERNEL));
  rmSync(join(root, 'sys/devices'), { recursive: true, force: true });
  const out = await planCrash(root, join(dir, 'vmlinuz'), 'console=ttyS0');
  assert.match(out, /note: --dry-run: the ELF core header is left out: no CPU crash notes found/);
});

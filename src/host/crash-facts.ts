// Node edge: reads the facts a crash load and `kdump-ts status` need from a machine's /proc and /sys.
// `root` is a parameter so tests point it at a directory tree shaped like / (default "/").
import { closeSync, openSync, readSync } from 'node:fs';
import { ParseError } from '../errors.ts';
import { Elf64Ehdr, Elf64Phdr, PT_LOAD } from '../format/elf.ts';
import { readStruct } from '../format/struct.ts';
import { acpiRsdpAddr } from '../kexec/arch/x86_64/efi.ts';
import { currentBootParams } from './kexec-facts.ts';
import { readEfiFacts, SYS_FIRMWARE_EFI } from './efi-facts.ts';
import type { CrashFacts } from '../kdump/crash-load.ts';
import { listDir, machinePath, readText } from './machine-files.ts';
import { crashFactsFrom, type CpuNoteFiles, type KcoreLoad } from '../kdump/crash-facts.ts';
import type { CoreArch } from '../kdump/elfcorehdr.ts';

/** Every cpuN directory's crash note files; CPUs without a crash_notes file are skipped. */
function readCpuNoteFiles(root: string): CpuNoteFiles[] {
  const out: CpuNoteFiles[] = [];
  for (const name of listDir(root, '/sys/devices/system/cpu')) {
    const m = /^cpu(\d+)$/.exec(name);
    if (!m) continue;
    const dir = `/sys/devices/system/cpu/${name}`;
    const notes = readText(root, `${dir}/crash_notes`);
    if (notes === undefined) continue;
    const size = readText(root, `${dir}/crash_notes_size`);
    out.push({ cpu: Number(m[1]), dir, notes, ...(size !== undefined ? { size } : {}) });
  }
  return out;
}

/** The PT_LOAD headers of /proc/kcore (just the headers: kcore is as large as the address space). */
function readKcoreLoads(root: string): KcoreLoad[] | undefined {
  let fd: number;
  try {
    fd = openSync(machinePath(root, '/proc/kcore'), 'r');
  } catch {
    return undefined;
  }
  try {
    const read = (off: number, len: number) => {
      const b = new Uint8Array(len);
      const n = readSync(fd, b, 0, len, off);
      if (n < len) throw new ParseError(`ends at ${off + n}, needs ${len} bytes at ${off}`, { source: '/proc/kcore' });
      return b;
    };
    const eh = readStruct(Elf64Ehdr, read(0, Elf64Ehdr.size));
    if (eh.ident[0] !== 0x7f || eh.ident[1] !== 0x45 || eh.ident[4] !== 2) throw new ParseError('not an ELF64 file', { source: '/proc/kcore' });
    const phdrs = read(Number(eh.phoff), eh.phnum * Elf64Phdr.size);
    const out: KcoreLoad[] = [];
    for (let i = 0; i < eh.phnum; i++) {
      const p = readStruct(Elf64Phdr, phdrs, i * Elf64Phdr.size);
      if (p.type === PT_LOAD) out.push({ vaddr: p.vaddr, paddr: p.paddr, memsz: p.memsz });
    }
    return out;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads everything planCrashLoad needs from the machine at `root` (kdump/crash-facts.ts decides what
 * it means); `arch`: the kernel being loaded's (x86_64 reads the ACPI RSDP, arm64 has none to pass).
 */
export function readCrashFacts(root = '/', arch: CoreArch = 'x86_64'): CrashFacts {
  const iomemSource = machinePath(root, '/proc/iomem');
  const iomem = readText(root, '/proc/iomem');
  if (iomem === undefined) throw new ParseError('cannot read /proc/iomem', { source: iomemSource });
  const vmcoreinfo = readText(root, '/sys/kernel/vmcoreinfo');
  const kcoreLoads = readKcoreLoads(root);
  return crashFactsFrom({
    iomem,
    iomemSource,
    cpus: readCpuNoteFiles(root),
    ...(vmcoreinfo !== undefined ? { vmcoreinfo } : {}),
    ...(kcoreLoads ? { kcoreLoads } : {}),
    kallsyms: () => readText(root, '/proc/kallsyms'),
    // boot_params' RSDP, else the EFI system table's (kernels started through the EFI stub leave it 0).
    acpiRsdp: arch === 'x86_64' ? acpiRsdpAddr(currentBootParams(root), readEfiFacts(machinePath(root, SYS_FIRMWARE_EFI))) : 0n,
  }, arch);
}

// Node edge: reads the facts a crash load and `kdump-ts status` need from a machine's /proc and /sys.
// `root` is a parameter so tests point it at a directory tree shaped like / (default "/").
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.ts';
import { Elf64Ehdr, Elf64Phdr, PT_LOAD } from '../format/elf.ts';
import { readStruct } from '../format/struct.ts';
import { acpiRsdpAddr } from '../kexec/arch/x86_64/efi.ts';
import { currentBootParams } from './kexec-facts.ts';
import { readEfiFacts, SYS_FIRMWARE_EFI } from './efi-facts.ts';
import { findIomem, parseIomem } from '../kexec/memory-map.ts';
import { alignUp, PAGE_SIZE } from '../kexec/plan.ts';
import type { CrashFacts } from '../kdump/crash-load.ts';
import type { CpuNote } from '../kdump/elfcorehdr.ts';
import { DEFAULT_CRASH_NOTES_SIZE } from '../kdump/elfcorehdr.ts';
import { X86_64_START_KERNEL_MAP } from '../format/x86_64-layout.ts';

export function hostPath(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/** The file's text, or undefined when it does not exist or cannot be read. */
export function readText(root: string, path: string): string | undefined {
  try {
    return readFileSync(hostPath(root, path), 'latin1');
  } catch {
    return undefined;
  }
}

function hexValue(text: string, source: string): bigint {
  const t = text.trim();
  if (!/^(0x)?[0-9a-fA-F]+$/.test(t)) throw new ParseError(`not a hex number: ${JSON.stringify(t.slice(0, 40))}`, { source });
  return BigInt(t.startsWith('0x') ? t : '0x' + t);
}

/** /sys/kernel/vmcoreinfo: "0x<addr> <hex size>" (older kernels: "<addr> <size>", both hex). */
export function parseVmcoreinfoFile(text: string, source = '/sys/kernel/vmcoreinfo'): { addr: bigint; size: bigint } {
  const [a, s] = text.trim().split(/\s+/);
  if (!a || !s) throw new ParseError(`expected "ADDRESS SIZE", got ${JSON.stringify(text.trim().slice(0, 60))}`, { source });
  return { addr: hexValue(a, source), size: hexValue(s, source) };
}

/** Every cpuN directory's crash note buffer, in CPU order; CPUs without a crash_notes file are skipped. */
export function readCpuNotes(root: string): CpuNote[] {
  const dir = hostPath(root, '/sys/devices/system/cpu');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: CpuNote[] = [];
  for (const name of names) {
    const m = /^cpu(\d+)$/.exec(name);
    if (!m) continue;
    const base = `/sys/devices/system/cpu/${name}`;
    const addr = readText(root, `${base}/crash_notes`);
    if (addr === undefined) continue;
    const size = readText(root, `${base}/crash_notes_size`);
    out.push({
      cpu: Number(m[1]),
      addr: hexValue(addr, `${base}/crash_notes`),
      size: size !== undefined ? BigInt(size.trim()) : DEFAULT_CRASH_NOTES_SIZE,
    });
  }
  return out.sort((a, b) => a.cpu - b.cpu);
}

/** The PT_LOAD headers of /proc/kcore (just the headers: kcore is as large as the address space). */
export function readKcoreLoads(root: string): { vaddr: bigint; paddr: bigint; memsz: bigint }[] | undefined {
  let fd: number;
  try {
    fd = openSync(hostPath(root, '/proc/kcore'), 'r');
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
    const out: { vaddr: bigint; paddr: bigint; memsz: bigint }[] = [];
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

const NO_PADDR = 0xffffffffffffffffn;
const GIB = 1n << 30n;

/**
 * page_offset_base from kcore: the direct map is the lowest kernel mapping; its entries carry their
 * physical address (fs/proc/kcore.c sets p_paddr = __pa(vaddr) for RAM). Older kcores without p_paddr:
 * the lowest mapping rounded down to 1 GiB, like kexec-tools.
 */
export function pageOffsetFromKcore(loads: { vaddr: bigint; paddr: bigint }[]): bigint | undefined {
  const direct = loads
    .filter((l) => l.vaddr < X86_64_START_KERNEL_MAP && l.vaddr >= 0xff00000000000000n)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
  const withPaddr = direct.find((l) => l.paddr !== NO_PADDR && l.paddr !== 0n && l.vaddr > l.paddr && (l.vaddr - l.paddr) % GIB === 0n);
  if (withPaddr) return withPaddr.vaddr - withPaddr.paddr;
  return direct[0] ? (direct[0].vaddr / GIB) * GIB : undefined;
}

/** `_text` and `_end` from /proc/kallsyms (real values only as root; 0 otherwise). */
export function kallsymsTextRange(text: string): { text: bigint; end: bigint } | undefined {
  let t: bigint | undefined;
  let e: bigint | undefined;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) \S (_text|_end)$/.exec(line);
    if (!m) continue;
    if (m[2] === '_text') t = BigInt('0x' + m[1]);
    else e = BigInt('0x' + m[1]);
    if (t !== undefined && e !== undefined) break;
  }
  return t && e && e > t ? { text: t, end: e } : undefined;
}

/** Reads everything planCrashLoad needs from the machine at `root`. */
export function readCrashFacts(root = '/'): CrashFacts {
  const iomemText = readText(root, '/proc/iomem');
  if (iomemText === undefined) throw new ParseError('cannot read /proc/iomem', { source: hostPath(root, '/proc/iomem') });
  const iomem = parseIomem(iomemText, hostPath(root, '/proc/iomem'));
  const sources: string[] = [];
  const facts: CrashFacts = { iomem, cpuNotes: readCpuNotes(root), sources };
  const vmci = readText(root, '/sys/kernel/vmcoreinfo');
  if (vmci !== undefined) facts.vmcoreinfo = parseVmcoreinfoFile(vmci);
  else sources.push('no /sys/kernel/vmcoreinfo: the dump will lack VMCOREINFO (makedumpfile and crash need it)');

  const code = findIomem(iomem, 'Kernel code');
  const loads = readKcoreLoads(root);
  // The kernel image mapping: in __START_KERNEL_map's first GiB; modules (when they are in that GiB
  // too, without KASLR) sit above it, so the lowest one.
  const kcoreText = loads
    ?.filter((l) => l.vaddr >= X86_64_START_KERNEL_MAP && l.vaddr + l.memsz <= X86_64_START_KERNEL_MAP + GIB)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1))[0];
  if (code && kcoreText) {
    facts.kernelText = { vaddr: kcoreText.vaddr, paddr: code.start, size: alignUp(kcoreText.memsz, PAGE_SIZE) };
    sources.push('kernel text: /proc/kcore + "Kernel code" in /proc/iomem');
  } else {
    const ks = readText(root, '/proc/kallsyms');
    const range = ks !== undefined ? kallsymsTextRange(ks) : undefined;
    if (code && range) {
      facts.kernelText = { vaddr: range.text, paddr: code.start, size: alignUp(range.end - range.text, PAGE_SIZE) };
      sources.push('kernel text: /proc/kallsyms _text.._end + "Kernel code" in /proc/iomem');
    } else sources.push('kernel text: unknown (no readable /proc/kcore or /proc/kallsyms): no kernel text PT_LOAD');
  }
  const po = loads ? pageOffsetFromKcore(loads) : undefined;
  if (po !== undefined) {
    facts.pageOffset = po;
    sources.push('page offset: /proc/kcore');
  } else sources.push('page offset: /proc/kcore unreadable, using the non-KASLR default 0xffff888000000000 (RAM p_vaddr may be wrong)');

  // boot_params' RSDP, else the EFI system table's (kernels started through the EFI stub leave it 0).
  const rsdp = acpiRsdpAddr(currentBootParams(root), readEfiFacts(hostPath(root, SYS_FIRMWARE_EFI)));
  if (rsdp !== 0n) facts.acpiRsdp = rsdp;
  return facts;
}

// The running kernel's facts a crash load needs, decided from the texts of /proc and /sys (and
// /proc/kcore's program headers) that src/host/crash-facts.ts reads: which source gives the kernel
// text and the direct-map base, and what is missing. Pure: texts in, CrashFacts out.
// arm64 (the loader's architecture, from the image): kcore's linear-map entries carry p_paddr =
// __pa(vaddr), its kernel text entry (_text.._end) p_paddr = __pa_symbol(_text) (fs/proc/kcore.c), so
// both the linear offset (PAGE_OFFSET - PHYS_OFFSET, KASLR's linear-region randomization included)
// and the kernel text come from there; kexec-tools instead reads VA_BITS from kcore's VMCOREINFO note
// and _text from kallsyms (crashdump-arm64.c get_page_offset).
import { ParseError } from '../errors.ts';
import { X86_64_START_KERNEL_MAP } from '../format/x86_64-layout.ts';
import { findIomem, parseIomem } from '../kexec/memory-map.ts';
import { alignUp, PAGE_SIZE } from '../kexec/plan.ts';
import type { CrashFacts } from './crash-load.ts';
import { DEFAULT_CRASH_NOTES_SIZE, type CoreArch, type CpuNote } from './elfcorehdr.ts';

/** A hex number as sysfs writes it ("0x1f" or "1f"). */
export function hexValue(text: string, source: string): bigint {
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

/** One cpuN directory's crash_notes (hex address) and crash_notes_size (decimal) texts. */
export interface CpuNoteFiles {
  cpu: number;
  /** The directory, for messages (/sys/devices/system/cpu/cpuN). */
  dir: string;
  notes: string;
  size?: string;
}

/** The CPU note buffers, in CPU order (a missing size is kexec-tools' default). */
export function cpuNotesFrom(files: CpuNoteFiles[]): CpuNote[] {
  return files
    .map((f) => ({
      cpu: f.cpu,
      addr: hexValue(f.notes, `${f.dir}/crash_notes`),
      size: f.size !== undefined ? BigInt(f.size.trim()) : DEFAULT_CRASH_NOTES_SIZE,
    }))
    .sort((a, b) => a.cpu - b.cpu);
}

export interface KcoreLoad {
  vaddr: bigint;
  paddr: bigint;
  memsz: bigint;
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

/** `_text` and `_end` (and `_stext`) from /proc/kallsyms (real values only as root; 0 otherwise). */
export function kallsymsTextRange(text: string): { text: bigint; end: bigint; stext?: bigint } | undefined {
  let t: bigint | undefined;
  let e: bigint | undefined;
  let st: bigint | undefined;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) \S (_text|_end|_stext)$/.exec(line);
    if (!m) continue;
    const v = BigInt('0x' + m[1]);
    if (m[2] === '_text') t = v;
    else if (m[2] === '_stext') st = v;
    else e = v;
    if (t !== undefined && e !== undefined && st !== undefined) break;
  }
  return t && e && e > t ? { text: t, end: e, ...(st ? { stext: st } : {}) } : undefined;
}

const U64 = (1n << 64n) - 1n;

/**
 * arm64 from kcore's PT_LOADs: the linear offset (vaddr - paddr of the linear-map entries, the
 * offset most kcore memory shares) and the kernel text entry (valid p_paddr, another offset, holding
 * "Kernel code"). Entries without a physical address (vmalloc, modules: p_paddr = -1) are skipped.
 */
export function arm64FromKcore(loads: KcoreLoad[], kernelCode?: { start: bigint }): { linear?: bigint; text?: KcoreLoad } {
  const withPa = loads.filter((l) => l.paddr !== NO_PADDR && l.memsz > 0n);
  const bytes = new Map<bigint, bigint>();
  for (const l of withPa) {
    const d = (l.vaddr - l.paddr) & U64;
    bytes.set(d, (bytes.get(d) ?? 0n) + l.memsz);
  }
  let linear: bigint | undefined;
  let most = -1n;
  for (const [d, n] of bytes) if (n > most) [linear, most] = [d, n];
  const text = withPa.find(
    (l) => ((l.vaddr - l.paddr) & U64) !== linear && (!kernelCode || (kernelCode.start >= l.paddr && kernelCode.start < l.paddr + l.memsz)),
  );
  return { ...(linear !== undefined ? { linear } : {}), ...(text ? { text } : {}) };
}

/** arm64: the kernel text and linear offset (kcore, else kallsyms + iomem for the text). */
function arm64Facts(f: CrashFactFiles, facts: CrashFacts, sources: string[]): void {
  const code = findIomem(facts.iomem, 'Kernel code');
  const k = f.kcoreLoads ? arm64FromKcore(f.kcoreLoads, code) : {};
  if (k.text) {
    facts.kernelText = { vaddr: k.text.vaddr, paddr: k.text.paddr, size: alignUp(k.text.memsz, PAGE_SIZE) };
    sources.push('kernel text: /proc/kcore (_text.._end, __pa_symbol(_text))');
  } else {
    const ks = f.kallsyms();
    const range = ks !== undefined ? kallsymsTextRange(ks) : undefined;
    // "Kernel code" starts at _stext (arch/arm64/kernel/setup.c); _text is the Image's start before it.
    if (code && range?.stext && range.stext >= range.text) {
      facts.kernelText = { vaddr: range.text, paddr: code.start - (range.stext - range.text), size: alignUp(range.end - range.text, PAGE_SIZE) };
      sources.push('kernel text: /proc/kallsyms _text/_stext/_end + "Kernel code" in /proc/iomem');
    } else sources.push('kernel text: unknown (no readable /proc/kcore or /proc/kallsyms): no kernel text PT_LOAD');
  }
  if (k.linear !== undefined) {
    facts.pageOffset = k.linear;
    sources.push('linear map (PAGE_OFFSET - PHYS_OFFSET): /proc/kcore');
  }
}

/** What the host read for a crash load (undefined: the file was missing or unreadable). */
export interface CrashFactFiles {
  iomem: string;
  /** Where /proc/iomem was read, for messages. */
  iomemSource: string;
  cpus: CpuNoteFiles[];
  vmcoreinfo?: string;
  /** /proc/kcore's PT_LOAD headers. */
  kcoreLoads?: KcoreLoad[];
  /** /proc/kallsyms, asked for only when kcore does not give the kernel text. */
  kallsyms: () => string | undefined;
  /** The ACPI RSDP (boot_params, else the EFI system table); 0 when unknown. */
  acpiRsdp: bigint;
}

/** The crash facts, each with the source it came from (or why it is missing) in `sources`. */
export function crashFactsFrom(f: CrashFactFiles, arch: CoreArch = 'x86_64'): CrashFacts {
  const iomem = parseIomem(f.iomem, f.iomemSource);
  const sources: string[] = [];
  const facts: CrashFacts = { iomem, cpuNotes: cpuNotesFrom(f.cpus), sources };
  if (f.vmcoreinfo !== undefined) facts.vmcoreinfo = parseVmcoreinfoFile(f.vmcoreinfo);
  else sources.push('no /sys/kernel/vmcoreinfo: the dump will lack VMCOREINFO (makedumpfile and crash need it)');
  if (arch === 'arm64') {
    arm64Facts(f, facts, sources);
    return facts;
  }

  const code = findIomem(iomem, 'Kernel code');
  const loads = f.kcoreLoads;
  // The kernel image mapping: in __START_KERNEL_map's first GiB; modules (when they are in that GiB
  // too, without KASLR) sit above it, so the lowest one.
  const kcoreText = loads
    ?.filter((l) => l.vaddr >= X86_64_START_KERNEL_MAP && l.vaddr + l.memsz <= X86_64_START_KERNEL_MAP + GIB)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1))[0];
  if (code && kcoreText) {
    facts.kernelText = { vaddr: kcoreText.vaddr, paddr: code.start, size: alignUp(kcoreText.memsz, PAGE_SIZE) };
    sources.push('kernel text: /proc/kcore + "Kernel code" in /proc/iomem');
  } else {
    const ks = f.kallsyms();
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
  if (f.acpiRsdp !== 0n) facts.acpiRsdp = f.acpiRsdp;
  return facts;
}

// Kernel symbol tables: one interface over the dump's own kallsyms, a System.map and a vmlinux ELF
// symtab. Addresses are runtime addresses (a System.map/vmlinux gets the KASLR offset added).
import { ParseError } from '../errors.ts';
import type { ElfFile, ElfSectionHeader } from '../format/elf.ts';
import { X86_64_START_KERNEL_MAP } from '../format/x86_64-layout.ts';
import { hex } from '../text.ts';

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** nm-style type letter: T/t text, D/d data, B/b bss, R/r rodata, A absolute ... */
  type: string;
}

export interface SymbolTable {
  /** "kallsyms in the dump", "System.map FILE", "vmlinux FILE". */
  readonly source: string;
  readonly count: number;
  byName(name: string): KernelSymbol | undefined;
  /** The symbol containing `address` (the nearest one at or below it), with the offset into it. */
  byAddress(address: bigint): { symbol: KernelSymbol; offset: bigint } | undefined;
  all(): readonly KernelSymbol[];
}

/** Past this distance from the nearest symbol below, an address is not attributed to it. */
export const MAX_OFFSET = 0x100000n;

/** A SymbolTable over a list of symbols (sorted here). */
export class SortedSymbolTable implements SymbolTable {
  readonly source: string;
  private readonly sorted: KernelSymbol[];
  private names: Map<string, KernelSymbol> | undefined;

  constructor(source: string, symbols: KernelSymbol[]) {
    this.source = source;
    this.sorted = symbols
      .filter((s) => s.address !== 0n)
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    if (this.sorted.length === 0) this.sorted = symbols.slice();
  }

  get count(): number {
    return this.sorted.length;
  }

  all(): readonly KernelSymbol[] {
    return this.sorted;
  }

  byName(name: string): KernelSymbol | undefined {
    if (!this.names) {
      this.names = new Map();
      // Prefer a global symbol when a local one has the same name.
      for (const s of this.sorted) {
        const old = this.names.get(s.name);
        if (!old || (isLocal(old) && !isLocal(s))) this.names.set(s.name, s);
      }
    }
    return this.names.get(name);
  }

  byAddress(address: bigint): { symbol: KernelSymbol; offset: bigint } | undefined {
    const a = this.sorted;
    let lo = 0;
    let hi = a.length - 1;
    if (hi < 0 || address < a[0]!.address) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (a[mid]!.address <= address) lo = mid;
      else hi = mid - 1;
    }
    // Among aliases at one address prefer the first global text symbol, like kallsyms does.
    let best = lo;
    for (let i = lo; i >= 0 && a[i]!.address === a[lo]!.address; i--) if (!isLocal(a[i]!)) best = i;
    const symbol = a[best]!;
    const offset = address - symbol.address;
    if (offset > MAX_OFFSET) return undefined;
    return { symbol, offset };
  }
}

function isLocal(s: KernelSymbol): boolean {
  return s.type >= 'a' && s.type <= 'z';
}

/** "name+0xoff" or the hex address when no symbol covers it. */
export function formatSymbolic(table: SymbolTable | undefined, address: bigint): string {
  const hit = table?.byAddress(address);
  if (!hit) return hex(address);
  return hit.offset === 0n ? hit.symbol.name : `${hit.symbol.name}+${hex(hit.offset)}`;
}

/**
 * A System.map ("ffffffff81000000 T _text" lines). `kernelOffset` (VMCOREINFO KERNELOFFSET) is
 * added to every kernel-image address, since System.map holds link-time addresses.
 */
export function parseSystemMap(text: string, name: string, kernelOffset = 0n, imageFloor = X86_64_START_KERNEL_MAP): SortedSymbolTable {
  if (/^[0-9a-f]+ \S The real System\.map is in the linux-image-\S+-dbg package\s*$/.test(text.trim())) {
    throw new ParseError(`this is Debian's placeholder, not a symbol table: ${JSON.stringify(text.trim())}`, {
      source: name,
      hint: 'install linux-image-RELEASE-dbg for the kernel that crashed and give --vmlinux /usr/lib/debug/boot/vmlinux-RELEASE',
    });
  }
  const syms: KernelSymbol[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (!line.trim()) continue;
    const m = /^([0-9a-fA-F]{1,16})\s+(\S)\s+(\S+)/.exec(line);
    if (!m) {
      throw new ParseError(`line ${lineNo} is not "ADDRESS TYPE NAME": ${JSON.stringify(line.slice(0, 60))}`, {
        source: name,
        hint: 'expected a System.map file',
      });
    }
    const addr = BigInt('0x' + m[1]);
    const type = m[2]!;
    syms.push({ name: m[3]!, address: relocate(addr, type, kernelOffset, imageFloor), type });
  }
  if (syms.length === 0) throw new ParseError('no symbols found', { source: name, hint: 'expected a System.map file' });
  return new SortedSymbolTable(`System.map ${name}`, syms);
}

/**
 * KASLR moves the kernel image, not absolute symbols nor per-CPU offsets: only addresses from
 * `imageFloor` up move (the architecture's kernelMap: x86_64 __START_KERNEL_map, arm64 _PAGE_END(48)).
 */
export function relocate(address: bigint, type: string, kernelOffset: bigint, imageFloor = X86_64_START_KERNEL_MAP): bigint {
  if (kernelOffset === 0n || type === 'A' || type === 'a') return address;
  if (address < imageFloor) return address;
  return (address + kernelOffset) & 0xffffffffffffffffn;
}

/** The .symtab of a vmlinux (link-time addresses; `kernelOffset` added like a System.map). */
export function vmlinuxSymbols(elf: ElfFile, name: string, kernelOffset = 0n, imageFloor = X86_64_START_KERNEL_MAP): SortedSymbolTable {
  const syms: KernelSymbol[] = [];
  for (const s of elf.symbols()) {
    if (!s.name || s.type === STT_SECTION || s.type === STT_FILE || s.shndx === 0) continue;
    const type = nmType(s.shndx, s.bind, elf.sections[s.shndx]);
    syms.push({ name: s.name, address: relocate(s.value, type, kernelOffset, imageFloor), type });
  }
  if (syms.length === 0) throw new ParseError('no symbols (stripped?)', { source: name, hint: 'give an unstripped vmlinux' });
  return new SortedSymbolTable(`vmlinux ${name}`, syms);
}

const STT_SECTION = 3;
const STT_FILE = 4;
const SHN_ABS = 0xfff1;
const SHF_WRITE = 1n;
const SHF_EXECINSTR = 4n;
const SHT_NOBITS = 8;

/** The letter nm would print: from the section's flags, upper case for global/weak binding. */
function nmType(shndx: number, bind: number, sec: ElfSectionHeader | undefined): string {
  let t = 'r';
  if (shndx === SHN_ABS) t = 'a';
  else if (sec && (sec.flags & SHF_EXECINSTR) !== 0n) t = 't';
  else if (sec && sec.type === SHT_NOBITS) t = 'b';
  else if (sec && (sec.flags & SHF_WRITE) !== 0n) t = 'd';
  return bind === 0 ? t : t.toUpperCase();
}

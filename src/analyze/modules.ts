// Loaded kernel modules from the dump: the `modules` list, each module's memory ranges, its ORC
// tables (mod->arch: orc_unwind_ip, orc_unwind, num_orcs; sorted at load) and its symbols
// (mod->kallsyms: an Elf64_Sym table with strtab and typetab), all with offsets from BTF. Used to
// unwind and name frames in module code, which the kernel image's tables do not cover.
import { NotInDumpError } from '../errors.ts';
import { readStruct } from '../format/struct.ts';
import { Elf64Sym } from '../format/elf.ts';
import type { Btf } from './btf.ts';
import { OrcTable, type OrcVersion } from './arch/x86_64/orc.ts';
import { SortedSymbolTable, type KernelSymbol } from './symbols.ts';
import type { Gaps } from './completeness.ts';
import { walkList } from './tasks.ts';
import { readU32 as u32, readU64 as u64, type VirtualMemory } from './virtual-memory.ts';
import { hex } from '../text.ts';

const MAX_MODULES = 4096;
const MAX_MODULE_SYMS = 1 << 18;
const MAX_STRTAB = 16 << 20;

export interface KernelModule {
  name: string;
  /** Address of the struct module. */
  address: bigint;
  /** Where its code and data live: [base, base + size). */
  ranges: { base: bigint; size: bigint }[];
  /** Where its text starts and the size of everything but its init sections (crash's `mod` BASE/TEXT_BASE and SIZE). */
  base: bigint;
  coreSize: bigint;
  orc: OrcTable | undefined;
  symbols: SortedSymbolTable | undefined;
}

export function contains(m: KernelModule, addr: bigint): boolean {
  return m.ranges.some((r) => addr >= r.base && addr < r.base + r.size);
}


/** Every loaded module; problems (unreadable entries) go to `gaps` and the module is skipped. */
export function readModules(mem: VirtualMemory, btf: Btf, modulesHead: bigint, orcVersion: OrcVersion, gaps: Gaps): KernelModule[] {
  const mod = btf.get('struct module');
  const listOff = BigInt(btf.offsetOf(mod, 'list'));
  const nameOff = BigInt(btf.offsetOf(mod, 'name'));
  const out: KernelModule[] = [];
  for (const node of walkList(mem, modulesHead, 'modules', gaps, 'module', MAX_MODULES)) {
    const m = node - listOff;
    try {
      const raw = mem.readVirt(m + nameOff, 56);
      const nul = raw.indexOf(0);
      const name = String.fromCharCode(...(nul < 0 ? raw : raw.subarray(0, nul)));
      out.push({ name, address: m, ranges: ranges(mem, btf, mod.id, m), ...core(mem, btf, mod.id, m), orc: moduleOrc(mem, btf, mod.id, m, orcVersion), symbols: moduleSymbols(mem, btf, mod.id, m, name) });
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
      gaps.add('module', e, `module at ${hex(m)}`);
    }
  }
  return out;
}

function ranges(mem: VirtualMemory, btf: Btf, modId: number, m: bigint): KernelModule['ranges'] {
  const out: KernelModule['ranges'] = [];
  if (btf.hasMember(modId, 'mem')) {
    // 6.4+: struct module_memory mem[MOD_MEM_NUM_TYPES] { void *base; unsigned int size; ... }
    const mm = btf.member(modId, 'mem');
    const arr = btf.resolve(mm.typeId).array!;
    const esz = btf.sizeOf(arr.typeId);
    const baseOff = btf.offsetOf(arr.typeId, 'base');
    const sizeOff = btf.offsetOf(arr.typeId, 'size');
    for (let i = 0; i < arr.nelems; i++) {
      const e = m + BigInt(mm.offset + i * esz);
      const base = u64(mem, e + BigInt(baseOff));
      const size = BigInt(u32(mem, e + BigInt(sizeOff)));
      if (base !== 0n && size !== 0n) out.push({ base, size });
    }
  } else {
    // Before 6.4: core_layout and init_layout (struct module_layout { void *base; unsigned int size; ... }).
    for (const l of ['core_layout', 'init_layout']) {
      if (!btf.hasMember(modId, l)) continue;
      const base = u64(mem, m + BigInt(btf.offsetOf(modId, `${l}.base`)));
      const size = BigInt(u32(mem, m + BigInt(btf.offsetOf(modId, `${l}.size`))));
      if (base !== 0n && size !== 0n) out.push({ base, size });
    }
  }
  return out;
}

/** The text base and the size crash's `mod` shows: mem[MOD_TEXT].base and mem[MOD_TEXT..MOD_RO_AFTER_INIT] (6.4+), else core_layout. */
function core(mem: VirtualMemory, btf: Btf, modId: number, m: bigint): { base: bigint; coreSize: bigint } {
  if (btf.hasMember(modId, 'mem')) {
    const mm = btf.member(modId, 'mem');
    const arr = btf.resolve(mm.typeId).array!;
    const esz = btf.sizeOf(arr.typeId);
    const baseOff = btf.offsetOf(arr.typeId, 'base');
    const sizeOff = btf.offsetOf(arr.typeId, 'size');
    let coreSize = 0n;
    for (let i = 0; i < Math.min(4, arr.nelems); i++) coreSize += BigInt(u32(mem, m + BigInt(mm.offset + i * esz + sizeOff)));
    return { base: u64(mem, m + BigInt(mm.offset + baseOff)), coreSize };
  }
  const l = btf.hasMember(modId, 'core_layout') ? 'core_layout' : undefined;
  if (!l) return { base: 0n, coreSize: 0n };
  return { base: u64(mem, m + BigInt(btf.offsetOf(modId, `${l}.base`))), coreSize: BigInt(u32(mem, m + BigInt(btf.offsetOf(modId, `${l}.size`)))) };
}

function moduleOrc(mem: VirtualMemory, btf: Btf, modId: number, m: bigint, version: OrcVersion): OrcTable | undefined {
  if (!btf.hasMember(modId, 'arch.num_orcs')) return undefined;
  const num = u32(mem, m + BigInt(btf.offsetOf(modId, 'arch.num_orcs')));
  const ip = u64(mem, m + BigInt(btf.offsetOf(modId, 'arch.orc_unwind_ip')));
  const ent = u64(mem, m + BigInt(btf.offsetOf(modId, 'arch.orc_unwind')));
  if (num === 0 || ip === 0n || ent === 0n) return undefined;
  return new OrcTable(mem, { ipStart: ip, ipStop: ip + BigInt(num * 4), entStart: ent, version });
}

function moduleSymbols(mem: VirtualMemory, btf: Btf, modId: number, m: bigint, modName: string): SortedSymbolTable | undefined {
  if (!btf.hasMember(modId, 'kallsyms')) return undefined;
  const ks = u64(mem, m + BigInt(btf.offsetOf(modId, 'kallsyms')));
  if (ks === 0n) return undefined;
  const mk = btf.get('struct mod_kallsyms');
  const symtab = u64(mem, ks + BigInt(btf.offsetOf(mk, 'symtab')));
  const num = u32(mem, ks + BigInt(btf.offsetOf(mk, 'num_symtab')));
  const strtab = u64(mem, ks + BigInt(btf.offsetOf(mk, 'strtab')));
  const typetab = btf.hasMember(mk, 'typetab') ? u64(mem, ks + BigInt(btf.offsetOf(mk, 'typetab'))) : 0n;
  if (symtab === 0n || strtab === 0n || num === 0 || num > MAX_MODULE_SYMS) return undefined;
  const tab = mem.readVirt(symtab, num * Elf64Sym.size);
  const types = typetab !== 0n ? mem.readVirt(typetab, num) : undefined;
  const entries = Array.from({ length: num }, (_, i) => readStruct(Elf64Sym, tab, i * Elf64Sym.size));
  const strLen = Math.min(MAX_STRTAB, entries.reduce((mx, e) => Math.max(mx, e.name), 0) + 256);
  const strs = readAvailable(mem, strtab, strLen);
  const syms: KernelSymbol[] = [];
  entries.forEach((e, i) => {
    if (e.value === 0n || e.shndx === 0) return;
    let end = e.name;
    while (end < strs.length && strs[end] !== 0) end++;
    const name = String.fromCharCode(...strs.subarray(e.name, end));
    if (!name || name.startsWith('$')) return;
    syms.push({ name, address: e.value, type: types ? String.fromCharCode(types[i]!) : 't' });
  });
  return syms.length ? new SortedSymbolTable(`kallsyms of module ${modName}`, syms) : undefined;
}

/** Reads up to `length` bytes, stopping at the first page the dump does not hold. */
function readAvailable(mem: VirtualMemory, addr: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let o = 0;
  while (o < length) {
    const n = Math.min(length - o, 4096 - Number((addr + BigInt(o)) & 4095n));
    try {
      out.set(mem.readVirt(addr + BigInt(o), n), o);
    } catch (e) {
      if (!(e instanceof NotInDumpError)) throw e;
      break;
    }
    o += n;
  }
  return out.subarray(0, o);
}

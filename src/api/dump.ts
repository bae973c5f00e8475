// The typed library API over one opened kernel dump (issue 17): objects typed from BTF, symbols,
// memory reads, per-CPU variables. Everything below builds on KernelDump (src/analyze/); this adds
// the object layer and how a global variable gets its type.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Btf, BtfType } from '../analyze/btf.ts';
import type { KernelDump } from '../analyze/kernel-dump.ts';
import type { KernelSymbol } from '../analyze/symbols.ts';
import { hex } from '../text.ts';
import { ObjectError } from './errors.ts';
import { KObject, containerOf, parseType, type KType, type ObjectContext } from './object.ts';

/**
 * Types of global variables kernel BTF does not describe (BTF carries only per-CPU variables), by
 * name: a C type spelling, or a function of the dump for arrays sized by an enum. Used by
 * {@link CrashDump.object} when BTF has no VAR of that name; any other global needs its type given.
 */
export const DECLARED_GLOBALS: Readonly<Record<string, string | ((d: CrashDump) => string)>> = {
  init_task: 'struct task_struct',
  init_mm: 'struct mm_struct',
  init_nsproxy: 'struct nsproxy',
  init_pid_ns: 'struct pid_namespace',
  init_uts_ns: 'struct uts_namespace',
  modules: 'struct list_head',
  slab_caches: 'struct list_head',
  super_blocks: 'struct list_head',
  blockdev_superblock: 'struct super_block *',
  module_mutex: 'struct mutex',
  cgroup_mutex: 'struct mutex',
  text_mutex: 'struct mutex',
  tty_mutex: 'struct mutex',
  kprobe_mutex: 'struct mutex',
  system_transition_mutex: 'struct mutex',
  slab_mutex: 'struct mutex',
  __cpu_possible_mask: 'struct cpumask',
  __cpu_online_mask: 'struct cpumask',
  __cpu_present_mask: 'struct cpumask',
  __per_cpu_offset: 'unsigned long[8192]',
  nr_cpu_ids: 'unsigned int',
  nr_node_ids: 'unsigned int',
  nr_swapfiles: 'unsigned int',
  jiffies: 'unsigned long',
  _totalram_pages: 'atomic_long_t',
  totalram_pages: 'unsigned long',
  totalreserve_pages: 'unsigned long',
  vm_zone_stat: (d) => `atomic_long_t[${d.enumValue('NR_VM_ZONE_STAT_ITEMS', 'zone_stat_item')}]`,
  vm_node_stat: (d) => `atomic_long_t[${d.enumValue('NR_VM_NODE_STAT_ITEMS', 'node_stat_item')}]`,
  contig_page_data: 'struct pglist_data',
  node_data: 'struct pglist_data *[1024]',
  prb: 'struct printk_ringbuffer *',
  panic_cpu: 'atomic_t',
  vmap_area_root: 'struct rb_root',
  jiffies_64: 'u64',
  avenrun: 'unsigned long[3]',
  nr_threads: 'int',
  max_pfn: 'unsigned long',
  page_offset_base: 'unsigned long',
  vmemmap_base: 'unsigned long',
  init_files: 'struct files_struct',
  init_fs: 'struct fs_struct',
  init_net: 'struct net',
  net_namespace_list: 'struct list_head',
  file_systems: 'struct file_system_type *',
  iomem_resource: 'struct resource',
  ioport_resource: 'struct resource',
  crashk_res: 'struct resource',
  node_states: (d) => `nodemask_t[${d.enumValue('NR_NODE_STATES', 'node_states')}]`,
};

/** One kernel symbol, as the API returns it. */
export interface ApiSymbol {
  /** The symbol's name. */
  name: string;
  /** Its (runtime, KASLR-adjusted) address. */
  address: bigint;
  /** nm-style type letter (T text, D data, B bss, …). */
  type: string;
  /** The module holding it, for module symbols. */
  module?: string;
}

/** An address's symbol and the offset into it. */
export interface SymbolHit {
  /** The symbol at or below the address. */
  symbol: ApiSymbol;
  /** How far past its start the address is. */
  offset: bigint;
}

/** One kernel log record. */
export interface LogLine {
  /** Seconds since boot. */
  time: number;
  /** Log level (0 emergency … 7 debug). */
  level: number;
  /** The message (UTF-8 decoded). */
  text: string;
}

/**
 * One opened kernel dump, seen through typed objects. Get one with `openKernelDump(path)` (Node,
 * `kexec-ts` package) or {@link openCrashDump} (any ByteSource: a browser File in the viewer's worker).
 *
 * @example
 * const dump = openKernelDump('/var/crash/vmcore');
 * for (const t of tasks(dump)) console.log(t.member('pid').number(), t.member('comm').string());
 */
export class CrashDump implements ObjectContext {
  /** The analysis layer underneath (VMCOREINFO, memory, symbols, BTF, modules, log). */
  readonly kernel: KernelDump;

  constructor(kernel: KernelDump) {
    this.kernel = kernel;
  }

  /** The kernel's BTF types (the vmlinux's when one was given, else the dump's own). */
  get btf(): Btf {
    return this.kernel.btf;
  }

  /** Kernel virtual memory (readVirt). */
  get memory(): KernelDump['memory'] {
    return this.kernel.memory;
  }

  /** The kernel release ("6.1.0-50-cloud-amd64"), '' when unknown. */
  get release(): string {
    return this.kernel.release;
  }

  /** Warnings that apply to every result: the dump's (truncated, incomplete) and a symbol table forced on a dump it does not match. */
  get warnings(): readonly string[] {
    return [...this.kernel.dump.warnings, ...this.kernel.warnings];
  }

  /** A type by its C spelling ("struct task_struct *", "atomic_long_t[4]"). ParseError when BTF lacks it. */
  type(spec: string): KType {
    return parseType(this.btf, spec);
  }

  /** The BTF type of a name ("struct rq", "enum zone_stat_item"), or undefined. */
  btfType(spec: string): BtfType | undefined {
    return this.btf.find(spec);
  }

  /** An object of `type` at `address`. */
  objectAt(type: string | KType, address: bigint): KObject {
    return new KObject(this, typeof type === 'string' ? this.type(type) : type, address);
  }

  /** container_of(address, type, member). */
  containerOf(address: bigint, type: string | KType, member: string): KObject {
    return containerOf(this, address, type, member);
  }

  /**
   * A global variable as a typed object. Its address comes from the symbol table (then the loaded
   * modules' symbols); its type is, in
   * order: `type` when given; the type of a BTF VAR of that name (per-CPU variables: then this is
   * the per-CPU template; use {@link perCpu}); {@link DECLARED_GLOBALS}. Otherwise an ObjectError
   * says to give the type.
   */
  object(name: string, type?: string | KType): KObject {
    const address = this.symbolAddress(name) ?? this.symbol(name)?.address;
    if (address === undefined) throw new ObjectError(`no symbol '${name}' in ${this.kernel.symbols.source} or the loaded modules`);
    return new KObject(this, type === undefined ? this.globalType(name) : typeof type === 'string' ? this.type(type) : type, address);
  }

  /** Whether the kernel has a symbol of that name. */
  hasSymbol(name: string): boolean {
    return this.symbolAddress(name) !== undefined;
  }

  /** The type {@link object} would give a global variable, or an ObjectError. */
  globalType(name: string): KType {
    const vars = this.btf.idsByName(name).map((id) => this.btf.type(id)).filter((t) => t.kind === 'var');
    if (vars.length === 1) return vars[0]!.typeId;
    const declared = DECLARED_GLOBALS[name];
    if (declared !== undefined) return this.type(typeof declared === 'string' ? declared : declared(this));
    throw new ObjectError(
      `the type of global '${name}' is unknown: kernel BTF describes only per-CPU variables${vars.length > 1 ? ` (and has ${vars.length} variables of that name)` : ''}`,
      this.symbolAddress(name),
      `give it: dump.object('${name}', 'struct foo')`,
    );
  }

  /** The value of an enumerator ("NR_FREE_PAGES"), from the enum `enumName` when given, as a number. */
  enumValue(constant: string, enumName?: string): number {
    const candidates = enumName ? [this.btf.find(`enum ${enumName}`)].filter((t): t is BtfType => !!t) : [];
    for (const t of candidates) {
      const v = t.values?.find((e) => e.name === constant);
      if (v) return Number(v.value);
    }
    throw new ParseError(`BTF has no enumerator ${constant}${enumName ? ` in enum ${enumName}` : ''}`, { source: this.btf.name });
  }

  /** The enumerators of an enum, name → value. */
  enumValues(enumName: string): Map<string, number> {
    const t = this.btf.find(`enum ${enumName}`);
    if (!t) throw new ParseError(`BTF has no enum ${enumName}`, { source: this.btf.name });
    return new Map((t.values ?? []).map((e) => [e.name, Number(e.value)]));
  }

  /** The address of a symbol (kernel image), or undefined. */
  symbolAddress(name: string): bigint | undefined {
    return this.kernel.symbols.byName(name)?.address;
  }

  /** A symbol by name (kernel image, then loaded modules), or undefined. */
  symbol(name: string): ApiSymbol | undefined {
    const s = this.kernel.symbols.byName(name);
    if (s) return { name: s.name, address: s.address, type: s.type };
    for (const m of this.kernel.modules) {
      const ms = m.symbols?.byName(name);
      if (ms) return { name: ms.name, address: ms.address, type: ms.type, module: m.name };
    }
    return undefined;
  }

  /** The symbol holding an address, with the offset into it ("schedule+0x2d"), or undefined. */
  symbolAt(address: bigint): SymbolHit | undefined {
    const hit = this.kernel.symbolizer.symbolize(address);
    if (!hit) return undefined;
    const sym: KernelSymbol | undefined = hit.module
      ? this.kernel.modules.find((m) => m.name === hit.module)?.symbols?.byName(hit.name)
      : this.kernel.symbols.byName(hit.name);
    return { symbol: { name: hit.name, address: address - BigInt(hit.offset), type: sym?.type ?? '?', module: hit.module }, offset: BigInt(hit.offset) };
  }

  /** Reads kernel virtual memory; NotInDumpError (naming the address) when the dump lacks it. */
  read(address: bigint, length: number): Uint8Array {
    return this.memory.readVirt(address, length);
  }

  /** A little-endian unsigned 64-bit value at a kernel virtual address. */
  readU64(address: bigint): bigint {
    return this.memory.u64(address);
  }

  /** A little-endian unsigned 32-bit value at a kernel virtual address. */
  readU32(address: bigint): number {
    return this.memory.u32(address);
  }

  /** Reads physical memory. */
  readPhys(address: bigint, length: number): Uint8Array {
    return this.memory.readPhys(address, length);
  }

  /** Number of CPUs with saved registers in the dump. */
  get cpuCount(): number {
    return this.kernel.cpus.length;
  }

  /** The possible CPUs (cpu_possible_mask), in order. */
  possibleCpus(): number[] {
    return this.cpuMask('__cpu_possible_mask');
  }

  /** The online CPUs (cpu_online_mask), in order. */
  onlineCpus(): number[] {
    return this.cpuMask('__cpu_online_mask');
  }

  private cpuMask(name: string): number[] {
    const mask = this.object(name).member('bits');
    const nr = this.hasSymbol('nr_cpu_ids') ? this.object('nr_cpu_ids').number() : mask.length * 64;
    const out: number[] = [];
    for (let w = 0; w < mask.length && w * 64 < nr; w++) {
      const v = mask.index(w).bigint();
      for (let b = 0; b < 64 && w * 64 + b < nr; b++) if ((v >> BigInt(b)) & 1n) out.push(w * 64 + b);
    }
    return out;
  }

  /**
   * A per-CPU variable on `cpu` (its BTF VAR type unless `type` is given): the symbol's address
   * plus __per_cpu_offset[cpu].
   */
  perCpu(name: string, cpu: number, type?: string | KType): KObject {
    const addr = this.kernel.perCpu(name, cpu);
    if (addr === undefined) throw new ObjectError(`no per-CPU variable '${name}' (or no __per_cpu_offset) in ${this.kernel.symbols.source}`);
    const t = type === undefined ? this.globalType(name) : typeof type === 'string' ? this.type(type) : type;
    return new KObject(this, t, addr);
  }

  /** Converts a per-CPU pointer (as a `__percpu` member holds it) to its address on `cpu`. */
  perCpuPointer(ptr: bigint, cpu: number): bigint {
    const base = this.symbolAddress('__per_cpu_offset');
    if (base === undefined) throw new ObjectError('no __per_cpu_offset symbol');
    return (ptr + this.memory.u64(base + BigInt(cpu * 8))) & 0xffffffffffffffffn;
  }

  /** The kernel log lines (printk ring buffer), oldest first. */
  printk(): LogLine[] {
    const dec = new TextDecoder();
    return this.kernel.log.records.map((r) => ({ time: Number(r.tsNsec) / 1e9, level: r.level, text: dec.decode(r.text) }));
  }

  /** "vmcore-ts: …" style description of where an address is, for messages. */
  describe(address: bigint): string {
    const s = this.symbolAt(address);
    return s ? `${s.symbol.name}+${hex(s.offset)}` : hex(address);
  }
}

/** True for the errors the API throws for dump damage and missing data (typed, naming an address or type). */
export function isApiError(e: unknown): e is NotInDumpError | ParseError {
  return e instanceof NotInDumpError || e instanceof ParseError;
}

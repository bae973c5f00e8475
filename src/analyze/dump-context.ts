// One opened dump with everything the analysis commands share, each loaded on first use: kernel
// memory, symbols (the dump's kallsyms, or a System.map / vmlinux symtab when given), BTF types (the
// dump's __start_BTF..__stop_BTF, or a vmlinux .BTF section), ORC tables, per-CPU registers, the log.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { Btf } from './btf.ts';
import { Gaps } from './completeness.ts';
import type { KernelDump } from './kernel-dump.ts';
import type { KernelMemory } from './kernel-memory.ts';
import { contains, readModules, type KernelModule } from './modules.ts';
import { ORC_ENTRY_SIZE, OrcTable, orcVersionOf, type OrcEntry, type OrcVersion } from './orc.ts';
import type { KernelLog } from './printk.ts';
import type { Prstatus } from './prstatus.ts';
import type { SymbolTable } from './symbols.ts';
import type { OrcFinder, Symbolizer } from './unwind.ts';

export interface ContextOptions {
  /** BTF given by the user (a vmlinux .BTF section), used instead of the dump's. */
  btf?: Btf;
}

const MAX_BTF = 64 << 20;
/** x86_64 module area (MODULES_VADDR..MODULES_END; starts at 0xffffffffc0000000 with KASLR). */
const MODULES_START = 0xffffffffa0000000n;
const MODULES_END = 0xffffffffff000000n;

export class DumpContext {
  readonly kernel: KernelDump;
  readonly dump: Dump;
  private readonly opts: ContextOptions;
  private btfCache: Btf | undefined;
  private orcCache: OrcTable | null | undefined;
  private orcVersionCache: OrcVersion | undefined;
  private modulesCache: KernelModule[] | undefined;
  /** What could not be read of the module list (frames in those modules stay unnamed). */
  readonly moduleGaps: Gaps;

  constructor(kernel: KernelDump, opts: ContextOptions = {}) {
    this.kernel = kernel;
    this.dump = kernel.dump;
    this.opts = opts;
    this.moduleGaps = new Gaps(kernel.dump.dumpLevel);
  }

  get mem(): KernelMemory {
    return this.kernel.memory;
  }

  get release(): string {
    return this.mem.info.osrelease ?? '';
  }

  /** Kernel symbols; throws one clear line when the dump has none and none were given. */
  get symbols(): SymbolTable {
    const s = this.kernel.symbolsIfAny();
    if (!s) {
      throw new ParseError(
        `this kernel (${this.release || 'unknown release'}) does not export kallsyms in VMCOREINFO (Linux 6.0+ does), so the dump alone has no symbol table`,
        { source: this.dump.source.name, hint: 'give --system-map FILE or --vmlinux FILE for this exact kernel build' },
      );
    }
    return s;
  }

  get cpus(): Prstatus[] {
    return this.kernel.cpus;
  }

  get log(): KernelLog {
    return this.kernel.log;
  }

  symbolAddress(name: string): bigint | undefined {
    return this.symbols.byName(name)?.address ?? this.mem.info.symbol(name);
  }

  requireSymbol(name: string, forWhat: string): bigint {
    const a = this.symbolAddress(name);
    if (a === undefined) throw new ParseError(`symbol ${name} not found (${this.symbols.source}); needed for ${forWhat}`, { source: this.dump.source.name });
    return a;
  }

  /** Names addresses in the kernel image (its symbol table) and in loaded modules (their kallsyms). */
  readonly symbolizer: Symbolizer = {
    symbolize: (addr) => {
      const hit = this.symbols.byAddress(addr);
      if (hit) return { name: hit.symbol.name, offset: hit.offset };
      const m = this.moduleAt(addr);
      const mh = m?.symbols?.byAddress(addr);
      return mh ? { name: mh.symbol.name, offset: mh.offset, module: m!.name } : undefined;
    },
  };

  /** The kernel image's ORC table, and a module's for addresses in module code. */
  readonly orcFinder: OrcFinder = {
    find: (ip): OrcEntry | undefined => {
      const k = this.orc;
      if (k?.covers(ip)) return k.find(ip);
      return this.moduleAt(ip)?.orc?.find(ip);
    },
  };

  /** Loaded modules (read on first use, with BTF); [] when they cannot be read. */
  get modules(): KernelModule[] {
    if (!this.modulesCache) {
      this.modulesCache = [];
      try {
        const head = this.symbols.byName('modules')?.address;
        if (head !== undefined) this.modulesCache = readModules(this.mem, this.btf, head, this.orcVersion, this.moduleGaps);
      } catch (e) {
        if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
        this.moduleGaps.add('module list', e);
      }
    }
    return this.modulesCache;
  }

  /** The module whose memory holds `addr`; only addresses in the module area are looked up. */
  moduleAt(addr: bigint): KernelModule | undefined {
    if (addr < MODULES_START || addr >= MODULES_END) return undefined;
    return this.modules.find((m) => contains(m, addr));
  }

  /** The kernel's BTF types. */
  get btf(): Btf {
    if (!this.btfCache) {
      if (this.opts.btf) this.btfCache = this.opts.btf;
      else {
        const start = this.symbols.byName('__start_BTF')?.address;
        const stop = this.symbols.byName('__stop_BTF')?.address;
        if (start === undefined || stop === undefined) {
          throw new ParseError('the kernel has no BTF (no __start_BTF/__stop_BTF symbols)', {
            source: this.dump.source.name,
            hint: 'it was built without CONFIG_DEBUG_INFO_BTF; give --vmlinux FILE with a .BTF section',
          });
        }
        const len = stop - start;
        if (len <= 0n || len > BigInt(MAX_BTF)) throw new ParseError(`BTF: __start_BTF..__stop_BTF spans ${len} bytes`, { source: this.dump.source.name });
        const bytes = this.mem.readVirt(start, Number(len));
        this.btfCache = Btf.parse(bytes, `BTF in ${this.dump.source.name} at 0x${start.toString(16)}`);
      }
    }
    return this.btfCache;
  }

  /** The ORC entry layout of this kernel (by its .orc_header hash, else its release). */
  get orcVersion(): OrcVersion {
    if (this.orcVersionCache === undefined) {
      const s = this.symbols;
      const read = (name: string, len: number): Uint8Array | undefined => {
        const a = s.byName(name)?.address;
        if (a === undefined) return undefined;
        try {
          return this.mem.readVirt(a, len);
        } catch (e) {
          if (e instanceof NotInDumpError) return undefined;
          throw e;
        }
      };
      this.orcVersionCache = orcVersionOf(read('__start_orc_header', 20), this.release, () => read('__start_orc_unwind', 2048 * ORC_ENTRY_SIZE) ?? new Uint8Array(0));
    }
    return this.orcVersionCache;
  }

  /** The kernel image's ORC tables, or undefined when the kernel has none (frame pointers then). */
  get orc(): OrcTable | undefined {
    if (this.orcCache === undefined) {
      const s = this.symbols;
      const ipStart = s.byName('__start_orc_unwind_ip')?.address;
      const ipStop = s.byName('__stop_orc_unwind_ip')?.address;
      const entStart = s.byName('__start_orc_unwind')?.address;
      const entStop = s.byName('__stop_orc_unwind')?.address;
      this.orcCache =
        ipStart !== undefined && ipStop !== undefined && entStart !== undefined
          ? new OrcTable(this.mem, { ipStart, ipStop, entStart, entStop, version: this.orcVersion })
          : null;
    }
    return this.orcCache ?? undefined;
  }

  /** Address of a per-CPU variable on `cpu` (symbol value + __per_cpu_offset[cpu]). */
  perCpu(name: string, cpu: number): bigint | undefined {
    const sym = this.symbols.byName(name);
    const base = this.symbols.byName('__per_cpu_offset')?.address;
    if (!sym || base === undefined) return undefined;
    return (sym.address + this.mem.u64(base + BigInt(cpu * 8))) & 0xffffffffffffffffn;
  }

  /** The CPU that panicked: panic_cpu, else crashing_cpu, else the CPU stopped inside crash code. */
  panicCpu(): number {
    for (const name of ['panic_cpu', 'crashing_cpu']) {
      const a = this.symbols.byName(name)?.address;
      if (a === undefined) continue;
      try {
        const v = this.mem.i32(a);
        if (v >= 0 && v < this.cpus.length) return v;
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
    }
    const i = this.cpus.findIndex((c) => /crash_kexec|crash_setup_regs|machine_crash_shutdown/.test(this.symbolizer.symbolize(c.regs.rip)?.name ?? ''));
    return i >= 0 ? i : 0;
  }

  /** The task running on `cpu` (per-CPU pcpu_hot.current_task, or current_task before 6.2). */
  currentTask(cpu: number): bigint | undefined {
    try {
      const a = this.perCpu('current_task', cpu) ?? this.perCpu('pcpu_hot', cpu);
      return a === undefined ? undefined : this.mem.u64(a);
    } catch (e) {
      if (e instanceof NotInDumpError) return undefined;
      throw e;
    }
  }
}

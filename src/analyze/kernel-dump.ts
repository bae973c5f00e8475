// One opened kernel dump with everything analysis builds on it, each made on first use: VMCOREINFO,
// kernel memory (address translation), the kernel log, the CPUs' registers, the symbol table (a
// System.map / vmlinux symtab when given, else the dump's kallsyms, else kallsyms found in the kernel
// image), BTF types (a vmlinux .BTF when given, else the dump's __start_BTF..__stop_BTF), ORC tables,
// loaded modules, per-CPU variables.
import { isDumpDataError, NotInDumpError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { Btf, findBtfHeader } from './btf.ts';
import { Gaps } from './completeness.ts';
import { hasKallsyms, readKallsyms } from './kallsyms.ts';
import { imageKallsyms } from './kallsyms-scan.ts';
import { KernelMemory, type DirectMap } from './kernel-memory.ts';
import { contains, readModules, type KernelModule } from './modules.ts';
import { kernelOrcTable, kernelOrcVersion, type OrcEntry, type OrcTable, type OrcVersion } from './arch/x86_64/orc.ts';
import { checkLogKeys, readKernelLog, type KernelLog } from './printk.ts';
import { archOf, type CpuState, type KernelArch, type Symbolizer } from './arch/arch.ts';
import type { SymbolTable } from './symbols.ts';
import type { OrcFinder } from './arch/x86_64/unwind.ts';
import { VmcoreInfo } from './vmcoreinfo.ts';
import { logCpuLine } from './system-info.ts';
import { hex } from '../text.ts';

export interface KernelDumpOptions {
  /** A System.map / vmlinux symbol table given by the user: used instead of the dump's kallsyms. */
  symbols?: SymbolTable;
  /** BTF given by the user (a vmlinux .BTF section), made on first use; undefined: the dump's own. */
  btf?: () => Btf | undefined;
}

const MAX_BTF = 64 << 20;

export class KernelDump {
  readonly dump: Dump;
  private readonly givenBtf: (() => Btf | undefined) | undefined;
  private _arch: KernelArch | undefined;
  private _info: VmcoreInfo | undefined;
  private _memory: KernelMemory | undefined;
  private _log: KernelLog | undefined;
  private _symbols: SymbolTable | null | undefined;
  private imageScanned = false;
  private _cpus: CpuState[] | undefined;
  private _btf: Btf | undefined;
  private _orc: OrcTable | null | undefined;
  private _orcVersion: OrcVersion | undefined;
  private _modules: KernelModule[] | undefined;
  private directMapChecked = false;
  /** What may make results wrong, said with every result (a symbol table forced on a dump it does not match). */
  readonly warnings: string[] = [];
  /** What could not be read of the module list (frames in those modules stay unnamed). */
  readonly moduleGaps: Gaps;

  constructor(dump: Dump, opts: KernelDumpOptions = {}) {
    this.dump = dump;
    this._symbols = opts.symbols;
    this.givenBtf = opts.btf;
    this.moduleGaps = new Gaps(dump.dumpLevel);
  }

  /** The crashed kernel's architecture (src/analyze/arch/), from the dump's machine. */
  get arch(): KernelArch {
    this._arch ??= archOf(this.dump);
    return this._arch;
  }

  get info(): VmcoreInfo {
    if (!this._info) {
      if (this.dump.vmcoreinfo === undefined) {
        throw new ParseError('the dump has no VMCOREINFO note', {
          source: this.dump.source.name,
          hint: 'kernel structures cannot be located without it',
        });
      }
      this._info = new VmcoreInfo(this.dump.vmcoreinfo);
    }
    return this._info;
  }

  get memory(): KernelMemory {
    if (!this._memory) {
      this._memory = new KernelMemory(this.dump, this.info);
    }
    return this._memory;
  }

  /** The kernel release (VMCOREINFO OSRELEASE), '' when unknown. */
  get release(): string {
    return this.memory.info.osrelease ?? '';
  }

  /**
   * Where the direct map starts: the kernel's page_offset_base variable when a symbol table names
   * it (exact), else found in the page tables (lowest mapped address of the direct-map range).
   */
  directMap(): DirectMap | undefined {
    const mem = this.memory;
    if (!this.directMapChecked) {
      this.directMapChecked = true;
      try {
        const table = this.symbolsIfAny();
        const sym = table?.byName('page_offset_base');
        if (table && sym) mem.setDirectMapBase(mem.u64(sym.address), `page_offset_base from ${table.source}`);
      } catch (e) {
        // no symbols or the variable is not in the dump: the page tables tell
        if (!isDumpDataError(e)) throw e;
      }
    }
    return mem.directMap();
  }

  get log(): KernelLog {
    if (!this._log) {
      checkLogKeys(this.info); // say what the log lacks before what memory translation lacks
      this._log = readKernelLog(this.memory, this.info, this.dump.dumpLevel);
    }
    return this._log;
  }

  /**
   * Kernel symbols: the user's table, else the dump's kallsyms, else (kernels before 6.0) kallsyms
   * found in the kernel image; throws one clear line when there is none.
   */
  get symbols(): SymbolTable {
    const s = this.loadSymbols();
    if (!s) {
      throw new ParseError(
        `this kernel (${this.release || 'unknown release'}) does not export kallsyms in VMCOREINFO (Linux 6.0+ does), so the dump alone has no symbol table`,
        { source: this.dump.source.name, hint: 'give --system-map FILE or --vmlinux FILE for this exact kernel build' },
      );
    }
    return s;
  }

  /** The symbol table, searching the kernel image when the dump does not name its kallsyms; undefined when none is found. */
  loadSymbols(): SymbolTable | undefined {
    const s = this.symbolsIfAny();
    if (s || this.imageScanned) return s;
    this.imageScanned = true;
    this._symbols = imageKallsyms(this.memory, this.info) ?? null;
    return this._symbols ?? undefined;
  }

  /** The symbol table, or undefined when the dump has no kallsyms in VMCOREINFO and none was given; never scans the image. */
  symbolsIfAny(): SymbolTable | undefined {
    if (this._symbols === undefined) {
      this._symbols = null;
      if (hasKallsyms(this.info)) {
        this._symbols = readKallsyms(this.memory, this.info);
      }
    }
    return this._symbols ?? undefined;
  }

  /** The symbol table if it is already loaded or was given; never decodes kallsyms. */
  symbolsLoaded(): SymbolTable | undefined {
    return this._symbols ?? undefined;
  }

  /** NT_PRSTATUS of every CPU, in CPU order. */
  get cpus(): CpuState[] {
    this._cpus ??= this.arch.cpus(this.dump.notes);
    return this._cpus;
  }

  symbolAddress(name: string): bigint | undefined {
    return this.symbols.byName(name)?.address ?? this.memory.info.symbol(name);
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
    if (!this._modules) {
      this._modules = [];
      try {
        const head = this.symbols.byName('modules')?.address;
        if (head !== undefined) this._modules = readModules(this.memory, this.btf, head, this.orcVersion, this.moduleGaps);
      } catch (e) {
        if (!(e instanceof ParseError || e instanceof NotInDumpError)) throw e;
        this.moduleGaps.add('module list', e);
      }
    }
    return this._modules;
  }

  /** The module whose memory holds `addr`; only addresses in the module area are looked up. */
  moduleAt(addr: bigint): KernelModule | undefined {
    const [start, end] = this.arch.moduleArea;
    if (addr < start || addr >= end) return undefined;
    return this.modules.find((m) => contains(m, addr));
  }

  /** The kernel's BTF types. */
  get btf(): Btf {
    if (!this._btf) {
      const given = this.givenBtf?.();
      if (given) this._btf = given;
      else {
        let start = this.symbols.byName('__start_BTF')?.address;
        let stop = this.symbols.byName('__stop_BTF')?.address;
        if (start === undefined || stop === undefined) {
          // kallsyms without data symbols (CONFIG_KALLSYMS_ALL off, as Debian's arm64 kernels):
          // the .BTF section found by its header in the kernel image's read-only data.
          const found = this.scanForBtf();
          if (found) [start, stop] = [found, found + this.scannedBtfSize];
        }
        if (start === undefined || stop === undefined) {
          throw new ParseError('the kernel has no BTF (no __start_BTF/__stop_BTF symbols)', {
            source: this.dump.source.name,
            hint: 'it was built without CONFIG_DEBUG_INFO_BTF; give --vmlinux FILE with a .BTF section',
          });
        }
        const len = stop - start;
        if (len <= 0n || len > BigInt(MAX_BTF)) throw new ParseError(`BTF: __start_BTF..__stop_BTF spans ${len} bytes`, { source: this.dump.source.name });
        const bytes = this.memory.readVirt(start, Number(len));
        this._btf = Btf.parse(bytes, `BTF in ${this.dump.source.name} at ${hex(start)}`);
      }
    }
    return this._btf;
  }

  private scannedBtfSize = 0n;

  /**
   * The .BTF section's address, found by its header in the kernel image's read-only data: from
   * _etext (kallsyms has it even without data symbols; .BTF is in RO_DATA, after the text), else
   * from _stext, up to 96 MiB; undefined if not found. Starting after the text spares reading
   * (on a compressed dump: inflating) the 12 MiB of Debian's arm64 kernel text.
   */
  private scanForBtf(): bigint | undefined {
    const stext = this.info.symbol('_stext');
    if (stext === undefined) return undefined;
    const etext = this.symbols.byName('_etext')?.address;
    const from = etext !== undefined && etext > stext && etext - stext < 96n << 20n ? etext & ~0xfffn : stext;
    const CHUNK = 1 << 20;
    for (let off = 0; off < 96 * CHUNK; off += CHUNK) {
      let bytes: Uint8Array;
      try {
        bytes = this.memory.readVirt(from + BigInt(off), CHUNK + 24);
      } catch (e) {
        if (isDumpDataError(e)) continue;
        throw e;
      }
      const hit = findBtfHeader(bytes);
      if (hit) {
        this.scannedBtfSize = BigInt(hit.size);
        return from + BigInt(off + hit.offset);
      }
    }
    return undefined;
  }

  /**
   * Byte offset of `member` (a path: 'thread.sp') in `struct name`: from BTF when it has been read
   * (a command that needs types reads it first) and knows the member, else VMCOREINFO's
   * OFFSET(name.member); undefined when neither says. Never reads BTF for an offset alone, so
   * commands without types (info, dmesg) stay as fast.
   */
  offsetOf(name: string, member: string): number | undefined {
    const btf = this._btf;
    const t = btf?.find(`struct ${name}`);
    if (btf && t && btf.hasMember(t, member)) return btf.offsetOf(t, member);
    return this.dump.vmcoreinfo !== undefined ? this.info.offset(`${name}.${member}`) : undefined;
  }

  /** The ORC entry layout of this kernel (by its .orc_header hash, else its release). */
  get orcVersion(): OrcVersion {
    if (this._orcVersion === undefined) {
      this._orcVersion = kernelOrcVersion(this.symbols, this.memory, this.release);
    }
    return this._orcVersion;
  }

  /** The kernel image's ORC tables, or undefined when the kernel has none (frame pointers then). */
  get orc(): OrcTable | undefined {
    if (this._orc === undefined) {
      this._orc = kernelOrcTable(this.symbols, this.memory, () => this.orcVersion) ?? null;
    }
    return this._orc ?? undefined;
  }

  /** Address of a per-CPU variable on `cpu` (symbol value + __per_cpu_offset[cpu]). */
  perCpu(name: string, cpu: number): bigint | undefined {
    const sym = this.symbols.byName(name);
    const base = this.symbols.byName('__per_cpu_offset')?.address;
    if (!sym || base === undefined) return undefined;
    return (sym.address + this.memory.u64(base + BigInt(cpu * 8))) & 0xffffffffffffffffn;
  }

  /**
   * The CPU that panicked: panic_cpu, else crashing_cpu, else the "CPU: N PID: …" line printed after
   * "Kernel panic - not syncing" (arm64's kallsyms lack data symbols), else the CPU stopped inside crash code.
   */
  panicCpu(): number {
    for (const name of ['panic_cpu', 'crashing_cpu']) {
      const a = this.symbols.byName(name)?.address;
      if (a === undefined) continue;
      try {
        const v = this.memory.i32(a);
        if (v >= 0 && v < this.cpus.length) return v;
      } catch (e) {
        if (!(e instanceof NotInDumpError)) throw e;
      }
    }
    try {
      const line = logCpuLine(this.log.records, true);
      if (line.cpu !== undefined && line.cpu < this.cpus.length) return line.cpu;
    } catch (e) {
      if (!isDumpDataError(e)) throw e;
    }
    const i = this.cpus.findIndex((c) => /crash_kexec|crash_setup_regs|machine_crash_shutdown/.test(this.symbolizer.symbolize(c.pc)?.name ?? ''));
    return i >= 0 ? i : 0;
  }

  /** The task running on `cpu` (x86_64: per-CPU pcpu_hot.current_task, or current_task before 6.2; arm64: __entry_task). */
  currentTask(cpu: number): bigint | undefined {
    try {
      let a: bigint | undefined;
      for (const name of this.arch.currentTaskSymbols) if ((a = this.perCpu(name, cpu)) !== undefined) break;
      return a === undefined ? undefined : this.memory.u64(a);
    } catch (e) {
      if (e instanceof NotInDumpError) return undefined;
      throw e;
    }
  }
}

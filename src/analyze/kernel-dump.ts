// One opened kernel dump with what analysis builds on it, each made on first use: VMCOREINFO,
// kernel memory (address translation), the kernel log, the symbol table, the CPUs' registers.
import { isDumpDataError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { hasKallsyms, readKallsyms } from './kallsyms.ts';
import { KernelMemory, type DirectMap } from './kernel-memory.ts';
import { checkLogKeys, readKernelLog, type KernelLog } from './printk.ts';
import { cpuPrstatus, type Prstatus } from './prstatus.ts';
import type { SymbolTable } from './symbols.ts';
import { VmcoreInfo } from './vmcoreinfo.ts';

export class KernelDump {
  readonly dump: Dump;
  private _info: VmcoreInfo | undefined;
  private _memory: KernelMemory | undefined;
  private _log: KernelLog | undefined;
  private _symbols: SymbolTable | null | undefined;
  private _cpus: Prstatus[] | undefined;
  private directMapChecked = false;
  /** What may make results wrong, said with every result (a symbol table forced on a dump it does not match). */
  readonly warnings: string[] = [];

  /** `symbols`: a System.map / vmlinux table given by the user; otherwise the dump's kallsyms. */
  constructor(dump: Dump, symbols?: SymbolTable) {
    this.dump = dump;
    this._symbols = symbols;
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

  /** The symbol table: the user's, else the dump's kallsyms; throws when there is none. */
  get symbols(): SymbolTable {
    const s = this.symbolsIfAny();
    if (!s) return readKallsyms(this.memory, this.info); // throws the missing-key error
    return s;
  }

  /** The symbol table, or undefined when the dump has no kallsyms and none was given. */
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
  get cpus(): Prstatus[] {
    this._cpus ??= cpuPrstatus(this.dump.notes);
    return this._cpus;
  }
}

// The one recipe for opening a kernel dump for analysis, shared by vmcore-ts and the viewer's worker:
// the dump's reader (src/format/open-dump.ts), the symbol table (the dump's kallsyms, or a System.map
// / vmlinux the user gives, checked against the dump first), kallsyms found in the kernel image for
// kernels before 6.0 (on first use), and a vmlinux's .BTF. Pure: every file comes in as a ByteSource.
import { ParseError } from '../errors.ts';
import { openElf, sectionData, type ElfFile } from '../format/elf.ts';
import type { PageDecoders } from '../format/codecs/index.ts';
import { openDump } from '../format/open-dump.ts';
import type { ByteSource } from '../io/source.ts';
import { Btf } from './btf.ts';
import { KernelDump } from './kernel-dump.ts';
import { checkSymbolTable, vmlinuxFacts, type VmlinuxFacts } from './symbol-match.ts';
import { archOf } from './arch/arch.ts';
import { parseSystemMap, vmlinuxSymbols, type SymbolTable } from './symbols.ts';
import { VmcoreInfo } from './vmcoreinfo.ts';

export interface KernelDumpFiles {
  /** The dump's page decoders (openDump's; the Node CLI passes native zlib, the viewer the pure ones). */
  decoders?: PageDecoders;
  /** A System.map of the kernel that crashed: its symbols replace the dump's kallsyms. */
  systemMap?: ByteSource;
  /** A vmlinux of the kernel that crashed: its symtab (when no System.map is given) and its .BTF. */
  vmlinux?: ByteSource;
  /** Use a System.map / vmlinux that does not match the dump (every result then carries the warning). */
  force?: boolean;
}

/**
 * Opens a kernel dump for analysis. `systemMap`/`vmlinux` replace the dump's kallsyms as the symbol
 * table, after a check that they belong to the kernel that crashed (refused when not, unless
 * `force`: then every result carries the warning); a vmlinux's .BTF replaces the dump's BTF.
 * Everything else (kallsyms, kallsyms found in the kernel image, BTF, ORC) is read on first use.
 */
export function openKernelDump(source: ByteSource, files: KernelDumpFiles = {}): KernelDump {
  const dump = openDump(source, { decoders: files.decoders });
  const { systemMap, vmlinux, force } = files;
  const elf = vmlinux && !systemMap ? openElf(vmlinux) : undefined;
  const btf = vmlinux ? () => vmlinuxBtf(elf ?? openElf(vmlinux)) : undefined;
  if (!systemMap && !elf) return new KernelDump(dump);
  const offset = dump.vmcoreinfo !== undefined ? (new VmcoreInfo(dump.vmcoreinfo).kernelOffset ?? 0n) : 0n;
  const floor = archOf(dump).kernelMap; // where KASLR-moved image addresses start
  let symbols: SymbolTable;
  let facts: VmlinuxFacts | undefined;
  if (systemMap) symbols = parseSystemMap(new TextDecoder('latin1').decode(systemMap.read(0, systemMap.size)), systemMap.name, offset, floor);
  else {
    facts = vmlinuxFacts(elf!);
    symbols = vmlinuxSymbols(elf!, vmlinux!.name, offset, floor);
  }
  const kd = new KernelDump(dump, { symbols, btf });
  const match = checkSymbolTable(kd, symbols, facts);
  const file = systemMap ? `System.map ${systemMap.name}` : `vmlinux ${vmlinux!.name}`;
  if (match.mismatches.length) {
    const what = `${file} and vmcore ${source.name} do not match: ${match.mismatches.join('; ')}`;
    if (!force) {
      const info = dump.vmcoreinfo !== undefined ? kd.info : undefined;
      const want = [info?.osrelease, info?.buildId ? `build ID ${info.buildId}` : undefined].filter(Boolean).join(', ');
      throw new ParseError(what, { hint: `give the one of the kernel that crashed${want ? ` (${want})` : ''}, or --force to use it anyway` });
    }
    kd.warnings.push(`${what} (--force: symbols from it may be wrong)`);
  } else if (match.checked.length === 0) {
    kd.warnings.push(`${file} could not be checked against the dump (no VMCOREINFO, build ID or banner to compare): if it is of another build, results are wrong`);
  }
  return kd;
}

function vmlinuxBtf(elf: ElfFile): Btf | undefined {
  const sec = elf.section('.BTF');
  return sec ? Btf.parse(sectionData(elf.source, sec), `${elf.source.name} .BTF`) : undefined;
}

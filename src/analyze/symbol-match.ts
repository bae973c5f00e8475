// Is a System.map or vmlinux given by the user the one of the kernel that crashed? Symbols of another
// build give wrong answers without any error (a backtrace through the wrong functions), so before
// they are used they are checked against what the dump itself says, the way crash does
// ("vmlinux and vmcore do not match"):
//  - the build ID in VMCOREINFO (BUILD-ID, Linux 5.9+) against the vmlinux's .note.gnu.build-id;
//  - linux_banner: the dump's memory at the table's linux_banner must be the kernel's banner, the
//    same text as in the vmlinux, naming VMCOREINFO's OSRELEASE;
//  - the SYMBOL() addresses VMCOREINFO exports (_stext, init_uts_ns, swapper_pg_dir, prb, …) and a
//    few symbols of the dump's own kallsyms (6.0+) against the table's.
import { NotInDumpError, ParseError } from '../errors.ts';
import { type ElfFile, sectionData } from '../format/elf.ts';
import { hasKallsyms, readKallsyms } from './kallsyms.ts';
import type { KernelDump } from './kernel-dump.ts';
import type { SymbolTable } from './symbols.ts';
import { hex } from '../text.ts';

/** What a vmlinux itself says about its build (System.maps say nothing). */
export interface VmlinuxFacts {
  /** The GNU build ID, lower-case hex. */
  buildId: string | undefined;
  /** linux_banner as stored in the file ("Linux version 6.1.0-… (…) #1 SMP …\n"). */
  banner: string | undefined;
}

export interface SymbolMatch {
  /** What was compared, for messages ("build ID", "linux_banner", "14 VMCOREINFO symbols"). */
  checked: string[];
  /** Each difference found, one line each; empty when the table matches the dump. */
  mismatches: string[];
}

const NT_GNU_BUILD_ID = 3;
const KALLSYMS_PROBES = ['_stext', '_text', 'linux_banner', 'init_task', 'panic', 'start_kernel', 'init_uts_ns'];

export function vmlinuxFacts(elf: ElfFile): VmlinuxFacts {
  let buildId: string | undefined;
  try {
    const note = elf.notes().find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
    if (note) buildId = Array.from(note.desc, (b) => b.toString(16).padStart(2, '0')).join('');
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
  }
  let banner: string | undefined;
  const sym = elf.symbols().find((s) => s.name === 'linux_banner');
  const sec = sym ? elf.sections[sym.shndx] : undefined;
  if (sym && sec && sec.type !== 8 /* SHT_NOBITS */ && sym.value >= sec.addr && sym.value < sec.addr + BigInt(sec.size)) {
    const at = Number(sym.value - sec.addr);
    const bytes = sectionData(elf.source, sec).subarray(at, at + 512);
    banner = cString(bytes);
  }
  return { buildId, banner };
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return String.fromCharCode(...(nul < 0 ? b : b.subarray(0, nul)));
}

/** Compares `table` (a System.map or vmlinux, already relocated by KERNELOFFSET) with the dump. */
export function checkSymbolTable(kd: KernelDump, table: SymbolTable, vmlinux?: VmlinuxFacts): SymbolMatch {
  const checked: string[] = [];
  const mismatches: string[] = [];
  const info = kd.dump.vmcoreinfo !== undefined ? kd.info : undefined;
  const release = info?.osrelease;

  const dumpBuildId = info?.buildId?.toLowerCase();
  if (dumpBuildId && vmlinux?.buildId) {
    checked.push('build ID');
    // VMCOREINFO may carry the ID zero-padded to 20 bytes (BUILD_ID_SIZE_MAX).
    if (!dumpBuildId.startsWith(vmlinux.buildId) || /[^0]/.test(dumpBuildId.slice(vmlinux.buildId.length))) {
      mismatches.push(`build ID ${vmlinux.buildId} is not the dump's ${dumpBuildId}`);
    }
  }

  const banner = table.byName('linux_banner');
  if (banner && info) {
    let inDump: string | undefined;
    try {
      inDump = kd.memory.cstring(banner.address, 512);
    } catch (e) {
      if (!(e instanceof NotInDumpError || e instanceof ParseError)) throw e;
    }
    if (inDump !== undefined) {
      checked.push('linux_banner');
      if (!inDump.startsWith('Linux version ')) {
        mismatches.push(`the dump has no kernel banner at linux_banner (${hex(banner.address)}): it reads ${JSON.stringify(inDump.slice(0, 40))}`);
      } else if (vmlinux?.banner !== undefined && vmlinux.banner !== inDump) {
        mismatches.push(`linux_banner differs: the file has ${JSON.stringify(vmlinux.banner.trim())}, the dump ${JSON.stringify(inDump.trim())}`);
      } else if (release && !inDump.startsWith(`Linux version ${release} `)) {
        mismatches.push(`linux_banner in the dump ${JSON.stringify(inDump.trim())} does not name the dump's release ${release}`);
      }
    }
  } else if (vmlinux?.banner !== undefined && release) {
    checked.push('release');
    if (!vmlinux.banner.startsWith(`Linux version ${release} `)) mismatches.push(`the file is ${vmlinux.banner.split(' ')[2]}, the dump ${release}`);
  }

  if (info) {
    const kernelMap = kd.arch.kernelMap;
    let compared = 0;
    const differ: string[] = [];
    for (const [key, value] of info.entries) {
      const m = /^SYMBOL\((\w+)\)$/.exec(key);
      if (!m) continue;
      const addr = info.symbol(m[1]!);
      const s = table.byName(m[1]!);
      if (addr === undefined || addr < kernelMap || !s) continue; // below the kernel image: a pointer value, not an address
      compared++;
      if (s.address !== addr) differ.push(`${m[1]} is ${hex(s.address)} in the file, ${value.replace(/^/, '0x')} in VMCOREINFO`);
    }
    if (compared) {
      checked.push(`${compared} VMCOREINFO symbols`);
      if (differ.length) mismatches.push(`${differ.length} of ${compared} VMCOREINFO symbols differ (${differ.slice(0, 2).join('; ')})`);
    }
    if (hasKallsyms(info)) {
      let kallsyms: SymbolTable | undefined;
      try {
        kallsyms = readKallsyms(kd.memory, info);
      } catch (e) {
        if (!(e instanceof NotInDumpError || e instanceof ParseError)) throw e;
      }
      if (kallsyms) {
        const differK: string[] = [];
        let n = 0;
        for (const name of KALLSYMS_PROBES) {
          const a = kallsyms.byName(name);
          const b = table.byName(name);
          if (!a || !b) continue;
          n++;
          if (a.address !== b.address) differK.push(`${name} is ${hex(b.address)} in the file, ${hex(a.address)} in the dump's kallsyms`);
        }
        if (n) {
          checked.push(`${n} kallsyms symbols`);
          if (differK.length) mismatches.push(`${differK.length} of ${n} symbols differ from the dump's kallsyms (${differK.slice(0, 2).join('; ')})`);
        }
      }
    }
  }
  return { checked, mismatches };
}

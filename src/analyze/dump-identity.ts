// What a saved dump says about the machine it came from (the kdump-compressed header's utsname,
// timestamp, phys_base, CPU count and notes), read from the input dump and the crashed kernel.
import { NotInDumpError, ParseError } from '../errors.ts';
import type { Dump } from '../format/dump.ts';
import { EM_X86_64, encodeNotes } from '../format/elf.ts';
import type { Utsname } from '../format/kdump-compressed-writer.ts';
import type { ReadVirt } from './page-class.ts';
import type { VmcoreInfo } from './vmcoreinfo.ts';
import { archOf } from './arch/arch.ts';

/** The machine facts a kdump-compressed header records, from the dump itself. */
export interface DumpIdentity {
  utsname: Utsname;
  timestamp: { sec: bigint; usec: bigint };
  physBase: bigint;
  nrCpus: number;
  /** The notes to copy (PRSTATUS per CPU, VMCOREINFO, ...), as one PT_NOTE's bytes. */
  notes: Uint8Array;
  /** ELF e_machine for an ELF output: the input's, else its architecture's (x86_64 when unknown). */
  elfMachine: number;
}

/** utsname from the crashed kernel's init_uts_ns (6 strings of 65 bytes), else from VMCOREINFO. */
export function dumpIdentity(dump: Dump, vi: VmcoreInfo | undefined, readVirt: ReadVirt | undefined): DumpIdentity {
  const h = dump.header;
  const str = (k: string): string | undefined => (typeof h[k] === 'string' && h[k] !== '' ? (h[k] as string) : undefined);
  let uts: Utsname | undefined;
  const addr = vi?.symbol('init_uts_ns');
  if (addr !== undefined && readVirt) {
    try {
      const b = readVirt(addr + BigInt(vi!.offset('uts_namespace.name') ?? 0), 6 * 65);
      const f = [0, 1, 2, 3, 4, 5].map((i) => {
        const s = b.subarray(i * 65, i * 65 + 65);
        const nul = s.indexOf(0);
        return new TextDecoder('latin1').decode(nul < 0 ? s : s.subarray(0, nul));
      });
      uts = { sysname: f[0]!, nodename: f[1]!, release: f[2]!, version: f[3]!, machine: f[4]!, domainname: f[5]! };
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
  }
  uts ??= {
    sysname: str('sysname') ?? 'Linux',
    nodename: str('nodename') ?? '',
    release: str('release') ?? vi?.osrelease ?? '',
    version: str('version') ?? '',
    machine: str('machine') ?? machineOf(dump),
    domainname: str('domainname') ?? '',
  };
  const crash = vi?.crashTime;
  const now = BigInt(Date.now());
  const sec = typeof h.timestampSec === 'bigint' && h.timestampSec > 0n ? h.timestampSec : (crash ?? now / 1000n);
  const usec = typeof h.timestampUsec === 'bigint' && h.timestampSec === sec ? h.timestampUsec : 0n;
  const physBase = vi?.number('phys_base') ?? (typeof h.physBase === 'bigint' ? h.physBase : 0n);
  const nrCpus = dump.notes.filter((n) => n.name === 'CORE' && n.type === 1).length || (typeof h.nrCpus === 'number' && h.nrCpus > 0 ? h.nrCpus : 1);
  // Every note the input has, and VMCOREINFO as a note even where the input kept it apart (a
  // kdump-compressed header version 3, or a note area damaged before it): the output needs it.
  const notes = [...dump.notes];
  if (dump.vmcoreinfo !== undefined && !notes.some((n) => n.name === 'VMCOREINFO')) {
    notes.push({ name: 'VMCOREINFO', type: 0, desc: new TextEncoder().encode(dump.vmcoreinfo), offset: 0 });
  }
  return { utsname: uts, timestamp: { sec, usec }, physBase, nrCpus, notes: encodeNotes(notes), elfMachine: elfMachineOf(dump) };
}

/** An error with a system errno code (ENOSPC, EIO …) from a read or a write. */
export function isIoError(e: unknown): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/** The errors a read of dump data may end with: not in the dump, damaged, or a system errno. */
export function isReadError(e: unknown): boolean {
  return e instanceof NotInDumpError || e instanceof ParseError || isIoError(e);
}

/** uname -m of the dump's architecture when its utsname is unreadable (x86_64 when the dump names none). */
function machineOf(dump: Dump): string {
  try {
    return archOf(dump).name;
  } catch (e) {
    if (e instanceof ParseError) return typeof dump.header.machine === 'string' ? dump.header.machine : 'x86_64';
    throw e;
  }
}

function elfMachineOf(dump: Dump): number {
  const m = dump.header.machine;
  if (typeof m === 'number') return m;
  try {
    return archOf(dump).elfMachine;
  } catch (e) {
    if (e instanceof ParseError) return EM_X86_64;
    throw e;
  }
}

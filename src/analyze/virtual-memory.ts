// The one shape every reader of kernel memory takes (printk, kallsyms, tasks, modules, ORC, the
// unwinder; KernelMemory is one, tests pass small fakes), and the little-endian reads over it.

/** Reads kernel virtual memory; NotInDumpError when the dump does not hold it. */
export interface VirtualMemory {
  readVirt(vaddr: bigint, length: number): Uint8Array;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function readU64(mem: VirtualMemory, vaddr: bigint): bigint {
  return view(mem.readVirt(vaddr, 8)).getBigUint64(0, true);
}

export function readU32(mem: VirtualMemory, vaddr: bigint): number {
  return view(mem.readVirt(vaddr, 4)).getUint32(0, true);
}

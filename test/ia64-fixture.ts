// IA-64 test inputs: the constructed machine fixtures (test/fixtures/ia64, see its README.md) and a
// vmlinux with the program headers of a real IA-64 kernel (arch/ia64/kernel/vmlinux.lds.S).
import { readFileSync } from 'node:fs';
import { parseEfiMemmapText } from '../src/kexec/arch/ia64/efi-memmap.ts';
import type { EfiMemoryDescriptor } from '../src/format/efi.ts';

export function ia64Machine(name: 'hp-zx1-2g' | 'sgi-altix-2node'): { iomem: string; efi: EfiMemoryDescriptor[] } {
  const at = (ext: string) => readFileSync(new URL(`fixtures/ia64/${name}.${ext}`, import.meta.url), 'utf8');
  return { iomem: at('iomem'), efi: parseEfiMemmapText(at('efi-memmap'), name) };
}

/** PT_LOADs: text at 64 MiB, percpu (linked at 0xffffffffffff0000), data + bss; 12 MiB in all. */
export const IA64_VMLINUX_LOADS = [
  { vaddr: 0xa000000100000000n, paddr: 0x4000000n, filesz: 0x6a0000, memsz: 0x6a0000 },
  { vaddr: 0xffffffffffff0000n, paddr: 0x46a0000n, filesz: 0x10000, memsz: 0x10000 },
  { vaddr: 0xa0000001006b0000n, paddr: 0x46b0000n, filesz: 0x404000, memsz: 0x550000 },
];
/** phys_start = _start - LOAD_OFFSET: _start follows the 32 KiB interruption vector table. */
export const IA64_VMLINUX_ENTRY = 0x4008000n;

/** An ELF64 LE EM_IA_64 executable with those program headers (+ a PT_NOTE) and zero-filled contents. */
export function ia64Vmlinux(): Uint8Array {
  const phnum = IA64_VMLINUX_LOADS.length + 1;
  const dataStart = 0x10000;
  const fileSize = dataStart + IA64_VMLINUX_LOADS.reduce((n, l) => n + l.filesz, 0) + 0x24;
  const b = new Uint8Array(fileSize);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 50, true); // EM_IA_64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, IA64_VMLINUX_ENTRY, true);
  dv.setBigUint64(32, 64n, true); // e_phoff
  dv.setUint32(48, 0x10, true); // e_flags: EF_IA_64_ABI64
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
  dv.setUint16(58, 64, true);
  let off = dataStart;
  const ph = (i: number, type: number, flags: number, o: number, vaddr: bigint, paddr: bigint, filesz: number, memsz: number, align: bigint) => {
    const at = 64 + 56 * i;
    dv.setUint32(at, type, true);
    dv.setUint32(at + 4, flags, true);
    dv.setBigUint64(at + 8, BigInt(o), true);
    dv.setBigUint64(at + 16, vaddr, true);
    dv.setBigUint64(at + 24, paddr, true);
    dv.setBigUint64(at + 32, BigInt(filesz), true);
    dv.setBigUint64(at + 40, BigInt(memsz), true);
    dv.setBigUint64(at + 48, align, true);
  };
  IA64_VMLINUX_LOADS.forEach((l, i) => {
    ph(i, 1, i === 0 ? 5 : 6, off, l.vaddr, l.paddr, l.filesz, l.memsz, 0x10000n);
    b[off] = 0x10 + i; // something to hash
    off += l.filesz;
  });
  ph(phnum - 1, 4, 4, off, 0xa000000100500000n, 0x4500000n, 0x24, 0x24, 4n);
  return b;
}

// Synthetic kernel images with chosen header values (no real kernel needed), for loader tests.
import { BootParams } from '../../src/format/bzimage.ts';
import { writeStruct } from '../../src/format/struct.ts';
import { Elf64Ehdr, Elf64Phdr } from '../../src/format/elf.ts';

export interface FakeBzImage {
  setupSects?: number;
  /** Bytes of the protected-mode kernel. */
  kernelSize: number;
  initSize: number;
  kernelAlignment?: number;
  prefAddress?: bigint;
  version?: number;
  xloadflags?: number;
  relocatable?: boolean;
  cmdlineSize?: number;
}

/** The Debian 6.1 cloud kernel of the fixture machine (kexec -d: kernel_size 0xd877c0, init_size 0x3378000). */
export const FIXTURE_KERNEL: FakeBzImage = { setupSects: 39, kernelSize: 0xd827c0, initSize: 0x3378000 };

export function fakeBzImage(o: FakeBzImage): Uint8Array {
  const sects = o.setupSects ?? 39;
  const setup = (sects + 1) * 512;
  const img = new Uint8Array(setup + o.kernelSize);
  for (let i = setup; i < img.length; i += 4093) img[i] = i & 0xff; // some non-zero content to hash
  writeStruct(BootParams, img, {
    setup_sects: sects,
    syssize: Math.ceil(o.kernelSize / 16),
    boot_flag: 0xaa55,
    jump: 0x6aeb,
    header: 0x53726448,
    version: o.version ?? 0x020f,
    loadflags: 0x01,
    kernel_alignment: o.kernelAlignment ?? 0x200000,
    relocatable_kernel: o.relocatable === false ? 0 : 1,
    min_alignment: 0x15,
    xloadflags: o.xloadflags ?? 0x7f,
    cmdline_size: o.cmdlineSize ?? 0x7ff,
    pref_address: o.prefAddress ?? 0x1000000n,
    init_size: o.initSize,
  });
  return img;
}

/** A vmlinux-like ELF64 x86_64 executable: PT_LOADs at (vaddr, paddr, filesz, memsz), entry virtual. */
export function fakeVmlinux(loads: { vaddr: bigint; paddr: bigint; filesz: number; memsz: number }[], entry: bigint): Uint8Array {
  const phoff = 64;
  let off = 0x1000;
  const offsets = loads.map((l) => {
    const at = off;
    off += Math.ceil(l.filesz / 0x1000) * 0x1000;
    return at;
  });
  const img = new Uint8Array(off);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  writeStruct(Elf64Ehdr, img, { type: 2, machine: 62, version: 1, entry, phoff: BigInt(phoff), ehsize: 64, phentsize: 56, phnum: loads.length, shentsize: 64 });
  loads.forEach((l, i) => {
    writeStruct(Elf64Phdr, img, { type: 1, flags: 7, offset: BigInt(offsets[i]!), vaddr: l.vaddr, paddr: l.paddr, filesz: BigInt(l.filesz), memsz: BigInt(l.memsz), align: 0x200000n }, phoff + 56 * i);
    img.fill(0x11 * (i + 1), offsets[i]!, offsets[i]! + l.filesz);
  });
  return img;
}

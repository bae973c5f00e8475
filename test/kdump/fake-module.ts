// Synthetic kernel modules for tests (modinfo, initramfs module and firmware selection).
import { encodeStruct, struct } from '../../src/format/struct.ts';

/** A minimal ELF64 relocatable with a .modinfo section (these "key=value" strings), as a kernel module has. */
export function fakeModule(modinfo: string[]): Uint8Array {
  const Ehdr = struct('ehdr', 64, {
    ident: { off: 0, type: 'bytes:16' },
    shoff: { off: 40, type: 'u64' },
    shentsize: { off: 58, type: 'u16' },
    shnum: { off: 60, type: 'u16' },
    shstrndx: { off: 62, type: 'u16' },
  });
  const Shdr = struct('shdr', 64, { name: { off: 0, type: 'u32' }, type: { off: 4, type: 'u32' }, offset: { off: 24, type: 'u64' }, size: { off: 32, type: 'u64' } });
  const strtab = Buffer.from('\0.shstrtab\0.modinfo\0');
  const info = Buffer.from(modinfo.join('\0') + '\0');
  const dataOff = 64;
  const infoOff = dataOff + strtab.length;
  const shoff = infoOff + info.length + 8 - ((infoOff + info.length) % 8);
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  return Buffer.concat([
    encodeStruct(Ehdr, { ident, shoff: BigInt(shoff), shentsize: 64, shnum: 3, shstrndx: 1 }),
    strtab,
    info,
    Buffer.alloc(shoff - infoOff - info.length),
    encodeStruct(Shdr, {}),
    encodeStruct(Shdr, { name: 1, type: 3, offset: BigInt(dataOff), size: BigInt(strtab.length) }),
    encodeStruct(Shdr, { name: 11, type: 1, offset: BigInt(infoOff), size: BigInt(info.length) }),
  ]);
}

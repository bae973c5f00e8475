import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moduleName, parseModulesDep, resolveModules, resolveModulesByModinfo } from './modules.ts';
import { modinfoDepends, readModinfo } from './modinfo.ts';
import { BufferSource } from '../io/source.ts';
import { encodeStruct, struct } from '../format/struct.ts';

// The virtio part of Debian 6.1's modules.dep (as depmod writes it).
const DEP = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz
`;

test('modules: names drop .ko/.ko.xz and read "-" as "_"', () => {
  assert.equal(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.xz'), 'virtio_rng');
  assert.equal(moduleName('a/b/virtio_blk.ko'), 'virtio_blk');
});

test('modules: modules.dep resolution loads every dependency once, before the modules needing it', () => {
  const order = resolveModules(parseModulesDep(DEP), ['virtio_pci', 'virtio_blk']);
  const names = order.map(moduleName);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names.slice(-2), ['virtio_pci', 'virtio_blk']);
  for (const dep of ['virtio', 'virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev']) {
    assert.ok(names.indexOf(dep) < names.indexOf('virtio_pci'), `${dep} before virtio_pci`);
  }
});

test('modules: a built-in module needs no file; an unknown one is an error naming it', () => {
  const idx = parseModulesDep(DEP);
  const builtinOnly = parseModulesDep('', 'kernel/drivers/block/virtio_blk.ko\n');
  assert.deepEqual(resolveModules(builtinOnly, ['virtio_blk']), []);
  assert.throws(() => resolveModules(idx, ['no_such_mod']), /no_such_mod/);
});

// A minimal ELF64 relocatable with a .modinfo section, as a kernel module has.
function fakeModule(modinfo: string[]): Uint8Array {
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

test('modinfo: reads depends= from a module and resolves load order without modules.dep', () => {
  const mods: Record<string, string[]> = {
    'kernel/virtio_blk.ko': ['license=GPL', 'depends=virtio,virtio_ring', 'name=virtio_blk'],
    'kernel/virtio_ring.ko': ['depends=', 'name=virtio_ring'],
    'kernel/virtio.ko': ['depends=virtio-ring', 'name=virtio'],
  };
  const info = readModinfo(new BufferSource(fakeModule(mods['kernel/virtio_blk.ko']!)));
  assert.deepEqual(info.get('license'), ['GPL']);
  assert.deepEqual(modinfoDepends(info), ['virtio', 'virtio_ring']);
  const order = resolveModulesByModinfo(
    ['virtio_blk', 'virtio_pci'],
    (n) => Object.keys(mods).find((p) => moduleName(p) === n),
    (p) => modinfoDepends(readModinfo(new BufferSource(fakeModule(mods[p]!), p))),
    (n) => n === 'virtio_pci',
  );
  assert.deepEqual(order, ['kernel/virtio_ring.ko', 'kernel/virtio.ko', 'kernel/virtio_blk.ko']);
  assert.throws(() => readModinfo(new BufferSource(new Uint8Array(64))), /not a 64-bit little-endian ELF/);
});

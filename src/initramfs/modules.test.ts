import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moduleName, parseModulesDep, resolveModules, resolveModulesByModinfo } from './modules.ts';
import { firmwareSearchPaths, modinfoDepends, modinfoFirmware, moduleFirmware, readModinfo } from './modinfo.ts';
import { BufferSource } from '../io/source.ts';
import { fakeModule } from '../../test/kdump/fake-module.ts';

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

test('modinfo: firmware= entries, each once, none that leaves the firmware directories', () => {
  const ko = fakeModule(['firmware=acme/a.bin', 'firmware=acme/a.bin', 'firmware=../../etc/shadow', 'firmware=/abs.bin', 'firmware=b.fw', 'name=acme']);
  assert.deepEqual(moduleFirmware(ko, 'acme.ko'), ['acme/a.bin', 'b.fw']);
  assert.deepEqual(modinfoFirmware(new Map()), []);
});

test('firmware search: the kernel\'s order, updates/RELEASE to /lib/firmware, uncompressed then .zst then .xz', () => {
  const dirs = ['lib/firmware/updates/6.1.0-test', 'lib/firmware/updates', 'lib/firmware/6.1.0-test', 'lib/firmware'];
  assert.deepEqual(firmwareSearchPaths('acme/a.bin', '6.1.0-test'), ['', '.zst', '.xz'].flatMap((s) => dirs.map((d) => `${d}/acme/a.bin${s}`)));
});

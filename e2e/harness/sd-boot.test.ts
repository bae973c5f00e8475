import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitSdBootCmdline } from './sd-boot.ts';

test('splitSdBootCmdline: systemd-boot\'s initrd=\\DIR\\FILE words (a real trixie Type #1 boot) become ESP paths, the rest is the entry\'s options', () => {
  const real = 'initrd=\\b16e73afe37e481d9d59588f124346c2\\7.3.4+deb13-cloud-amd64\\initrd.img-7.3.4+deb13-cloud-amd64 root=UUID=1f6e3478-8724-4def-8e42-d7d640b5502f ro console=ttyS0 systemd.machine_id=b16e73afe37e481d9d59588f124346c2\n';
  assert.deepEqual(splitSdBootCmdline(real), {
    initrds: ['/boot/efi/b16e73afe37e481d9d59588f124346c2/7.3.4+deb13-cloud-amd64/initrd.img-7.3.4+deb13-cloud-amd64'],
    rest: 'root=UUID=1f6e3478-8724-4def-8e42-d7d640b5502f ro console=ttyS0 systemd.machine_id=b16e73afe37e481d9d59588f124346c2',
  });
});

test('splitSdBootCmdline: a UKI boot (no initrd= words) and an initrd= without a backslash (the entry\'s own option) stay in the rest', () => {
  assert.deepEqual(splitSdBootCmdline('root=UUID=x ro  e2e.entry=uki'), { initrds: [], rest: 'root=UUID=x ro e2e.entry=uki' });
  assert.deepEqual(splitSdBootCmdline('initrd=/x ro', '/efi'), { initrds: [], rest: 'initrd=/x ro' });
  assert.deepEqual(splitSdBootCmdline('initrd=\\a\\b initrd=\\c ro', '/efi'), { initrds: ['/efi/a/b', '/efi/c'], rest: 'ro' });
});

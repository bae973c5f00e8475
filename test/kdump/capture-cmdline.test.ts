import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureCmdline } from '../../src/kdump/capture-cmdline.ts';

test('capture cmdline: the fixture machine\'s cmdline loses crashkernel= and panic=, gains the kdump additions', () => {
  // fixtures/x86_64-debian-6.1/guest-probe.txt ===CMDLINE
  const r = captureCmdline('console=ttyS0 stage=probe panic=-1 crashkernel=256M');
  assert.equal(r.cmdline, 'console=ttyS0 stage=probe irqpoll nr_cpus=1 reset_devices panic=10 cgroup_disable=memory');
  assert.deepEqual(r.removed, ['panic=-1', 'crashkernel=256M']);
});

test('capture cmdline: bootloader words, memory reservations and memmap= go; quoted values and init args stay', () => {
  const r = captureCmdline(
    'BOOT_IMAGE=/boot/vmlinuz-6.1.0 root=UUID=abcd ro quiet crashkernel=512M-2G:64M,2G-:128M hugepages=512 memmap=64M$0x100000000 rd.lvm="vg/root" nr_cpus=8 -- single',
  );
  assert.equal(
    r.cmdline,
    'root=UUID=abcd ro rd.lvm="vg/root" irqpoll nr_cpus=1 reset_devices panic=10 cgroup_disable=memory -- single',
  );
});

test('capture cmdline: user additions replace our defaults of the same name, extra removals apply', () => {
  const r = captureCmdline('console=tty0 console=ttyS0,115200 audit=1', { append: 'nr_cpus=2 mce=off', remove: ['audit'] });
  assert.equal(r.cmdline, 'console=tty0 console=ttyS0,115200 irqpoll reset_devices panic=10 cgroup_disable=memory nr_cpus=2 mce=off');
  assert.deepEqual(r.removed, ['audit=1']);
});

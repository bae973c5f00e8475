// The capture initramfs (kdump-ts mkinitrd) and the sizes kdump-ts estimate works from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeArchive } from '../../src/host/initramfs-collect.ts';
import { DEFAULT_CONFIG } from '../../src/kdump/config.ts';
import { estimateCrashkernel, formatEstimate } from '../../src/kdump/estimate.ts';
import { blockDeviceModules, buildCaptureInitramfs, resolveTarget } from '../../src/host/kdump-initramfs.ts';
import { initScript, INITRAMFS_BUNDLE } from '../../src/kdump/capture-initramfs.ts';
import { mountOf, parseMountinfo } from '../../src/kdump/dump-target.ts';
import { initrdUnpackedSize } from '../../src/host/initrd-size.ts';
import { fakeModule } from './fake-module.ts';
import { fakeRoot } from './fake-root.ts';
import { readinessChecks } from '../../src/host/kdump-readiness.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const MIB = 1n << 20n;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

test('/init: shell syntax is valid and it runs vmcore-ts save with the config\'s flags on the target', () => {
  const script = initScript({
    target: { device: 'UUID=0f4c-77aa', fstype: 'ext4', dir: "/var/crash/it's", configured: '/var/crash' },
    modules: ['lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko'],
    saveArgs: ['-l', '-d', '31'],
    after: 'poweroff',
    mode: { mode: 'initramfs', why: 'test' },
  });
  const shell = has('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(script, /^wait_dev 'UUID=0f4c-77aa' 'dump target'$/m);
  assert.match(script, /^dir=\/mnt\/target'\/var\/crash\/it'\\''s'\/\$\(date \+%Y%m%d-%H%M%S\)$/m);
  assert.ok(script.includes(`run() { node --max-semi-space-size=1 --no-concurrent-recompilation ${INITRAMFS_BUNDLE} "$@"; }\ncdir=$dir\n`));
  assert.ok(script.includes(`run save -l -d 31 /proc/vmcore "$cdir/vmcore"`));
  assert.ok(script.includes(`run save --dump-dmesg /proc/vmcore "$cdir/dmesg.txt"`));
  assert.ok(script.includes('export NODE_EXTRA_CA_CERTS=\n'), "Debian's node does not warn about a missing CA file");
  assert.ok(!script.includes('chroot'));
  assert.match(script, /poweroff -f/);
  assert.match(script, /insmod "\/\$m"/);
});

test('dump target: found from mountinfo (longest mount point), UUID from /dev/disk/by-uuid, tmpfs refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'kdump-target-'));
  const write = (p: string, t: string) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), t);
  };
  write(
    '/proc/self/mountinfo',
    [
      '21 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw',
      '40 21 254:17 /dumps /var/crash rw - xfs /dev/vdb1 rw',
      '41 21 0:44 / /var/crash\\040tmp rw - tmpfs tmpfs rw',
    ].join('\n'),
  );
  write('/dev/vdb1', '');
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  symlinkSync('../../vdb1', join(root, 'dev/disk/by-uuid/77aa-0f4c'));
  const mounts = parseMountinfo(readFileSync(join(root, 'proc/self/mountinfo'), 'utf8'));
  assert.equal(mountOf(mounts, '/var/crash/host1')!.mountPoint, '/var/crash');
  assert.equal(mountOf(mounts, '/var/crashes')!.mountPoint, '/');
  assert.equal(mountOf(mounts, '/var/crash tmp/x')!.fstype, 'tmpfs');
  assert.deepEqual(resolveTarget({ ...DEFAULT_CONFIG, target: '/var/crash/host1' }, root), {
    device: 'UUID=77aa-0f4c',
    fstype: 'xfs',
    dir: '/dumps/host1',
    configured: '/var/crash/host1',
    majmin: '254:17',
  });
  assert.equal(resolveTarget({ ...DEFAULT_CONFIG, target: '/srv' }, root).device, '/dev/vda1');
  assert.throws(() => resolveTarget({ ...DEFAULT_CONFIG, target: '/var/crash tmp' }, root), /on tmpfs \(tmpfs\), which a capture kernel cannot write to/);
  assert.equal(resolveTarget({ ...DEFAULT_CONFIG, target: '/x', targetDevice: 'LABEL=dumps', targetFstype: 'btrfs' }, root).device, 'LABEL=dumps');
});

test('block device modules: drivers along the sysfs path of a partition (virtio_blk, virtio_pci)', () => {
  const root = mkdtempSync(join(tmpdir(), 'kdump-sysfs-'));
  const pci = 'sys/devices/pci0000:00/0000:00:04.0';
  const disk = `${pci}/virtio2/block/vdb`;
  mkdirSync(join(root, disk, 'vdb1'), { recursive: true });
  writeFileSync(join(root, disk, 'vdb1', 'partition'), '1\n');
  for (const m of ['virtio_blk', 'virtio_pci']) mkdirSync(join(root, 'sys/module', m), { recursive: true });
  mkdirSync(join(root, 'sys/bus/virtio/drivers/virtio_blk'), { recursive: true });
  mkdirSync(join(root, 'sys/bus/pci/drivers/virtio-pci'), { recursive: true });
  symlinkSync('../../../../module/virtio_blk', join(root, 'sys/bus/virtio/drivers/virtio_blk/module'));
  symlinkSync('../../../../module/virtio_pci', join(root, 'sys/bus/pci/drivers/virtio-pci/module'));
  symlinkSync('../../../../bus/virtio/drivers/virtio_blk', join(root, `${pci}/virtio2/driver`));
  symlinkSync('../../../bus/pci/drivers/virtio-pci', join(root, `${pci}/driver`));
  symlinkSync('../..', join(root, disk, 'device')); // block/vdb/device -> virtio2
  mkdirSync(join(root, 'sys/dev/block'), { recursive: true });
  symlinkSync(`../../../${disk}/vdb1`, join(root, 'sys/dev/block/254:17'));
  assert.deepEqual(blockDeviceModules('254:17', root), ['virtio_blk', 'virtio_pci']);
  assert.deepEqual(blockDeviceModules('8:0', root), []);
});

/** The capture initramfs (capture = initramfs) for a /dev/vdb ext4 target, no kernel modules, the given bundle. */
const buildFor = (dir: string, bundle: string) =>
  buildCaptureInitramfs({
    config: { ...DEFAULT_CONFIG, capture: 'initramfs' },
    target: { device: '/dev/vdb', fstype: 'ext4', dir: '/crash', configured: '/crash' },
    release: '6.1.0-test',
    modulesDir: join(dir, 'no-modules'),
    bundle,
  });

test('mkinitrd: the archive holds /init, busybox, node with its libraries and the bundle; cpio(1) agrees', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-mkinitrd-'));
  const bundle = join(dir, 'vmcore-ts.mjs');
  writeFileSync(bundle, 'console.log("vmcore-ts")\n');
  writeFileSync(join(dir, 'compress-worker.mjs'), '// worker\n');
  writeFileSync(join(dir, 'kexec-ts.mjs'), '// not needed in the capture kernel\n');
  const built = buildFor(dir, bundle);
  const paths = built.archive.paths();
  for (const p of ['init', 'bin/busybox', 'bin/sh', 'usr/bin/node', 'kdump-ts/vmcore-ts.mjs', 'kdump-ts/compress-worker.mjs', 'dev/console']) assert.ok(paths.includes(p), p);
  assert.ok(!paths.includes('kdump-ts/kexec-ts.mjs'));
  assert.ok(paths.some((p) => /ld-linux-x86-64\.so\.2$/.test(p)), 'the dynamic loader node needs');
  assert.deepEqual(built.modules, []);
  const out = join(dir, 'initrd.img');
  await writeArchive(built.archive.encode(), out, 1);
  const unpacked = initrdUnpackedSize(readFileSync(out), out);
  assert.equal(unpacked, BigInt(built.archive.dataSize()));
  if (!has('cpio')) return;
  const listed = execFileSync('sh', ['-c', `gzip -dc ${out} | cpio -it 2>/dev/null`], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n');
  assert.deepEqual(new Set(listed), new Set(paths));
});

test('mkinitrd: carries the firmware its modules declare, from the kernel\'s search path (updates/ first, .xz as found), and names what the host lacks', async () => {
  const release = '6.1.0-test';
  const root = fakeRoot({
    [`/lib/modules/${release}/modules.dep`]: 'kernel/drivers/scsi/acme.ko: kernel/drivers/scsi/acme_core.ko\nkernel/drivers/scsi/acme_core.ko:\n',
    [`/lib/modules/${release}/kernel/drivers/scsi/acme.ko`]: fakeModule(['name=acme', 'depends=acme_core', 'firmware=acme/fw.bin', 'firmware=acme/optional.bin']),
    [`/lib/modules/${release}/kernel/drivers/scsi/acme_core.ko`]: fakeModule(['name=acme_core', 'firmware=acme/core.bin']),
    [`/lib/firmware/updates/${release}/acme/fw.bin`]: 'updated firmware',
    '/lib/firmware/acme/fw.bin': 'older firmware, shadowed by updates/',
    '/lib/firmware/acme/core.bin.xz': 'xz firmware',
  });
  const modulesDir = join(root, 'lib/modules', release);
  const bundle = join(root, 'vmcore-ts.mjs');
  writeFileSync(bundle, '// bundle\n');
  const built = buildCaptureInitramfs({
    config: { ...DEFAULT_CONFIG, modules: ['acme'] },
    target: { device: '/dev/sdb', fstype: 'ext4', dir: '/crash', configured: '/crash' },
    release,
    modulesDir,
    bundle,
    root,
  });
  assert.deepEqual(built.firmware, { carried: ['lib/firmware/acme/core.bin.xz', `lib/firmware/updates/${release}/acme/fw.bin`], missing: ['acme/optional.bin'] });
  const fw = built.archive.get(`lib/firmware/updates/${release}/acme/fw.bin`);
  assert.equal(fw?.type === 'file' && Buffer.from(fw.data).toString(), 'updated firmware');
  assert.ok(!built.archive.has('lib/firmware/acme/fw.bin'));
  if (!has('cpio')) return;
  const out = join(root, 'initrd.img');
  await writeArchive(built.archive.encode(), out, 1);
  const listed = execFileSync('sh', ['-c', `gzip -dc ${out} | cpio -it 2>/dev/null`], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n');
  for (const p of built.firmware.carried) assert.ok(listed.includes(p), p);
});

test('kdump-ts mkinitrd --root: the report lists the firmware carried and warns of declared firmware the host lacks; kdump-ts test\'s modules check then passes', () => {
  const release = '6.1.0-56-cloud-amd64'; // the fake root's running release
  const root = fakeRoot({
    '/etc/kdump-ts.conf': 'modules = acme\n',
    [`/lib/modules/${release}/modules.dep`]: 'kernel/acme.ko:\n',
    [`/lib/modules/${release}/kernel/acme.ko`]: fakeModule(['name=acme', 'firmware=acme/fw.bin', 'firmware=acme/opt.bin']),
    '/lib/firmware/acme/fw.bin.zst': 'zstd firmware',
    '/pkg/vmcore-ts.mjs': '// bundle\n',
  });
  const out = join(root, 'var/lib/kdump-ts', `initrd.img-${release}`);
  const args = ['mkinitrd', '--root', root, '--modules-dir', join(root, 'lib/modules', release), '--bundle', join(root, 'pkg/vmcore-ts.mjs'), '-o', out];
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ {2}firmware: acme\/fw\.bin\.zst$/m);
  assert.match(r.stdout, /^ {2}warning: firmware the modules declare but this host lacks \(often optional\): acme\/opt\.bin$/m);
  const modules = readinessChecks(root).find((c) => c.name === 'modules')!;
  assert.deepEqual([modules.result, modules.detail], ['ok', 'acme; firmware: 1 of 1 present']);
});

test('mkinitrd: koffi and the host\'s C page compressors are carried, and load from the archive\'s layout', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kdump-mkinitrd-native-'));
  const bundle = join(dir, 'vmcore-ts.mjs');
  writeFileSync(bundle, '// bundle\n');
  const built = buildFor(dir, bundle);
  if (built.nativeCodecs.length === 0) return t.skip('no libdeflate/liblzo2 on this host (scripts/install-test-deps.sh installs them)');
  // Unpack the kdump-ts/ tree and the libraries, then load koffi from there as the bundle would.
  const root = join(dir, 'root');
  for (const p of built.archive.paths()) {
    const e = built.archive.get(p);
    if (e?.type !== 'file' || !(p.startsWith('kdump-ts/') || /\/lib(deflate|lzo2)\.so/.test(p))) continue;
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), e.data);
  }
  const libs = built.archive.paths().filter((p) => /\/lib(deflate|lzo2)\.so/.test(p));
  assert.deepEqual(built.nativeCodecs.length, libs.length);
  const probe = join(root, 'kdump-ts', 'probe.cjs');
  writeFileSync(probe, `const k = require('koffi'); for (const l of process.argv.slice(2)) k.load(l); console.log('ok')`);
  const r = spawnSync(process.execPath, [...NODE_ARGS, probe, ...libs.map((l) => join(root, l))], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'ok', r.stderr);
});

test('estimate: the arithmetic adds up and rounds up to 16 MiB; the initramfs mode is bound by unpacking (tmpfs may fill half the memory)', () => {
  const e = estimateCrashkernel({ kernelInitSize: 0x3378000n, initrdSize: 40n * MIB, initrdUnpacked: 110n * MIB });
  const sum = e.lines.reduce((n, l) => n + l.bytes, 0n);
  assert.equal(sum, e.total);
  assert.equal(e.recommended % (16n * MIB), 0n);
  assert.ok(e.recommended >= e.total && e.recommended - e.total < 16n * MIB);
  // kernel 51.5 + rootfs 110 + max(unpacking 40 + 110, running 24 + 16) = 311.5 MiB; + struct page 4.9
  assert.equal(e.param, 'crashkernel=320M');
  const text = formatEstimate(e).join('\n');
  assert.match(text, /kernel +51\.5 MiB/);
  assert.match(text, /peak +150\.0 MiB  the larger of unpacking \(150\.0 MiB: the compressed initramfs 40\.0 MiB, and the rootfs again: its tmpfs may fill half the memory\) and running \(40\.0 MiB: vmcore-ts save 24\.0 MiB, kernel slab\/page tables\/stacks 16\.0 MiB\)/);
  assert.match(text, /→ crashkernel=320M/);
  // A small initramfs: running is the peak.
  assert.equal(estimateCrashkernel({ kernelInitSize: 0n, initrdSize: 1n * MIB, initrdUnpacked: 2n * MIB }).lines[2]!.bytes, 40n * MIB);
});

test('kdump-ts estimate --root: reads init_size from the capture kernel and the unpacked size of the built initramfs', async () => {
  const { fakeBzImage, FIXTURE_KERNEL } = await import('../kexec/synthetic.ts');
  const { CpioArchive } = await import('../../src/initramfs/cpio.ts');
  const root = mkdtempSync(join(tmpdir(), 'kdump-estimate-'));
  const put = (p: string, b: Uint8Array | string) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), b);
  };
  put('/proc/sys/kernel/osrelease', '6.1.0-test\n');
  put('/proc/cmdline', 'console=ttyS0 crashkernel=256M\n');
  put('/boot/vmlinuz-6.1.0-test', fakeBzImage(FIXTURE_KERNEL));
  const a = new CpioArchive().file('init', '#!/bin/sh\n').file('big.bin', new Uint8Array(3 << 20));
  const initrd = join(root, 'var/lib/kdump-ts/initrd.img-6.1.0-test');
  mkdirSync(dirname(initrd), { recursive: true });
  await writeArchive(a.encode(), initrd, 1);
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'estimate', '--root', root, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { lines: { what: string; bytes: number }[]; param: string };
  const line = (w: string) => j.lines.find((l) => l.what === w)!.bytes;
  assert.equal(line('kernel'), 0x3378000);
  assert.equal(line('peak'), 40 << 20); // a 3 MiB initramfs: running (vmcore-ts save + kernel runtime) is the peak
  assert.equal(line('rootfs'), (3 << 20) + '#!/bin/sh\n'.length);
  assert.match(j.param, /^crashkernel=\d+M$/);
  const text = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kdump-ts.ts', 'estimate', '--root', root], { encoding: 'utf8' });
  assert.match(text.stdout, /^ {2}→ crashkernel=\d+M \(rounded up to 16 MiB\)$/m);
});

test('/init for target = ssh://: valid shell; finds the NIC by MAC, DHCP through its script (or a static address), sends the log first with save --to, 3 attempts; failure_action when all fail', () => {
  const ssh = { url: 'ssh://root@dumphost:2222/var/crash', key: '/etc/kdump-ts/id', knownHosts: '/etc/kdump-ts/kh', encryptTo: '/etc/kdump-ts/dump.pub' };
  const network = { netDevice: '52:54:00:AB:CD:EF', net: 'dhcp' as const, hosts: [{ name: 'dumphost', address: '192.0.2.7' }] };
  const script = initScript({
    target: { device: '', fstype: 'ssh', dir: '/var/crash', configured: ssh.url, ssh, network },
    modules: ['lib/modules/6.1.0/kernel/drivers/net/virtio_net.ko'],
    saveArgs: ['-c', '-d', '31'],
    after: 'reboot',
    failureAction: 'shell',
    mode: { mode: 'initramfs', why: 'test' },
  });
  const shell = has('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(script.includes(`[ "$(cat "$n/address" 2>/dev/null)" = '52:54:00:ab:cd:ef' ] && ifc=\${n##*/}`), 'the interface by its MAC, lower case as sysfs shows it');
  assert.ok(script.includes('udhcpc -i "$ifc" -n -q -t 10 -T 2 -s /etc/kdump-ts/udhcpc.sh'));
  assert.ok(script.includes(`url='ssh://root@dumphost:2222/var/crash'/$stamp`));
  assert.ok(script.includes(`run save --to "$url" --ssh-key '/etc/kdump-ts/id' --known-hosts '/etc/kdump-ts/kh' --encrypt-to '/etc/kdump-ts/dump.pub' --state-dir /run/vmcore-ts --with-log --message-level 6 -c -d 31 /proc/vmcore`));
  assert.ok(script.includes('[ $n -ge 3 ] && break'));
  assert.ok(!script.includes('mount -t \'ssh\''), 'nothing to mount');
  assert.match(script, /if \[ \$st -eq 0 \]; then log "done \(reboot\)"; reboot -f; else log "failed \(shell\)"; exec sh; fi/);
  const fixed = initScript({
    target: { device: '', fstype: 'ssh', dir: '/d', configured: ssh.url, ssh, network: { ...network, netDevice: 'eth1', net: { address: '192.0.2.10/24', gateway: '192.0.2.1' } } },
    modules: [],
    saveArgs: ['-l', '-d', '31'],
    after: 'reboot',
    mode: { mode: 'initramfs', why: 'test' },
  });
  assert.ok(fixed.includes(`[ -e "$sys/class/net/"'eth1' ] && ifc='eth1'`));
  assert.ok(fixed.includes(`ip addr add '192.0.2.10/24' dev "$ifc" && ip route add default via '192.0.2.1'`));
  assert.ok(!fixed.includes('udhcpc'));
});

test('mkinitrd for target = ssh://: ssh with its libraries, the key (0600), known hosts, public key, /etc/hosts with the resolved server, the udhcpc script', (t) => {
  if (!has('ssh')) return t.skip('needs openssh-client');
  const dir = mkdtempSync(join(tmpdir(), 'kdump-mkinitrd-ssh-'));
  const bundle = join(dir, 'vmcore-ts.mjs');
  writeFileSync(bundle, '// bundle\n');
  for (const f of ['id', 'kh', 'dump.pub']) writeFileSync(join(dir, f), `${f}\n`);
  const ssh = { url: 'ssh://root@dumphost/var/crash', key: join(dir, 'id'), knownHosts: join(dir, 'kh'), encryptTo: join(dir, 'dump.pub') };
  const network = { netDevice: '52:54:00:12:34:56', net: 'dhcp' as const, hosts: [{ name: 'dumphost', address: '192.0.2.7' }] };
  const built = buildCaptureInitramfs({
    config: { ...DEFAULT_CONFIG, capture: 'initramfs' },
    target: { device: '', fstype: 'ssh', dir: '/var/crash', configured: ssh.url, ssh, network },
    release: '6.1.0-test',
    modulesDir: join(dir, 'no-modules'),
    bundle,
  });
  const paths = built.archive.paths();
  for (const p of ['usr/bin/ssh', join(dir, 'id').slice(1), join(dir, 'kh').slice(1), join(dir, 'dump.pub').slice(1), 'etc/kdump-ts/udhcpc.sh', 'etc/hosts', 'etc/passwd', 'bin/udhcpc', 'bin/ip']) assert.ok(paths.includes(p), p);
  assert.ok(paths.some((p) => /libcrypto\.so/.test(p)), "ssh's libraries");
  const entry = (p: string) => built.archive.get(p)!;
  assert.equal((entry(join(dir, 'id').slice(1)) as { mode: number }).mode & 0o777, 0o600, 'the private key is readable by root only');
  assert.match(new TextDecoder().decode((entry('etc/hosts') as { data: Uint8Array }).data), /^192\.0\.2\.7 dumphost$/m);
  assert.match(new TextDecoder().decode((entry('etc/kdump-ts.target') as { data: Uint8Array }).data), /^ssh:\/\/root@dumphost\/var\/crash$/m);
  // A key file that is missing is named with how to make it.
  assert.throws(
    () => buildCaptureInitramfs({ config: { ...DEFAULT_CONFIG, capture: 'initramfs' }, target: { device: '', fstype: 'ssh', dir: '/v', configured: ssh.url, ssh: { ...ssh, key: join(dir, 'missing') }, network }, release: '6.1.0-test', modulesDir: join(dir, 'no-modules'), bundle }),
    /ssh_key .*missing does not exist/,
  );
});

test('/init for an NFS target: the network first, then mount -t nfs4 with addr= (the server resolved at build time) and the options, tried nfs_attempts times; the save as for a disk', () => {
  const script = initScript({
    target: { device: 'dumphost:/exports', fstype: 'nfs4', dir: '/crash', configured: '/crash', network: { netDevice: 'eth0', net: 'dhcp', hosts: [{ name: 'dumphost', address: '192.0.2.7' }] } },
    modules: [],
    saveArgs: ['-c', '-d', '31'],
    after: 'reboot',
    mode: { mode: 'initramfs', why: 'test' },
    nfs: { options: 'timeo=600,retrans=2', attempts: 4 },
  });
  const shell = has('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(script.indexOf('udhcpc -i') < script.indexOf('until mount'), 'the network comes up before the mount');
  assert.ok(script.includes(`until mount -t 'nfs4' -o 'addr=192.0.2.7,timeo=600,retrans=2' "$d" /mnt/target; do`));
  assert.ok(script.includes(`d='dumphost:/exports'`));
  assert.ok(script.includes('[ $n -ge 4 ] && { log "cannot mount $d (nfs4, addr=192.0.2.7,timeo=600,retrans=2) after 4 attempts"; exit 1; }'));
  assert.doesNotMatch(script, /^wait_dev /m, 'no block device to wait for');
  assert.ok(script.includes('run save -c -d 31 /proc/vmcore "$cdir/vmcore"'));
});

test('/init with collector = …: the network, then vmcore-ts triage; a known crash ends there, a wanted dump goes to the collector, no answer (or a failed upload) falls back to the disk target', () => {
  const script = initScript({
    target: { device: 'UUID=0f4c-77aa', fstype: 'ext4', dir: '/var/crash', configured: '/var/crash' },
    modules: [],
    saveArgs: ['-c', '-d', '31'],
    after: 'reboot',
    mode: { mode: 'initramfs', why: 'test' },
    collector: { url: 'https://collector:8443', token: '/etc/kdump-ts/token', ca: '/etc/kdump-ts/ca.pem', network: { netDevice: 'eth0', net: 'dhcp', hosts: [{ name: 'collector', address: '192.0.2.9' }] } },
  });
  const shell = has('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const at = (s: string) => {
    const i = script.indexOf(s);
    assert.ok(i >= 0, s);
    return i;
  };
  assert.ok(at('udhcpc -i') < at('triage --collector') && at('triage --collector') < at("wait_dev 'UUID=0f4c-77aa'"), 'network, triage, then the disk');
  assert.ok(script.includes(`url=$(node --max-semi-space-size=1 --no-concurrent-recompilation ${INITRAMFS_BUNDLE} triage --collector 'https://collector:8443' --token-file '/etc/kdump-ts/token' --ca '/etc/kdump-ts/ca.pem' /proc/vmcore)`));
  assert.match(script, /^0\) log "the collector https:\/\/collector:8443 knows this crash: signature and log sent, no dump needed"; exit 0 ;;$/m);
  assert.ok(script.includes(`if node --max-semi-space-size=1 --no-concurrent-recompilation ${INITRAMFS_BUNDLE} save --to "$url" --token-file '/etc/kdump-ts/token' --ca '/etc/kdump-ts/ca.pem' --message-level 6 -c -d 31 /proc/vmcore; then log "saved $url"; exit 0; fi`));
  assert.match(script, /no answer from the collector https:\/\/collector:8443 \(exit \$rc\): saving to the configured target/);
});

test('mkinitrd: Debian node\'s externalized builtins (/usr/share/nodejs/….js paths in node or libnode) are found, each once; an official node has none', async () => {
  const { externalizedBuiltinPaths } = await import('../../src/kdump/capture-initramfs.ts');
  const enc = (s: string) => new TextEncoder().encode(s);
  const lib = new Uint8Array([
    ...enc('\0internal/deps/cjs-module-lexer/lexer\0/usr/share/nodejs/cjs-module-lexer/lexer.js\0'),
    ...enc('/usr/share/nodejs/undici/undici-fetch.js\0/usr/share/nodejs/\0/usr/share/nodejs/acorn/package.json\0'),
    ...enc('x/usr/share/nodejs/cjs-module-lexer/lexer.js\0/usr/share/nodejs/../etc/passwd.js\0'),
  ]);
  assert.deepEqual(externalizedBuiltinPaths(lib), ['/usr/share/nodejs/cjs-module-lexer/lexer.js', '/usr/share/nodejs/undici/undici-fetch.js']);
  assert.deepEqual(externalizedBuiltinPaths(new Uint8Array(readFileSync(process.execPath).subarray(0, 1 << 20))), []);
});

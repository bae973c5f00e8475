import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError } from '../../src/errors.ts';
import { DEFAULT_CONFIG, defaultConfigText, parseConfig, saveArgs } from '../../src/kdump/config.ts';

test('config: every key parses; comments and blank lines are ignored', () => {
  const c = parseConfig(
    [
      '# kdump-ts',
      'kernel = /boot/vmlinuz-6.1.0-18-amd64',
      'initrd=/var/lib/kdump-ts/initrd.img',
      '',
      'cmdline_append = console=ttyS0,115200 mce=off',
      'cmdline_remove = audit splash',
      'target = /srv/crash',
      'target_device = UUID=1234-abcd',
      'target_fstype = xfs',
      'dump_level = 1',
      'compression = zstd',
      'syscall = kexec_file_load',
      'modules = nvme xfs',
      'after = poweroff',
      'capture = root',
      'root_device = LABEL=system',
      'root_fstype = btrfs',
      'failure_action = shell',
      'net = 192.0.2.10/24 192.0.2.1',
      'net_device = eth1',
    ].join('\n'),
  );
  assert.deepEqual(c, {
    kernel: '/boot/vmlinuz-6.1.0-18-amd64',
    initrd: '/var/lib/kdump-ts/initrd.img',
    cmdlineAppend: 'console=ttyS0,115200 mce=off',
    cmdlineRemove: ['audit', 'splash'],
    target: '/srv/crash',
    targetDevice: 'UUID=1234-abcd',
    targetFstype: 'xfs',
    dumpLevel: 1,
    compression: 'zstd',
    syscall: 'kexec_file_load',
    modules: ['nvme', 'xfs'],
    after: 'poweroff',
    capture: 'root',
    rootDevice: 'LABEL=system',
    rootFstype: 'btrfs',
    failureAction: 'shell',
    net: { address: '192.0.2.10/24', gateway: '192.0.2.1' },
    netDevice: 'eth1',
    nfsOptions: 'timeo=600,retrans=2',
    nfsAttempts: 3,
  });
  assert.deepEqual(saveArgs(c), ['-z', '-d', '1']);
});

test('config: target = ssh://… with its key, known hosts and public key; without the key or host key it is refused, saying how to make them', () => {
  const c = parseConfig(['target = ssh://root@dumphost:2222/var/crash', 'ssh_key = /etc/kdump-ts/id_ed25519', 'known_hosts = /etc/kdump-ts/known_hosts', 'encrypt_to = /etc/kdump-ts/dump.pub'].join('\n'), 'k.conf');
  assert.deepEqual(c.ssh, {
    target: { user: 'root', host: 'dumphost', port: 2222, dir: '/var/crash' },
    key: '/etc/kdump-ts/id_ed25519',
    knownHosts: '/etc/kdump-ts/known_hosts',
    encryptTo: '/etc/kdump-ts/dump.pub',
  });
  assert.equal(c.net, 'dhcp');
  assert.throws(
    () => parseConfig('target = ssh://root@dumphost/var/crash\nssh_key = /etc/kdump-ts/id_ed25519', 'k.conf'),
    (e) => e instanceof ParseError && e.line === 1 && /needs known_hosts = FILE/.test(e.message) && /ssh-keyscan/.test(e.hint ?? ''),
  );
  assert.throws(() => parseConfig('target = ssh://root@dumphost:0/x', 'k.conf'), (e) => e instanceof ParseError && /target = ssh:\/\/root@dumphost:0\/x: port 0 is not 1-65535/.test(e.message));
  assert.throws(() => parseConfig('ssh_key = /k', 'k.conf'), (e) => e instanceof ParseError && /ssh_key: used only with target = ssh/.test(e.message));
  assert.throws(() => parseConfig('net = 10.0.0.5 10.0.0.1', 'k.conf'), (e) => e instanceof ParseError && /ADDRESS\/PREFIX GATEWAY/.test(e.message));
});

test('config: an NFS export as target_device with target_fstype nfs4, its mount options and attempts; either without the other is refused', () => {
  const c = parseConfig(['target = /crash', 'target_device = 10.0.2.100:/exports', 'target_fstype = nfs4', 'nfs_options = port=2049,timeo=100,retrans=1', 'nfs_attempts = 5'].join('\n'), 'k.conf');
  assert.equal(c.targetDevice, '10.0.2.100:/exports');
  assert.equal(c.nfsOptions, 'port=2049,timeo=100,retrans=1');
  assert.equal(c.nfsAttempts, 5);
  assert.throws(() => parseConfig('target_device = host:/x', 'k.conf'), (e) => e instanceof ParseError && e.line === 1 && /an NFS export; set target_fstype = nfs4/.test(e.message));
  assert.throws(() => parseConfig('target_fstype = nfs4\ntarget_device = /dev/vdb', 'k.conf'), (e) => e instanceof ParseError && /needs target_device = SERVER:\/EXPORT/.test(e.message));
  assert.throws(() => parseConfig('nfs_options = a b', 'k.conf'), (e) => e instanceof ParseError && /comma-separated/.test(e.message));
});

test('config: collector = https://… with its token (required), CA and host name; capture = root is refused (triage runs from the initramfs)', () => {
  const c = parseConfig(['collector = https://collector:8443/', 'collector_token = /etc/kdump-ts/token', 'collector_ca = /etc/kdump-ts/ca.pem', 'collector_host = web-17'].join('\n'), 'k.conf');
  assert.deepEqual(c.collector, { url: 'https://collector:8443', token: '/etc/kdump-ts/token', ca: '/etc/kdump-ts/ca.pem', host: 'web-17' });
  assert.throws(() => parseConfig('collector = https://c', 'k.conf'), (e) => e instanceof ParseError && e.line === 1 && /needs collector_token = FILE/.test(e.message));
  assert.throws(() => parseConfig('collector = https://c\ncollector_token = /t\ncapture = root', 'k.conf'), (e) => e instanceof ParseError && /set capture = initramfs/.test(e.message));
  assert.throws(() => parseConfig('collector = ftp://c', 'k.conf'), (e) => e instanceof ParseError && /expected https:\/\/HOST\[:PORT\]/.test(e.message));
});

test('config: the printed default config parses to the defaults', () => {
  assert.deepEqual(parseConfig(defaultConfigText()), DEFAULT_CONFIG);
  assert.deepEqual(saveArgs(DEFAULT_CONFIG), ['-c', '-d', '31']);
});

test('config: typos and bad values are refused with the line number', () => {
  const bad: [string, RegExp][] = [
    ['dumplevel = 31', /unknown key "dumplevel"/],
    ['dump_level = 32', /0 to 31/],
    ['compression = gzip', /zlib, lzo, snappy, zstd, none/],
    ['target = var/crash', /absolute/],
    ['kernel /boot/vmlinuz', /key = value/],
    ['after = reboot\nafter = halt', /set twice/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseConfig(text, 'kdump-ts.conf'), (e: unknown) => e instanceof ParseError && re.test(e.message) && e.line !== undefined, text);
  }
});

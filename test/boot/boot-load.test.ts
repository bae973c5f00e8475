// kexec-ts boot [ENTRY] / reboot through the library (src/host/boot-load.ts) on copies of the real
// fixture roots with synthetic bzImages, a recording fake for the syscalls and for systemctl: which
// entry, what reaches the syscall (kernel, concatenated initrds, command line), the syscall and why,
// --now, reboot, UKIs under Secure Boot, and boot counting with its blessing in the next boot.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KexecError, UsageError } from '../../src/errors.ts';
import { blessDecision, blessedName, countedName } from '../../src/boot/boot-count.ts';
import { efiVariableBytes, LOADER_GUID } from '../../src/boot/efivars.ts';
import { BOOT_COUNT_STATE, blessBoot, bootEntry, type BootRequest } from '../../src/host/boot-load.ts';
import type { KexecSyscalls } from '../../src/kexec/syscalls.ts';
import { parsePe } from '../../src/format/pe.ts';
import { fakeSyscalls } from '../kexec/fake-syscalls.ts';
import { bootRoot, dbVariable, IMAGE_SECURITY_GUID, put, SMALL_KERNEL } from './boot-root.ts';
import { UkiBuilder, ukiToolsMissing, type Keys } from './uki-fixture.ts';

const roots: string[] = [];
const root = (...a: Parameters<typeof bootRoot>) => {
  const r = bootRoot(...a);
  roots.push(r);
  return r;
};
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const TRIXIE_KERNEL = '/boot/vmlinuz-6.12.117+deb13-cloud-amd64';
const TRIXIE_INITRD = '/boot/initrd.img-6.12.117+deb13-cloud-amd64';
const SD = '/efi/6a9857a393724b7a981ebb5b8495b9ea';

/** A fake whose kexec_file_load reads the kernel and initrd fds as the kernel would (the staged files are gone after the load). */
function readingSyscalls(log: string[] = []) {
  const fake = fakeSyscalls();
  const read = (fd: number) => {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 20);
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      pos += n;
    }
    return new Uint8Array(Buffer.concat(chunks));
  };
  const files: { kernel?: Uint8Array; initrd?: Uint8Array; cmdline?: string } = {};
  const sys: KexecSyscalls = {
    ...fake,
    kexecFileLoad(kernelFd, initrdFd, cmdline, flags) {
      files.kernel = read(kernelFd);
      if (initrdFd >= 0) files.initrd = read(initrdFd);
      files.cmdline = cmdline;
      log.push('kexec_file_load');
      fake.kexecFileLoad(kernelFd, initrdFd, cmdline, flags);
    },
    kexecLoad(entry, segments, flags) {
      log.push('kexec_load');
      fake.kexecLoad(entry, segments, flags);
    },
    sync: () => (log.push('sync'), fake.sync()),
    rebootKexec: () => (log.push('reboot'), fake.rebootKexec()),
  };
  return { sys, calls: fake.calls, files, log };
}

const request = (r: string, o: Partial<BootRequest> = {}): BootRequest => ({ dirs: { root: r }, dryRun: false, then: 'load', machineRoot: r, ...o });
const bytes = (r: string, p: string) => new Uint8Array(readFileSync(join(r, p)));
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

test('boot: the default entry of the trixie GRUB fixture is loaded with kexec_load: its kernel, its initrd and its command line are in the segments', async () => {
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL] });
  const { sys, calls } = readingSyscalls();
  const res = await bootEntry(request(r), { sys });
  assert.equal(res.spec.entry.id, 'gnulinux-simple-fa9c21fb-8289-425f-89dc-9a970f378187');
  assert.match(res.spec.why, /^the default: default="0"/);
  assert.equal(res.spec.syscall, 'load');
  assert.match(res.spec.syscallReason, /no lockdown/);
  assert.deepEqual(calls.map((c) => c.name), ['kexecLoad']);
  const segments = calls[0]!.args[1] as { what: string; buf: Uint8Array }[];
  assert.deepEqual(new Uint8Array(segments.find((s) => s.what === 'initrd')!.buf), bytes(r, TRIXIE_INITRD));
  // GRUB's linux command puts BOOT_IMAGE= first; kexec-ts boot passes what GRUB would.
  const cmdline = 'BOOT_IMAGE=/boot/vmlinuz-6.12.117+deb13-cloud-amd64 root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro console=ttyS0 quiet';
  assert.ok(contains(segments.find((s) => s.what.includes('cmdline'))!.buf, new TextEncoder().encode(cmdline + '\0')), 'the command line is in the boot params segment');
  assert.ok(contains(segments.find((s) => s.what === 'kernel')!.buf, bytes(r, TRIXIE_KERNEL).subarray(40 * 512, 40 * 512 + 0x10000)), 'the kernel segment is the kernel file');
  assert.equal(res.loaded!.cmdline, cmdline);
  assert.equal(res.counted, undefined);
});

test('boot ENTRY: a GRUB "Submenu>Title" path, an --id and a title name the entry; --append adds to its command line', async () => {
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL] });
  const recovery = 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.12.117+deb13-cloud-amd64 (recovery mode)';
  for (const name of [recovery, 'gnulinux-6.12.117+deb13-cloud-amd64-recovery-fa9c21fb-8289-425f-89dc-9a970f378187']) {
    const { sys } = readingSyscalls();
    const res = await bootEntry(request(r, { name, append: 'systemd.log_level=debug' }), { sys });
    assert.equal(res.spec.entry.origin, '/boot/grub/grub.cfg:111', name);
    assert.equal(res.loaded!.cmdline, 'BOOT_IMAGE=/boot/vmlinuz-6.12.117+deb13-cloud-amd64 root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro single dis_ucode_ldr console=ttyS0 systemd.log_level=debug');
    assert.match(res.spec.why, /^named on the command line/);
  }
  const { sys } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'Debian GNU/Linux', commandLine: 'root=/dev/vda1 ro' }), { sys });
  assert.equal(res.spec.entry.origin, '/boot/grub/grub.cfg:86');
  assert.equal(res.loaded!.cmdline, 'root=/dev/vda1 ro');
  assert.equal(res.spec.cmdlineFrom, '--command-line');
});

test('boot: every initrd of the entry is concatenated in order into the one the kernel gets (sd-boot Type #1 with microcode, -s; GRUB blscfg, kexec_load)', async () => {
  const r = root('cases/sd-boot', { kernels: [`${SD}/6.12.117+deb13-amd64/linux`] });
  const { sys, files } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'debian-6.12', syscall: 'file' }), { sys });
  assert.deepEqual(res.spec.initrds, [`${SD}/6.12.117+deb13-amd64/microcode`, `${SD}/6.12.117+deb13-amd64/initrd.img-6.12.117+deb13-amd64`]);
  assert.deepEqual(files.initrd, cat(bytes(r, `${SD}/6.12.117+deb13-amd64/microcode`), bytes(r, `${SD}/6.12.117+deb13-amd64/initrd.img-6.12.117+deb13-amd64`)));
  assert.deepEqual(files.kernel, bytes(r, `${SD}/6.12.117+deb13-amd64/linux`));
  assert.equal(files.cmdline, 'root=UUID=77aa88bb-0000-4000-8000-000000000001 ro console=ttyS0 quiet');
  assert.ok(res.spec.notes.some((n) => /2 initrds concatenated in order/.test(n)));

  const f = root('cases/blscfg-fedora', { kernels: ['/boot/vmlinuz-6.5.6-300.fc39.x86_64'] });
  const k = readingSyscalls();
  const g = await bootEntry(request(f), { sys: k.sys });
  assert.equal(g.spec.entry.id, '8c1a5e0b9f2d4c3e8a7b6c5d4e3f2a1b-6.5.6-300.fc39.x86_64');
  const segments = k.calls[0]!.args[1] as { what: string; buf: Uint8Array }[];
  assert.deepEqual(new Uint8Array(segments.find((s) => s.what === 'initrd')!.buf), cat(bytes(f, '/boot/intel-ucode.img'), bytes(f, '/boot/initramfs-6.5.6-300.fc39.x86_64.img')));
  assert.deepEqual(readdirSync(f).sort(), readdirSync('test/fixtures/boot/cases/blscfg-fedora').concat(['proc', 'sys']).sort(), 'nothing left behind in the root');
});

test('boot ENTRY: an unknown name is a usage error listing close names; a rejected candidate says why it cannot be booted; nothing is loaded', async () => {
  const r = root('cases/sd-boot');
  const { sys, calls } = readingSyscalls();
  await assert.rejects(bootEntry(request(r, { name: 'debian-6.21' }), { sys }), (e: unknown) => e instanceof UsageError && /^no boot entry 'debian-6\.21' \(close: .*'debian-6\.12'.*\); kexec-ts boot --list shows every entry$/.test(e.message));
  await assert.rejects(bootEntry(request(r, { name: 'zzzzzzzzzzzz' }), { sys }), (e: unknown) => e instanceof UsageError && /\(entries: '.*'/.test(e.message));
  await assert.rejects(
    bootEntry(request(r, { name: 'broken-6.13' }), { sys }),
    (e: unknown) => e instanceof KexecError && /^boot entry broken-6\.13 cannot be booted: initrd \/efi\/.*\/6\.13\/initrd\.img: file missing/.test(e.message) && /--list/.test(e.hint ?? ''),
  );
  await assert.rejects(bootEntry(request(r, { name: 'arm-6.12' }), { sys }), /cannot be booted: architecture aa64: this machine is x64/);
  assert.equal(calls.length, 0);
});

test('boot --now: load, sync, then reboot(LINUX_REBOOT_CMD_KEXEC) in that order', async () => {
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL], kexecLoaded: true });
  const { sys, log } = readingSyscalls();
  await bootEntry(request(r, { then: 'exec' }), { sys });
  assert.deepEqual(log, ['kexec_load', 'sync', 'reboot']);
});

test('reboot: the load, then `systemctl kexec` through the runner (no reboot syscall); a failing systemctl is an error and puts the boot counter and the one-shot back', async () => {
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL] });
  const { sys, log } = readingSyscalls();
  await bootEntry(request(r, { then: 'systemctl' }), { sys, run: (argv) => (log.push(argv.join(' ')), { status: 0 }) });
  assert.deepEqual(log, ['kexec_load', 'systemctl kexec']);

  const s = root('cases/sd-boot', { kernels: [`${SD}/6.6.9-amd64/linux`] });
  const k = readingSyscalls();
  await assert.rejects(
    bootEntry(request(s, { name: 'debian-6.6', then: 'systemctl' }), { sys: k.sys, run: () => ({ status: 1 }) }),
    (e: unknown) => e instanceof KexecError && /^systemctl kexec failed \(exit 1\): the kernel stays loaded, the boot counter and the one-shot were put back$/.test(e.message),
  );
  assert.ok(existsSync(join(s, '/efi/loader/entries/debian-6.6+2-1.conf')));
  assert.ok(existsSync(join(s, `/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`)), 'LoaderEntryOneShot written back');
  assert.ok(!existsSync(join(s, BOOT_COUNT_STATE)));
});

test('syscall: kexec_file_load under lockdown and under Secure Boot, kexec_load otherwise, -c/-s/-a override; each says why', async () => {
  const cases: [Parameters<typeof bootRoot>[1], BootRequest['syscall'], string, RegExp][] = [
    [{ lockdown: 'integrity' }, undefined, 'kexec_file_load', /^the kernel is locked down \(lockdown=integrity\): it refuses kexec_load/],
    [{ lockdown: 'none', secureBoot: true }, undefined, 'kexec_file_load', /^Secure Boot is on/],
    [{ lockdown: 'none', secureBoot: false }, undefined, 'kexec_load', /^no lockdown and Secure Boot off/],
    [{ lockdown: 'integrity' }, 'load', 'kexec_load', /^-c given$/],
    [{}, 'file', 'kexec_file_load', /^-s given$/],
  ];
  for (const [o, syscall, expected, why] of cases) {
    const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL], ...o });
    const { sys, log } = readingSyscalls();
    const res = await bootEntry(request(r, syscall ? { syscall } : {}), { sys });
    assert.deepEqual(log, [expected], JSON.stringify(o));
    assert.match(res.spec.syscallReason, why);
  }
});

test('boot counting: the counted entry is renamed +2-1 -> +1-2 at the load and the state recorded; the same boot keeps it, the kexec boot blesses it; a dry run renames nothing', async () => {
  assert.equal(countedName('debian-6.6+2-1.conf'), 'debian-6.6+1-2.conf');
  assert.equal(countedName('debian+3.conf'), 'debian+2-1.conf');
  assert.equal(countedName('debian-6.1+0-3.conf'), 'debian-6.1+0-4.conf', 'never below 0');
  assert.equal(countedName('debian.efi'), undefined);
  assert.equal(blessedName('uki+1-2.efi'), 'uki.efi');

  const r = root('cases/sd-boot', { kernels: [`${SD}/6.6.9-amd64/linux`], bootId: 'aaaaaaaa-0000-0000-0000-000000000001' });
  const entries = join(r, '/efi/loader/entries');
  const dry = await bootEntry(request(r, { name: 'debian-6.6', dryRun: true }));
  assert.deepEqual(dry.spec.counter, { from: '/efi/loader/entries/debian-6.6+2-1.conf', to: '/efi/loader/entries/debian-6.6+1-2.conf', what: '2 left, 1 done -> 1 left, 2 done' });
  assert.ok(existsSync(join(entries, 'debian-6.6+2-1.conf')), 'a dry run renames nothing');

  const { sys } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'debian-6.6' }), { sys });
  assert.ok(!existsSync(join(entries, 'debian-6.6+2-1.conf')) && existsSync(join(entries, 'debian-6.6+1-2.conf')));
  const state = JSON.parse(readFileSync(join(r, BOOT_COUNT_STATE), 'utf8'));
  assert.deepEqual({ ...state, time: undefined }, { path: '/efi/loader/entries/debian-6.6+1-2.conf', blessed: '/efi/loader/entries/debian-6.6.conf', from: '/efi/loader/entries/debian-6.6+2-1.conf', entry: 'debian-6.6.conf', bootId: 'aaaaaaaa-0000-0000-0000-000000000001', time: undefined });
  assert.deepEqual(res.counted, state);

  // kexec-ts-bless-boot.service in the boot that did the kexec (it reached boot-complete too): kept.
  assert.equal(blessBoot(r).action, 'keep');
  assert.ok(existsSync(join(r, BOOT_COUNT_STATE)) && existsSync(join(entries, 'debian-6.6+1-2.conf')));
  // The kexec boot: another boot_id, reached boot-complete.target: blessed, state removed.
  put(r, '/proc/sys/kernel/random/boot_id', 'bbbbbbbb-0000-0000-0000-000000000002\n');
  const b = blessBoot(r);
  assert.equal(b.action, 'bless');
  assert.match(b.message, /^\/efi\/loader\/entries\/debian-6\.6\+1-2\.conf -> debian-6\.6\.conf: blessed \(this boot came by kexec from boot aaaaaaaa-/);
  assert.ok(existsSync(join(entries, 'debian-6.6.conf')) && !existsSync(join(entries, 'debian-6.6+1-2.conf')));
  assert.ok(!existsSync(join(r, BOOT_COUNT_STATE)));
  assert.equal(blessBoot(r).action, 'none');
});

test('boot counting: a state file from before a firmware boot (LoaderTimeExecUSec changed) is discarded, not blessed; a damaged one is an error and removed', async () => {
  const fw = `/sys/firmware/efi/efivars/LoaderTimeExecUSec-${LOADER_GUID}`;
  const r = root('cases/sd-boot', { kernels: [`${SD}/6.6.9-amd64/linux`], files: { [fw]: efiVariableBytes('4711000') } });
  const { sys } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'debian-6.6' }), { sys });
  assert.equal(res.counted!.firmwareBoot, '4711000');
  put(r, '/proc/sys/kernel/random/boot_id', 'cccccccc-0000-0000-0000-000000000003\n');
  put(r, fw, efiVariableBytes('5200000'));
  const d = blessBoot(r);
  assert.equal(d.action, 'discard');
  assert.match(d.message, /not blessed: a firmware boot came after the kexec/);
  assert.ok(existsSync(join(r, '/efi/loader/entries/debian-6.6+1-2.conf')) && !existsSync(join(r, BOOT_COUNT_STATE)));
  assert.equal(blessDecision({ path: '/a+1-1.conf', blessed: '/a.conf', entry: 'a.conf', bootId: 'x', firmwareBoot: '1', time: '' }, { bootId: 'y', firmwareBoot: '1' }).action, 'bless');
  writeFileSync(join(r, BOOT_COUNT_STATE), '{"path": 3}');
  assert.throws(() => blessBoot(r), (e: unknown) => e instanceof KexecError && /not a kexec-ts boot counting state file: removed/.test(e.message));
  assert.ok(!existsSync(join(r, BOOT_COUNT_STATE)));
});

// ---- UKIs (Type #2): verified whole, then cut; refused when Secure Boot requires a signature ----

const skip = ukiToolsMissing() ?? false;
let b: UkiBuilder;
let key: Keys;
let good: Uint8Array;
let tampered: Uint8Array;
const UKI_CMDLINE = 'root=/dev/vda1 ro quiet';
const UKI_INITRD = new Uint8Array(3000).map((_, i) => (i * 31 + 7) & 0xff);
const OSREL = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\n';

before(() => {
  if (skip) return;
  b = new UkiBuilder();
  key = b.key('db');
  const kernel = b.path('linux');
  writeFileSync(kernel, SMALL_KERNEL());
  const unsigned = b.pe(b.path('debian.unsigned.efi'), [
    { name: '.osrel', text: OSREL },
    { name: '.cmdline', text: UKI_CMDLINE },
    { name: '.uname', text: '6.12.117+deb13-amd64' },
    { name: '.initrd', bytes: UKI_INITRD },
    { name: '.linux', file: kernel },
  ]);
  good = new Uint8Array(readFileSync(b.sign(unsigned, key, b.path('debian.efi'))));
  tampered = good.slice();
  tampered[parsePe(good).sections.find((s) => s.name === '.cmdline')!.pointerToRawData]! ^= 0x01;
});
after(() => b && rmSync(b.dir, { recursive: true, force: true }));

function ukiRoot(secureBoot: boolean) {
  const der = new Uint8Array(new X509Certificate(readFileSync(key.cert)).raw);
  return root(undefined, {
    secureBoot,
    files: {
      '/etc/fstab': 'UUID=ABCD-1234 /efi vfat umask=0077 0 2\n',
      '/efi/EFI/Linux/debian-6.12.efi': good,
      '/efi/EFI/Linux/tampered-6.12.efi': tampered,
      ...(secureBoot ? { [`/sys/firmware/efi/efivars/db-${IMAGE_SECURITY_GUID}`]: dbVariable([der]) } : {}),
    },
  });
}

test('UKI under Secure Boot: the verified UKI boots with kexec_file_load: .linux, .initrd and .cmdline reach the syscall; the tampered one (one byte of .cmdline) is refused with the reason', { skip }, async () => {
  const r = ukiRoot(true);
  const { sys, files } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'debian-6.12.efi' }), { sys });
  assert.equal(res.spec.syscall, 'file');
  assert.match(res.spec.syscallReason, /^Secure Boot is on/);
  assert.deepEqual(files.kernel, SMALL_KERNEL());
  assert.deepEqual(files.initrd, UKI_INITRD);
  assert.equal(files.cmdline, UKI_CMDLINE);
  assert.ok(res.spec.notes.some((n) => /^UKI: the whole image is verified \(verified \(signed by CN=kexec-ts test db/.test(n)));
  const k = readingSyscalls();
  await assert.rejects(
    bootEntry(request(r, { name: 'tampered-6.12' }), { sys: k.sys }),
    (e: unknown) => e instanceof KexecError && /^boot entry tampered-6\.12 cannot be booted: signature: mismatch: .*sha256 digest/.test(e.message) && !!e.hint,
  );
  assert.equal(k.calls.length, 0);
});

test('UKI without Secure Boot, lockdown or --cert: signatures are not required, the tampered UKI loads (with kexec_load) as the firmware would boot it', { skip }, async () => {
  const r = ukiRoot(false);
  const { sys, log } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'tampered-6.12.efi' }), { sys });
  assert.deepEqual(log, ['kexec_load']);
  assert.equal(res.loaded!.cmdline, 'soot=/dev/vda1 ro quiet');
});

test('devicetree: passed as --dtb on arm64 (aa64), a note elsewhere; overlays are not applied and say so; kexec_file_load on arm64 says the running tree is used', async () => {
  const { bootLoadSpec } = await import('../../src/boot/boot-entry.ts');
  const entry = {
    id: 'debian-6.6.conf', title: 'Debian', source: 'bls' as const, origin: '/efi/loader/entries/debian-6.6.conf', kernel: '/efi/d/linux', initrds: [], cmdline: 'root=/dev/vda2',
    devicetree: '/efi/d/board.dtb', devicetreeOverlays: ['/efi/d/a.dtbo'], isDefault: false,
  };
  const arm = bootLoadSpec(entry, { arch: 'aa64', verify: {}, why: 'test' });
  assert.equal(arm.devicetree, '/efi/d/board.dtb');
  assert.ok(arm.notes.some((n) => /^devicetree-overlay \/efi\/d\/a\.dtbo: not applied/.test(n)));
  const armFile = bootLoadSpec(entry, { arch: 'aa64', verify: { lockdown: 'integrity' }, why: 'test' });
  assert.ok(armFile.notes.some((n) => /kexec_file_load on arm64 gives the new kernel the running kernel's device tree/.test(n)));
  const x86 = bootLoadSpec(entry, { arch: 'x64', verify: {}, why: 'test' });
  assert.equal(x86.devicetree, undefined);
  assert.ok(x86.notes.some((n) => /^devicetree \/efi\/d\/board\.dtb not passed: only arm64 kernels take one/.test(n)));
});

test('packaging/kexec-ts-bless-boot.service: after and requiring boot-complete.target, only when a state file exists, runs kexec-ts boot --bless', () => {
  const unit = readFileSync('packaging/kexec-ts-bless-boot.service', 'utf8');
  assert.match(unit, /^Requires=boot-complete\.target$/m);
  assert.match(unit, /^After=.*\bboot-complete\.target\b/m);
  assert.match(unit, new RegExp(`^ConditionPathExists=${BOOT_COUNT_STATE.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(unit, /^ExecStart=\/usr\/bin\/env kexec-ts boot --bless$/m);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
});

test("boot vmlinuz (Debian's links, no command line of their own): the running kernel's /proc/cmdline without BOOT_IMAGE=, as Debian's kexec-load does", async () => {
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL], files: { '/proc/cmdline': 'BOOT_IMAGE=/boot/vmlinuz-6.12.117+deb13-cloud-amd64 root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro console=ttyS0 quiet\n' } });
  const { sys } = readingSyscalls();
  const res = await bootEntry(request(r, { name: 'vmlinuz' }), { sys });
  assert.equal(res.spec.entry.source, 'debian-links');
  assert.equal(res.loaded!.cmdline, 'root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro console=ttyS0 quiet');
  assert.match(res.spec.cmdlineFrom, /^this kernel's \/proc\/cmdline/);
});

test('boot counting: loading the counted entry again in the same boot counts it once; loading another entry instead gives the first its try back', async () => {
  const r = root('cases/sd-boot', { kernels: [`${SD}/6.6.9-amd64/linux`, `${SD}/6.12.117+deb13-amd64/linux`] });
  const entries = join(r, '/efi/loader/entries');
  for (let i = 0; i < 2; i++) await bootEntry(request(r, { name: 'debian-6.6' }), { sys: readingSyscalls().sys });
  assert.ok(existsSync(join(entries, 'debian-6.6+1-2.conf')), 'counted once: +2-1 -> +1-2, not +0-3');
  const res = await bootEntry(request(r, { name: 'debian-6.12' }), { sys: readingSyscalls().sys });
  assert.equal(res.restored, '/efi/loader/entries/debian-6.6+2-1.conf');
  assert.ok(existsSync(join(entries, 'debian-6.6+2-1.conf')) && !existsSync(join(r, BOOT_COUNT_STATE)));
});

test('boot counting falls back as the specification says: an entry counted down to +0 that never gets blessed is "bad" and the default moves past it', async () => {
  const r = root('cases/sd-boot', { kernels: [`${SD}/6.12.117+deb13-amd64/linux`] });
  rmSync(join(r, `/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`));
  const entries = join(r, '/efi/loader/entries');
  writeFileSync(join(entries, 'debian-6.12+1.conf'), readFileSync(join(entries, 'debian-6.12.conf')));
  rmSync(join(entries, 'debian-6.12.conf'));
  const first = await bootEntry(request(r), { sys: readingSyscalls().sys });
  assert.equal(first.spec.entry.id, 'debian-6.12.conf');
  assert.match(first.spec.why, /loader\.conf default debian-\*/);
  assert.ok(existsSync(join(entries, 'debian-6.12+0-1.conf')));
  // That kexec boot failed (no boot-complete, no blessing); the machine is back in a boot with another boot_id.
  put(r, '/proc/sys/kernel/random/boot_id', 'dddddddd-0000-0000-0000-000000000004\n');
  const next = await bootEntry(request(r, { dryRun: true }));
  assert.equal(next.spec.entry.id, 'debian-6.6.conf', 'the bad entry sorts last: the glob matches debian-6.6 first');
});

const ONESHOT = `/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`;

test("one-shots are used once across kexec: grub-reboot's next_entry is cleared in grubenv by the load (GRUB's save_env), in place; the next load takes the default; a dry run changes nothing; a failing systemctl kexec puts it back", async () => {
  const block = (lines: string) => {
    const body = '# GRUB Environment Block\n# WARNING: Do not edit this file by tools other than grub-editenv!!!\n' + lines;
    return body + '#'.repeat(1024 - body.length);
  };
  const recovery = `Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.12.117+deb13-cloud-amd64 (recovery mode)`;
  const r = root('debian-trixie', { kernels: [TRIXIE_KERNEL], files: { '/boot/grub/grubenv': block(`next_entry=${recovery}\n`) } });
  const env = () => readFileSync(join(r, '/boot/grub/grubenv'), 'latin1');

  const dry = await bootEntry(request(r, { dryRun: true }));
  assert.match(dry.spec.entry.id, /-recovery-/);
  assert.equal(env(), block(`next_entry=${recovery}\n`), 'a dry run leaves grubenv as it is');

  const { sys } = readingSyscalls();
  await assert.rejects(bootEntry(request(r, { then: 'systemctl' }), { sys, run: () => ({ status: 1 }) }), /the one-shot was put back$/);
  assert.equal(env(), block(`next_entry=${recovery}\n`), 'systemctl kexec failed: grubenv as before');

  const first = await bootEntry(request(r), { sys });
  assert.match(first.spec.entry.id, /-recovery-/, 'the one-shot entry is loaded');
  assert.match(first.once ?? '', /^\/boot\/grub\/grubenv: next_entry= \(GRUB's save_env as it boots/);
  assert.equal(env(), block('next_entry=\n'), 'next_entry cleared in place, the comment kept, 1024 bytes');
  const second = await bootEntry(request(r), { sys });
  assert.equal(second.spec.entry.title, 'Debian GNU/Linux', 'the next load: the default again');
  assert.equal(second.once, undefined, 'nothing more to consume');
});

test('one-shots are used once across kexec: LoaderEntryOneShot is removed by the load as systemd-boot removes it; the next load takes loader.conf\'s default', async () => {
  const r = root('cases/sd-boot', { kernels: ['/efi/fedora/6.8.9/linux', `${SD}/6.12.117+deb13-amd64/linux`] });
  const { sys } = readingSyscalls();
  const first = await bootEntry(request(r), { sys });
  assert.equal(first.spec.entry.id, 'fedora-6.8.conf');
  assert.match(first.once ?? '', /^EFI variable LoaderEntryOneShot=fedora-6\.8\.conf removed \(systemd-boot removes it as it boots/);
  assert.ok(!existsSync(join(r, ONESHOT)), 'the variable is gone');
  const second = await bootEntry(request(r), { sys });
  assert.equal(second.spec.entry.id, 'debian-6.12.conf', `then loader.conf's default glob (${second.spec.why})`);
});

// kexec-ts boot --list: text and JSON on the real trixie fixture, and bad input as one line with exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bootRoot } from './boot-root.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

function boot(...args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts', 'boot', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('kexec-ts boot --list --root (trixie): the loader, the default marked with its reason, every entry, the rejected with why', () => {
  const r = boot('--list', '--root', 'test/fixtures/boot/debian-trixie');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^boot loader: GRUB \(\/boot\/grub\/grub\.cfg exists\)\ndefault: Debian GNU\/Linux \(gnulinux-simple-fa9c21fb-8289-425f-89dc-9a970f378187\)\n/);
  assert.match(r.out, /\n\* {2}1 {2}Debian GNU\/Linux\n/);
  assert.match(r.out, /\n {6}default {3}default="0" \(set at \/boot\/grub\/grub\.cfg:19\); menu entry number 0\n/);
  assert.match(r.out, /\nrejected \(1\):\n {2}\/vmlinuz\.old\n.*\n {6}why {7}\/vmlinuz\.old is the same kernel as \/vmlinuz/);
});

test('kexec-ts boot --list --json: one document with schema, loader, default (id, source, reason), entries with kernel/initrds/cmdline', () => {
  const r = boot('--list', '--json', '--root=test/fixtures/boot/debian-bookworm');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.schema, 1);
  assert.equal(j.loader.name, 'grub');
  assert.equal(j.default.source, 'grub');
  assert.equal(j.entries[0].isDefault, true);
  assert.deepEqual(j.entries[0].initrds, ['/boot/initrd.img-6.1.0-50-cloud-amd64']);
  assert.equal(j.entries.length, 4);
});

test('kexec-ts boot: bad input is one line and exit 2 (--list with an ENTRY, a --root that is not a directory, an unknown option)', () => {
  const cases: [string[], RegExp][] = [
    [['--list', 'debian'], /^kexec-ts: --list takes no ENTRY \(debian\)/],
    [['--list', '--now'], /^kexec-ts: give one of --list, --bless, --now\n$/],
    [['--bless', '--append=x'], /^kexec-ts: --bless takes no --append/],
    [['--list', '--root', '/nonexistent/x'], /^kexec-ts: --root \/nonexistent\/x: not a directory\n$/],
    [['--lsit'], /^kexec-ts: unknown option '--lsit' \(did you mean --list\?\)/],
  ];
  for (const [args, re] of cases) {
    const r = boot(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, re);
    assert.equal(r.err.split('\n').length, 2, r.err);
  }
  const h = boot('--help');
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: kexec-ts boot --list/);
  assert.match(h.out, /^ {7}kexec-ts boot \[ENTRY\] \[--now\]/m);
});

test('kexec-ts boot --list exits 1 when no entry can be the default, saying why', () => {
  const r = boot('--list', '--root', 'test/fixtures/boot/cases/unsupported/etc');
  assert.equal(r.code, 1);
  assert.match(r.out, /^boot loader: none found .*\ndefault: none — no grub\.cfg/);
});

// ---- kexec-ts boot [ENTRY] --dry-run / kexec-ts reboot --dry-run: what would be loaded, and the plan ----

const TRIXIE_KERNEL = '/boot/vmlinuz-6.12.117+deb13-cloud-amd64';

test('kexec-ts boot --dry-run --root (trixie): the entry and why, kernel, initrd, command line, syscall and why, then the kexec_load plan; nothing loaded', () => {
  const root = bootRoot('debian-trixie', { kernels: [TRIXIE_KERNEL] });
  const r = boot('--dry-run', '--root', root);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^entry {5}Debian GNU\/Linux \(gnulinux-simple-fa9c21fb-8289-425f-89dc-9a970f378187\) from grub \/boot\/grub\/grub\.cfg:86\nwhy {7}the default: default="0"/);
  assert.match(r.out, /\nkernel {4}\/boot\/vmlinuz-6\.12\.117\+deb13-cloud-amd64\ninitrd {4}\/boot\/initrd\.img-6\.12\.117\+deb13-cloud-amd64\ncmdline {3}BOOT_IMAGE=\/boot\/vmlinuz-6\.12\.117\+deb13-cloud-amd64 root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro console=ttyS0 quiet {3}\[the entry\]\n/);
  assert.match(r.out, /\nsyscall {3}kexec_load: no lockdown and no Secure Boot: kexec_load, with kexec-ts' own loaders and purgatory\n/);
  assert.match(r.out, /\nthen {6}nothing yet: `systemctl kexec` \(clean shutdown\) or `kexec-ts -e` boots it\n/);
  assert.match(r.out, /\n\nx86_64 bzImage via kexec_load: entry 0x[0-9a-f]+, flags 0x3e0000\n/);
  assert.match(r.out, /\n {2}2 {3}0x[0-9a-f]+-0x[0-9a-f]+ +0x1000 +0x68 +initrd\n/);
  assert.match(r.out, /\n {2}command line: "BOOT_IMAGE=\/boot\/vmlinuz-6\.12\.117\+deb13-cloud-amd64 root=UUID=fa9c21fb-8289-425f-89dc-9a970f378187 ro console=ttyS0 quiet"\n/);
  rmSync(root, { recursive: true, force: true });
});

test('kexec-ts boot ENTRY --dry-run --json under lockdown: kexec_file_load and why; the plan; reboot --dry-run says it runs systemctl kexec; --now says reboot', () => {
  const root = bootRoot('cases/sd-boot', { kernels: ['/efi/6a9857a393724b7a981ebb5b8495b9ea/6.12.117+deb13-amd64/linux', '/efi/6a9857a393724b7a981ebb5b8495b9ea/6.6.9-amd64/linux'], lockdown: 'integrity' });
  const r = boot('debian-6.12', '--dry-run', '--json', '--root', root);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.schema, 1);
  assert.equal(j.entry.id, 'debian-6.12.conf');
  assert.equal(j.initrds.length, 2);
  assert.equal(j.syscall.choice, 'file');
  assert.match(j.syscall.reason, /^the kernel is locked down \(lockdown=integrity\)/);
  assert.equal(j.plan.syscall, 'kexec_file_load');
  assert.equal(j.plan.cmdline, 'root=UUID=77aa88bb-0000-4000-8000-000000000001 ro console=ttyS0 quiet');
  const rb = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts', 'reboot', 'debian-6.6', '--dry-run', '--root', root], { encoding: 'utf8' });
  assert.equal(rb.status, 0, rb.stderr);
  assert.match(rb.stdout, /\nthen {6}`systemctl kexec`: a clean shutdown, then the loaded kernel\n/);
  assert.match(rb.stdout, /\ncounter {3}\/efi\/loader\/entries\/debian-6\.6\+2-1\.conf -> debian-6\.6\+1-2\.conf \(2 left, 1 done -> 1 left, 2 done\)/);
  assert.ok(existsSync(join(root, '/efi/loader/entries/debian-6.6+2-1.conf')), '--dry-run renames nothing');
  const now = boot('--now', '--dry-run', '--root', root, 'debian-6.12');
  assert.match(now.out, /\nthen {6}sync, then reboot\(LINUX_REBOOT_CMD_KEXEC\) at once/);
  rmSync(root, { recursive: true, force: true });
});

test('kexec-ts boot/reboot: an unknown ENTRY is one line with close names, exit 2; --root without --dry-run is refused; a load in a test process cannot make syscalls', () => {
  const root = bootRoot('cases/sd-boot');
  const r = boot('debian-6.21', '--dry-run', '--root', root);
  assert.equal(r.code, 2);
  assert.match(r.err, /^kexec-ts: no boot entry 'debian-6\.21' \(close: .*'debian-6\.12'.*\); kexec-ts boot --list shows every entry\n$/);
  const rr = boot('debian-6.12', '--root', root);
  assert.equal(rr.code, 2);
  assert.match(rr.err, /^kexec-ts: --root\/--boot\/--esp read another machine's entries: use them with --dry-run/);
  const bad = boot('broken-6.13', '--dry-run', '--root', root);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^kexec-ts: boot entry broken-6\.13 cannot be booted: initrd .*: file missing/);
  const bless = boot('--bless', '--root', root);
  assert.equal(bless.code, 0, bless.err);
  assert.match(bless.out, /^no kexec boot to bless \(.*\/var\/lib\/kexec-ts\/boot-count\.json does not exist\)\n$/);
  // This machine's entries, for real: the syscalls are refused in a test process before anything is read or loaded.
  const real = boot('--append=x');
  assert.equal(real.code, 1);
  assert.match(real.err, /^kexec-ts: booting a boot entry|^kexec-ts: loading a boot entry: refusing to make real kexec syscalls in a test/);
  const help = spawnSync(process.execPath, [...NODE_ARGS, '--import', 'tsx', 'src/cli/kexec-ts.ts', 'reboot', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /^usage: kexec-ts reboot \[ENTRY\]/);
  rmSync(root, { recursive: true, force: true });
});

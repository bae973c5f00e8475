// kexec-ts boot --list: text and JSON on the real trixie fixture, and bad input as one line with exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

function boot(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts', 'boot', ...args], { encoding: 'utf8' });
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

test('kexec-ts boot: bad input is one line and exit 2 (no --list, a --root that is not a directory, an unknown option)', () => {
  const cases: [string[], RegExp][] = [
    [[], /^kexec-ts: kexec-ts boot: give --list/],
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
});

test('kexec-ts boot --list exits 1 when no entry can be the default, saying why', () => {
  const r = boot('--list', '--root', 'test/fixtures/boot/cases/unsupported/etc');
  assert.equal(r.code, 1);
  assert.match(r.out, /^boot loader: none found .*\ndefault: none — no grub\.cfg/);
});

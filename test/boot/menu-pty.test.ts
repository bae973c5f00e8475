// `kexec-ts boot --menu` on a real pseudo-terminal (python3's pty module, test/boot/pty-drive.py):
// arrows, e, typing and Enter as a user types them; the countdown; q; SIGTERM; the terminal given
// back in its own mode on every way out; not a terminal -> one line, exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { NODE_ARGS } from '../../src/node-args.ts';

const python = spawnSync('python3', ['-c', 'import pty, termios, fcntl'], { encoding: 'utf8' }).status === 0;
const skip = python ? false : 'python3 (with its pty module) is not installed';
const KEXEC_TS = [process.execPath, ...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts'];
const ROOT = 'test/fixtures/boot/debian-bookworm';
const DOWN = '\x1b[B';

interface Step {
  wait?: string;
  send?: string;
  sleep?: number;
  resize?: [number, number];
  signal?: number;
}
interface Driven {
  code: number;
  screen: string;
  stdout: string;
  waited: number;
  failed: Step | null;
  canonical: boolean;
  echo: boolean;
}

function drive(cmd: string[], steps: Step[], opts: { stdout?: 'pty' | 'pipe'; rows?: number; cols?: number; timeout?: number } = {}): Driven {
  const spec = { cmd, steps, stdout: opts.stdout ?? 'pty', rows: opts.rows ?? 24, cols: opts.cols ?? 100, timeout: opts.timeout ?? 30 };
  const r = spawnSync('python3', ['test/boot/pty-drive.py', JSON.stringify(spec)], { encoding: 'utf8', timeout: (spec.timeout + 15) * 1000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Driven;
}

/** The terminal's modes after the command, as `stty -a` prints them (icanon/echo back on). */
function withStty(args: string[]): string[] {
  const quoted = [...KEXEC_TS, 'boot', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['sh', '-c', `${quoted}; echo "exit=$?"; stty -a`];
}

test('pty: down, e, typing " nomodeset", Enter (accept), Enter (boot): that entry with the edited command line, as JSON on stdout', { skip }, () => {
  const r = drive(
    [...KEXEC_TS, 'boot', '--menu', '--root', ROOT, '--dry-run', '--timeout', '30', '--json'],
    [{ wait: 'Booting "Debian GNU/Linux" in' }, { send: DOWN }, { wait: '\x1b[7m >  Advanced' }, { send: 'e' }, { wait: 'Editing the command line' }, { send: ' nomodeset' }, { wait: 'quiet nomodeset' }, { send: '\r' }, { wait: '(edited)' }, { send: '\r' }],
    { stdout: 'pipe' },
  );
  assert.equal(r.failed, null, `timed out waiting for ${JSON.stringify(r.failed)}; screen: ${JSON.stringify(r.screen.slice(-2000))}`);
  assert.equal(r.code, 0, r.screen.slice(-500));
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 1);
  assert.equal(j.entry.id, 'gnulinux-6.1.0-50-cloud-amd64-advanced-85d4fada-db2d-474e-b464-fe9371509fa2');
  assert.equal(j.cmdline, 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=85d4fada-db2d-474e-b464-fe9371509fa2 ro console=ttyS0 quiet nomodeset');
  assert.equal(j.edited, true);
  // The menu drew on the terminal (stderr here, stdout being a pipe) in the alternate screen and left it.
  assert.ok(r.screen.includes('\x1b[?1049h'));
  assert.ok(r.screen.trimEnd().endsWith('\x1b[?1049l'), JSON.stringify(r.screen.slice(-100)));
  // The rejected candidate is shown with its reason, greyed.
  assert.match(r.screen, /\x1b\[2m {8}\/vmlinuz\.old is the same kernel as \/vmlinuz/);
});

test('pty: no key with --timeout 1 boots the default after about a second; the terminal is back in its mode', { skip }, () => {
  const r = drive(withStty(['--menu', '--root', ROOT, '--dry-run', '--timeout', '1']), []);
  assert.equal(r.failed, null);
  assert.equal(r.code, 0);
  assert.match(r.screen, /Booting "Debian GNU\/Linux" in 1 s \(any key stops\)/);
  const after = r.screen.slice(r.screen.lastIndexOf('\x1b[?1049l'));
  assert.match(after, /entry: gnulinux-simple-85d4fada-db2d-474e-b464-fe9371509fa2\r\ncmdline: BOOT_IMAGE=\/boot\/vmlinuz-6\.1\.0-50-cloud-amd64 root=UUID=85d4fada-db2d-474e-b464-fe9371509fa2 ro console=ttyS0 quiet\r\nexit=0\r\n/);
  assert.match(after, /[^-]icanon/);
  assert.match(after, /[^-]echo /);
  assert.ok(r.waited >= 1, `chose after ${r.waited} s`);
});

test('pty: the loader\'s own timeout when --timeout is not given: bookworm\'s timeout=0 boots the default at once, sd-boot\'s 3 s counts down', { skip }, () => {
  const zero = drive([...KEXEC_TS, 'boot', '--menu', '--root', ROOT, '--dry-run'], []);
  assert.equal(zero.code, 0);
  assert.ok(!zero.screen.includes('\x1b[?1049h'), 'no menu drawn');
  assert.match(zero.screen, /^entry: gnulinux-simple-85d4fada-db2d-474e-b464-fe9371509fa2\r\n/);
  const three = drive([...KEXEC_TS, 'boot', '--menu', '--root', 'test/fixtures/boot/cases/sd-boot'], [{ wait: 'Booting "Fedora Linux 40" in 3 s' }, { wait: 'Booting "Fedora Linux 40" in 2 s' }, { send: 'q' }]);
  assert.equal(three.failed, null);
  assert.equal(three.code, 1);
});

test('pty: a key stops the countdown (nothing boots after --timeout), then q leaves without a choice: exit 1, terminal restored', { skip }, () => {
  const r = drive(withStty(['--menu', '--root', ROOT, '--dry-run', '--timeout', '1']), [{ wait: 'Booting' }, { send: DOWN }, { sleep: 1.5 }, { send: 'q' }]);
  assert.equal(r.failed, null);
  const after = r.screen.slice(r.screen.lastIndexOf('\x1b[?1049l'));
  assert.match(after, /kexec-ts: boot menu left without a choice\r\nexit=1\r\n/);
  assert.doesNotMatch(after, /entry: /);
  assert.match(after, /[^-]icanon/);
});

test('pty: ctrl-c in the editor and SIGTERM both leave the menu without a choice, the terminal restored', { skip }, () => {
  const c = drive(withStty(['--menu', '--root', ROOT, '--timeout', 'none']), [{ wait: 'e edit command line' }, { send: 'e' }, { wait: 'Editing' }, { send: '\x03' }]);
  assert.equal(c.failed, null);
  const after = c.screen.slice(c.screen.lastIndexOf('\x1b[?1049l'));
  assert.match(after, /^\x1b\[\?1049lkexec-ts: boot menu left without a choice\r\nexit=1\r\n/);
  assert.match(after, /[^-]icanon/);
  const t = drive([...KEXEC_TS, 'boot', '--menu', '--root', ROOT, '--timeout', 'none'], [{ wait: 'e edit command line' }, { send: 'e' }, { wait: 'Editing' }, { signal: 15 }]);
  assert.equal(t.failed, null);
  assert.equal(t.code, 1);
  assert.deepEqual([t.canonical, t.echo], [true, true]);
  assert.match(t.screen, /\x1b\[\?25h\x1b\[\?1049lkexec-ts: boot menu left without a choice/);
});

test('pty: a resized window (SIGWINCH) is redrawn at its new size', { skip }, () => {
  const r = drive(
    [...KEXEC_TS, 'boot', '--menu', '--root', ROOT, '--timeout', 'none'],
    [{ wait: 'e edit command line' }, { resize: [12, 40] }, { wait: '    Advanced options for Debian GNU/Lin…\x1b[K' }, { send: 'q' }],
    { cols: 120 },
  );
  assert.equal(r.failed, null, JSON.stringify(r.screen.slice(-1500)));
  assert.equal(r.code, 1);
});

test('kexec-ts boot --menu without a terminal: one line, exit 2; bad --timeout and --timeout without --menu: exit 2', () => {
  const run = (...args: string[]) => spawnSync(KEXEC_TS[0]!, [...KEXEC_TS.slice(1), 'boot', ...args], { encoding: 'utf8', input: '' });
  const r = run('--menu', '--root', ROOT);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'kexec-ts: kexec-ts boot --menu: needs a terminal (stdin and stdout or stderr); use --list to see the entries\n');
  for (const [args, re] of [
    [['--menu', '--timeout', 'soon'], /^kexec-ts: --timeout soon: not a number of seconds/],
    [['--list', '--timeout', '3'], /^kexec-ts: --timeout goes with --menu\n$/],
    [['--list', '--menu'], /^kexec-ts: --menu takes no --list: the entry is chosen there\n$/],
    [['--menu', 'debian'], /^kexec-ts: --menu takes no ENTRY \(debian\): the entry is chosen there\n$/],
    [['--menu', '--serve', '--dry-run'], /^kexec-ts: kexec-ts boot: --menu or --serve, not both\n$/],
    [['--menu', '--append', 'quiet'], /^kexec-ts: --menu does not take --append: edit the command line in the menu \(e\)\n$/],
    [['--serve', '--dry-run', '--now'], /^kexec-ts: --serve: --now or --dry-run, not both\n$/],
    [['--serve', '--dry-run', '--append', 'quiet'], /^kexec-ts: --serve does not take --append: edit the command line on the page\n$/],
  ] as [string[], RegExp][]) {
    const b = run(...args);
    assert.equal(b.status, 2, args.join(' '));
    assert.match(b.stderr, re);
  }
});

test('pty: without --dry-run the menu hands its choice (the edited command line) to the loader, as kexec-ts boot ENTRY --command-line would; the loader refuses another machine\'s --root', { skip }, () => {
  const r = drive(withStty(['--menu', '--root', ROOT, '--timeout', 'none']), [{ wait: 'e edit command line' }, { send: 'e' }, { wait: 'Editing' }, { send: ' nomodeset\r' }, { wait: '(edited)' }, { send: '\r' }]);
  assert.equal(r.failed, null, JSON.stringify(r.screen.slice(-800)));
  const after = r.screen.slice(r.screen.lastIndexOf('\x1b[?1049l'));
  assert.match(after, /kexec-ts: --root\/--boot\/--esp read another machine's entries: use them with --dry-run[^\n]*\r\nexit=2\r\n/);
  assert.match(after, /[^-]icanon/);
});

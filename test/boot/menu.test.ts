// The boot menu's state machine and renderer (src/boot/menu.ts) and the terminal key decoder
// (src/cli/boot-menu.ts decodeKeys): keys and ticks in, states and screens out, no terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BootList } from '../../src/boot/discover.ts';
import type { BootEntry } from '../../src/boot/model.ts';
import { loaderTimeout, wrap, menuKey, menuState, menuText, menuTick, renderMenu, type MenuKey, type MenuState } from '../../src/boot/menu.ts';
import { decodeKeys, drawScreen } from '../../src/cli/boot-menu.ts';
import { discoverBoot } from '../../src/boot/discover.ts';
import { readBootMachine } from '../../src/host/boot-files.ts';

function entry(id: string, title: string, cmdline: string, extra: Partial<BootEntry> = {}): BootEntry {
  return { id, title, source: 'grub', origin: `/boot/grub/grub.cfg:${id.length}`, kernel: `/boot/vmlinuz-${id}`, initrds: [`/boot/initrd.img-${id}`], cmdline, isDefault: false, ...extra };
}

function list(n = 3, defaultIndex = 1, timeout: string | undefined = '5'): BootList {
  const entries = Array.from({ length: n }, (_, i) => entry(`e${i}`, `Entry ${i}`, `root=/dev/vda${i} ro quiet`));
  const d = entries[defaultIndex];
  if (d) Object.assign(d, { isDefault: true, defaultReason: `default="${defaultIndex}"` });
  return {
    loader: { name: 'grub', reason: 'grub.cfg exists' },
    entries,
    rejected: [{ title: 'Old kernel', source: 'debian-links', origin: '/vmlinuz.old', reason: '/vmlinuz.old is the same kernel as /vmlinuz' }],
    notes: [],
    ...(d ? { default: d } : {}),
    defaultReason: d ? `default="${defaultIndex}"` : 'no entry',
    ...(timeout !== undefined ? { timeout } : {}),
    sources: ['grub'],
  };
}

const keys = (s: MenuState, ...ks: MenuKey[]) => ks.reduce(menuKey, s);
const type = (s: MenuState, text: string) => menuKey(s, { char: text });

test('menu state: the default is selected and its countdown is the loader timeout, or --timeout, or none', () => {
  const s = menuState(list());
  assert.equal(s.selected, 1);
  assert.equal(s.countdown, 5);
  assert.equal(menuState(list(), { timeout: 2 }).countdown, 2);
  assert.equal(menuState(list(), { timeout: null }).countdown, undefined);
  assert.equal(menuState(list(3, -1)).countdown, undefined, 'no default: nothing to count down to');
  assert.equal(menuState(list(3, -1)).selected, 0);
});

test('loader timeouts: GRUB seconds and -1, systemd-boot menu-force/menu-hidden, none given is 10 s', () => {
  assert.equal(loaderTimeout('5'), 5);
  assert.equal(loaderTimeout('0'), 0);
  assert.equal(loaderTimeout('-1'), null);
  assert.equal(loaderTimeout('menu-force'), null);
  assert.equal(loaderTimeout('menu-hidden'), 0);
  assert.equal(loaderTimeout(undefined), 10);
});

test('menu: a timeout of 0 chooses the default at once, with its own command line', () => {
  const s = menuState(list(), { timeout: 0 });
  assert.deepEqual(s.result && { kind: s.result.kind, id: s.result.kind === 'boot' && s.result.entry.id }, { kind: 'boot', id: 'e1' });
});

test('menu: ticks run the countdown down and boot the default at zero', () => {
  let s = menuState(list(), { timeout: 3 });
  s = menuTick(s, 1.5);
  assert.equal(s.countdown, 1.5);
  assert.equal(s.result, undefined);
  s = menuTick(s, 1.5);
  assert.equal(s.result?.kind, 'boot');
  assert.equal(s.result?.kind === 'boot' && s.result.entry.id, 'e1');
  assert.equal(s.result?.kind === 'boot' && s.result.cmdline, 'root=/dev/vda1 ro quiet');
});

test('menu: any key stops the countdown, and later ticks boot nothing', () => {
  let s = menuKey(menuState(list()), 'down');
  assert.equal(s.countdown, undefined);
  s = menuTick(s, 100);
  assert.equal(s.result, undefined);
});

test('menu: up/down/home/end/pageup/pagedown move the selection within the entries (rejected are not selectable)', () => {
  const s = menuState(list(25, 0));
  assert.equal(keys(s, 'up').selected, 0, 'clamped at the top');
  assert.equal(keys(s, 'down', 'down').selected, 2);
  assert.equal(keys(s, 'end').selected, 24);
  assert.equal(keys(s, 'end', 'down').selected, 24, 'never onto the rejected candidates below');
  assert.equal(keys(s, 'end', 'home').selected, 0);
  assert.equal(keys(s, 'pagedown').selected, 10);
  assert.equal(keys(s, 'pagedown', 'pagedown', 'pagedown').selected, 24);
  assert.equal(keys(s, 'end', 'pageup').selected, 14);
  assert.equal(keys(s, { char: '3' }).selected, 2, 'a digit selects that entry');
});

test('menu: enter boots the selected entry; q and ctrl-c leave without a choice', () => {
  const b = keys(menuState(list()), 'down', 'enter').result;
  assert.equal(b?.kind === 'boot' && b.entry.id, 'e2');
  assert.deepEqual(keys(menuState(list()), { char: 'q' }).result, { kind: 'cancel', reason: 'q' });
  assert.deepEqual(keys(menuState(list()), 'ctrl-c').result, { kind: 'cancel', reason: 'ctrl-c' });
  // No entries at all: enter says so instead of booting.
  const none = keys(menuState(list(0, -1)), 'enter');
  assert.equal(none.result, undefined);
  assert.equal(none.message, 'no entry to boot');
});

test('menu editor: e opens the line editor at the end; typing, arrows, home/end, backspace, delete, ctrl-u, ctrl-k edit it', () => {
  let s = keys(menuState(list()), { char: 'e' });
  assert.deepEqual(s.edit && { text: s.edit.text.join(''), cursor: s.edit.cursor }, { text: 'root=/dev/vda1 ro quiet', cursor: 23 });
  s = type(s, ' nomodeset');
  assert.equal(s.edit?.text.join(''), 'root=/dev/vda1 ro quiet nomodeset');
  s = keys(s, 'home', 'delete', 'delete', 'delete', 'delete');
  assert.equal(s.edit?.text.join(''), '=/dev/vda1 ro quiet nomodeset');
  s = type(s, 'ROOT');
  assert.equal(s.edit?.cursor, 4);
  s = keys(s, 'right', 'backspace');
  assert.equal(s.edit?.text.join(''), 'ROOT/dev/vda1 ro quiet nomodeset');
  s = keys(s, 'left', 'left', 'ctrl-k');
  assert.equal(s.edit?.text.join(''), 'RO');
  s = keys(s, 'end', 'ctrl-u');
  assert.deepEqual(s.edit && { text: s.edit.text.join(''), cursor: s.edit.cursor }, { text: '', cursor: 0 });
  s = keys(s, 'backspace', 'left');
  assert.equal(s.edit?.cursor, 0, 'backspace and left at the start do nothing');
  // Control characters in typed text are dropped; other scripts are kept as code points.
  s = type(s, 'a\x07é😀');
  assert.deepEqual(s.edit?.text, ['a', 'é', '😀']);
  // In the editor, q and e are text, not commands.
  s = type(s, 'qe');
  assert.equal(s.result, undefined);
  assert.equal(s.edit?.text.join(''), 'aé😀qe');
});

test('menu editor: enter accepts (the entry boots with it, shown as edited); escape cancels; editing back to the original is no edit', () => {
  let s = keys(menuState(list()), { char: 'e' });
  s = type(s, ' single');
  s = menuKey(s, 'enter');
  assert.equal(s.edit, undefined);
  assert.equal(s.cmdlines.get(1), 'root=/dev/vda1 ro quiet single');
  assert.match(menuText(s, 80, 24), /^ >\* \(edited\) Entry 1$/m);
  const r = menuKey(s, 'enter').result;
  assert.deepEqual(r?.kind === 'boot' && { id: r.entry.id, cmdline: r.cmdline, edited: r.edited }, { id: 'e1', cmdline: 'root=/dev/vda1 ro quiet single', edited: true });
  // Escape throws the edit away and keeps the accepted one.
  let c = keys(s, { char: 'e' }, 'ctrl-u');
  c = keys(type(c, 'x'), 'escape');
  assert.equal(c.edit, undefined);
  assert.equal(c.cmdlines.get(1), 'root=/dev/vda1 ro quiet single');
  // Back to the entry's own command line: not edited any more.
  const back = keys(s, { char: 'e' }, 'backspace', 'backspace', 'backspace', 'backspace', 'backspace', 'backspace', 'backspace', 'enter');
  assert.equal(back.cmdlines.has(1), false);
  // ctrl-c in the editor leaves the whole menu.
  assert.equal(keys(s, { char: 'e' }, 'ctrl-c').result?.kind, 'cancel');
});

test('menu: the countdown boots the default with its edited command line', () => {
  let s = menuState(list(), { timeout: 5 });
  s = keys(s, { char: 'e' });
  s = keys(type(s, ' x'), 'enter');
  // The key stopped the countdown; a fresh state with an accepted edit and a countdown boots it.
  const resumed: MenuState = { ...s, countdown: 1 };
  const r = menuTick(resumed, 1).result;
  assert.equal(r?.kind === 'boot' && r.cmdline, 'root=/dev/vda1 ro quiet x');
});

test('render: title, entries with > selection and * default, the selection\'s kernel/initrd/cmdline/default reason, rejected with why, countdown, help', () => {
  const text = menuText(menuState(list()), 80, 24);
  const lines = text.split('\n');
  assert.equal(lines.length, 24);
  assert.equal(lines[0], 'kexec-ts boot menu — GRUB');
  assert.equal(lines[2], '    Entry 0');
  assert.equal(lines[3], ' >* Entry 1');
  assert.equal(lines[4], '    Entry 2');
  assert.match(text, /^ {4}not bootable \(1\):\n {4}- Old kernel\n {8}\/vmlinuz\.old is the same kernel as \/vmlinuz$/m);
  assert.match(text, /^ {2}kernel {3}\/boot\/vmlinuz-e1\n {2}initrd {3}\/boot\/initrd\.img-e1\n {2}cmdline {2}root=\/dev\/vda1 ro quiet\n {2}from {5}grub \/boot\/grub\/grub\.cfg:2\n {2}default {2}default="1"$/m);
  assert.equal(lines[22], 'Booting "Entry 1" in 5 s (any key stops)');
  assert.equal(lines[23], '↑↓ select  Enter boot  e edit command line  q quit');
  // Not the default: no default line; the countdown is gone after a key.
  const moved = menuText(menuState(list()), 80, 24);
  assert.ok(moved.includes('default="1"'));
  const other = menuText(keys(menuState(list()), 'down'), 80, 24);
  assert.ok(!other.includes('  default  '));
  assert.ok(!other.includes('Booting'));
  assert.match(other, /^ > {2}Entry 2$/m);
});

test('render: styles say what the terminal greys (rejected) and reverses (selection)', () => {
  const screen = renderMenu(menuState(list()), 80, 24);
  assert.equal(screen.lines.find((l) => l.text.includes('Entry 1'))?.style, 'selected');
  assert.equal(screen.lines.find((l) => l.text.includes('Old kernel'))?.style, 'rejected');
  assert.equal(screen.lines.find((l) => l.text.includes('same kernel'))?.style, 'rejected');
  assert.equal(screen.cursor, undefined, 'no cursor outside the editor');
});

test('render: every line fits the width, and the screen is exactly the height', () => {
  const s = menuState(list(40, 20));
  for (const [w, h] of [[20, 8], [40, 12], [80, 24], [132, 50], [10, 3]] as const) {
    const lines = renderMenu(s, w, h).lines;
    assert.equal(lines.length, h, `${w}x${h}`);
    for (const l of lines) assert.ok(Array.from(l.text).length <= w, `${w}x${h}: ${l.text}`);
  }
  assert.equal(Array.from('x'.repeat(200)).length, 200);
  const long = menuState({ ...list(), entries: [entry('l', 'L'.repeat(200), 'c')] });
  assert.match(menuText(long, 40, 12), /^ > {2}L{35}…$/m);
});

test('render: a long list scrolls to keep the selection shown, with how many rows are above and below', () => {
  let s = menuState(list(40, 0), { timeout: null });
  s = keys(s, 'pagedown', 'pagedown');
  const text = menuText(s, 60, 20);
  assert.match(text, /^ > {2}Entry 20$/m);
  assert.match(text, /^ {4}↑ \d+ more$/m);
  assert.match(text, /^ {4}↓ \d+ more$/m);
  assert.doesNotMatch(text, /^ {4}Entry 0$/m);
  // At the end the rejected candidates come into view.
  const end = menuText(keys(s, 'end'), 60, 20);
  assert.match(end, /^ > {2}Entry 39$/m);
  assert.match(end, /- Old kernel/);
});

test('render: a long command line wraps after spaces onto up to three rows, the rest cut with …', () => {
  assert.deepEqual(wrap('aaa bbb ccc', 7), ['aaa bbb', 'ccc']);
  assert.deepEqual(wrap('aaaaaaaaaa b', 4), ['aaaa', 'aaaa', 'aa b']);
  assert.deepEqual(wrap('', 4), ['']);
  const words = Array.from({ length: 12 }, (_, i) => `opt${i}=value${i}`).join(' ');
  const text = menuText(menuState({ ...list(), entries: [entry('x', 'X', words)] }, { timeout: null }), 40, 24);
  assert.match(text, /^ {2}cmdline {2}opt0=value0 opt1=value1$/m);
  assert.match(text, /^ {11}opt2=value2 opt3=value3$/m);
  assert.match(text, /^ {11}opt4=value4 opt5=value5 opt6…$/m);
  assert.doesNotMatch(text, /opt11/);
});

test('render: a short window drops details (from, initrd, default) before the command line', () => {
  const text = menuText(menuState(list(3, 1)), 80, 11);
  assert.match(text, /cmdline {2}root=\/dev\/vda1/);
  assert.doesNotMatch(text, /from {5}grub/);
});

test('render: the editor shows a window of the line around the cursor and puts the terminal cursor on it', () => {
  let s = menuState({ ...list(), entries: [entry('x', 'X', 'a'.repeat(100) + 'END')] });
  s = keys(s, { char: 'e' });
  const screen = renderMenu(s, 40, 16);
  const row = screen.lines.findIndex((l) => l.text.startsWith('  edit     '));
  assert.ok(row > 0);
  assert.ok(screen.lines[row]!.text.endsWith('END'), screen.lines[row]!.text);
  assert.deepEqual(screen.cursor, { row, col: 11 + screen.lines[row]!.text.length - 11 });
  assert.match(screen.lines.at(-1)!.text, /^←→ move/);
  assert.match(screen.lines.at(-2)!.text, /^Editing the command line of "X"/);
  // At the start of the line the window starts at the start.
  const home = renderMenu(keys(s, 'home'), 40, 16);
  assert.equal(home.lines[row]!.text, '  edit     ' + 'a'.repeat(28));
  assert.deepEqual(home.cursor, { row, col: 11 });
});

test('render on a real discovery (bookworm fixture): duplicate titles in sd-boot get their version', () => {
  const l = discoverBoot(readBootMachine({ root: 'test/fixtures/boot/cases/sd-boot' }));
  const text = menuText(menuState(l), 100, 30);
  assert.match(text, /Debian GNU\/Linux 13 \(trixie\) \(6\.1\.0-50-amd64\)/);
  assert.match(text, /^ >\* Fedora Linux 40$/m);
  assert.match(text, /architecture aa64: this machine is x64/);
  assert.match(text, /Booting "Fedora Linux 40" in 3 s/);
});

test('decodeKeys: CSI and SS3 arrows, ~ keys, modifiers, control keys, text runs', () => {
  assert.deepEqual(decodeKeys('\x1b[A\x1b[B\x1bOC\x1bOD\x1b[H\x1b[F\x1b[1~\x1b[4~\x1b[5~\x1b[6~\x1b[3~\x1b[1;5A').keys, ['up', 'down', 'right', 'left', 'home', 'end', 'home', 'end', 'pageup', 'pagedown', 'delete', 'up']);
  assert.deepEqual(decodeKeys('ab c\r\x7f\x03\x15\x0b\x08').keys, [{ char: 'ab c' }, 'enter', 'backspace', 'ctrl-c', 'ctrl-u', 'ctrl-k', 'backspace']);
  assert.deepEqual(decodeKeys('x\x1b[Ay').keys, [{ char: 'x' }, 'up', { char: 'y' }]);
  assert.deepEqual(decodeKeys('\x1b[99Z\x1bxq').keys, [{ char: 'q' }], 'unknown sequences and Alt+x are dropped');
});

test('decodeKeys: an incomplete sequence waits for more; alone at the end (final) it is Escape', () => {
  assert.deepEqual(decodeKeys('a\x1b'), { keys: [{ char: 'a' }], rest: '\x1b' });
  assert.deepEqual(decodeKeys('\x1b['), { keys: [], rest: '\x1b[' });
  assert.deepEqual(decodeKeys('\x1b[' + 'B').keys, ['down']);
  assert.deepEqual(decodeKeys('\x1b', true), { keys: ['escape'], rest: '' });
  assert.deepEqual(decodeKeys('\x1b\x1b[A').keys, ['escape', 'up']);
});

test('drawScreen: the alternate screen is drawn from home, rows cleared, selection reversed, rejected dimmed, cursor hidden outside the editor', () => {
  const out = drawScreen(menuState(list()), 40, 20);
  assert.ok(out.startsWith('\x1b[H'));
  assert.match(out, /\x1b\[7m >\* Entry 1 +\x1b\[0m\x1b\[K/);
  assert.match(out, /\x1b\[2m {4}- Old kernel\x1b\[0m/);
  assert.ok(out.endsWith('\x1b[?25l'));
  const editing = drawScreen(keys(menuState(list()), { char: 'e' }), 40, 12);
  assert.match(editing, /\x1b\[\d+;\d+H\x1b\[\?25h$/);
});

// The boot menu (issue 13, `kexec-ts boot --menu`): petitboot's role as a pure state machine. State
// from a BootList, keys and clock ticks in, a new state out, and a renderer to lines of a given size;
// the terminal (raw mode, key decoding, redraw) is src/cli/boot-menu.ts. No I/O here.
import type { BootList } from './discover.ts';
import type { BootEntry, Rejected } from './model.ts';

/** A key as the menu understands it (src/cli/boot-menu.ts decodes the terminal's bytes into these). */
export type MenuKey =
  | 'up'
  | 'down'
  | 'left'
  | 'right'
  | 'home'
  | 'end'
  | 'pageup'
  | 'pagedown'
  | 'enter'
  | 'escape'
  | 'backspace'
  | 'delete'
  | 'ctrl-c'
  | 'ctrl-u'
  | 'ctrl-k'
  | { char: string };

/** The line editor of `e`: the command line being edited, the cursor in code points. */
export interface LineEdit {
  entry: number;
  text: string[];
  cursor: number;
}

export type MenuResult = { kind: 'boot'; entry: BootEntry; cmdline: string; edited: boolean } | { kind: 'cancel'; reason: string };

export interface MenuState {
  title: string;
  entries: readonly BootEntry[];
  rejected: readonly Rejected[];
  /** The default's index in `entries`, or -1. */
  defaultIndex: number;
  defaultReason: string;
  selected: number;
  /** Seconds left before the default boots; undefined once stopped (a key) or without a default. */
  countdown?: number;
  /** Command lines accepted from the editor, by entry index. */
  cmdlines: ReadonlyMap<number, string>;
  edit?: LineEdit;
  /** Rows PageUp/PageDown move (the terminal side sets it from the window's height). */
  page: number;
  /** One line shown above the help line until the next key ("no entry to boot"). */
  message?: string;
  result?: MenuResult;
}

export interface MenuOptions {
  /** Seconds before the default boots: overrides the list's; null = wait for a key. */
  timeout?: number | null;
}

/** The countdown petitboot uses when the configuration gives none. */
export const DEFAULT_TIMEOUT = 10;

/**
 * The loader's timeout as seconds, or null to wait for a key: GRUB's "5" / "-1", systemd-boot's
 * loader.conf "3", "menu-force" (wait), "menu-hidden"/"menu-disabled" (0); none given: DEFAULT_TIMEOUT.
 */
export function loaderTimeout(value: string | undefined): number | null {
  if (value === undefined) return DEFAULT_TIMEOUT;
  const v = value.trim();
  if (/^-?\d+$/.test(v)) return Number(v) < 0 ? null : Number(v);
  if (v === 'menu-force') return null;
  if (v === 'menu-hidden' || v === 'menu-disabled') return 0;
  return DEFAULT_TIMEOUT;
}

const LOADER_TITLES = { grub: 'GRUB', 'systemd-boot': 'systemd-boot', 'debian-links': "Debian's /vmlinuz", none: 'no boot loader' } as const;

/** The menu over a discovery: entries in menu order, the default selected, its countdown running. */
export function menuState(list: BootList, opts: MenuOptions = {}): MenuState {
  const defaultIndex = list.default ? list.entries.indexOf(list.default) : -1;
  const timeout = opts.timeout !== undefined ? opts.timeout : loaderTimeout(list.timeout);
  const s: MenuState = {
    title: `kexec-ts boot menu — ${LOADER_TITLES[list.loader.name]}`,
    entries: list.entries,
    rejected: list.rejected,
    defaultIndex,
    defaultReason: list.defaultReason,
    selected: Math.max(0, defaultIndex),
    cmdlines: new Map(),
    page: 10,
    ...(defaultIndex >= 0 && timeout !== null ? { countdown: timeout } : {}),
  };
  return s.countdown !== undefined && s.countdown <= 0 ? boot(s, defaultIndex) : s;
}

/** The command line entry `i` boots with: the edited one if any, else its own. */
export function cmdlineOf(s: MenuState, i: number): string {
  return s.cmdlines.get(i) ?? s.entries[i]?.cmdline ?? '';
}

function boot(s: MenuState, i: number): MenuState {
  const entry = s.entries[i];
  if (!entry) return { ...s, message: 'no entry to boot' };
  const cmdline = cmdlineOf(s, i);
  const { countdown: _, ...rest } = s;
  return { ...rest, result: { kind: 'boot', entry, cmdline, edited: cmdline !== entry.cmdline } };
}

/** Seconds passed: the countdown runs down and boots the default at zero. */
export function menuTick(s: MenuState, seconds: number): MenuState {
  if (s.result || s.countdown === undefined) return s;
  const left = s.countdown - seconds;
  return left <= 0 ? boot(s, s.defaultIndex) : { ...s, countdown: left };
}

/** A key: any key stops the countdown, then acts (the list's or the editor's keys). */
export function menuKey(s: MenuState, key: MenuKey): MenuState {
  if (s.result) return s;
  const { countdown: _, message: _m, ...rest } = s;
  const t: MenuState = rest;
  if (key === 'ctrl-c') return { ...t, result: { kind: 'cancel', reason: 'ctrl-c' } };
  if (t.edit) return editKey(t, t.edit, key);
  const last = t.entries.length - 1;
  const to = (i: number): MenuState => ({ ...t, selected: Math.max(0, Math.min(last, i)) });
  if (typeof key === 'object') {
    if (key.char === 'q' || key.char === 'Q') return { ...t, result: { kind: 'cancel', reason: 'q' } };
    if (key.char === 'e' || key.char === 'E') {
      if (last < 0) return { ...t, message: 'no entry to edit' };
      const text = Array.from(cmdlineOf(t, t.selected));
      return { ...t, edit: { entry: t.selected, text, cursor: text.length } };
    }
    if (/^[1-9]$/.test(key.char) && Number(key.char) <= t.entries.length) return to(Number(key.char) - 1);
    return t;
  }
  switch (key) {
    case 'up':
      return to(t.selected - 1);
    case 'down':
      return to(t.selected + 1);
    case 'home':
      return to(0);
    case 'end':
      return to(last);
    case 'pageup':
      return to(t.selected - t.page);
    case 'pagedown':
      return to(t.selected + t.page);
    case 'enter':
      return boot(t, t.selected);
    default:
      return t;
  }
}

function editKey(s: MenuState, e: LineEdit, key: MenuKey): MenuState {
  const set = (text: string[], cursor: number): MenuState => ({ ...s, edit: { ...e, text, cursor: Math.max(0, Math.min(text.length, cursor)) } });
  const { text, cursor } = e;
  if (typeof key === 'object') {
    // Printable characters only (a paste arrives as several); control characters are dropped.
    const chars = Array.from(key.char).filter((c) => c >= ' ' && c !== '\x7f' && !(c >= '\x80' && c <= '\x9f'));
    return set([...text.slice(0, cursor), ...chars, ...text.slice(cursor)], cursor + chars.length);
  }
  switch (key) {
    case 'left':
      return set(text, cursor - 1);
    case 'right':
      return set(text, cursor + 1);
    case 'home':
      return set(text, 0);
    case 'end':
      return set(text, text.length);
    case 'backspace':
      return cursor > 0 ? set([...text.slice(0, cursor - 1), ...text.slice(cursor)], cursor - 1) : s;
    case 'delete':
      return set([...text.slice(0, cursor), ...text.slice(cursor + 1)], cursor);
    case 'ctrl-u':
      return set(text.slice(cursor), 0);
    case 'ctrl-k':
      return set(text.slice(0, cursor), cursor);
    case 'escape': {
      const { edit: _, ...rest } = s;
      return rest;
    }
    case 'enter': {
      const { edit: _, ...rest } = s;
      const cmdlines = new Map(s.cmdlines);
      const value = text.join('');
      if (value === s.entries[e.entry]?.cmdline) cmdlines.delete(e.entry);
      else cmdlines.set(e.entry, value);
      return { ...rest, cmdlines };
    }
    default:
      return s;
  }
}

/** How a rendered line is drawn: the terminal maps these to its attributes (reverse, dim, bold). */
export type LineStyle = 'title' | 'normal' | 'selected' | 'rejected' | 'label' | 'status' | 'help';

export interface MenuLine {
  text: string;
  style: LineStyle;
}

export interface MenuScreen {
  lines: MenuLine[];
  /** Where the terminal's cursor goes (0-based), in the editor only. */
  cursor?: { row: number; col: number };
}

/** `s` cut to `width` columns with "…" (one column per code point: titles and command lines are ASCII in practice). */
export function fit(s: string, width: number): string {
  const cp = Array.from(s);
  if (cp.length <= width) return s;
  return width <= 0 ? '' : cp.slice(0, width - 1).join('') + '…';
}

export const HELP_LIST = '↑↓ select  Enter boot  e edit command line  q quit';
export const HELP_EDIT = '←→ move  Home/End  Backspace/Del  Ctrl-U clear  Enter accept  Esc cancel';

/**
 * The screen: the title, the entries (`>` the selection, `*` the default; rejected candidates below,
 * greyed, with their reason), the selected entry's kernel, initrds, command line and why it is the
 * default, then the countdown and the keys. Sized to `width` x `height`: the entry list scrolls to
 * keep the selection shown, the details shrink first when the window is short.
 */
export function renderMenu(s: MenuState, width: number, height: number): MenuScreen {
  const w = Math.max(10, width);
  const line = (text: string, style: LineStyle = 'normal'): MenuLine => ({ text: fit(text, w), style });
  const sel = s.entries[s.selected];

  // The list: one row per entry, two per rejected candidate (its title, then why).
  const list: MenuLine[] = [];
  const twice = new Set(s.entries.map((e) => e.title).filter((t, i, all) => all.indexOf(t) !== i));
  s.entries.forEach((e, i) => {
    const mark = `${i === s.selected ? '>' : ' '}${i === s.defaultIndex ? '*' : ' '}`;
    const edited = s.cmdlines.has(i) ? '(edited) ' : '';
    const title = twice.has(e.title) ? `${e.title} (${e.version ?? e.id})` : e.title;
    list.push(line(` ${mark} ${edited}${title}`, i === s.selected ? 'selected' : 'normal'));
  });
  if (!s.entries.length) list.push(line('    no bootable entry', 'rejected'));
  if (s.rejected.length) list.push(line(`    not bootable (${s.rejected.length}):`, 'rejected'));
  for (const r of s.rejected) {
    list.push(line(`    - ${r.title ?? r.id ?? r.origin}`, 'rejected'));
    list.push(line(`        ${r.reason}`, 'rejected'));
  }

  // The details of the selection (or the editor), each with its rank: a short window drops the
  // highest rank first and keeps the command line.
  const details: (MenuLine & { rank: number })[] = [];
  let editCol = -1;
  if (sel) {
    const lab = (k: string, v: string, rank: number) => ({ ...line(`  ${k.padEnd(9)}${v}`, 'label'), rank });
    details.push(lab('kernel', sel.kernel, 1));
    if (sel.initrds.length) details.push(lab(sel.initrds.length > 1 ? 'initrds' : 'initrd', sel.initrds.join(' '), 3));
    if (s.edit) {
      // A window of the command line around the cursor, after the 11 columns of its label.
      const room = Math.max(1, w - 12);
      const start = Math.max(0, Math.min(s.edit.cursor - Math.floor(room * 0.75), s.edit.text.length + 1 - room));
      editCol = 11 + (s.edit.cursor - start);
      details.push({ text: `  ${'edit'.padEnd(9)}${s.edit.text.slice(start, start + room).join('')}`, style: 'status', rank: 0 });
    } else {
      // The command line wraps onto up to three rows (the continuation rows go before the kernel's
      // in a short window); what does not fit ends in "…".
      const rows = wrap(cmdlineOf(s, s.selected) || '(none)', Math.max(1, w - 11));
      const shown = rows.slice(0, 3);
      if (rows.length > 3) shown[2] = fit(rows.slice(2).join(' '), Math.max(1, w - 11));
      for (let r = 0; r < shown.length; r++) {
        const part = shown[r]!;
        details.push(r === 0 ? lab('cmdline', part, 0) : { ...line(`${' '.repeat(11)}${part}`, 'label'), rank: 1.5 });
      }
    }
    details.push(lab('from', `${sel.source} ${sel.origin}`, 4));
    if (s.selected === s.defaultIndex) details.push(lab('default', s.defaultReason, 2));
  } else {
    details.push({ ...line(`  no default: ${s.defaultReason}`, 'label'), rank: 0 });
  }

  let status: string;
  if (s.edit) status = `Editing the command line of "${s.entries[s.edit.entry]?.title}"`;
  else if (s.countdown !== undefined) status = `Booting "${s.entries[s.defaultIndex]!.title}" in ${Math.ceil(s.countdown)} s (any key stops)`;
  else status = s.message ?? '';
  const help = s.edit ? HELP_EDIT : HELP_LIST;

  // Budget: title, blank, list (at least 3 rows), blank, details, blank, status, help.
  const fixed = 2 + 1 + 2;
  let shownDetails = details;
  const listRoom = (d: number) => Math.max(1, height - fixed - (d ? d + 1 : 0));
  while (shownDetails.length && listRoom(shownDetails.length) < Math.min(3, list.length)) {
    const worst = Math.max(...shownDetails.map((d) => d.rank));
    shownDetails = shownDetails.filter((d) => d.rank !== worst);
  }
  const room = listRoom(shownDetails.length);
  const selRow = sel ? s.selected : 0;
  const top = list.length <= room ? 0 : Math.max(0, Math.min(selRow - Math.floor(room / 2), list.length - room));
  const visible = list.slice(top, top + room);
  if (room >= 3 && top > 0) visible[0] = line(`    ↑ ${top} more`, 'rejected');
  if (room >= 3 && top + room < list.length) visible[visible.length - 1] = line(`    ↓ ${list.length - (top + room) + 1} more`, 'rejected');

  const out: MenuLine[] = [line(s.title, 'title'), line('')];
  out.push(...visible);
  while (out.length < 2 + room) out.push(line(''));
  let cursor: MenuScreen['cursor'];
  if (shownDetails.length) {
    out.push(line(''));
    const base = out.length;
    out.push(...shownDetails.map((d) => ({ text: fit(d.text, w), style: d.style })));
    const er = shownDetails.findIndex((d) => d.style === 'status');
    if (er >= 0 && editCol >= 0) cursor = { row: base + er, col: Math.min(w - 1, editCol) };
  }
  while (out.length < height - 2) out.push(line(''));
  out.push(line(status, 'status'), line(help, 'help'));
  return { lines: out.slice(0, Math.max(1, height)), ...(cursor && cursor.row < height ? { cursor } : {}) };
}

/** `text` in rows of at most `width` code points, broken after spaces (a longer word is cut). */
export function wrap(text: string, width: number): string[] {
  const rows: string[] = [];
  let rest = Array.from(text);
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const cut = space > 0 ? space + 1 : width;
    rows.push(rest.slice(0, cut).join('').trimEnd());
    rest = rest.slice(cut);
  }
  rows.push(rest.join(''));
  return rows;
}

/** The screen as plain text (tests, the README's screenshot). */
export function menuText(s: MenuState, width: number, height: number): string {
  return renderMenu(s, width, height)
    .lines.map((l) => l.text.replace(/\s+$/, ''))
    .join('\n');
}

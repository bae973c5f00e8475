// `kexec-ts boot --menu`: the terminal side of the boot menu (src/boot/menu.ts is the state machine).
// Raw mode on stdin, the terminal's key sequences decoded into MenuKeys, the alternate screen redrawn
// on every change and on SIGWINCH, the countdown ticking; the terminal is restored on every way out
// (a choice, q, ctrl-c, SIGTERM/SIGHUP, an exception).
import type { BootList } from '../boot/discover.ts';
import type { BootEntry } from '../boot/model.ts';
import { menuKey, menuState, menuTick, renderMenu, type LineStyle, type MenuKey, type MenuState } from '../boot/menu.ts';
import { UsageError } from '../errors.ts';
import { JSON_SCHEMA } from '../json-schema.ts';

const CSI_KEYS: Record<string, MenuKey> = { A: 'up', B: 'down', C: 'right', D: 'left', H: 'home', F: 'end' };
const TILDE_KEYS: Record<string, MenuKey> = { '1': 'home', '7': 'home', '4': 'end', '8': 'end', '3': 'delete', '5': 'pageup', '6': 'pagedown' };
const CONTROL_KEYS: Record<string, MenuKey> = {
  '\r': 'enter',
  '\n': 'enter',
  '\x7f': 'backspace',
  '\b': 'backspace',
  '\x03': 'ctrl-c',
  '\x15': 'ctrl-u',
  '\x0b': 'ctrl-k',
  '\x01': 'home',
  '\x05': 'end',
  '\x04': 'delete',
  '\x10': 'up',
  '\x0e': 'down',
  '\x02': 'left',
  '\x06': 'right',
};

/**
 * The keys in what the terminal sent: CSI (`ESC [ A`, `ESC [ 5 ~`, `ESC [ 1 ; 5 A`) and SS3 (`ESC O A`)
 * sequences, control characters, text. `rest` is an incomplete sequence at the end, kept for the next
 * read; with `final` (no more bytes came soon after) a lone ESC is the Escape key.
 */
export function decodeKeys(input: string, final = false): { keys: MenuKey[]; rest: string } {
  const keys: MenuKey[] = [];
  let text = '';
  const flush = () => {
    if (text) keys.push({ char: text });
    text = '';
  };
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '\x1b') {
      flush();
      const next = input[i + 1];
      if (next === undefined) {
        if (!final) return { keys, rest: input.slice(i) };
        keys.push('escape');
        i++;
        continue;
      }
      if (next === '[' || next === 'O') {
        // Parameters and intermediates, then a final byte in 0x40-0x7e.
        let j = i + 2;
        while (j < input.length && /[0-9;:<=>?]/.test(input[j]!)) j++;
        if (j >= input.length) {
          if (!final) return { keys, rest: input.slice(i) };
          keys.push('escape');
          i = input.length;
          continue;
        }
        const fin = input[j]!;
        const params = input.slice(i + 2, j);
        const k = fin === '~' ? TILDE_KEYS[params.split(';')[0]!] : CSI_KEYS[fin];
        if (k) keys.push(k);
        i = j + 1;
        continue;
      }
      if (next === '\x1b') {
        keys.push('escape');
        i++;
        continue;
      }
      // Alt+key: not a menu key.
      i += 2;
      continue;
    }
    const ctl = CONTROL_KEYS[c];
    if (ctl) {
      flush();
      keys.push(ctl);
    } else if (c >= ' ') text += c;
    i++;
  }
  flush();
  return { keys, rest: '' };
}

const SGR: Record<LineStyle, string> = {
  title: '\x1b[1m',
  normal: '',
  selected: '\x1b[7m',
  rejected: '\x1b[2m',
  label: '',
  status: '\x1b[1m',
  help: '\x1b[2m',
};

/** The whole screen as one write: home, each line with its attributes and the rest of the row cleared. */
export function drawScreen(s: MenuState, columns: number, rows: number): string {
  const screen = renderMenu(s, columns, rows);
  let out = '\x1b[H';
  screen.lines.forEach((l, i) => {
    const sgr = SGR[l.style];
    // The selection's bar spans the row.
    const text = l.style === 'selected' ? l.text.padEnd(columns) : l.text;
    out += `${sgr}${text}${sgr ? '\x1b[0m' : ''}\x1b[K${i < screen.lines.length - 1 ? '\r\n' : ''}`;
  });
  out += '\x1b[J';
  out += screen.cursor ? `\x1b[${screen.cursor.row + 1};${screen.cursor.col + 1}H\x1b[?25h` : '\x1b[?25l';
  return out;
}

export interface BootMenuOptions {
  /** Seconds before the default boots (overrides the loader's); null: wait for a key. */
  timeout?: number | null;
  /** The terminal: stdin and the stream drawn on (stdout, else stderr when stdout is not a terminal). */
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

export interface BootChoice {
  entry: BootEntry;
  cmdline: string;
}

/** How long a lone ESC waits for the rest of a sequence before it is the Escape key. */
const ESC_WAIT_MS = 50;

/**
 * Shows the menu on the terminal until an entry is chosen (Enter, or the countdown ran out: the
 * default) or the menu is left (q, ctrl-c, SIGTERM/SIGHUP): the choice, or undefined.
 * Not a terminal: a UsageError (one line, exit 2).
 */
export async function runBootMenu(list: BootList, opts: BootMenuOptions = {}): Promise<BootChoice | undefined> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? (process.stdout.isTTY ? process.stdout : process.stderr);
  if (!input.isTTY || !output.isTTY) throw new UsageError('kexec-ts boot --menu: needs a terminal (stdin and stdout or stderr); use --list to see the entries');
  let state = menuState(list, opts.timeout !== undefined ? { timeout: opts.timeout } : {});
  if (state.result) return state.result.kind === 'boot' ? { entry: state.result.entry, cmdline: state.result.cmdline } : undefined;

  const size = () => ({ columns: output.columns || 80, rows: output.rows || 24 });
  let drawn = '';
  const draw = () => {
    const { columns, rows } = size();
    state = { ...state, page: Math.max(1, rows - 12) };
    const screen = drawScreen(state, columns, rows);
    if (screen !== drawn) output.write(screen);
    drawn = screen;
  };

  const wasRaw = input.isRaw;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      output.write('\x1b[0m\x1b[?25h\x1b[?1049l');
      input.setRawMode(wasRaw);
    } catch {
      // The terminal is gone (SIGHUP): nothing left to restore.
    }
  };
  // Even process.exit() from elsewhere leaves the terminal usable.
  process.once('exit', restore);
  output.write('\x1b[?1049h\x1b[H\x1b[2J');
  input.setRawMode(true);
  input.setEncoding('utf8');

  return await new Promise<BootChoice | undefined>((resolve, reject) => {
    let pending = '';
    let escTimer: NodeJS.Timeout | undefined;
    let last = Date.now();
    const finish = (choice: BootChoice | undefined, err?: unknown) => {
      clearInterval(ticker);
      clearTimeout(escTimer);
      input.off('data', onData);
      output.off('resize', draw);
      process.off('SIGWINCH', draw);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      process.off('exit', restore);
      input.pause();
      restore();
      if (err) reject(err);
      else resolve(choice);
    };
    const settle = () => {
      const r = state.result;
      if (!r) return draw();
      finish(r.kind === 'boot' ? { entry: r.entry, cmdline: r.cmdline } : undefined);
    };
    const apply = (keys: MenuKey[]) => {
      for (const k of keys) state = menuKey(state, k);
      settle();
    };
    const onData = (chunk: string) => {
      try {
        clearTimeout(escTimer);
        const d = decodeKeys(pending + chunk);
        pending = d.rest;
        apply(d.keys);
        if (pending && !state.result) {
          escTimer = setTimeout(() => {
            const f = decodeKeys(pending, true);
            pending = '';
            apply(f.keys);
          }, ESC_WAIT_MS);
        }
      } catch (e) {
        finish(undefined, e);
      }
    };
    const onSignal = () => finish(undefined);
    const ticker = setInterval(() => {
      const now = Date.now();
      const seconds = (now - last) / 1000;
      last = now;
      try {
        state = menuTick(state, seconds);
        settle();
      } catch (e) {
        finish(undefined, e);
      }
    }, 100);
    input.on('data', onData);
    output.on('resize', draw);
    process.on('SIGWINCH', draw);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    input.resume();
    try {
      draw();
    } catch (e) {
      finish(undefined, e);
    }
  });
}

/** `--timeout`: seconds (0 boots the default at once), or "none"/-1 to wait for a key. */
export function parseMenuTimeout(value: string): number | null {
  if (value === 'none' || value === '-1') return null;
  if (!/^\d+$/.test(value) || Number(value) > 86400) throw new UsageError(`--timeout ${value}: not a number of seconds (0-86400, or none to wait for a key)`);
  return Number(value);
}

/** The choice as `kexec-ts boot --menu` prints it: the entry's id, then the command line it boots with. */
export function choiceText(c: BootChoice): string {
  return `entry: ${c.entry.id}\ncmdline: ${c.cmdline}\n`;
}

export function choiceJson(c: BootChoice): string {
  const e = c.entry;
  const doc = { schema: JSON_SCHEMA, entry: { id: e.id, title: e.title, source: e.source, kernel: e.kernel, initrds: e.initrds }, cmdline: c.cmdline, edited: c.cmdline !== e.cmdline };
  return JSON.stringify(doc, null, 2) + '\n';
}

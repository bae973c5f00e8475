// Readers of crash's text output (sys, log, bt, ps, mod, kmem -i) into fields, for issue 17's
// field-for-field comparison (e2e/crash-commands.test.ts). Our commands that print in crash's
// layout (`vmcore-ts info`, `dmesg`, `bt`, `ps`, and `vmcore-ts shell`) are read by the same
// functions. Pure: text in, fields out.

/** `sys`: "  KEY: value" lines (PANIC's quotes kept). */
export function parseSys(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z_ ]*[A-Z]):\s(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

/** `log`: the lines, trailing blanks dropped. */
export function parseLog(text: string): string[] {
  const lines = text.split('\n').map((l) => l.trimEnd());
  while (lines.length && !lines[lines.length - 1]) lines.pop();
  return lines;
}

export interface BtFrame {
  fn: string;
  pc: string;
  sp: string;
}
export interface Bt {
  pid: number;
  task: string;
  cpu: number;
  comm: string;
  frames: BtFrame[];
}

/** `bt` (one or more tasks, as `foreach bt` prints them): header and frames; offsets (`+0x..`) dropped from names. */
export function parseBt(text: string): Bt[] {
  const out: Bt[] = [];
  for (const line of text.split('\n')) {
    const h = /^PID:\s+(\d+)\s+TASK:\s+([0-9a-f]+)\s+CPU:\s+(\d+)\s+COMMAND:\s+"(.*)"/.exec(line);
    if (h) {
      out.push({ pid: Number(h[1]), task: h[2], cpu: Number(h[3]), comm: h[4], frames: [] });
      continue;
    }
    const f = /^\s*#\s*\d+\s+\[([0-9a-f]+)\]\s+(\S+?)(?:\+0x[0-9a-f]+)?\s+at\s+([0-9a-f]+)/.exec(line);
    if (f && out.length) out[out.length - 1].frames.push({ sp: f[1], fn: f[2], pc: f[3] });
  }
  return out;
}

export interface PsRow {
  pid: number;
  ppid: number;
  cpu: number;
  task: string;
  st: string;
  comm: string;
  current: boolean;
}

/** crash's two-letter ps states as the one letter ps(1) (and `vmcore-ts ps`) prints. */
export const CRASH_STATE: Record<string, string> = { RU: 'R', IN: 'S', UN: 'D', ID: 'I', ZO: 'Z', ST: 'T', TR: 't', DE: 'X', PA: 'P', WA: 'W', NE: 'N', SW: 'W' };

/** `ps`: PID PPID CPU TASK ST [%MEM VSZ RSS] COMM; the state as one letter, COMM without crash's [brackets] of kernel threads. */
export function parsePs(text: string): PsRow[] {
  const out: PsRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^(>?)\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]{8,})\s+([A-Za-z]{1,2})\s+(?:[\d.]+\s+\d+\s+\d+\s+)?(.*)$/.exec(line);
    if (!m) continue;
    const comm = m[7].trim().replace(/^\[(.*)\]$/, '$1');
    out.push({ current: m[1] === '>', pid: Number(m[2]), ppid: Number(m[3]), cpu: Number(m[4]), task: m[5], st: CRASH_STATE[m[6]] ?? m[6], comm });
  }
  return out;
}

export interface ModRow {
  module: string;
  name: string;
  base: string;
  size: number;
}

/** `mod`: MODULE NAME BASE (TEXT_BASE since 6.4) SIZE. */
export function parseMod(text: string): ModRow[] {
  const out: ModRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{8,})\s+(\S+)\s+([0-9a-f]{8,})\s+(\d+)\s/.exec(line);
    if (m) out.push({ module: m[1], name: m[2], base: m[3], size: Number(m[4]) });
  }
  return out;
}

/** `kmem -i`: each row's PAGES column by its label (TOTAL MEM, FREE, USED, BUFFERS, CACHED, SLAB, ...). */
export function parseKmemI(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z ]*[A-Z])\s+(\d+)\s/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

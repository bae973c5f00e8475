// The dump viewer page: plain DOM and SVG, no framework. All parsing happens in a worker
// (web/worker.ts, answering the methods of web/worker-api.ts) whose code is inlined in this page, so the same single HTML file works from
// `vmcore-ts serve` and opened straight from disk.
import { logTimeline } from './timeline.ts';
import { renderBoot, type BootDoc } from './boot-view.ts';
import { plural, type Gap } from '../src/analyze/completeness.ts';
import type { LogData, Notes, Overview, TaskRow, TraceView } from './analysis.ts';
import type { Args, Call, Method, OpenRequest, Request, Response, Result } from './worker-api.ts';

declare const WORKER_SOURCE: string;

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...kids: (Node | string)[]) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
};
const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag: string, attrs: Record<string, string | number>, ...kids: Node[]) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...kids);
  return e;
};

// ---- worker RPC ----
const worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' })));
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
worker.onmessage = (e: MessageEvent<Response>) => {
  const p = pending.get(e.data.id);
  if (!p) return;
  pending.delete(e.data.id);
  if (e.data.error !== undefined) p.reject(new Error(e.data.error));
  else p.resolve(e.data.result);
};
/** Calls a method of the worker's table (web/worker-api.ts): its arguments and result are that method's own. */
const call: Call = <M extends Method>(method: M, ...args: Args<M>): Promise<Result<M>> => {
  const id = nextId++;
  return new Promise<Result<M>>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, method, args } satisfies Request<M>);
  });
};

/** Results several tabs share (the summary charts the log and the tasks), asked for once per dump. */
const cache = new Map<Method, Promise<unknown>>();
function shared<M extends 'log' | 'tasks'>(method: M): Promise<Result<M>> {
  let p = cache.get(method);
  if (!p) cache.set(method, (p = call<'log' | 'tasks'>(method)));
  return p as Promise<Result<M>>;
}

// ---- tabs ----
const loaded = new Set<string>();
function showTab(name: string): void {
  for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('nav button'))) b.classList.toggle('on', b.dataset.tab === name);
  for (const s of Array.from(document.querySelectorAll<HTMLElement>('main > section'))) s.hidden = s.id !== name;
  if (!loaded.has(name)) {
    loaded.add(name);
    void loaders[name]?.();
  }
  if (name === 'log') renderLog();
}

const status = (text: string, error = false) => {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', error);
};

async function guarded(what: string, target: HTMLElement, f: () => Promise<void>): Promise<void> {
  target.textContent = `${what}…`;
  target.classList.remove('error');
  try {
    await f();
  } catch (e) {
    target.textContent = `${what} failed: ${(e as Error).message}`;
    target.classList.add('error');
  }
}

// ---- notices: what the dump level left out (information, once) and what is damaged ----
let overview: Overview | undefined;
const notes = new Map<string, Notes>();
function addNotes(from: string, n: Notes): void {
  notes.set(from, n);
  renderNotices();
}
/** The gaps of every tab, once each: the same kind of item from two tabs (the summary reads the log
 * too) counts as the larger count, not the sum. */
function allGaps(kind: keyof Notes): Gap[] {
  const byKey = new Map<string, Gap>();
  for (const n of notes.values()) {
    for (const g of n[kind]) {
      const key = `${g.item}\0${g.reason}`;
      const had = byKey.get(key);
      if (!had) byKey.set(key, { ...g, examples: [...g.examples] });
      else {
        had.count = Math.max(had.count, g.count);
        for (const e of g.examples) if (!had.examples.includes(e)) had.examples.push(e);
      }
    }
  }
  return [...byKey.values()];
}

function renderNotices(): void {
  const box = $('#notices');
  const items: HTMLElement[] = [];
  const excluded = allGaps('excluded');
  if (overview?.dumpLevelText) {
    const text = `Filtered dump: ${overview.dumpLevelText}, so what lived only there is not shown.`;
    const more = excluded.length ? ` Left out for that reason here: ${excluded.map((g) => plural(g.count, g.item)).join(', ')}.` : '';
    items.push(el('div', { className: 'notice info' }, el('b', {}, 'ℹ '), text + more));
  }
  if (overview?.incomplete) items.push(el('div', { className: 'notice warn' }, el('b', {}, '⚠ '), 'The dump is marked incomplete: the save did not finish, some pages were never written.'));
  const missing = allGaps('missing');
  if (missing.length) {
    const what = missing.map((g) => `${plural(g.count, g.item)} ${g.reason}`).join(', ');
    const list = el('ul', {}, ...missing.map((g) => el('li', {}, `${plural(g.count, g.item)} ${g.reason}:`, el('ul', {}, ...g.examples.map((e) => el('li', {}, e))))));
    items.push(el('details', { className: 'notice warn' }, el('summary', {}, `⚠ Partial results: ${what}`), list));
  }
  box.replaceChildren(...items);
  box.hidden = items.length === 0;
}

// ---- open ----
async function open(req: OpenRequest, label: string): Promise<void> {
  status(`opening ${label}…`);
  loaded.clear();
  cache.clear();
  notes.clear();
  $('#console-out').replaceChildren();
  overview = undefined;
  try {
    const o = await call('open', req);
    overview = o;
    document.title = `${o.release ?? 'dump'} — vmcore-ts viewer`;
    $('#dumpname').textContent = `${o.file}${o.release ? ' · ' + o.release : ''} · ${o.cpus} CPUs`;
    $('#panic').textContent = o.panicMessage ?? 'no panic message in the log';
    addNotes('summary', o.notes);
    document.body.classList.add('opened');
    status('');
    showTab('summary');
  } catch (e) {
    status(`cannot open ${label}: ${(e as Error).message}`, true);
  }
}

// ---- charts ----
interface BarRow {
  label: string;
  value: number;
  text: string;
  color: string;
  onclick?: () => void;
}
/** Horizontal bars, one row each: label, bar (relative to `max`), value. */
function barChart(rows: BarRow[], max = Math.max(1, ...rows.map((r) => r.value))): HTMLElement {
  return el('div', { className: 'hbar' }, ...rows.map((r) => {
    const bar = el('span', { className: 'hbar-fill' });
    bar.style.width = `${Math.max(0.5, (100 * r.value) / max)}%`;
    bar.style.background = r.color;
    const row = el('div', { className: 'hbar-row', title: `${r.label}: ${r.text}` }, el('span', { className: 'hbar-label' }, r.label), el('span', { className: 'hbar-track' }, bar), el('span', { className: 'hbar-value' }, r.text));
    row.dataset.value = String(r.value);
    if (r.onclick) {
      row.classList.add('link');
      row.onclick = r.onclick;
    }
    return row;
  }));
}

const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const LEVEL_COLORS = ['#b71c1c', '#c62828', '#d32f2f', '#e53935', '#ef6c00', '#1565c0', '#78909c', '#bdbdbd'];
const TIMELINE_BUCKETS = 80;

/** Log records per time bucket (height: log scale), coloured by the worst level; a click jumps there. */
function timeline(l: LogData, legend: boolean): HTMLElement {
  const t = logTimeline(l.times, l.levels, TIMELINE_BUCKETS);
  const W = 800;
  const H = 60;
  const max = Math.max(1, ...t.buckets.map((b) => b.count));
  const bw = W / TIMELINE_BUCKETS;
  const rects = t.buckets.map((b) => {
    const h = Math.max(3, (H * Math.log1p(b.count)) / Math.log1p(max));
    const x = ((b.from - t.from) / t.width) * bw;
    const r = svg('rect', { class: `tl-bar`, x: x + 0.5, y: H - h, width: Math.max(1, bw - 1), height: h, fill: LEVEL_COLORS[b.worst]!, 'data-count': b.count, 'data-first': b.first, 'data-worst': b.worst },
      svg('title', {}, document.createTextNode(`${b.from.toFixed(3)} s – ${(b.from + t.width).toFixed(3)} s: ${b.count} record${b.count > 1 ? 's' : ''}, worst level ${b.worst} ${LEVELS[b.worst]} (click to read)`)));
    r.addEventListener('click', () => jumpToRecord(b.first));
    return r;
  });
  const chart = svg('svg', { class: 'timeline', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' }, ...rects);
  const axis = el('div', { className: 'tl-axis' },
    el('span', {}, `${t.from.toFixed(2)} s`),
    el('span', { className: 'tl-legend' }, ...(legend ? levelChips(l, false) : [])),
    el('span', {}, `${t.to.toFixed(2)} s after boot`));
  return el('div', { className: 'tl' }, chart, axis);
}

/** Level swatches with counts; on the log tab a click keeps that level and the more severe ones. */
function levelChips(l: LogData, filter: boolean): HTMLElement[] {
  const counts = new Array<number>(8).fill(0);
  for (const v of l.levels) counts[v]!++;
  return counts.flatMap((n, lvl) => {
    if (!n) return [];
    const sw = el('span', { className: 'swatch' });
    sw.style.background = LEVEL_COLORS[lvl]!;
    const chip = el('span', { className: `chip${filter ? ' link' : ''}`, title: filter ? `show ${LEVELS[lvl]} and more severe` : LEVELS[lvl]! }, sw, `${LEVELS[lvl]} ${n}`);
    chip.dataset.level = String(lvl);
    if (filter) chip.onclick = () => {
      ($('#log-level') as HTMLSelectElement).value = String(lvl);
      filterLog();
    };
    return [chip];
  });
}

// ---- backtraces: crash's text, one line per frame; the panic frame marked and linked to its task ----
function renderTrace(t: TraceView): HTMLElement {
  const toTask = t.task ? () => void selectTask(t.task!) : undefined;
  const lines = t.lines.map((l, i) => {
    if (i === 0) {
      const head = el('div', { className: 'trace-head' }, l.text);
      if (toTask) {
        head.classList.add('link');
        head.title = 'show this task in the task table';
        head.onclick = toTask;
      }
      return head;
    }
    const div = el('div', { className: l.frame !== undefined ? 'frame' : '' }, l.text);
    if (l.frame !== undefined && l.frame === t.panicFrame) {
      div.classList.add('panic-frame');
      div.append(el('span', { className: 'badge' }, 'panic'));
      if (toTask) {
        div.classList.add('link');
        div.title = `the panic, in PID ${t.pid} (${t.comm}): show the task`;
        div.onclick = toTask;
      }
    }
    return div;
  });
  return el('div', { className: 'trace' }, ...lines);
}

// ---- log: coloured by level, a timeline, filter by level, search, virtualized ----
const ROW = 18;
let log: LogData = { lines: [], levels: [], times: [], notes: { excluded: [], missing: [] } };
let visible: number[] = [];
let marked = -1;

function filterLog(): void {
  const max = Number(($('#log-level') as HTMLSelectElement).value);
  const q = ($('#log-search') as HTMLInputElement).value.toLowerCase();
  visible = [];
  for (let i = 0; i < log.lines.length; i++) {
    if (log.levels[i]! > max) continue;
    if (q && !log.lines[i]!.toLowerCase().includes(q)) continue;
    visible.push(i);
  }
  $('#log-count').textContent = `${visible.length} of ${log.lines.length} lines`;
  const view = $('#log-view');
  $('#log-spacer').style.height = `${visible.length * ROW}px`;
  view.scrollTop = Math.min(view.scrollTop, Math.max(0, visible.length * ROW - view.clientHeight));
  renderLog();
}

function renderLog(): void {
  const view = $('#log-view');
  const rows = $('#log-rows');
  const first = Math.max(0, Math.floor(view.scrollTop / ROW) - 20);
  const last = Math.min(visible.length, Math.ceil((view.scrollTop + view.clientHeight) / ROW) + 20);
  rows.style.transform = `translateY(${first * ROW}px)`;
  const q = ($('#log-search') as HTMLInputElement).value.toLowerCase();
  rows.replaceChildren(
    ...visible.slice(first, last).map((i) => {
      const line = log.lines[i]!.split('\n')[0]!;
      const div = el('div', { className: `l${log.levels[i]}${i === marked ? ' marked' : ''}` });
      div.dataset.index = String(i);
      const at = q ? line.toLowerCase().indexOf(q) : -1;
      if (at >= 0) div.append(line.slice(0, at), el('mark', {}, line.slice(at, at + q.length)), line.slice(at + q.length));
      else div.textContent = line;
      return div;
    }),
  );
}

/** Shows record `i` in the log tab (clearing filters that hide it), marked. */
async function jumpToRecord(i: number): Promise<void> {
  showTab('log');
  await logReady;
  if (!visible.includes(i)) {
    ($('#log-level') as HTMLSelectElement).value = '7';
    ($('#log-search') as HTMLInputElement).value = '';
    filterLog();
  }
  marked = i;
  const view = $('#log-view');
  view.scrollTop = Math.max(0, visible.indexOf(i) * ROW - 3 * ROW);
  renderLog();
}

// ---- tasks: by state, filterable; a row shows its backtrace ----
const STATES: Record<string, string> = { R: 'running', D: 'uninterruptible', S: 'sleeping', I: 'idle', T: 'stopped', t: 'traced', P: 'parked', Z: 'zombie', X: 'dead' };
const STATE_COLORS: Record<string, string> = { R: '#ef6c00', D: '#c62828', S: '#1e88e5', I: '#90a4ae', T: '#8e24aa', t: '#8e24aa', P: '#6d4c41', Z: '#5d4037', X: '#424242' };
const stateName = (s: string) => `${s} ${STATES[s] ?? ''}`.trim();

function stateChart(tasks: TaskRow[]): HTMLElement {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const order = Object.keys(STATES);
  const states = [...counts.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  return barChart(states.map((s) => ({
    label: stateName(s),
    value: counts.get(s)!,
    text: String(counts.get(s)),
    color: STATE_COLORS[s] ?? '#607d8b',
    onclick: () => void showTasks(s),
  })));
}

let tasksReady: Promise<void> = Promise.resolve();
let logReady: Promise<void> = Promise.resolve();

function filterTasks(): void {
  const st = ($('#task-state') as HTMLSelectElement | null)?.value ?? '';
  const q = ($('#task-search') as HTMLInputElement | null)?.value.toLowerCase() ?? '';
  let n = 0;
  for (const tr of Array.from(document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr'))) {
    const show = (!st || tr.dataset.state === st) && (!q || (tr.dataset.comm ?? '').toLowerCase().includes(q) || tr.dataset.pid === q);
    tr.hidden = !show;
    if (show) n++;
  }
  const c = $('#task-count');
  if (c) c.textContent = `${n} of ${document.querySelectorAll('#tasks tbody tr').length} tasks — click one for its backtrace`;
}

async function showTasks(state: string): Promise<void> {
  showTab('tasks');
  await tasksReady;
  ($('#task-state') as HTMLSelectElement).value = state;
  ($('#task-search') as HTMLInputElement).value = '';
  filterTasks();
}

/** The task's row (selected, in view, filters cleared if they hid it) and its backtrace. */
async function selectTask(task: string): Promise<void> {
  showTab('tasks');
  await tasksReady;
  const tr = document.getElementById(`task-${task}`) as HTMLTableRowElement | null;
  if (!tr) return;
  if (tr.hidden) {
    ($('#task-state') as HTMLSelectElement).value = '';
    ($('#task-search') as HTMLInputElement).value = '';
    filterTasks();
  }
  tr.click();
  tr.scrollIntoView({ block: 'center' });
}

// ---- loaders per tab ----
const fmtBytes = (b: number) => {
  const u = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) {
    b /= 1024;
    i++;
  }
  return `${i ? b.toFixed(1) : b} ${u[i]}`;
};
const MEM_COLORS = ['#4caf50', '#2196f3', '#03a9f4', '#ff9800', '#9c27b0', '#f44336', '#795548', '#607d8b'];

const card = (id: string, title: string, ...kids: (Node | string)[]) => el('section', { className: 'card', id }, el('h3', {}, title), ...kids);

const loaders: Record<string, () => Promise<void>> = {
  summary: async () => {
    const o = overview!;
    const facts = el('dl', { className: 'facts' }, ...o.facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { className: k === 'crash' ? 'crash' : '' }, v)]));
    const total = o.memory.find((r) => r.label === 'total')?.bytes;
    const mem = barChart(o.memory.filter((r) => r.label !== 'total').map((r, i) => ({ label: r.label, value: r.bytes, text: fmtBytes(r.bytes), color: MEM_COLORS[i % MEM_COLORS.length]!, onclick: () => showTab('memory') })), total);
    const tasks = el('div', {}, 'walking the task list…');
    const tl = el('div', {}, 'reading the log…');
    const bt = o.backtrace ? renderTrace(o.backtrace) : el('p', {}, 'no backtrace of the crashing CPU');
    $('#summary').replaceChildren(
      el('div', { className: 'cards' },
        card('sum-facts', 'Crash', facts),
        card('sum-memory', `Memory${total !== undefined ? ` (of ${fmtBytes(total)})` : ''}`, o.memory.length ? mem : el('p', {}, 'no memory counters readable')),
        card('sum-tasks', 'Tasks by state', tasks),
        card('sum-timeline', 'Kernel log over time', tl),
        card('sum-bt', `Backtrace of the crashing CPU${o.crashingCpu !== undefined ? ` (CPU ${o.crashingCpu})` : ''}`, bt)),
    );
    await Promise.all([
      guarded('walking the task list', tasks, async () => {
        const t = await shared('tasks');
        addNotes('tasks', t.notes);
        tasks.replaceChildren(el('p', { className: 'hint' }, `${t.tasks.length} tasks — click a state to list them`), stateChart(t.tasks));
      }),
      guarded('reading the log', tl, async () => {
        const l = await shared('log');
        addNotes('log', l.notes);
        tl.replaceChildren(el('p', { className: 'hint' }, `${l.lines.length} records — click a bar to read them`), timeline(l, true));
      }),
    ]);
  },
  log: () =>
    (logReady = guarded('reading the log', $('#log-count'), async () => {
      log = await shared('log');
      addNotes('log', log.notes);
      $('#log-timeline').replaceChildren(timeline(log, false));
      $('#log-levels').replaceChildren(...levelChips(log, true));
      filterLog();
    })),
  backtraces: () =>
    guarded('unwinding stacks', $('#backtraces'), async () => {
      const { traces, notes: n } = await call('backtraces');
      addNotes('backtraces', n);
      $('#backtraces').replaceChildren(...traces.map((t) => {
        const crashing = t.cpu === overview?.crashingCpu;
        return el('div', { className: `cpu-trace${crashing ? ' crashing' : ''}` }, el('h3', {}, `CPU ${t.cpu}`, crashing ? el('span', { className: 'badge' }, 'crashed here') : ''), renderTrace(t));
      }));
    }),
  tasks: () =>
    (tasksReady = guarded('walking the task list', $('#tasks'), async () => {
      const t = await shared('tasks');
      addNotes('tasks', t.notes);
      const head = el('tr', {}, ...['', 'PID', 'PPID', 'CPU', 'ST', 'TASK', 'COMM'].map((h) => el('th', {}, h)));
      const trace = el('div', { id: 'task-trace' }, el('p', { className: 'hint' }, 'click a task for its backtrace'));
      let selected: HTMLElement | undefined;
      const rows = t.tasks.map((x) => {
        const tr = el('tr', { id: `task-${x.task}`, className: x.running ? 'running' : '', title: 'show its backtrace' }, ...[x.running ? '>' : '', String(x.pid), String(x.ppid), String(x.cpu), x.state, x.task, x.idle ? `[${x.comm}]` : x.comm].map((v) => el('td', {}, v)));
        Object.assign(tr.dataset, { state: x.state, comm: x.comm, pid: String(x.pid) });
        tr.onclick = () => {
          selected?.classList.remove('selected');
          (selected = tr).classList.add('selected');
          void guarded('unwinding', trace, async () => {
            trace.replaceChildren(renderTrace(await call('taskBacktrace', x.task)));
          });
        };
        return tr;
      });
      const states = [...new Set(t.tasks.map((x) => x.state))];
      const select = document.createElement('select');
      select.id = 'task-state';
      select.append(new Option('all states', ''), ...states.map((s) => new Option(stateName(s), s)));
      select.onchange = filterTasks;
      const search = document.createElement('input');
      Object.assign(search, { id: 'task-search', type: 'search', placeholder: 'command or PID' });
      search.oninput = filterTasks;
      const count = document.createElement('span');
      count.id = 'task-count';
      $('#tasks').replaceChildren(
        el('div', { className: 'task-top' }, el('div', { id: 'task-states' }, stateChart(t.tasks)), el('div', { className: 'tools' }, select, search, count)),
        el('div', { className: 'split' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)), trace),
      );
      filterTasks();
    })),
  memory: () =>
    guarded('classifying pages', $('#memory'), async () => {
      const m = await call('memory');
      addNotes('memory', m.notes);
      const total = m.byType.reduce((s, r) => s + r.bytes, 0) || 1;
      const bar = el('div', { className: 'bar' }, ...m.byType.map((r, i) => {
        const seg = el('div', { title: `${r.label}: ${fmtBytes(r.bytes)}` });
        seg.style.width = `${(100 * r.bytes) / total}%`;
        seg.style.background = MEM_COLORS[i % MEM_COLORS.length]!;
        return seg;
      }));
      const legend = el('table', {}, ...m.byType.map((r, i) => {
        const sw = el('span', { className: 'swatch' });
        sw.style.background = MEM_COLORS[i % MEM_COLORS.length]!;
        return el('tr', {}, el('td', {}, sw, r.label), el('td', { className: 'num' }, fmtBytes(r.bytes)), el('td', { className: 'num' }, `${((100 * r.bytes) / total).toFixed(1)}%`));
      }));
      const counters = el('table', {}, ...m.counters.map((r) => el('tr', {}, el('td', {}, r.label), el('td', { className: 'num' }, fmtBytes(r.bytes)))));
      const none = (what: string) => el('p', { className: 'hint' }, `${what} could not be read (see the banner above)`);
      $('#memory').replaceChildren(
        el('h3', {}, 'By page type (struct page)'), ...(m.byType.length ? [bar, legend] : [none('the page types')]),
        el('h3', {}, 'Kernel counters'), m.counters.length ? counters : none('the counters'),
      );
    }),
  hex: async () => {},
  console: async () => {
    ($('#console-in') as HTMLInputElement).focus();
  },
};

// ---- console: the commands of vmcore-ts shell, run in the worker ----
const consoleHistory: string[] = [];
let consoleAt = 0;
function consoleAppend(text: string, className?: string): void {
  const out = $('#console-out');
  out.append(el('span', className ? { className } : {}, text));
  out.scrollTop = out.scrollHeight;
}
async function runConsole(line: string): Promise<void> {
  consoleAppend(`vmcore-ts> ${line}\n`, 'cmd');
  if (line.trim() && consoleHistory.at(-1) !== line) consoleHistory.push(line);
  consoleAt = consoleHistory.length;
  if (!line.trim()) return;
  try {
    const r = await call('console', line);
    consoleAppend(r.text);
    for (const n of r.notes) consoleAppend(`${n}\n`, 'note');
  } catch (e) {
    consoleAppend(`${(e as Error).message}\n`, 'error');
  }
}
async function completeConsole(input: HTMLInputElement): Promise<void> {
  const line = input.value;
  const { candidates, word } = await call('complete', line);
  if (!candidates.length) return;
  let common = candidates[0]!;
  for (const c of candidates) while (!c.startsWith(common)) common = common.slice(0, -1);
  if (common.length > word.length) input.value = line.slice(0, line.length - word.length) + common;
  else if (candidates.length > 1) consoleAppend(candidates.join('  ') + '\n', 'note');
}

async function showHex(): Promise<void> {
  const where = ($('#hex-addr') as HTMLInputElement).value;
  const out = $('#hex-out');
  await guarded('reading', out, async () => {
    const h = await call('hex', where, 512);
    const base = BigInt('0x' + h.address.replace(/^p:/, ''));
    const lines = [`${h.address.startsWith('p:') ? 'physical' : 'virtual'} 0x${base.toString(16)}${h.symbol ? `  <${h.symbol}>` : ''}`];
    if (h.excluded) lines.push(`not in this dump, on purpose: ${h.excluded}`, overview?.dumpLevelText ? `(${overview.dumpLevelText})` : '');
    for (let o = 0; o < h.bytes.length; o += 16) {
      const row = h.bytes.subarray(o, o + 16);
      const hx = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
      const asc = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${(base + BigInt(o)).toString(16).padStart(16, '0')}  ${hx.padEnd(47)}  ${asc}`);
    }
    out.textContent = lines.join('\n');
  });
}

// ---- wiring ----
for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('nav button'))) b.onclick = () => showTab(b.dataset.tab!);
const levelSel = $('#log-level') as HTMLSelectElement;
LEVELS.forEach((name, i) => levelSel.append(el('option', { value: String(i), selected: i === 7 }, `${i} ${name} and above`)));
levelSel.onchange = filterLog;
$('#log-search').oninput = filterLog;
$('#log-view').onscroll = renderLog;
$('#panic').onclick = () => {
  const msg = overview?.panicMessage;
  if (!msg) return;
  void shared('log').then((l) => {
    const i = l.lines.findLastIndex((x) => x.includes(msg));
    if (i >= 0) void jumpToRecord(i);
  });
};
$('#console-form').onsubmit = (e) => {
  e.preventDefault();
  const input = $('#console-in') as HTMLInputElement;
  const line = input.value;
  input.value = '';
  void runConsole(line);
};
($('#console-in') as HTMLInputElement).onkeydown = (e) => {
  const input = e.target as HTMLInputElement;
  if (e.key === 'Tab') {
    e.preventDefault();
    void completeConsole(input);
  } else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
    e.preventDefault();
    consoleAt = Math.max(0, Math.min(consoleHistory.length, consoleAt + (e.key === 'ArrowUp' ? -1 : 1)));
    input.value = consoleHistory[consoleAt] ?? '';
  }
};
$('#hex-form').onsubmit = (e) => {
  e.preventDefault();
  void showHex();
};
const fileInput = $('#file') as HTMLInputElement;
fileInput.onchange = () => {
  const f = fileInput.files?.[0];
  if (f) void open({ file: f }, f.name);
};
document.body.ondragover = (e) => e.preventDefault();
document.body.ondrop = (e) => {
  e.preventDefault();
  const f = e.dataTransfer?.files[0];
  if (f) void open({ file: f }, f.name);
};

// Self-check of the log view at scale, without a dump: #log-selftest=N fills the log with N
// synthetic lines (levels cycling) so scrolling and search can be tried on 100k lines.
const selftest = /^#log-selftest=(\d+)$/.exec(location.hash);
if (selftest) {
  const n = Math.min(Number(selftest[1]), 1_000_000);
  log = { lines: [], levels: [], times: [], notes: { excluded: [], missing: [] } };
  for (let i = 0; i < n; i++) {
    log.lines.push(`[${(i / 1000).toFixed(6).padStart(12)}] synthetic line ${i} level ${i % 8}${i % 1000 === 0 ? ' needle' : ''}`);
    log.levels.push(i % 8);
    log.times.push(i / 1000);
  }
  document.body.classList.add('opened');
  loaded.add('log');
  showTab('log');
  $('#log-timeline').replaceChildren(timeline(log, false));
  $('#log-levels').replaceChildren(...levelChips(log, true));
  filterLog();
}

// Served by `kexec-ts boot --serve`: the boot entries are next to the page (same token path).
if (location.protocol.startsWith('http')) {
  fetch('boot')
    .then((r) => (r.ok ? (r.json() as Promise<BootDoc>) : undefined))
    .then((doc) => {
      if (!doc) return;
      document.body.classList.add('boot');
      renderBoot($('#boot'), doc);
      loaded.add('boot');
      showTab('boot');
    })
    .catch(() => undefined);
}

// Served by `vmcore-ts serve`: the dump is next to the page (same token path).
if (location.protocol.startsWith('http')) {
  fetch('dump-info')
    .then((r) => (r.ok ? (r.json() as Promise<{ name: string; size: number }>) : undefined))
    .then((info) => {
      if (info) void open({ url: new URL('dump', location.href).href, name: info.name, size: info.size }, info.name);
    })
    .catch(() => undefined);
}

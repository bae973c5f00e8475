// The dump viewer page: plain DOM, no framework. All parsing happens in a worker (web/worker.ts)
// whose code is inlined in this page, so the same single HTML file works from `vmcore-ts serve` and
// opened straight from disk.
import type { CpuTrace, HexData, LogData, MemoryData, Overview, TaskRow } from './analysis.ts';
import type { OpenRequest, Request } from './worker.ts';

declare const WORKER_SOURCE: string;

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...kids: (Node | string)[]) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
};

// ---- worker RPC ----
const worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' })));
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
worker.onmessage = (e: MessageEvent<{ id: number; result?: unknown; error?: string }>) => {
  const p = pending.get(e.data.id);
  if (!p) return;
  pending.delete(e.data.id);
  if (e.data.error !== undefined) p.reject(new Error(e.data.error));
  else p.resolve(e.data.result);
};
function call<T>(method: Request['method'], args?: unknown): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, method, args } satisfies Request);
  });
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
  try {
    await f();
  } catch (e) {
    target.textContent = `${what} failed: ${(e as Error).message}`;
    target.classList.add('error');
  }
}

// ---- open ----
async function open(req: OpenRequest, label: string): Promise<void> {
  status(`opening ${label}…`);
  loaded.clear();
  try {
    const o = await call<Overview>('open', req);
    document.title = `${o.release ?? 'dump'} — vmcore-ts viewer`;
    $('#dumpname').textContent = `${o.file}${o.release ? ' · ' + o.release : ''} · ${o.cpus} CPUs`;
    $('#panic').textContent = o.panicMessage ?? 'no panic message in the log';
    $('#summary-text').textContent = o.summaryText;
    document.body.classList.add('opened');
    status('');
    loaded.add('summary');
    showTab('summary');
  } catch (e) {
    status(`cannot open ${label}: ${(e as Error).message}`, true);
  }
}

// ---- log: filter by level, search, virtualized ----
const ROW = 18;
let log: LogData = { lines: [], levels: [] };
let visible: number[] = [];
const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

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
      const div = el('div', { className: `l${log.levels[i]}` });
      const at = q ? line.toLowerCase().indexOf(q) : -1;
      if (at >= 0) div.append(line.slice(0, at), el('mark', {}, line.slice(at, at + q.length)), line.slice(at + q.length));
      else div.textContent = line;
      return div;
    }),
  );
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

const loaders: Record<string, () => Promise<void>> = {
  log: () =>
    guarded('reading the log', $('#log-count'), async () => {
      log = await call<LogData>('log');
      filterLog();
    }),
  backtraces: () =>
    guarded('unwinding stacks', $('#backtraces'), async () => {
      const traces = await call<CpuTrace[]>('backtraces');
      $('#backtraces').replaceChildren(...traces.map((t) => el('div', {}, el('h3', {}, `CPU ${t.cpu}`), el('pre', {}, t.text))));
    }),
  tasks: () =>
    guarded('walking the task list', $('#tasks'), async () => {
      const t = await call<{ tasks: TaskRow[]; damage: string[] }>('tasks');
      const head = el('tr', {}, ...['', 'PID', 'PPID', 'CPU', 'ST', 'TASK', 'COMM'].map((h) => el('th', {}, h)));
      const trace = el('pre', { id: 'task-trace' });
      const rows = t.tasks.map((x) => {
        const tr = el('tr', { className: x.running ? 'running' : '', title: 'show its backtrace' }, ...[x.running ? '>' : '', String(x.pid), String(x.ppid), String(x.cpu), x.state, x.task, x.idle ? `[${x.comm}]` : x.comm].map((v) => el('td', {}, v)));
        tr.onclick = () => void guarded('unwinding', trace, async () => {
          trace.textContent = await call<string>('taskBacktrace', x.task);
        });
        return tr;
      });
      $('#tasks').replaceChildren(
        el('p', {}, `${t.tasks.length} tasks — click one for its backtrace`),
        ...t.damage.map((d) => el('p', { className: 'error' }, `damaged: ${d}`)),
        el('div', { className: 'split' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)), trace),
      );
    }),
  memory: () =>
    guarded('classifying pages', $('#memory'), async () => {
      const m = await call<MemoryData>('memory');
      const total = m.byType.reduce((s, r) => s + r.bytes, 0) || 1;
      const colors = ['#4caf50', '#2196f3', '#03a9f4', '#ff9800', '#9c27b0', '#f44336', '#795548', '#607d8b'];
      const bar = el('div', { className: 'bar' }, ...m.byType.map((r, i) => {
        const seg = el('div', { title: `${r.label}: ${fmtBytes(r.bytes)}` });
        seg.style.width = `${(100 * r.bytes) / total}%`;
        seg.style.background = colors[i % colors.length]!;
        return seg;
      }));
      const legend = el('table', {}, ...m.byType.map((r, i) => {
        const sw = el('span', { className: 'swatch' });
        sw.style.background = colors[i % colors.length]!;
        return el('tr', {}, el('td', {}, sw, r.label), el('td', { className: 'num' }, fmtBytes(r.bytes)), el('td', { className: 'num' }, `${((100 * r.bytes) / total).toFixed(1)}%`));
      }));
      const counters = el('table', {}, ...m.counters.map((r) => el('tr', {}, el('td', {}, r.label), el('td', { className: 'num' }, fmtBytes(r.bytes)))));
      $('#memory').replaceChildren(
        el('h3', {}, 'By page type (struct page)'), bar, legend,
        el('h3', {}, 'Kernel counters'), counters,
        ...m.problems.map((p) => el('p', { className: 'error' }, p)),
      );
    }),
  hex: async () => {},
};

async function showHex(): Promise<void> {
  const where = ($('#hex-addr') as HTMLInputElement).value;
  const out = $('#hex-out');
  out.classList.remove('error');
  await guarded('reading', out, async () => {
    const h = await call<HexData>('hex', { where, length: 512 });
    const base = BigInt('0x' + h.address.replace(/^p:/, ''));
    const lines = [`${h.address.startsWith('p:') ? 'physical' : 'virtual'} 0x${base.toString(16)}${h.symbol ? `  <${h.symbol}>` : ''}`];
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
  log = { lines: [], levels: [] };
  for (let i = 0; i < n; i++) {
    log.lines.push(`[${(i / 1000).toFixed(6).padStart(12)}] synthetic line ${i} level ${i % 8}${i % 1000 === 0 ? ' needle' : ''}`);
    log.levels.push(i % 8);
  }
  document.body.classList.add('opened');
  loaded.add('log');
  showTab('log');
  filterLog();
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

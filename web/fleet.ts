// The collector's fleet page (`vmcore-ts collect serve`, /ui/TOKEN/): buckets ranked by hosts
// affected with their trend, a bucket's hosts, kernels and crashes, and "open" for a crash whose
// dump is stored: the dump viewer at crash/ID/, reading the dump from the collector by HTTP range.
// It reads the API beside it (api/buckets, api/buckets/B); the shapes are declared here, as the
// collector sends them (src/collect/index-db.ts BucketSummary, BucketDetail), since web/ does not
// import the collector's code.

interface Day {
  day: string;
  count: number;
}
interface Bucket {
  bucket: string;
  reason: string;
  frames: string[];
  module: string | null;
  firstSeen: string;
  lastSeen: string;
  count: number;
  hosts: number;
  kernels: number;
  dumps: number;
  trend: Day[];
}
interface BucketDetail extends Bucket {
  hostList: { host: string; count: number; firstSeen: string; lastSeen: string }[];
  kernelList: { release: string; count: number; firstSeen: string; lastSeen: string }[];
  crashes: { id: string; host: string; release: string | null; received: string; dumpState: string; dumpKind: string | null; dumpSize: number | null }[];
}

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
const when = (iso: string) => iso.replace('T', ' ').slice(0, 16);
const mib = (n: number | null) => (n === null ? '' : `${(n / 2 ** 20).toFixed(1)} MiB`);

async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path);
  const body = (await r.json().catch(() => ({}))) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

/** Bars, one per day; `height` in user units (the SVG scales to its box). */
function chart(trend: Day[], cls: string, height: number): SVGSVGElement {
  const max = Math.max(1, ...trend.map((d) => d.count));
  const w = 10;
  const s = svg('svg', { class: cls, viewBox: `0 0 ${trend.length * w} ${height}`, preserveAspectRatio: 'none' }) as SVGSVGElement;
  trend.forEach((d, i) => {
    const h = d.count === 0 ? 0 : Math.max(1, (d.count / max) * height);
    const title = svg('title', {});
    title.textContent = `${d.day}: ${d.count} crash${d.count === 1 ? '' : 'es'}`;
    s.append(svg('rect', { class: 'bar', x: i * w + 1, y: height - h, width: w - 2, height: h, 'data-day': d.day, 'data-count': d.count }, title));
  });
  return s;
}

function renderBuckets(buckets: Bucket[], selected: string | undefined): void {
  const box = $('#buckets');
  box.replaceChildren();
  if (buckets.length === 0) {
    box.append(el('p', { className: 'empty' }, 'No crashes reported yet.'));
    return;
  }
  const head = el('tr', {}, ...['#', 'reason', 'top frames', 'hosts', 'kernels', 'crashes', 'dumps', 'last seen', 'last 30 days'].map((h, i) => el('th', { className: i >= 3 && i <= 6 ? 'num' : '' }, h)));
  const rows = buckets.map((b, i) => {
    const tr = el(
      'tr',
      { className: `bucket${b.bucket === selected ? ' selected' : ''}` },
      el('td', { className: 'num' }, String(i + 1)),
      el('td', { className: 'reason' }, b.reason),
      el('td', { className: 'frames' }, b.frames.slice(0, 3).join(' < ') + (b.module ? ` [${b.module}]` : '')),
      el('td', { className: 'num hosts' }, String(b.hosts)),
      el('td', { className: 'num' }, String(b.kernels)),
      el('td', { className: 'num count' }, String(b.count)),
      el('td', { className: 'num' }, String(b.dumps)),
      el('td', {}, when(b.lastSeen)),
      el('td', {}, chart(b.trend, 'spark', 24)),
    );
    tr.dataset.bucket = b.bucket;
    tr.addEventListener('click', () => (location.hash = `bucket=${b.bucket}`));
    return tr;
  });
  box.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
  $('#summary').textContent = `${buckets.length} bucket${buckets.length === 1 ? '' : 's'}, ${buckets.reduce((s, b) => s + b.count, 0)} crashes`;
}

function table(headers: string[], rows: (string | Node)[][], numeric: number[] = []): HTMLTableElement {
  return el(
    'table',
    {},
    el('thead', {}, el('tr', {}, ...headers.map((h, i) => el('th', { className: numeric.includes(i) ? 'num' : '' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c, i) => el('td', { className: numeric.includes(i) ? 'num' : '' }, c))))),
  );
}

function renderDetail(d: BucketDetail): void {
  const box = $('#detail');
  box.hidden = false;
  const first = d.trend[0]?.day ?? '';
  const last = d.trend.at(-1)?.day ?? '';
  const crashes = d.crashes.map((c) => {
    const open = c.dumpState === 'complete' && c.dumpKind !== null ? el('a', { href: `crash/${c.id}/`, target: '_blank', className: 'open' }, 'open dump') : el('span', { className: 'empty' }, '');
    const log = el('a', { href: `api/crashes/${c.id}/log`, target: '_blank' }, 'log');
    return [when(c.received), c.host, c.release ?? '', el('span', { className: `state-${c.dumpState}` }, c.dumpState), mib(c.dumpSize), el('span', {}, open, ' ', log)];
  });
  box.replaceChildren(
    el('h2', {}, 'Bucket ', el('span', { className: 'mono' }, d.bucket)),
    el('div', { className: 'reason' }, d.reason),
    el('div', { className: 'frames' }, (d.frames.join(' < ') || '(no frames)') + (d.module ? `  [${d.module}]` : '')),
    el('p', {}, `${d.count} crash${d.count === 1 ? '' : 'es'} on ${d.hosts} host${d.hosts === 1 ? '' : 's'} and ${d.kernels} kernel${d.kernels === 1 ? '' : 's'}, first ${when(d.firstSeen)}, last ${when(d.lastSeen)}; ${d.dumps} dump${d.dumps === 1 ? '' : 's'} stored.`),
    el('h3', {}, 'Crashes per day'),
    chart(d.trend, 'trend', 120),
    el('div', { className: 'axis' }, el('span', {}, first), el('span', {}, last)),
    el(
      'div',
      { className: 'grid2' },
      el('div', { id: 'hosts' }, el('h3', {}, 'Hosts'), table(['host', 'crashes', 'first seen', 'last seen'], d.hostList.map((h) => [h.host, String(h.count), when(h.firstSeen), when(h.lastSeen)]), [1])),
      el('div', { id: 'kernels' }, el('h3', {}, 'Kernels'), table(['release', 'crashes', 'first seen', 'last seen'], d.kernelList.map((k) => [k.release, String(k.count), when(k.firstSeen), when(k.lastSeen)]), [1])),
    ),
    el('h3', {}, 'Latest crashes'),
    el('div', { id: 'crashes' }, table(['received', 'host', 'kernel', 'dump', 'size', ''], crashes, [4])),
  );
}

let buckets: Bucket[] = [];

async function route(): Promise<void> {
  const selected = /bucket=([0-9a-f]{16})/.exec(location.hash)?.[1];
  renderBuckets(buckets, selected);
  if (!selected) {
    $('#detail').hidden = true;
    return;
  }
  try {
    renderDetail(await getJson<BucketDetail>(`api/buckets/${selected}`));
  } catch (e) {
    $('#detail').hidden = false;
    $('#detail').replaceChildren(el('p', { className: 'error' }, `bucket ${selected}: ${(e as Error).message}`));
  }
}

async function load(): Promise<void> {
  try {
    buckets = (await getJson<{ buckets: Bucket[] }>('api/buckets')).buckets;
    $('#status').textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    await route();
  } catch (e) {
    $('#status').textContent = '';
    $('#buckets').replaceChildren(el('p', { className: 'error' }, `cannot read the buckets: ${(e as Error).message}`));
  }
}

window.addEventListener('hashchange', () => void route());
void load();

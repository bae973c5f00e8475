// The viewer's "Boot" view (`kexec-ts boot --serve`): the boot menu's choices on the page. The
// server's `boot` document is `kexec-ts boot --list --json`'s; a choice is POSTed back as
// {id, cmdline} to the same token path. Plain DOM; the shapes below are that document's (web/ does
// not import src/boot).

export interface BootEntryDoc {
  id: string;
  title: string;
  source: string;
  origin: string;
  kernel: string;
  initrds: string[];
  cmdline: string;
  version?: string;
  isDefault: boolean;
  defaultReason?: string;
}
export interface BootDoc {
  loader: { name: string; reason: string };
  default: { id: string; title: string; reason: string } | null;
  noDefaultReason?: string;
  timeout: string | null;
  entries: BootEntryDoc[];
  rejected: { id?: string; title?: string; source: string; origin: string; reason: string }[];
  notes: string[];
}

function el(tag: string, props: Record<string, string | number | boolean> = {}, ...kids: (Node | string)[]): HTMLElement {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
}

/** Sends a choice; resolves with the server's JSON answer, or throws its error line. */
export async function postChoice(id: string, cmdline: string): Promise<Record<string, unknown>> {
  const r = await fetch('boot', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, cmdline }) });
  const doc = (await r.json().catch(() => ({}))) as Record<string, unknown>;
  if (!r.ok) throw new Error(typeof doc.error === 'string' ? doc.error : `HTTP ${r.status}`);
  return doc;
}

/** The Boot view into `root`: the loader, the default and why, one card per entry, the rejected. */
export function renderBoot(root: HTMLElement, doc: BootDoc, choose = postChoice): void {
  const result = el('pre', { id: 'boot-result' });
  const head = el(
    'dl',
    { className: 'facts', id: 'boot-facts' },
    el('dt', {}, 'loader'),
    el('dd', {}, `${doc.loader.name} (${doc.loader.reason})`),
    el('dt', {}, 'default'),
    el('dd', { id: 'boot-default' }, doc.default ? `${doc.default.title} — ${doc.default.reason}` : `none — ${doc.noDefaultReason ?? ''}`),
    ...(doc.timeout !== null ? [el('dt', {}, 'timeout'), el('dd', {}, `${doc.timeout} s`)] : []),
  );
  const cards = doc.entries.map((e) => {
    const input = el('input', { className: 'boot-cmdline', value: e.cmdline, size: 80, spellcheck: false }) as HTMLInputElement;
    input.setAttribute('aria-label', `command line of ${e.title}`);
    const reset = el('button', { className: 'boot-reset', type: 'button', title: 'the entry\'s own command line' }, 'Reset');
    reset.onclick = () => {
      input.value = e.cmdline;
      card.classList.remove('edited');
    };
    input.oninput = () => card.classList.toggle('edited', input.value !== e.cmdline);
    const go = el('button', { className: 'boot-go', type: 'button' }, 'Boot');
    go.onclick = async () => {
      result.className = '';
      result.textContent = `choosing ${e.id} …`;
      try {
        const answer = await choose(e.id, input.value);
        result.textContent = typeof answer.message === 'string' ? answer.message : JSON.stringify(answer, null, 2);
        result.dataset.answer = JSON.stringify(answer);
      } catch (err) {
        result.className = 'error';
        result.textContent = err instanceof Error ? err.message : String(err);
      }
    };
    const rows: [string, string][] = [
      ['id', e.id],
      ['from', `${e.source} ${e.origin}`],
      ['kernel', e.kernel],
      ...e.initrds.map((i): [string, string] => ['initrd', i]),
      ...(e.version ? [['version', e.version] as [string, string]] : []),
      ...(e.isDefault && e.defaultReason ? [['default', e.defaultReason] as [string, string]] : []),
    ];
    const title: Node[] = [document.createTextNode(e.title)];
    if (e.isDefault) title.push(el('span', { className: 'badge' }, 'default'));
    const facts: Node[] = rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]);
    const card: HTMLDivElement = document.createElement('div');
    card.className = `card boot-entry${e.isDefault ? ' default' : ''}`;
    card.append(el('h3', {}, ...title), el('dl', { className: 'facts' }, ...facts), el('div', { className: 'tools boot-edit' }, el('label', {}, 'cmdline '), input, reset, go));
    card.dataset.id = e.id;
    return card;
  });
  const rejected = doc.rejected.length
    ? [
        el('h3', {}, `Not bootable (${doc.rejected.length})`),
        ...doc.rejected.map((r) => el('div', { className: 'card boot-rejected' }, el('h3', {}, r.title ?? r.id ?? r.origin), el('div', { className: 'hint' }, `${r.source} ${r.origin}`), el('div', { className: 'boot-why' }, r.reason))),
      ]
    : [];
  root.replaceChildren(head, result, el('div', { className: 'boot-list' }, ...(cards.length ? cards : [el('p', {}, 'No bootable entry.')])), ...rejected);
}

// The dump viewer in Debian's Chromium (headless, driven by playwright-core): served by
// `vmcore-ts serve` and opened from disk; the panic message, the backtrace, log search, tasks.
// A screenshot is kept in test-artifacts/ (gitignored).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startViewer, type ViewerServer } from '../src/cli/vmcore/serve.ts';
import { FileSource } from '../src/io/node-file.ts';
import { DumpAnalysis } from '../web/analysis.ts';
import { BlockCacheSource } from '../web/sources.ts';

const CHROMIUM = '/usr/bin/chromium';
const DUMP = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
let playwright: typeof import('playwright-core') | undefined;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = undefined;
}
const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} not installed (apt-get install chromium)` : !playwright ? 'playwright-core not installed' : false;

let server: ViewerServer;
let profile: string;
let context: import('playwright-core').BrowserContext;

before(async () => {
  // Build the page from the current sources.
  execFileSync(process.execPath, ['web/build.mjs'], { stdio: 'inherit' });
  if (skip) return;
  server = await startViewer(DUMP);
  profile = mkdtempSync(join(tmpdir(), 'vmcore-viewer-chromium-'));
  context = await playwright!.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await context?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('viewer model (no browser): overview, log, backtraces, tasks, memory and hex through the block cache', () => {
  const a = new DumpAnalysis(new BlockCacheSource(new FileSource(DUMP), 1 << 16, 8));
  const o = a.overview();
  assert.equal(o.panicMessage, 'Kernel panic - not syncing: sysrq triggered crash');
  assert.equal(o.cpus, 2);
  const log = a.log();
  assert.equal(log.lines.length, 403);
  assert.equal(log.levels.length, 403);
  assert.match(a.backtraces()[1]!.text, /COMMAND: "init"\n.*__crash_kexec\+0x11a/);
  assert.equal(a.tasks().tasks.length, 56);
  const m = a.memory();
  assert.ok(m.byType.find((r) => r.label === 'free')!.bytes > 600e6);
  const h = a.hex('init_task', 32);
  assert.equal(h.symbol, 'init_task+0x0');
  assert.equal(h.bytes.length, 32);
  assert.throws(() => a.hex('no_such_symbol', 16), /no symbol/);
});

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((res, rej) => {
    const r = request(url, { headers }, (resp) => {
      resp.resume();
      res(resp.statusCode ?? 0);
    });
    r.on('error', rej);
    r.end();
  });
}

test('serve: loopback only, the token is required, the Host must be loopback, nothing but GET', { skip }, async () => {
  const u = new URL(server.url);
  assert.equal(u.hostname, '127.0.0.1');
  assert.match(u.pathname, /^\/[A-Za-z0-9_-]{24}\/$/);
  assert.equal(await get(server.url), 200);
  assert.equal(await get(`${u.origin}/`), 404);
  assert.equal(await get(`${u.origin}/wrong-token/dump-info`), 404);
  assert.equal(await get(server.url, { host: 'evil.example:80' }), 421);
  assert.equal(await get(`${server.url}dump`, { range: 'bytes=0-15' }), 206);
});

test('viewer (served): panic message, backtrace, log search, tasks; screenshot kept', { skip }, async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url);
  await page.waitForSelector('#panic:has-text("sysrq triggered crash")', { timeout: 60000 });
  assert.match(await page.textContent('#summary-text') ?? '', /panic\+0x13d/);

  await page.click('nav button[data-tab="backtraces"]');
  await page.waitForSelector('#backtraces h3:has-text("CPU 1")', { timeout: 30000 });
  const bt = (await page.textContent('#backtraces')) ?? '';
  for (const f of ['__crash_kexec+0x11a', 'panic+0x13d', 'sysrq_handle_crash', 'ksys_write', 'do_syscall_64', 'native_safe_halt']) assert.ok(bt.includes(f), f);
  assert.ok(!bt.includes('handle_mm_fault'), 'no stale frames');

  await page.click('nav button[data-tab="log"]');
  await page.waitForSelector('#log-count:has-text("of 403 lines")', { timeout: 30000 });
  await page.fill('#log-search', 'sysrq');
  const count = (await page.textContent('#log-count')) ?? '';
  const shown = Number(/^(\d+) of 403/.exec(count)?.[1]);
  assert.ok(shown >= 2 && shown < 403, count);
  const rows = await page.$$eval('#log-rows div', (ds) => ds.map((d) => d.textContent ?? ''));
  assert.ok(rows.length === shown && rows.every((r) => r.toLowerCase().includes('sysrq')), rows.join('\n'));
  assert.ok(rows.some((r) => r.includes('Kernel panic - not syncing: sysrq triggered crash')));
  // Virtualized: with the search cleared only the rows in view (plus a margin) are in the DOM.
  await page.fill('#log-search', '');
  const domRows = await page.$$eval('#log-rows div', (ds) => ds.length);
  assert.ok(domRows > 20 && domRows < 120, `${domRows} rows in the DOM for 403 lines`);
  await page.selectOption('#log-level', '0');
  assert.match((await page.textContent('#log-count')) ?? '', /^\d+ of 403 lines/);

  await page.click('nav button[data-tab="tasks"]');
  await page.waitForSelector('#tasks table', { timeout: 30000 });
  assert.match((await page.textContent('#tasks p')) ?? '', /^56 tasks/);
  assert.ok(((await page.textContent('#tasks tr.running')) ?? '').includes('swapper/0'));
  await page.click('#tasks tbody tr:has-text("kthreadd")');
  await page.waitForSelector('#task-trace:has-text("ret_from_fork")', { timeout: 30000 });
  assert.match((await page.textContent('#task-trace')) ?? '', /PID: 2 .*COMMAND: "kthreadd"[\s\S]*schedule\+/);
  await page.screenshot({ path: 'test-artifacts/viewer-tasks.png' });

  await page.click('nav button[data-tab="memory"]');
  await page.waitForSelector('#memory .bar div', { timeout: 60000 });

  await page.click('nav button[data-tab="hex"]');
  await page.fill('#hex-addr', 'init_task');
  await page.click('#hex-form button');
  await page.waitForSelector('#hex-out:has-text("<init_task+0x0>")', { timeout: 30000 });

  await page.click('nav button[data-tab="backtraces"]');
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/viewer-backtraces.png', fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('viewer log view: 100,000 lines stay virtualized while scrolling, filtering and searching', { skip }, async () => {
  const page = await context.newPage();
  await page.goto(pathToFileURL(resolve('dist/web/viewer.html')).href + '#log-selftest=100000');
  await page.waitForSelector('#log-count:has-text("100000 of 100000 lines")');
  await page.$eval('#log-view', (v) => (v.scrollTop = v.scrollHeight));
  await page.$eval('#log-view', (v) => v.dispatchEvent(new Event('scroll')));
  const lastRows = await page.$$eval('#log-rows div', (ds) => ds.map((d) => d.textContent ?? ''));
  assert.ok(lastRows.length < 120, `${lastRows.length} rows in the DOM`);
  assert.ok(lastRows.some((r) => r.includes('synthetic line 99999 ')), 'scrolled to the end');
  await page.fill('#log-search', 'needle');
  assert.equal(await page.textContent('#log-count'), '100 of 100000 lines');
  await page.fill('#log-search', '');
  await page.selectOption('#log-level', '3');
  assert.equal(await page.textContent('#log-count'), '50000 of 100000 lines');
  await page.close();
});

test('viewer (from disk, no server): a dump opened with the file picker is parsed in the worker', { skip }, async () => {
  const page = await context.newPage();
  await page.goto(pathToFileURL(resolve('dist/web/viewer.html')).href);
  await page.setInputFiles('#file', DUMP);
  await page.waitForSelector('#panic:has-text("sysrq triggered crash")', { timeout: 60000 });
  await page.click('nav button[data-tab="backtraces"]');
  await page.waitForSelector('#backtraces h3:has-text("CPU 1")', { timeout: 30000 });
  assert.ok(((await page.textContent('#backtraces')) ?? '').includes('panic+0x13d'));
  await page.screenshot({ path: 'test-artifacts/viewer-from-disk.png' });
  await page.close();
});

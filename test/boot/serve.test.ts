// `kexec-ts boot --serve`: the boot choices behind the viewer's token (HTTP API: the list, a choice
// answered with what would be loaded, bad choices refused with why, the guards), and the viewer's
// Boot view in Debian's Chromium (playwright-core): entries, default and reason, rejected with
// reasons, an edited command line POSTed and answered.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { discoverBoot } from '../../src/boot/discover.ts';
import { serveLoader } from '../../src/cli/boot-command.ts';
import { dryRunChoice, parseChoice, startBootServer, type BootServer } from '../../src/cli/boot-serve.ts';
import { readBootMachine } from '../../src/host/boot-files.ts';
import type { BootRequest } from '../../src/host/boot-load.ts';
import type { KexecSyscalls } from '../../src/kexec/syscalls.ts';
import { fakeSyscalls } from '../kexec/fake-syscalls.ts';
import { bootRoot } from './boot-root.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = 'test/fixtures/boot/debian-bookworm';
const list = discoverBoot(readBootMachine({ root: ROOT }));
let playwright: typeof import('playwright-core') | undefined;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = undefined;
}
const noBrowser = !existsSync(CHROMIUM) ? `${CHROMIUM} not installed (apt-get install chromium)` : !playwright ? 'playwright-core not installed' : false;

let server: BootServer;
const chosen: { id: string; cmdline: string }[] = [];

before(async () => {
  execFileSync(process.execPath, [...NODE_ARGS, 'web/build.mjs'], { stdio: 'inherit' });
  server = await startBootServer(list, {
    choose: (entry, cmdline) => {
      chosen.push({ id: entry.id, cmdline });
      return dryRunChoice(entry, cmdline);
    },
  });
});
after(async () => {
  await server?.close();
});

function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (resp) => {
      const parts: Buffer[] = [];
      resp.on('data', (d: Buffer) => parts.push(d));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
    });
    r.on('error', rej);
    r.end(opts.body);
  });
}
const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, url = `${server.url}boot`) => http(url, { method: 'POST', headers, body });

test('boot serve: the page and the list (kexec-ts boot --list --json\'s document) behind the token only', async () => {
  const u = new URL(server.url);
  assert.equal(u.hostname, '127.0.0.1');
  assert.match(u.pathname, /^\/[A-Za-z0-9_-]{24}\/$/);
  const page = await http(server.url);
  assert.equal(page.status, 200);
  assert.match(page.body, /data-tab="boot"/);
  const l = await http(`${server.url}boot`);
  assert.equal(l.status, 200);
  const doc = JSON.parse(l.body);
  assert.equal(doc.schema, 1);
  assert.equal(doc.default.id, 'gnulinux-simple-85d4fada-db2d-474e-b464-fe9371509fa2');
  assert.equal(doc.entries.length, 4);
  assert.equal(doc.rejected[0].reason, '/vmlinuz.old is the same kernel as /vmlinuz (/boot/vmlinuz-6.1.0-50-cloud-amd64)');
  assert.equal((await http(`${u.origin}/boot`)).status, 404, 'no token');
  assert.equal((await http(`${u.origin}/wrong-token/boot`)).status, 404);
  assert.equal((await post('{"id":"vmlinuz"}', { 'content-type': 'application/json' }, `${u.origin}/wrong-token/boot`)).status, 404);
  assert.equal((await http(`${server.url}boot`, { headers: { host: 'evil.example:80' } })).status, 421, 'DNS rebinding: a foreign Host');
});

test('boot serve: POST {id, cmdline} answers what would be loaded (--dry-run) with the edited command line', async () => {
  chosen.length = 0;
  const r = await post(JSON.stringify({ id: 'gnulinux-6.1.0-50-cloud-amd64-recovery-85d4fada-db2d-474e-b464-fe9371509fa2', cmdline: 'root=/dev/vda1 ro single nomodeset' }));
  assert.equal(r.status, 200, r.body);
  const a = JSON.parse(r.body);
  assert.equal(a.dryRun, true);
  assert.deepEqual(a.load, { kernel: '/boot/vmlinuz-6.1.0-50-cloud-amd64', initrds: ['/boot/initrd.img-6.1.0-50-cloud-amd64'], cmdline: 'root=/dev/vda1 ro single nomodeset' });
  assert.equal(a.edited, true);
  assert.match(a.message, /--dry-run: nothing loaded/);
  assert.deepEqual(chosen, [{ id: 'gnulinux-6.1.0-50-cloud-amd64-recovery-85d4fada-db2d-474e-b464-fe9371509fa2', cmdline: 'root=/dev/vda1 ro single nomodeset' }]);
  // Without cmdline: the entry's own.
  const own = JSON.parse((await post('{"id":"vmlinuz"}')).body);
  assert.equal(own.load.cmdline, '');
  assert.equal(own.edited, false);
});

test('boot serve: bad choices are refused with why (unknown id, rejected entry, not JSON, control characters, too long, wrong type, foreign origin)', async () => {
  chosen.length = 0;
  const cases: [string, Record<string, string> | undefined, number, RegExp][] = [
    ['{"id":"nope"}', undefined, 404, /no boot entry "nope"/],
    ['{"id":"/vmlinuz.old"}', undefined, 409, /\/vmlinuz\.old cannot be booted: \/vmlinuz\.old is the same kernel/],
    ['id=vmlinuz', undefined, 400, /not JSON/],
    ['{"cmdline":"x"}', undefined, 400, /"id" is missing/],
    ['{"id":"vmlinuz","cmdline":"a\\nb"}', undefined, 400, /control character/],
    [JSON.stringify({ id: 'vmlinuz', cmdline: 'x'.repeat(5000) }), undefined, 400, /5000 bytes, more than 4096/],
    ['{"id":"vmlinuz","cmdline":7}', undefined, 400, /"cmdline" is not a string/],
    ['{"id":"vmlinuz"}', { 'content-type': 'text/plain' }, 415, /application\/json/],
    ['{"id":"vmlinuz"}', { 'content-type': 'application/json', origin: 'http://evil.example' }, 403, /origin http:\/\/evil\.example may not choose/],
  ];
  for (const [body, headers, status, re] of cases) {
    const r = await post(body, headers);
    assert.equal(r.status, status, body.slice(0, 60));
    assert.match(JSON.parse(r.body).error, re);
  }
  assert.equal((await http(`${server.url}boot`, { method: 'PUT' })).status, 405);
  assert.deepEqual(chosen, [], 'nothing reached the chooser');
  // The parser alone: the entry and the command line it names.
  const ok = parseChoice(list, '{"id":"vmlinuz","cmdline":"quiet"}');
  assert.ok(!('error' in ok) && ok.entry.id === 'vmlinuz' && ok.cmdline === 'quiet');
});

test('boot serve without --dry-run: a choice is loaded as `kexec-ts boot ID --command-line EDITED` loads it (fake syscalls): kexec_load with the edited command line, the answer says so, and --now\'s hook runs only after the answer', async () => {
  const r = bootRoot('debian-trixie', { kernels: ['/boot/vmlinuz-6.12.117+deb13-cloud-amd64'] });
  const fake = fakeSyscalls();
  const events: string[] = [];
  const segments: { buf: Uint8Array }[] = [];
  const sys: KexecSyscalls = { ...fake, kexecLoad: (e, segs, f) => (events.push('kexec_load'), segments.push(...segs), fake.kexecLoad(e, segs, f)) };
  const trixie = discoverBoot(readBootMachine({ root: r }));
  const base: BootRequest = { dirs: { root: r }, machineRoot: r, dryRun: false, then: 'load' };
  const s = await startBootServer(trixie, { choose: serveLoader(base, { sys }), afterAnswer: () => events.push('after') });
  try {
    const id = trixie.default!.id;
    const resp = await http(`${s.url}boot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, cmdline: 'root=/dev/vda3 ro e2e.edited=1' }) });
    assert.equal(resp.status, 200, resp.body);
    const a = JSON.parse(resp.body);
    assert.equal(a.loaded, true);
    assert.equal(a.dryRun, false);
    assert.equal(a.entry.id, id);
    assert.deepEqual([a.load.cmdline, a.load.syscall, a.edited], ['root=/dev/vda3 ro e2e.edited=1', 'kexec_load', true]);
    assert.match(a.message, /^loaded Debian GNU\/Linux \(.*\) with kexec_load and the command line "root=\/dev\/vda3 ro e2e.edited=1"$/);
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(events, ['kexec_load', 'after'], 'loaded, answered, then the --now hook');
    assert.ok(segments.some((seg) => Buffer.from(seg.buf).includes('root=/dev/vda3 ro e2e.edited=1\0')), 'the edited command line is in a segment');
  } finally {
    await s.close();
    rmSync(r, { recursive: true, force: true });
  }
});

test('kexec-ts boot --serve: --root only with --dry-run, not --now with --dry-run, --port must be a port; with --dry-run it prints the URL and answers', async () => {
  const KEXEC_TS = [process.execPath, ...NODE_ARGS, '--import', 'tsx', '--import', './test/cli/no-act-guard.mjs', 'src/cli/kexec-ts.ts', 'boot'];
  const run = (...args: string[]) => execFileSync(KEXEC_TS[0]!, [...KEXEC_TS.slice(1), ...args], { encoding: 'utf8', stdio: 'pipe' });
  assert.throws(() => run('--serve', '--root', ROOT), (e: { status: number; stderr: string }) => e.status === 2 && /--serve loads this machine's entries: --root\/--boot\/--esp only with --dry-run/.test(e.stderr));
  assert.throws(() => run('--serve', '--now', '--dry-run'), (e: { status: number; stderr: string }) => e.status === 2 && /--serve: --now or --dry-run, not both/.test(e.stderr));
  assert.throws(() => run('--serve', '--append', 'x'), (e: { status: number; stderr: string }) => e.status === 2 && /--serve does not take --append: edit the command line on the page/.test(e.stderr));
  assert.throws(() => run('--serve', '--dry-run', '--port', 'x'), (e: { status: number; stderr: string }) => e.status === 2 && /--port wants a number/.test(e.stderr));
  assert.throws(() => run('--list', '--port', '1'), (e: { status: number; stderr: string }) => e.status === 2 && /--port goes with --serve/.test(e.stderr));
  const child = spawn(KEXEC_TS[0]!, [...KEXEC_TS.slice(1), '--serve', '--dry-run', '--root', ROOT], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]+\/)/.exec(out);
        if (m) res(m[1]!);
      });
      child.on('exit', (code) => rej(new Error(`exited ${code}: ${out}`)));
    });
    const r = await http(`${url}boot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"vmlinuz","cmdline":"ro"}' });
    assert.equal(JSON.parse(r.body).load.cmdline, 'ro');
  } finally {
    child.kill('SIGTERM');
  }
  const code = await new Promise<number | null>((res) => (child.exitCode !== null ? res(child.exitCode) : child.on('exit', (c) => res(c))));
  assert.equal(code, 0, 'SIGTERM stops it cleanly');
});

test('viewer Boot view (Chromium): loader and default with its reason, one card per entry, rejected greyed with why; an edited command line is chosen and answered', { skip: noBrowser }, async () => {
  const profile = mkdtempSync(join(tmpdir(), 'boot-viewer-chromium-'));
  const context = await playwright!.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('#boot .boot-entry', { timeout: 60000 });
    // Only the Boot tab: no dump here.
    assert.deepEqual(await page.$$eval('nav button', (bs) => bs.filter((b) => getComputedStyle(b).display !== 'none').map((b) => b.textContent)), ['Boot']);
    assert.equal(await page.isVisible('#welcome'), false);
    assert.match((await page.textContent('#boot-facts')) ?? '', /grub \(\/boot\/grub\/grub\.cfg exists\).*Debian GNU\/Linux — default="0" \(set at \/boot\/grub\/grub\.cfg:19\); menu entry number 0/);
    const cards = await page.$$eval('#boot .boot-entry', (cs) => cs.map((c) => ({ id: (c as HTMLElement).dataset.id, def: c.classList.contains('default'), cmdline: (c.querySelector('.boot-cmdline') as HTMLInputElement).value })));
    assert.deepEqual(cards.map((c) => c.id), list.entries.map((e) => e.id));
    assert.deepEqual(cards.map((c) => c.def), [true, false, false, false]);
    assert.equal(cards[0]!.cmdline, 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=85d4fada-db2d-474e-b464-fe9371509fa2 ro console=ttyS0 quiet');
    assert.match((await page.textContent('#boot .boot-rejected')) ?? '', /\/vmlinuz\.old.*\/vmlinuz\.old is the same kernel as \/vmlinuz/);
    // Edit the second entry's command line and choose it.
    chosen.length = 0;
    const second = `#boot .boot-entry[data-id="${list.entries[1]!.id}"]`;
    await page.fill(`${second} .boot-cmdline`, 'root=/dev/vda1 ro nomodeset');
    assert.ok(await page.$eval(second, (c) => c.classList.contains('edited')));
    await page.click(`${second} .boot-go`);
    await page.waitForSelector('#boot-result:has-text("would load")');
    assert.equal((await page.textContent('#boot-result')) ?? '', 'would load /boot/vmlinuz-6.1.0-50-cloud-amd64 with /boot/initrd.img-6.1.0-50-cloud-amd64 and the command line "root=/dev/vda1 ro nomodeset" (--dry-run: nothing loaded)');
    assert.deepEqual(chosen, [{ id: list.entries[1]!.id, cmdline: 'root=/dev/vda1 ro nomodeset' }]);
    // Reset brings the entry's own back; a refused choice is shown as an error line.
    await page.click(`${second} .boot-reset`);
    assert.equal(await page.inputValue(`${second} .boot-cmdline`), list.entries[1]!.cmdline);
    await page.fill(`${second} .boot-cmdline`, 'x'.repeat(5000));
    await page.click(`${second} .boot-go`);
    await page.waitForSelector('#boot-result.error');
    assert.match((await page.textContent('#boot-result')) ?? '', /more than 4096/);
    mkdirSync('test-artifacts', { recursive: true });
    await page.fill(`${second} .boot-cmdline`, 'root=/dev/vda1 ro nomodeset');
    await page.screenshot({ path: 'test-artifacts/viewer-boot.png', fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

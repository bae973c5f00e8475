// The collector's fleet page (web/fleet.ts, dist/web/fleet.html) in Debian's Chromium (headless,
// playwright-core), served by the collector: buckets ranked by hosts affected with a 30-day
// sparkline, a bucket's trend chart, hosts and kernels, and "open dump" opening the dump viewer on
// the stored dump, read from the collector by HTTP range. A screenshot is kept in test-artifacts/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { migrate, recordCrash } from '../../src/collect/index-db.ts';
import { DEFAULT_POLICY } from '../../src/collect/policy.ts';
import { parseTokens } from '../../src/collect/protocol.ts';
import { DirBlobStore } from '../../src/host/blob-store.ts';
import { importCrashes } from '../../src/host/collector-import.ts';
import { startCollector, type Collector } from '../../src/host/collector-server.ts';
import { openSqlite } from '../../src/host/sql-drivers.ts';
import { report } from './helpers.ts';
import { NODE_ARGS } from '../../src/node-args.ts';

const CHROMIUM = '/usr/bin/chromium';
const FIXTURE = 'fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump';
const FIXTURE_BUCKET = '812fe8350573c0cf';
const VIEWER = 'viewer-token-fleet-0123456789';
let playwright: typeof import('playwright-core') | undefined;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = undefined;
}
const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} not installed (apt-get install chromium)` : !playwright ? 'playwright-core not installed' : false;

const work = mkdtempSync(join(tmpdir(), 'collector-fleet-'));
const db = openSqlite(join(work, 'index.sqlite'));
let collector: Collector;
let context: import('playwright-core').BrowserContext | undefined;

before(async () => {
  execFileSync(process.execPath, [...NODE_ARGS, 'web/build.mjs'], { stdio: 'inherit' });
  await migrate(db);
  const blobs = new DirBlobStore(join(work, 'blobs'));
  // The fixture, as kdumpctl leaves it: one crash of its bucket on one host, with the dump.
  const kc = join(work, 'crash', '10.0.0.9-2026-12-05-08:00:00');
  mkdirSync(kc, { recursive: true });
  copyFileSync(FIXTURE, join(kc, 'vmcore'));
  const imported = await importCrashes(db, blobs, join(work, 'crash'));
  assert.equal(imported[0]?.outcome, 'imported', imported[0]?.why);
  // Another bucket on three hosts (ranked first), over three days.
  const now = new Date();
  const day = (n: number) => new Date(now.getTime() - n * 86_400_000).toISOString();
  let i = 0;
  for (const [host, ago] of [['web-1', 2], ['web-2', 1], ['web-2', 1], ['db-1', 0]] as const) {
    await recordCrash(db, { id: `${i++}`.padStart(24, 'a'), report: report(host, 'abcdefabcdef0001', '6.12.9', day(ago)), received: now.toISOString(), policy: { ...DEFAULT_POLICY, maxDumpsPerBucket: 0 }, random: 1 });
  }
  const pages = { fleet: readFileSync('dist/web/fleet.html'), viewer: readFileSync('dist/web/viewer.html') };
  collector = await startCollector({ db, blobs, tokens: parseTokens(`@viewer ops ${VIEWER}`, 'tokens'), policy: DEFAULT_POLICY, pages });
  if (skip) return;
  context = await playwright!.chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await context?.close();
  await collector?.close();
  await db.close();
  rmSync(work, { recursive: true, force: true });
});

test('fleet page: buckets by hosts with trends; a bucket\'s hosts, kernels and chart; "open dump" shows the stored dump in the viewer', { skip }, async () => {
  const page = await context!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${collector.url}/ui/${VIEWER}/`);
  await page.waitForSelector('tr.bucket');
  const rows = await page.$$eval('tr.bucket', (rs) => rs.map((r) => [(r as HTMLElement).dataset.bucket, r.querySelector('.hosts')!.textContent, r.querySelector('.count')!.textContent]));
  assert.deepEqual(rows, [['abcdefabcdef0001', '3', '4'], [FIXTURE_BUCKET, '1', '1']]);
  // 30 days per sparkline; the first bucket's last three days hold 1, 2, 1 crashes.
  const spark = await page.$$eval('tr.bucket:first-child svg.spark rect', (rs) => rs.map((r) => Number(r.getAttribute('data-count'))));
  assert.equal(spark.length, 30);
  assert.deepEqual(spark.slice(-3), [1, 2, 1]);

  await page.click('tr.bucket:first-child');
  await page.waitForSelector('#hosts tbody tr');
  const hosts = await page.$$eval('#hosts tbody tr', (rs) => rs.map((r) => [r.children[0]!.textContent, r.children[1]!.textContent]));
  assert.deepEqual(hosts[0], ['web-2', '2']);
  assert.deepEqual(hosts.slice(1).sort(), [['db-1', '1'], ['web-1', '1']]);
  assert.deepEqual(await page.$$eval('#kernels tbody tr', (rs) => rs.map((r) => r.children[0]!.textContent)), ['6.12.9']);
  assert.equal(await page.$$eval('#detail svg.trend rect', (rs) => rs.length), 30);
  assert.equal(await page.$$eval('#crashes a.open', (as) => as.length), 0, 'no dump stored for these');

  await page.click(`tr.bucket[data-bucket="${FIXTURE_BUCKET}"]`);
  await page.waitForSelector('#crashes a.open');
  assert.match((await page.textContent('#detail')) ?? '', /sysrq triggered crash[\s\S]*1 crash on 1 host and 1 kernel/);
  assert.deepEqual(await page.$$eval('#hosts tbody tr', (rs) => rs.map((r) => r.children[0]!.textContent)), ['10.0.0.9']);
  assert.deepEqual(await page.$$eval('#kernels tbody tr', (rs) => rs.map((r) => r.children[0]!.textContent)), ['6.1.0-56-cloud-amd64']);
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/fleet.png', fullPage: true });

  // "open dump": the viewer, on the dump read from the collector by range.
  const [viewer] = await Promise.all([context!.waitForEvent('page'), page.click('#crashes a.open')]);
  viewer.on('pageerror', (e) => errors.push(e.message));
  await viewer.waitForSelector('#panic:has-text("sysrq triggered crash")', { timeout: 60000 });
  assert.match((await viewer.textContent('#dumpname')) ?? '', /10\.0\.0\.9-2026-12-05T08:00.*6\.1\.0-56-cloud-amd64/);
  await viewer.screenshot({ path: 'test-artifacts/fleet-open-dump.png' });
  assert.deepEqual(errors, []);
});

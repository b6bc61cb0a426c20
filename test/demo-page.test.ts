/**
 * The demo dashboard in headless Chromium, against the whole server (hub and
 * projection workers in one process, as `npm start` runs them): the page
 * connects, shows live numbers, renders hostile event data as text, and an
 * alarm acknowledged on one page updates on another.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildDashboardPage, mountDashboardPage } from '../hub/demo/dashboard-page.ts';
import { type Server, startServer } from '../hub/server.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { describeWithChromium, launchChromium } from './support/browser.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { signToken, TEST_SECRET } from './support/test-hub.ts';

const HOSTILE_TITLE = '<img src=x onerror="window.__xss=1"><b>Mixer 2</b> overload';
const HOSTILE_MATERIAL = '<script>window.__xss=2</script>Cement';

describeWithChromium('demo dashboard page', () => {
  let db: TestDatabase;
  let server: Server;
  let browser: Browser;
  let pub: HubPublisher;
  let origin: string;
  let token: string;
  const ns = uniqueNamespace('demo');
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-demo-'));

  before(async () => {
    db = await createTestDatabase();
    const page = await buildDashboardPage();
    server = await startServer({
      env: {
        HUB_JWT_SECRET: TEST_SECRET,
        HUB_NAMESPACE: ns,
        NATS_URL,
        HUB_PORT: '0',
        HUB_HOST: '127.0.0.1',
        HUB_DATA_DIR: dataDir,
        HUB_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        DATABASE_URL: db.url,
        PROJECTIONS_PUSH_INTERVAL_MS: '100',
      },
      mount: (app) => mountDashboardPage(app, page),
    });
    await (await server.projections)!.ready;
    origin = `http://127.0.0.1:${server.hub.port}`;
    token = await signToken(TEST_SECRET, { sub: 'operator-1', sites: '*', role: 'operator' });
    pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
    await pub.sendBatchStarted(1, { id: 'b1', volume: 8 });
    await pub.sendBatchCompleted(1, { id: 'b1', volume: 7.5 });
    await pub.sendTaskUpdate(1, { id: 't1', status: 'in_transit' });
    await pub.sendStockMovement(1, 'stock_in', { id: 'cement', name: HOSTILE_MATERIAL, unit: 't', threshold: 10 }, 50);
    await pub.sendAlarmNotification({ id: 'A1', siteId: 1, level: 'critical', title: HOSTILE_TITLE });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await pub?.close();
    await server?.stop();
    await db?.drop();
    await dropNamespace(ns);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.goto(`${origin}/#token=${token}`);
    return page;
  }

  const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: 10_000 });

  it('connects and shows the site’s numbers, then follows them live', async () => {
    const page = await open();
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ok');
    await page.locator('[data-site="1"] [data-field="volume"]').filter({ hasText: '7.5' }).waitFor({ timeout: 10_000 });
    assert.equal(await text(page, '[data-site="1"] [data-field="batches"]'), '1');
    assert.equal(await text(page, '[data-site="1"] [data-key="in_transit"] .num'), '1');
    assert.equal(await text(page, '[data-site="1"] [data-key="in_transit"] .name'), 'In transit');
    await page.waitForFunction(() => document.body.dataset.charts === 'ready', undefined, { timeout: 10_000 });
    assert.equal(await text(page, '[data-chart="production"] .legend [data-site="1"] .value'), '7.5 m³');
    // The charts' canvases, marked: a live update must draw on these, not on new charts.
    const charts = '[data-chart] canvas';
    const marked = await page.$$eval(charts, (canvases) => canvases.map((c) => ((c as HTMLCanvasElement & { mark?: boolean }).mark = true)).length);
    assert.equal(marked, 3, 'production, silos, trucks');
    // Live: a second batch completes; the dashboard push moves the numbers.
    await pub.sendBatchCompleted(1, { id: 'b2', volume: 2.5 });
    await pub.sendTaskUpdate(1, { id: 't1', status: 'unloading' });
    await pub.sendStockMovement(1, 'stock_out', { id: 'cement' }, 5);
    await page.locator('[data-site="1"] [data-field="volume"]').filter({ hasText: '10.0' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-site="1"] [data-key="unloading"] .num').filter({ hasText: '1' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-chart="production"] .legend [data-site="1"] .value').filter({ hasText: '10.0 m³' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-site="1"] [data-material="cement"]').filter({ hasText: '45.0 t' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await page.$$eval(charts, (canvases) => canvases.map((c) => (c as HTMLCanvasElement & { mark?: boolean }).mark === true)), [true, true, true]);
    await page.close();
  });

  it('renders event data as text: markup in an alarm title or a material name never becomes HTML', async () => {
    const page = await open();
    const alarm = page.locator('[data-alarm="A1"] .title');
    await alarm.waitFor({ timeout: 10_000 });
    assert.equal(await alarm.textContent(), HOSTILE_TITLE);
    await page.locator('[data-site="1"] [data-material="cement"]').waitFor({ timeout: 10_000 });
    assert.equal(await text(page, '[data-site="1"] [data-material="cement"] td'), HOSTILE_MATERIAL);
    // Anywhere on the page, not only where the data is shown: no element the hostile markup would make.
    assert.equal(await page.locator('body img, body b, body script:not([src])').count(), 0);
    // And no script of it ran. (The page's Content-Security-Policy blocks inline handlers besides: this guards
    // against that policy loosening too.) Markup that became HTML would hold an <img> whose failed load runs its
    // onerror: once every image of the document has settled, and a task later, that handler would have run.
    await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete), undefined, { timeout: 10_000 });
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    assert.equal(await page.evaluate(() => (window as any).__xss), undefined);
    await page.close();
  });

  it('an alarm acknowledged on one page updates on another', async () => {
    const first = await open();
    const second = await open();
    for (const p of [first, second]) await p.locator('[data-alarm="A1"][data-status="open"] button').waitFor({ timeout: 10_000 });
    await first.locator('[data-alarm="A1"] button').click();
    await second.locator('[data-alarm="A1"][data-status="acknowledged"] .status').filter({ hasText: 'Acknowledged' }).waitFor({ timeout: 10_000 });
    assert.equal(await second.locator('[data-alarm="A1"] button').count(), 0);
    // The views agree: acknowledged, still open.
    const view = await (await fetch(`${origin}/api/sites/1/dashboard`, { headers: { authorization: `Bearer ${token}` } })).json();
    await first.close();
    await second.close();
    assert.ok(view.alarms.open >= 1);
  });
});

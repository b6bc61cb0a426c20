/**
 * `npm run demo` as a person sees it: the demo itself (hub, projection workers,
 * simulated plant of three sites) on real NATS and Postgres, its page in headless
 * Chromium at 1280×800. Once every chart has data, checks what a user would:
 * three site cards on screen, charts drawn in their series' colours, open alarms
 * above acknowledged ones (muted), human labels, no error on the console (the CSP
 * holds), then takes the screenshot the docs show.
 *
 * Refresh docs/images/dashboard.png: `npm run screenshots`
 * (UPDATE_SCREENSHOTS=1 with this file); otherwise the screenshot is only checked.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { describeWithChromium, launchChromium } from './support/browser.ts';
import { dropNamespace, freePort, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { signToken, TEST_SECRET } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCREENSHOT = join(ROOT, 'docs/images/dashboard.png');
const VIEWPORT = { width: 1280, height: 800 };
/** Series colours the charts draw (hub/demo/page/labels.ts, bar-chart users): site lines, silo bars. */
const SITE_COLOURS = ['#38bdf8', '#f59e0b', '#34d399'];
const SILO_COLOURS = ['#38bdf8', '#f87171'];
const TRUCK_COLOURS = ['#64748b', '#f59e0b', '#38bdf8', '#818cf8'];

interface SiteView {
  production: { volume: number };
  alarms: { recent: Array<{ status: string }> };
}

describeWithChromium('npm run demo: the dashboard at 1280×800', () => {
  let db: TestDatabase;
  let demo: ChildProcess;
  let browser: Browser | undefined;
  let launching: Promise<Browser> | undefined;
  let page: Page;
  let origin: string;
  let output = '';
  let csp = '';
  const problems: string[] = [];
  const ns = uniqueNamespace('demoshot');
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-demo-shot-'));

  before(async () => {
    db = await createTestDatabase();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {};
    // The test runner's own variables (NODE_TEST_CONTEXT) would make the child a test file.
    for (const [k, v] of Object.entries(process.env)) if (!/^(HUB_|NATS_URL$|DATABASE_URL$|PROJECTIONS_|DEMO_|NODE_TEST|npm_)/.test(k)) env[k] = v;
    demo = spawn(process.execPath, ['--import', 'tsx', 'hub/demo/main.ts'], {
      cwd: ROOT,
      env: { ...env, NATS_URL, DATABASE_URL: db.url, HUB_NAMESPACE: ns, HUB_PORT: String(port), HUB_HOST: '127.0.0.1', HUB_DATA_DIR: dataDir, HUB_JWT_SECRET: TEST_SECRET, HUB_LOG_LEVEL: 'warn', DEMO_SITES: '3', DEMO_RATE: '200' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const token = await signToken(TEST_SECRET, { sub: 'screenshot', sites: '*', role: 'viewer' });
    // Chromium starts while the plant runs.
    launching = launchChromium();
    launching.catch(() => {}); // awaited below; a failure while the plant runs is reported there
    // The plant has run long enough to be worth a picture: production at every site, open and acknowledged alarms.
    await until(async () => {
      if (demo.exitCode !== null) throw new Error(`the demo exited (${demo.exitCode}):\n${output}`);
      const views = await Promise.all(['1', '2', '3'].map((s) => view<SiteView>(`${origin}/api/sites/${s}/dashboard`, token)));
      if (views.some((v) => v === undefined || v.production.volume < 120)) return false;
      const statuses = new Set(views.flatMap((v) => v!.alarms.recent.map((a) => a.status)));
      return statuses.has('open') && statuses.has('acknowledged');
    }, 90_000);
    browser = await launching;
    page = await browser.newPage({ viewport: VIEWPORT });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    csp = (await page.goto(`${origin}/`))?.headers()['content-security-policy'] ?? '';
    await page.waitForFunction(() => document.body.dataset.charts === 'ready', undefined, { timeout: 30_000 });
  });

  after(async () => {
    // Closed even when the plant never got going (Chromium was starting meanwhile).
    browser ??= await launching?.catch(() => undefined);
    await browser?.close();
    if (demo !== undefined && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo.once('exit', resolve));
      demo.kill('SIGTERM');
      await exited;
    }
    await db?.drop();
    await dropNamespace(ns);
    if (!existsSync(join(dataDir, 'failed.png'))) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows three site cards whole on one 1280×800 screen, the page itself not scrolling', async () => {
    const boxes = await page.locator('section.site').evaluateAll((cards) => cards.map((c) => c.getBoundingClientRect().toJSON() as DOMRect));
    assert.equal(boxes.length, 3);
    for (const b of boxes) {
      assert.ok(b.top >= 0 && b.left >= 0 && b.bottom <= VIEWPORT.height && b.right <= VIEWPORT.width, `card inside the screen: ${JSON.stringify(b)}`);
      assert.ok(b.height >= 300 && b.height <= VIEWPORT.height - 200, `card of a sensible height: ${b.height}px`);
    }
    assert.deepEqual(await page.locator('section.site h2').evaluateAll((hs) => hs.map((h) => h.firstChild?.textContent)), ['Site 1', 'Site 2', 'Site 3']);
    const scroll = await page.evaluate(() => ({ page: document.scrollingElement!.scrollHeight, list: getComputedStyle(document.getElementById('alarms')!).overflowY, aside: document.querySelector('aside')!.getBoundingClientRect().bottom }));
    assert.ok(scroll.page <= VIEWPORT.height, `the page fits the screen (${scroll.page}px)`);
    assert.equal(scroll.list, 'auto', 'the alarm list scrolls inside its card');
    assert.ok(scroll.aside <= VIEWPORT.height);
  });

  it('draws every chart with data: a production line per site, silo bars with their minimum, trucks by state', async () => {
    assert.ok(Number(await page.getAttribute('[data-chart="production"]', 'data-points')) >= 2);
    for (const site of ['1', '2', '3']) {
      assert.ok(Number(await page.getAttribute(`[data-site="${site}"] [data-chart="silos"]`, 'data-points')) >= 4, `site ${site}: four materials`);
      assert.equal(await page.getAttribute(`[data-site="${site}"] [data-chart="trucks"]`, 'data-points'), '4');
    }
    // Drawn, not just given data: the series' colours are on the canvases.
    const perSite = (await page.getAttribute('[data-chart="production"]', 'data-series-points'))!.split(',').map(Number);
    assert.equal(perSite.length, 3, 'a line per site');
    assert.ok(perSite.every((n) => n >= 2), `every line has a segment: ${perSite}`);
    // Lines may hide one another where they run together; together they are drawn, each in its colour somewhere.
    const production = await colourPixels(page, '[data-chart="production"] canvas', SITE_COLOURS);
    if (production.reduce((a, b) => a + b, 0) < 300 || production.filter((n) => n > 0).length < 2) {
      const shot = join(dataDir, 'failed.png');
      await page.screenshot({ path: shot });
      const legend = await page.locator('[data-chart="production"] .legend').innerText();
      assert.fail(`the lines are not drawn: ${JSON.stringify(production)} pixels of ${SITE_COLOURS.join(', ')}; legend ${JSON.stringify(legend)}; points ${await page.getAttribute('[data-chart="production"]', 'data-points')}; screenshot ${shot}`);
    }
    for (const site of ['1', '2', '3']) {
      // Bars blue (or red when low); the minimum markers red.
      const [blue, red] = await colourPixels(page, `[data-site="${site}"] [data-chart="silos"] canvas`, SILO_COLOURS);
      assert.ok(blue! + red! > 200, `site ${site}: silo bars drawn`);
      assert.ok(red! > 0, `site ${site}: minimum markers drawn`);
      const trucks = await colourPixels(page, `[data-site="${site}"] [data-chart="trucks"] canvas`, TRUCK_COLOURS);
      assert.ok(trucks.reduce((a, b) => a + b, 0) > 200, `site ${site}: truck bars drawn`);
    }
  });

  it('lists open alarms above acknowledged ones, most severe and newest first; acknowledged ones muted', async () => {
    // The feed is live: wait until it holds both kinds, then read it in one go.
    await page.waitForFunction(() => document.querySelector('#alarms [data-status="open"]') !== null && document.querySelector('#alarms [data-status="acknowledged"]') !== null, undefined, { timeout: 30_000 });
    // In one evaluation: the feed re-renders on every alarm event, and a detached item has no style.
    const rows = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#alarms li.alarm')).map((li) => ({ status: li.getAttribute('data-status'), level: li.getAttribute('data-level'), offset: Number(li.getAttribute('data-offset')), opacity: Number(getComputedStyle(li).opacity), shown: (li.querySelector('.status') ?? li.querySelector('button'))!.textContent })),
    );
    const firstAcked = rows.findIndex((r) => r.status === 'acknowledged');
    assert.ok(rows.some((r) => r.status === 'open') && firstAcked > 0, 'open alarms, then acknowledged ones');
    assert.ok(
      rows.slice(firstAcked).every((r) => r.status === 'acknowledged'),
      'no open alarm below an acknowledged one',
    );
    const rank: Record<string, number> = { critical: 0, high: 1, medium: 2, warning: 2, low: 3 };
    const openRanks = rows.slice(0, firstAcked).map((r) => rank[r.level!] ?? 4);
    assert.deepEqual(openRanks, [...openRanks].sort((a, b) => a - b), 'open alarms by severity');
    for (let i = 1; i < rows.length; i++) {
      const [p, q] = [rows[i - 1]!, rows[i]!];
      if (p.status === q.status && p.level === q.level) assert.ok(p.offset > q.offset, `newest first among ${q.status} ${q.level} alarms`);
    }
    for (const r of rows.slice(firstAcked)) assert.ok(r.opacity < 0.8 && r.shown === 'Acknowledged', `muted: ${JSON.stringify(r)}`);
    for (const r of rows.slice(0, firstAcked)) assert.ok(r.opacity === 1 && r.shown === 'Acknowledge', `not muted, with its button: ${JSON.stringify(r)}`);
  });

  it('writes states as words: "In transit", never in_transit; nothing on the console under a strict CSP', async () => {
    const text = await page.locator('body').innerText();
    assert.match(text, /In transit/);
    assert.match(text, /In production/);
    assert.doesNotMatch(text, /\b[a-z]+_[a-z_]+\b/, 'no snake_case code on screen');
    // Under a policy without inline scripts or styles: a violation would be on the console.
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /style-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.deepEqual(problems, []);
  });

  it('takes the screenshot of the docs (written with UPDATE_SCREENSHOTS=1)', async () => {
    const png = await page.screenshot({ type: 'png' });
    // A PNG of the viewport's size: signature, then IHDR's width and height.
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [VIEWPORT.width, VIEWPORT.height]);
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      writeFileSync(SCREENSHOT, png);
      console.log(`wrote ${SCREENSHOT}`);
    }
  });
});

async function view<T>(url: string, token: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined; // not listening yet
  }
}

const until = (condition: () => Promise<boolean>, timeoutMs: number) => waitFor(condition, { timeoutMs, everyMs: 250, what: 'the condition' });

/** How many pixels of each canvas under `selector` are (nearly) each colour. */
function colourPixels(page: Page, selector: string, colours: readonly string[]): Promise<number[]> {
  return page.locator(selector).evaluateAll((canvases, hexes) => {
    const targets = hexes.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    const counts = targets.map(() => 0);
    for (const c of canvases as HTMLCanvasElement[]) {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      for (let p = 0; p < data.length; p += 4) {
        if (data[p + 3]! < 200) continue;
        targets.forEach((t, i) => {
          if (Math.abs(data[p]! - t[0]!) + Math.abs(data[p + 1]! - t[1]!) + Math.abs(data[p + 2]! - t[2]!) < 24) counts[i]!++;
        });
      }
    }
    return counts;
  }, colours);
}

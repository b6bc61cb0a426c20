/**
 * The seed's React hook and Vue composable, verbatim (socket.io-client, default
 * transports, `auth: {token}`), bundled as an app would be and run in headless
 * Chromium from another origin against a real hub: only the URL is the hub's.
 * They show `connected`, render events of their site and nothing of another,
 * and get what was appended while the hub restarted.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { HubPublisher } from '../protocol/publisher.ts';
import { bundleForBrowser, launchChromium, modulePage, PageServer } from './support/browser.ts';
import { freePort, uniqueNamespace } from './support/nats.ts';
import type { SeedAppProps } from './support/seed-frontend/seed-app.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const FRAMEWORKS = ['react', 'vue'] as const;
const VUE_FLAGS = { __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' };
/** The URL the seed's code connects to; the one thing a plant changes. */
const SEED_URL = 'ws://localhost:3000/ws';

describe("the seed's front-ends in a browser, unchanged", () => {
  const ns = uniqueNamespace();
  let port: number;
  let hub: TestHub;
  let pub: HubPublisher;
  let browser: Browser;
  let pages: PageServer;

  before(async () => {
    port = await freePort();
    const assets: Record<string, { type: string; body: string }> = {};
    for (const framework of FRAMEWORKS) {
      const entry = fileURLToPath(new URL(`./support/seed-frontend/${framework}-app.ts`, import.meta.url));
      const bundle = await bundleForBrowser(entry, framework === 'vue' ? VUE_FLAGS : {});
      assert.ok(bundle.includes(SEED_URL), "the bundle holds the seed's URL");
      assets[`/${framework}`] = modulePage(`seed ${framework}`, `/${framework}.js`);
      assets[`/${framework}.js`] = { type: 'text/javascript', body: bundle.replaceAll(SEED_URL, `ws://127.0.0.1:${port}/ws`) };
    }
    pages = await PageServer.start(assets);
    browser = await launchChromium();
    hub = await startTestHub({ HUB_NAMESPACE: ns }, { port });
    pub = await HubPublisher.connect({ servers: hub.natsUrl, namespace: ns });
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await pub?.close();
    await hub?.stop();
  });

  const text = (page: Page, id: string) => page.evaluate((i) => document.getElementById(i)?.textContent ?? '', id);

  /** Appends until the page shows it: the app subscribes after `connected`, on its own schedule. */
  async function appendUntilShown(page: Page, framework: string, round: string): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await pub.sendAlarmNotification({ id: i, siteId: 1, title: `${framework}-${round}-${i}`, level: 'critical' });
      const shown = await page
        .waitForFunction((t) => document.getElementById('alarm')?.textContent === t, `${framework}-${round}-${i}`, { timeout: 250 })
        .then(() => true, () => false);
      if (shown) return;
    }
    assert.fail(`no alarm of round ${round} was rendered`);
  }

  for (const framework of FRAMEWORKS) {
    it(`${framework}: connects, renders its site's events and not another's, and misses nothing across a hub restart`, async () => {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${pages.origin}/${framework}`);
      await page.waitForFunction(() => window.seedApp !== undefined);
      const props: SeedAppProps = { token: await hub.token({ sub: `${framework}-operator`, sites: [1] }) };
      await page.evaluate((p) => window.seedApp!.mount(p), props);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');

      await appendUntilShown(page, framework, 'first');
      await pub.sendProductionUpdate(1, { type: 'batch_started', batch: { id: 77 } });
      await page.waitForFunction(() => document.getElementById('production')?.textContent === 'batch_started 77');
      // Another site's alarm never shows; the next one of site 1 does.
      await pub.sendAlarmNotification({ id: 1000, siteId: 2, title: 'site 2 only' });
      await pub.sendAlarmNotification({ id: 1001, siteId: 1, title: `${framework}-after-site-2` });
      await page.waitForFunction((t) => document.getElementById('alarm')?.textContent === t, `${framework}-after-site-2`);

      // The hub restarts; an alarm is raised while none runs.
      await hub.stop({ drop: false });
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'disconnected');
      await pub.sendAlarmNotification({ id: 2000, siteId: 1, title: `${framework}-while-down`, level: 'critical' });
      hub = await startTestHub({ HUB_NAMESPACE: ns }, { port });
      await page.waitForFunction((t) => document.getElementById('alarm')?.textContent === t, `${framework}-while-down`, { timeout: 20_000 });
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');
      assert.notEqual(await text(page, 'alarm'), 'site 2 only');

      await page.evaluate(() => window.seedApp!.unmount());
      await page.close();
      assert.deepEqual(pageErrors, []);
    });
  }
});

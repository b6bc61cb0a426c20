/**
 * The React and Vue `useWebSocket` examples (docs/examples), in a real browser:
 * each page is bundled with esbuild as an app would be, mounted in headless
 * Chromium against a real hub, and must show `connected`, render an event it
 * received, and close its socket when the component unmounts.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { HubPublisher } from '../protocol/publisher.ts';
import { bundleForBrowser, describeWithChromium, launchChromium, modulePage, PageServer } from './support/browser.ts';
import type { HookAppProps } from './support/hook-apps/mount.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

const FRAMEWORKS = ['react', 'vue'] as const;
const VUE_FLAGS = { __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' };

const until = (predicate: () => boolean, timeoutMs: number, what: string) => waitFor(predicate, { timeoutMs, what });

describeWithChromium('useWebSocket hooks in a browser', () => {
  let t: TestHub;
  let pub: HubPublisher;
  let browser: Browser;
  let pages: PageServer;

  before(async () => {
    const assets: Record<string, { type: string; body: string }> = {};
    for (const framework of FRAMEWORKS) {
      const entry = fileURLToPath(new URL(`./support/hook-apps/${framework}-app.ts`, import.meta.url));
      assets[`/${framework}`] = modulePage(`${framework} useWebSocket`, `/${framework}.js`);
      assets[`/${framework}.js`] = { type: 'text/javascript', body: await bundleForBrowser(entry, framework === 'vue' ? VUE_FLAGS : {}) };
    }
    pages = await PageServer.start(assets);
    browser = await launchChromium();
    t = await startTestHub();
    pub = await t.publisher();
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await t?.stop();
  });

  for (const framework of FRAMEWORKS) {
    it(`${framework}: shows connected, renders a received event, and closes its socket on unmount`, async () => {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${pages.origin}/${framework}`);
      await page.waitForFunction(() => window.hookApp !== undefined);
      assert.equal(t.hub.connections, 0);

      const props: HookAppProps = { url: t.wsUrl, token: await t.token({ sub: `${framework}-user`, sites: [1] }), siteId: 1 };
      await page.evaluate((p) => window.hookApp!.mount(p), props);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');

      // The component subscribes once its client exists; append until one of its events shows.
      let shown = false;
      for (let i = 0; i < 20 && !shown; i++) {
        await pub.sendTaskUpdate(1, { id: `${framework}-${i}`, status: 'loading' });
        shown = await page
          .waitForFunction((id) => document.getElementById('task')?.textContent === id, `${framework}-${i}`, { timeout: 500 })
          .then(() => true, () => false);
      }
      assert.ok(shown, 'a task:update of the subscribed site is rendered');
      // StrictMode mounts effects twice: exactly one connection must remain.
      await until(() => t.hub.connections === 1, 5000, 'one connection');

      await page.evaluate(() => window.hookApp!.unmount());
      await until(() => t.hub.connections === 0, 5000, 'the socket to close on unmount');
      assert.deepEqual(pageErrors, []);
      await page.close();
    });
  }
});

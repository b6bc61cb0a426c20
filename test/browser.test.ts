/**
 * HubClient in a real browser: the protocol's browser entry, bundled with esbuild,
 * runs in headless Chromium against a real hub. Chromium is required: without it
 * these tests fail (run `bash .ci/run`, or `apt-get install chromium`).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import type { EventMeta } from '../protocol/codec.ts';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { type Asset, describeWithChromium, launchChromium, PageServer } from './support/browser.ts';
import { TestClock } from './support/test-clock.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { scrapedCounter } from './support/scraped-counter.ts';
import { waitFor } from './support/wait-for.ts';

const CLIENT_ENTRY = fileURLToPath(new URL('../protocol/client.ts', import.meta.url));

interface Bundle {
  readonly code: string;
  /** Source files esbuild pulled in, relative to the project. */
  readonly inputs: readonly string[];
}

/** Bundles HubClient for browsers, as a web app would. `platform: 'browser'` fails on any node: import. */
async function bundleClient(): Promise<Bundle> {
  const result = await build({ entryPoints: [CLIENT_ENTRY], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, metafile: true, logLevel: 'silent' });
  return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) };
}

/** The page imports the bundle and exposes HubClient to the test's scripts. */
function pageAssets(bundle: string): Record<string, Asset> {
  return {
    '/': { type: 'text/html', body: `<!doctype html><meta charset="utf-8"><title>hub client</title><script type="module">import { HubClient } from '/hub-client.js'; window.HubClient = HubClient;</script>` },
    '/hub-client.js': { type: 'text/javascript', body: bundle },
  };
}

interface Received {
  readonly name: string;
  readonly data: any;
  readonly meta: EventMeta | undefined;
}

/** Opens the page, connects a HubClient in it and records every event it receives in `window.received`. */
async function connectInPage(browser: Browser, origin: string, options: { url: string; token: string; format?: 'msgpack' | 'json' }): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(origin + '/');
  await page.waitForFunction(() => 'HubClient' in window);
  await page.evaluate(async (o) => {
    const w = window as any;
    w.received = [];
    const client = new w.HubClient(o);
    for (const name of ['task:update', 'alarm:new', 'system:message', 'error', 'disconnect']) client.on(name, (data: unknown, meta: unknown) => w.received.push({ name, data, meta }));
    w.client = client;
    await client.connect();
  }, options);
  return page;
}

/** Runs a HubClient call in the page; resolves with its result, or the HubError it rejected with. */
function callInPage(page: Page, method: string, ...args: unknown[]): Promise<{ ok: unknown } | { error: { name: string; code: number; message: string } }> {
  return page.evaluate(
    async ([m, a]) => {
      try {
        return { ok: await (window as any).client[m as string](...(a as unknown[])) };
      } catch (e: any) {
        return { error: { name: e.name, code: e.code, message: e.message } };
      }
    },
    [method, args] as const,
  );
}

function received(page: Page): Promise<Received[]> {
  return page.evaluate(() => (window as any).received as Received[]);
}

describeWithChromium('HubClient in a browser', () => {
  let bundle: Bundle;
  let browser: Browser;
  let pages: PageServer;
  let otherPages: PageServer;
  let t: TestHub;
  let pub: HubPublisher;

  before(async () => {
    bundle = await bundleClient();
    pages = await PageServer.start(pageAssets(bundle.code));
    otherPages = await PageServer.start(pageAssets(bundle.code));
    browser = await launchChromium();
    // Only the test page's origin may connect, as a deployment would configure it.
    t = await startTestHub({ HUB_ALLOWED_ORIGINS: pages.origin });
    pub = await t.publisher();
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    await pages?.close();
    await otherPages?.close();
  });

  it('bundles for the browser without node: imports or server code', () => {
    assert.doesNotMatch(bundle.code, /["']node:[\w/]+["']/);
    // esbuild names packages by their real path: `../main/node_modules/…` where node_modules is a symlink (a git worktree).
    const outside = bundle.inputs.filter((file) => !file.startsWith('protocol/') && !/^(\.\.\/[^/]+\/)?node_modules\/@msgpack\//.test(file));
    assert.deepEqual(outside, [], 'the browser entry pulls in only protocol/ and @msgpack/msgpack');
    assert.ok(!bundle.inputs.includes('protocol/publisher.ts'), 'HubPublisher stays out of the browser bundle');
  });

  for (const format of ['msgpack', 'json'] as const) {
    it(`receives its site's events with their offsets, and not another site's (${format})`, async () => {
      const page = await connectInPage(browser, pages.origin, { url: t.wsUrl, token: await t.token({ sub: `browser-${format}`, sites: [1, 2] }), format });
      const reply = (await callInPage(page, 'subscribeSite', 1)) as { ok: { siteId: unknown; message: string; offset: number; epoch: string } };
      assert.equal(reply.ok.siteId, 1);
      assert.equal(reply.ok.message, 'subscribed to site 1');
      assert.ok(Number.isInteger(reply.ok.offset), 'the reply says where live delivery starts');

      const task = { id: 42, status: 'delivering', driver: '王师傅', volume: 8.5, tags: ['C30', null] };
      // Same log, appended in this order: once site 1's event arrives, site 2's was already fanned out.
      await pub.sendTaskUpdate(2, { id: 99, status: 'site 2 only' });
      const offset = await pub.sendTaskUpdate(1, task);
      await page.waitForFunction(() => (window as any).received.some((e: Received) => e.name === 'task:update'));

      const events = (await received(page)).filter((e) => e.name === 'task:update');
      assert.equal(events.length, 1, `expected only site 1's task, got ${JSON.stringify(events)}`);
      assert.deepEqual(events[0]!.data, task);
      assert.equal(events[0]!.meta?.offset, offset);
      assert.equal(events[0]!.meta?.stream, 'site');
      assert.equal(events[0]!.meta?.epoch, reply.ok.epoch);
      assert.ok(Math.abs(events[0]!.meta!.ts - Date.now()) < 10_000);
      await page.close();
    });
  }

  it('rejects a subscription to a site outside the token with a HubError, and stays connected', async () => {
    const page = await connectInPage(browser, pages.origin, { url: t.wsUrl, token: await t.token({ sub: 'browser-limited', sites: [1] }) });
    const refused = await callInPage(page, 'subscribeSite', 3);
    assert.deepEqual(refused, { error: { name: 'HubError', code: ErrorCode.Forbidden, message: 'site 3 is not in your token' } });
    const pong = await callInPage(page, 'ping');
    assert.ok('ok' in pong, 'the connection still answers after the refusal');
    await page.close();
  });

  it('is refused with 4403 when the page comes from an origin the hub does not allow', async () => {
    const page = await browser.newPage();
    await page.goto(otherPages.origin + '/');
    await page.waitForFunction(() => 'HubClient' in window);
    const outcome = await page.evaluate(async (o) => {
      const client = new (window as any).HubClient(o);
      try {
        await client.connect();
        return { connected: true };
      } catch (e: any) {
        return { name: e.name, code: e.code, message: e.message };
      }
    }, { url: t.wsUrl, token: await t.token({ sub: 'browser-elsewhere', sites: [1] }) });
    assert.deepEqual(outcome, { name: 'HubError', code: CloseCode.ForbiddenOrigin, message: 'origin not allowed' });
    await page.close();
  });

  describe('with writes coalesced (HUB_WRITE_DELAY_MS on a clock the test moves)', () => {
    const clock = new TestClock(Date.now());
    let slow: TestHub;
    let slowPub: HubPublisher;
    before(async () => {
      slow = await startTestHub({ HUB_ALLOWED_ORIGINS: pages.origin, HUB_WRITE_DELAY_MS: '1000' }, {}, { clock });
      slowPub = await slow.publisher();
    });
    after(() => slow?.stop());

    for (const format of ['msgpack', 'json'] as const) {
      it(`unpacks a batch message: every event in order, with its meta (${format})`, async () => {
        const page = await browser.newPage();
        await page.goto(pages.origin + '/');
        await page.waitForFunction(() => 'HubClient' in window);
        // A WebSocket that counts the messages under HubClient, to show the events did come as one (a string:
        // the test's own transform would name the class with a helper the page does not have).
        await page.evaluate(`window.messages = 0; window.CountingWebSocket = class extends WebSocket {
          constructor(url, protocols) { super(url, protocols); this.addEventListener('message', () => window.messages++); }
        };`);
        await page.evaluate(async (o) => {
          const w = window as any;
          w.received = [];
          const client = new w.HubClient({ ...o, WebSocket: w.CountingWebSocket });
          client.on('task:update', (data: unknown, meta: unknown) => w.received.push({ name: 'task:update', data, meta }));
          w.client = client;
          await client.connect();
          await client.subscribeSite(7);
        }, { url: slow.wsUrl, token: await slow.token({ sub: `browser-batch-${format}`, sites: [7] }), format });
        // The site's first event (or the first after a pause) goes out at once: nothing before it says another is
        // near. Those right behind it (the test's clock does not move) are held for the delay.
        const taken = await eventsTaken(slow);
        await slowPub.sendTaskUpdate(7, { id: 'lead' });
        await page.waitForFunction(() => (window as any).received.length === 1);
        const before = await page.evaluate(() => (window as any).messages as number);
        const offsets: number[] = [];
        for (let i = 0; i < 3; i++) offsets.push(await slowPub.sendTaskUpdate(7, { id: i, note: '批次' }));
        await waitFor(async () => (await eventsTaken(slow)) >= taken + 4, { what: 'the hub taking the three events from the log' });
        clock.advance(1000);
        await page.waitForFunction(() => (window as any).received.length === 4);
        const events = (await received(page)).slice(1);
        assert.deepEqual(events.map((e) => e.meta?.offset), offsets);
        assert.deepEqual(events.map((e) => e.data), [0, 1, 2].map((i) => ({ id: i, note: '批次' })));
        assert.ok(events.every((e) => e.meta?.site === '7' && e.meta.stream === 'site'));
        assert.equal((await page.evaluate(() => (window as any).messages as number)) - before, 1, 'one message carried the three events');
        await page.close();
      });
    }
  });
});

/** Events a hub has taken from the log, from its metrics (counted before they are handed to the sockets). */
function eventsTaken(hub: TestHub): Promise<number> {
  return scrapedCounter(hub.httpUrl, 'hub_events_total');
}

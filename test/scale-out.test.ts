/**
 * Scale-out: several hubs on one NATS behave as one. Clients spread over three
 * hubs each get every event of their sites exactly once, online counts add up
 * across hubs, a client resumes on any hub, and a rolling restart of two hubs
 * under a steady producer loses and duplicates nothing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { HubPublisher } from '../protocol/publisher.ts';
import { freePort } from './support/nats.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 400, jitter: 0.3 };
const SITES = [1, 2, 3, 4, 5] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The event that closes a tally ({@link tallyFinal}); not part of what the tests count. */
const MARKER_EVENT = 'order:update';

/** Offsets of the site events a client was handed, in arrival order. */
function siteOffsets(r: Recorder): number[] {
  return r.received.filter((e) => e.meta?.stream === 'site' && e.name !== MARKER_EVENT).map((e) => e.meta!.offset);
}

/**
 * Once every client has what was appended: one marker per site, and each client waits for those of its
 * sites. A connection delivers a site's events in log order, so any duplicate would have come before the
 * marker: the tally is final without a timed wait.
 */
async function tallyFinal(pub: HubPublisher, clients: ReadonlyArray<{ r: Recorder; sites: readonly number[] }>, timeoutMs: number): Promise<void> {
  const markers = new Set<number>();
  for (const site of SITES) markers.add(await pub.sendOrderUpdate(site, { id: 'end-of-test marker' }));
  await Promise.all(clients.map((c) => c.r.waitFor((rs) => rs.filter((e) => e.name === MARKER_EVENT && markers.has(e.meta!.offset)).length >= c.sites.length, timeoutMs)));
}

/** The offsets a client of `sites` must get, ascending, from what was appended. */
function expectedFor(appended: ReadonlyArray<{ site: number; offset: number }>, sites: readonly number[]): number[] {
  return appended.filter((a) => sites.includes(a.site)).map((a) => a.offset);
}

function assertExactlyOnce(r: Recorder, expected: number[], who: string): void {
  const got = siteOffsets(r);
  const seen = new Set(got);
  assert.equal(seen.size, got.length, `${who}: duplicates ${got.filter((o, i) => got.indexOf(o) !== i).slice(0, 10)}`);
  const missing = expected.filter((o) => !seen.has(o));
  assert.deepEqual(missing, [], `${who}: lost ${missing.length} of ${expected.length}`);
  const extra = got.filter((o) => !expected.includes(o));
  assert.deepEqual(extra, [], `${who}: events of sites it does not watch`);
  // Within one site, offsets arrive in order (a resume replays in order, then live goes on).
  for (const site of new Set(r.received.filter((e) => e.meta?.stream === 'site').map((e) => e.meta!.site))) {
    const ofSite = r.received.filter((e) => e.meta?.site === site).map((e) => e.meta!.offset);
    assert.deepEqual(ofSite, [...ofSite].sort((a, b) => a - b), `${who}: site ${site} out of order`);
  }
}

async function waitAll(clients: Array<{ r: Recorder; sites: number[] }>, appended: ReadonlyArray<{ site: number; offset: number }>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const c of clients) {
    const want = expectedFor(appended, c.sites).length;
    await c.r.waitFor(() => new Set(siteOffsets(c.r)).size >= want, Math.max(100, deadline - Date.now())).catch(() => {});
  }
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}

/** Appends one event, alternating normal and critical, to a site; returns where it was stored. */
async function appendOne(pub: HubPublisher, site: number, i: number): Promise<{ site: number; offset: number }> {
  const offset = i % 10 === 0 ? await pub.sendAlarmNotification({ id: `alarm-${i}`, siteId: site, title: 'scale', level: 'high' }) : await pub.sendTaskUpdate(site, { id: i, status: 'loading' });
  return { site, offset };
}

describe('three hubs on one NATS', () => {
  const hubs: TestHub[] = [];
  const clients: Array<{ r: Recorder; sites: number[]; user: string; hub: number }> = [];
  let pub: HubPublisher;
  const appended: Array<{ site: number; offset: number }> = [];

  after(async () => {
    for (const c of clients) c.r.close();
    // Hub 2 was stopped by a test; its TestHub holds no publisher.
    await hubs[1]?.stop({ drop: false }).catch(() => {});
    await hubs[0]?.stop().catch(() => {});
  });

  it('connects 150 clients of 100 users across three hubs; each gets every event of its sites exactly once', async () => {
    const first = await startTestHub();
    hubs.push(first);
    for (let i = 0; i < 2; i++) hubs.push(await startTestHub({ HUB_NAMESPACE: first.ns }));
    pub = await first.publisher();
    // Users 0–49 have two connections each, on different hubs; users 50–99 one.
    const plan = Array.from({ length: 150 }, (_, i) => {
      const user = i < 100 ? i % 50 : i - 50;
      const sites = [SITES[i % SITES.length]!, ...(i % 3 === 0 ? [SITES[(i + 2) % SITES.length]!] : [])];
      return { user: `user-${user}`, sites, hub: i % 3 };
    });
    await Promise.all(
      plan.map(async (p) => {
        const own = hubs[p.hub]!;
        const next = hubs[(p.hub + 1) % 3]!;
        const r = await Recorder.connect([own.wsUrl, next.wsUrl], await own.token({ sub: p.user, sites: p.sites }), { reconnect: FAST_RECONNECT });
        for (const s of p.sites) await r.client.subscribeSite(s);
        clients.push({ r, ...p });
      }),
    );
    assert.deepEqual(hubs.map((h) => h.hub.connections), [50, 50, 50]);
    for (let i = 0; i < 300; i++) appended.push(await appendOne(pub, SITES[i % SITES.length]!, i));
    await waitAll(clients, appended, 15_000);
    await tallyFinal(pub, clients, 15_000);
    for (const c of clients) assertExactlyOnce(c.r, expectedFor(appended, c.sites), `${c.user} on hub ${c.hub}`);
  });

  it('counts online users and connections cluster-wide, the same from every hub and from HubPublisher', async () => {
    const users = new Set(clients.map((c) => c.user));
    const perSite = new Map(SITES.map((s) => [String(s), new Set(clients.filter((c) => c.sites.includes(s)).map((c) => c.user)).size]));
    for (const h of hubs) {
      const stats = await until(
        async () => (await fetch(`${h.httpUrl}/api/stats/online`)).json() as Promise<{ users: number; connections: number; hubs: number; sites: Record<string, { users: number }> }>,
        (s) => s.users === users.size && s.connections === 150 && s.hubs === 3,
      );
      assert.equal(stats.users, 100);
      assert.equal(stats.connections, 150);
      assert.equal(stats.hubs, 3);
      for (const [site, n] of perSite) assert.equal(stats.sites[site]?.users, n, `site ${site} on ${h.httpUrl}`);
    }
    assert.equal(await pub.getOnlineUsersCount(), 100);
    for (const [site, n] of perSite) assert.equal(await pub.getSiteOnlineUsersCount(site), n);
  });

  it('resumes the clients of a stopped hub on the others, exactly once, while events keep coming', async () => {
    const stopped = hubs[2]!;
    const moving = clients.filter((c) => c.hub === 2);
    const producing = (async () => {
      for (let i = 300; i < 450; i++) {
        appended.push(await appendOne(pub, SITES[i % SITES.length]!, i));
        if (i === 330) await stopped.hub.stop();
      }
    })();
    await producing;
    await waitAll(clients, appended, 20_000);
    await tallyFinal(pub, clients, 20_000);
    for (const c of clients) assertExactlyOnce(c.r, expectedFor(appended, c.sites), `${c.user} (hub ${c.hub})`);
    for (const c of moving) {
      assert.ok(c.r.of('disconnect').some((d) => d.data.code === 4503), `${c.user} was told to reconnect`);
      assert.ok(c.r.of('recovered').every((d) => d.data.recovered === true), `${c.user} recovered`);
      assert.equal(c.r.client.connected, true);
    }
    assert.equal(hubs[0]!.hub.connections + hubs[1]!.hub.connections, 150);
    const stats = await until(
      async () => (await fetch(`${hubs[0]!.httpUrl}/api/stats/online`)).json() as Promise<{ users: number; connections: number }>,
      (s) => s.connections === 150 && s.users === 100,
    );
    assert.deepEqual([stats.users, stats.connections], [100, 150]);
  });
});

describe('rolling restart of two hubs under load', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('stop A, start A, stop B, start B while a producer appends: no client loses or repeats an event', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    let a = await startTestHub({}, { port: portA });
    const ns = a.ns;
    let b = await startTestHub({ HUB_NAMESPACE: ns }, { port: portB });
    const pub = await a.publisher();
    const clients: Array<{ r: Recorder; sites: number[] }> = [];
    cleanups.push(async () => {
      for (const c of clients) c.r.close();
      // The first A and B were stopped by the test; A's publisher went with neither.
      await pub.close();
      await b.stop({ drop: false });
      await a.stop();
    });
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const urls = i % 2 === 0 ? [a.wsUrl, b.wsUrl] : [b.wsUrl, a.wsUrl];
        const sites = [SITES[i % SITES.length]!];
        const r = await Recorder.connect(urls, await a.token({ sub: `roller-${i}`, sites }), { reconnect: FAST_RECONNECT });
        await r.client.subscribeSite(sites[0]!);
        await r.client.subscribeAlarms();
        clients.push({ r, sites });
      }),
    );

    const appended: Array<{ site: number; offset: number }> = [];
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        appended.push(await appendOne(pub, SITES[i % SITES.length]!, i));
        await sleep(3);
      }
    })();
    // Each phase begins once 40 more events were appended: counted, so a loaded machine cannot shrink it.
    const moreAppended = async (n: number) => {
      const from = appended.length;
      const now = await until(async () => appended.length, (count) => count >= from + n, 30_000);
      assert.ok(now >= from + n, `${n} more events appended (${now - from})`);
    };
    const phase = async (label: string, action: () => Promise<void>) => {
      await moreAppended(40);
      await action();
      assert.ok(appended.length > 0, label);
    };
    await phase('stop A', () => a.hub.stop());
    await phase('start A', async () => {
      a = await startTestHub({ HUB_NAMESPACE: ns }, { port: portA });
    });
    await phase('stop B', () => b.hub.stop());
    await phase('start B', async () => {
      b = await startTestHub({ HUB_NAMESPACE: ns }, { port: portB });
    });
    await moreAppended(40);
    producing = false;
    await producer;

    await waitAll(clients, appended, 20_000);
    await tallyFinal(pub, clients, 20_000);
    assert.ok(appended.length > 200, `${appended.length} events appended during the restarts`);
    for (const [i, c] of clients.entries()) assertExactlyOnce(c.r, expectedFor(appended, c.sites), `roller-${i}`);
    for (const c of clients) assert.equal(c.r.client.connected, true);
    assert.ok(clients.every((c) => c.r.of('disconnect').length >= 1), 'every client went through at least one restart');
    assert.equal(a.hub.connections + b.hub.connections, 60);
  });
});

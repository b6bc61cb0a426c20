/**
 * The views over HTTP: JWT with the socket's site rules, snapshots that carry
 * the offset and epoch a client resumes from (snapshot, then live, no gap), and
 * the NDJSON events export with its bounds and backpressure.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { createLogger } from '../hub/logger.ts';
import type { ProjectionWorker } from '../projections/projection-worker.ts';
import { ViewReader } from '../projections/view-reader.ts';
import { ProjectionHarness, SCHEMA, TIME_ZONE } from './support/projection-harness.ts';
import { Recorder } from './support/recorder.ts';
import { waitFor } from './support/wait-for.ts';
import { signToken, TEST_SECRET } from './support/test-hub.ts';

describe('views API', () => {
  let h: ProjectionHarness;
  let hub: Hub;
  let base: string;
  let dashboard: ProjectionWorker;
  let inventory: ProjectionWorker;
  const token = (sites: unknown, sub = 'viewer') => signToken(TEST_SECRET, { sub, sites });
  const get = async (path: string, jwt?: string) => {
    const res = await fetch(base + path, { headers: jwt === undefined ? {} : { authorization: `Bearer ${jwt}` } });
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') === true && !path.includes('/events') ? await res.json() : await res.text() };
  };

  before(async () => {
    h = await ProjectionHarness.start();
    dashboard = h.startWorker('dashboard');
    inventory = h.startWorker('inventory');
    const config = loadConfig({ HUB_JWT_SECRET: TEST_SECRET, HUB_NAMESPACE: h.ns, NATS_URL: h.natsUrl, HUB_PORT: '0', HUB_HOST: '127.0.0.1' });
    hub = await Hub.start(config, createLogger('silent'), { reader: new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE) });
    base = `http://127.0.0.1:${hub.port}`;
  });
  after(async () => {
    await hub.stop();
    await h.stop();
  });

  it('refuses without a token (401), outside the token’s sites (403), and a malformed site id (400)', async () => {
    assert.equal((await get('/api/sites/1/dashboard')).status, 401);
    assert.equal((await get('/api/sites/1/dashboard', 'not.a.jwt')).status, 401);
    const only2 = await token([2]);
    assert.equal((await get('/api/sites/1/dashboard', only2)).status, 403);
    assert.equal((await get('/api/sites/1/inventory', only2)).status, 403);
    assert.equal((await get('/api/sites/1/events', only2)).status, 403);
    assert.equal((await get('/api/sites/a.b/dashboard', await token('*'))).status, 400);
  });

  it('serves the dashboard and inventory snapshots with their offset and the site stream’s epoch', async () => {
    await h.append({ event: 'production:update', siteId: 1, data: { type: 'batch_started', batch: { id: 'b1', volume: 8 } } });
    await h.append({ event: 'task:update', siteId: 1, data: { id: 1, status: 'loading' } });
    const last = await h.append({ event: 'inventory:update', siteId: 1, data: { type: 'stock_in', material: { id: 'cement', unit: 't', threshold: 10 }, quantity: 30 } });
    await dashboard.waitFor(last);
    await inventory.waitFor(last);
    const jwt = await token([1]);
    const d = await get('/api/sites/1/dashboard', jwt);
    assert.equal(d.status, 200);
    assert.equal(d.body.siteId, '1');
    assert.equal(d.body.offset, dashboard.position);
    assert.deepEqual(d.body.tasks, { loading: 1 });
    assert.equal(d.body.production.byStatus.in_progress.batches, 1);
    assert.equal(typeof d.body.epoch, 'string');
    const i = await get('/api/sites/1/inventory', jwt);
    assert.equal(i.status, 200);
    assert.deepEqual(i.body.items.map((x: any) => [x.materialId, x.onHand, x.low]), [['cement', 30, false]]);
    assert.equal(i.body.offset, last);
    assert.equal(i.body.epoch, d.body.epoch);
    // The epoch is the one live events carry.
    const r = await Recorder.connect(`ws://127.0.0.1:${hub.port}/ws`, await token([1]));
    await r.client.subscribeSite(1);
    await h.append({ event: 'task:update', siteId: 1, data: { id: 2, status: 'pending' } });
    await r.waitFor((x) => x.some((e) => e.name === 'task:update'));
    assert.equal(r.of('task:update')[0]!.meta?.epoch, d.body.epoch);
    r.close();
    assert.deepEqual((await get('/api/sites', await token([1, 9]))).body, { sites: ['1'] });
  });

  it('snapshot, then live from the snapshot’s offset: the events after it, each once, none before', async () => {
    const site = 3;
    for (let i = 0; i < 20; i++) await h.append({ event: 'task:update', siteId: site, data: { id: i, status: 'pending' } });
    await dashboard.waitFor(await h.streamLastSeq());
    const jwt = await token([site]);
    const snapshot = (await get(`/api/sites/${site}/dashboard`, jwt)).body;
    // Events the snapshot does not reflect yet: appended after it was read.
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push(await h.append({ event: 'task:update', siteId: site, data: { id: i, status: 'loading' } }));
    const r = await Recorder.connect(`ws://127.0.0.1:${hub.port}/ws`, jwt);
    await r.client.request('subscribe:site', { siteId: site, offset: snapshot.offset, epoch: snapshot.epoch });
    const live = await h.append({ event: 'task:update', siteId: site, data: { id: 99, status: 'pending' } });
    await r.waitFor((x) => x.some((e) => e.meta?.offset === live));
    const offsets = r.of('task:update').map((e) => e.meta!.offset);
    assert.deepEqual(offsets, [...after, live]);
    // Folding them over the snapshot gives the view the projection reaches.
    const tasks = { ...snapshot.tasks } as Record<string, number>;
    for (const e of r.of('task:update')) {
      const was = e.data.id === 99 ? undefined : 'pending';
      if (was !== undefined) tasks[was] = (tasks[was] ?? 0) - 1;
      tasks[e.data.status] = (tasks[e.data.status] ?? 0) + 1;
    }
    await dashboard.waitFor(live);
    assert.deepEqual(Object.fromEntries(Object.entries(tasks).filter(([, n]) => n !== 0)), (await get(`/api/sites/${site}/dashboard`, jwt)).body.tasks);
    r.close();
  });

  it('exports a site’s events as NDJSON between offsets or times, and only that site’s', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push(await h.append({ event: 'order:update', siteId: 5, data: { id: i, status: 'confirmed', note: '<b>"quoted"</b>\n' } }));
      await h.append({ event: 'order:update', siteId: 6, data: { id: i, status: 'confirmed' } });
    }
    const jwt = await token([5]);
    const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));
    const all = await get(`/api/sites/5/events?from=${encodeURIComponent(start)}`, jwt);
    assert.equal(all.status, 200);
    const events = lines(all.body);
    assert.deepEqual(events.map((e) => e.offset), seqs);
    assert.deepEqual(events[0], { offset: seqs[0], epoch: events[0].epoch, ts: events[0].ts, stream: 'site', site: '5', event: 'order:update', data: { id: 0, status: 'confirmed', note: '<b>"quoted"</b>\n' }, derived: false });
    assert.equal(typeof events[0].ts, 'number', 'ts in milliseconds, as on the WebSocket');
    assert.equal(events[0].epoch, (await get('/api/sites/5/dashboard', jwt)).body.epoch);
    assert.deepEqual(lines((await get(`/api/sites/5/events?from=${seqs[1]}&to=${seqs[3]}`, jwt)).body).map((e) => e.offset), seqs.slice(1, 4));
    const beyond = await get(`/api/sites/5/events?from=${seqs[4]! + 1000}`, jwt);
    assert.equal(beyond.status, 200);
    assert.equal(beyond.body, '');
    assert.equal((await get('/api/sites/5/events?from=yesterday', jwt)).status, 400);
    // Parameters it does not know, or values it cannot take, are refused rather than ignored.
    const refused = await get('/api/sites/5/events?event=order:update', jwt);
    assert.equal(refused.status, 400);
    assert.match(JSON.parse(refused.body).error, /unknown parameter "event" \(did you mean events\?\)/);
    assert.equal((await get('/api/sites/5/events?format=xml', jwt)).status, 400);
    assert.equal((await get('/api/sites/5/events?events=alarm:neu', jwt)).status, 400);
    assert.equal((await get('/api/sites/5/events?sites=6', jwt)).status, 400);
    const csv = await get(`/api/sites/5/events?from=${seqs[0]}&to=${seqs[1]}&format=csv`, jwt);
    assert.equal(csv.status, 200);
    assert.equal(csv.body.split('\r\n')[0], 'offset,epoch,ts,stream,site,user,event,data,derived');
    assert.equal(csv.body.split('\r\n').length, 4);
  });

  it('exports only the event asked for (`events=`), and refuses an event of another stream', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const batches: number[] = [];
    for (let i = 0; i < 3; i++) {
      await h.append({ event: 'order:update', siteId: 8, data: { id: i, status: 'confirmed' } });
      batches.push(await h.append({ event: 'production:update', siteId: 8, data: { type: 'batch_completed', batch: { id: `b${i}`, volume: 7 } } }));
    }
    const jwt = await token([8]);
    const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));
    const only = await get(`/api/sites/8/events?from=${encodeURIComponent(start)}&events=production:update`, jwt);
    assert.equal(only.status, 200);
    assert.deepEqual(lines(only.body).map((e) => [e.offset, e.event]), batches.map((o) => [o, 'production:update']));
    const between = await get(`/api/sites/8/events?from=${batches[0]}&to=${batches[1]}&events=production:update`, jwt);
    assert.deepEqual(lines(between.body).map((e) => e.offset), batches.slice(0, 2));
    const bad = await get('/api/sites/8/events?events=notification:new', jwt);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /is not in the site stream/);
  });

  it('streams a large export to a slow reader completely and in order, reading the log no faster than the client takes it', async () => {
    const site = 7;
    const payload = 'x'.repeat(10_000);
    const total = 3000; // 30 MB: far more than socket buffers hold
    const first = await h.append({ event: 'order:update', siteId: site, data: { id: 0, payload } });
    const appends = [];
    for (let i = 1; i < total; i++) appends.push({ event: 'order:update' as const, siteId: site, data: { id: i, payload } });
    const last = await h.appendAll(appends);
    const jwt = await token([site]);
    const received: number[] = [];
    let readWhilePaused = Number.POSITIVE_INFINITY;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${base}/api/sites/${site}/events?from=${first}`, { headers: { authorization: `Bearer ${jwt}` } }, (res) => {
        assert.equal(res.statusCode, 200);
        let buffered = '';
        let paused = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          const parts = buffered.split('\n');
          buffered = parts.pop()!;
          for (const p of parts) received.push(JSON.parse(p).data.id);
          if (!paused && received.length > 100) {
            // The client stops reading: the hub must stop reading the log soon after.
            paused = true;
            res.pause();
            // Wait until the hub's export consumer stops moving (same position over five polls), then resume.
            let seen = -1;
            let still = 0;
            waitFor(
              async () => {
                const now = await exportPosition(site);
                still = now === seen ? still + 1 : 0;
                seen = now;
                return still >= 5;
              },
              { what: 'the export to stop reading the log while its client does not read', everyMs: 100, timeoutMs: 20_000 },
            ).then(() => {
              readWhilePaused = seen;
              res.resume();
            }, reject);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received.length, total);
    assert.deepEqual(received, Array.from({ length: total }, (_, i) => i));
    assert.ok(readWhilePaused < last - 1000, `the hub read up to ${readWhilePaused} of ${last} while the client was not reading`);
  });

  it('streams an export of large events through many backpressure waits to the end', { timeout: 60_000 }, async () => {
    // 300 events of 50 KB: the write side fills several times over (once stalled for good: uWS calls only the first onWritable handler of a response).
    const site = 8;
    const payload = 'x'.repeat(50_000);
    const first = await h.append({ event: 'order:update', siteId: site, data: { id: 0, payload } });
    await h.appendAll(Array.from({ length: 299 }, (_, i) => ({ event: 'order:update' as const, siteId: site, data: { id: i + 1, payload } })));
    const res = await fetch(`${base}/api/sites/${site}/events?from=${first}`, { headers: { authorization: `Bearer ${await token([site])}` }, signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200);
    const ids = (await res.text()).trim().split('\n').map((l) => JSON.parse(l).data.id);
    assert.deepEqual(ids, Array.from({ length: 300 }, (_, i) => i));
  });

  /** How far the export's consumer has read the site's events. */
  async function exportPosition(site: number): Promise<number> {
    for await (const c of h.jsm.consumers.list(`${h.ns}_site`)) {
      if (c.config.filter_subject === `${h.ns}.site.${site}.>`) return c.delivered.stream_seq;
    }
    throw new Error('no export consumer');
  }
});

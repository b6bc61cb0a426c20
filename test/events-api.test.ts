/**
 * `GET /api/events/:stream`: any log, filtered, as NDJSON, CSV or Parquet (read
 * back by DuckDB), followed live; who may see what; parameters it does not know
 * refused; and no JetStream consumer left behind, however an export ends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { type StreamKey, streamName } from '../protocol/subjects.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

const SERVICE_TOKEN = 'service-token-for-the-events-api';

describe('events API', () => {
  let t: TestHub;
  let pub: HubPublisher;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dir: string;
  const get = async (path: string, bearer?: string) => {
    const res = await fetch(t.httpUrl + path, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  };
  const lines = (body: Buffer) => body.toString().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const consumers = async (stream: StreamKey = 'site') => (await jsm.streams.info(streamName(t.ns, stream))).state.consumer_count;
  /** The hub's own fan-out consumers (one ordered consumer per log): exports must add none that outlive them. */
  let baseline: number;
  const eventually = (what: string, check: () => Promise<boolean>) => waitFor(check, { what });

  before(async () => {
    t = await startTestHub({ HUB_SERVICE_TOKEN: SERVICE_TOKEN, HUB_EXPORT_STALL_MS: '1500', HUB_EVENT_ROLES: 'order:update=manager' });
    pub = await t.publisher();
    nc = await connect({ servers: t.natsUrl });
    jsm = await jetstreamManager(nc);
    dir = mkdtempSync(join(tmpdir(), 'events-api-'));
    baseline = await consumers();
  });
  after(async () => {
    await nc.close();
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports several sites, filtered by event and range, for a token holding them; refuses others (403) and unknown parameters (400)', async () => {
    const offsets: Record<string, number[]> = { '1': [], '2': [], '3': [] };
    for (let i = 0; i < 4; i++) {
      for (const site of ['1', '2', '3']) offsets[site]!.push(await pub.sendTaskUpdate(site, { id: i, status: 'loading' }));
      await pub.sendAlarmNotification({ id: `a${i}`, siteId: 1, level: 'warning' });
    }
    const viewer = await t.token({ sub: 'v', sites: [1, 2] });
    const r = await get('/api/events/site?sites=1,2&events=task:update', viewer);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/x-ndjson');
    const got = lines(r.body);
    assert.deepEqual(got.map((e) => e.offset), [...offsets['1']!, ...offsets['2']!].sort((a, b) => a - b));
    assert.ok(got.every((e) => e.event === 'task:update' && e.stream === 'site' && e.epoch === r.headers.get('x-log-epoch') && typeof e.ts === 'number' && e.derived === false));
    // No sites named: the token's own.
    assert.deepEqual(new Set(lines((await get('/api/events/site?events=task:update', viewer)).body).map((e) => e.site)), new Set(['1', '2']));
    assert.deepEqual(lines((await get(`/api/events/site?sites=2&from=${offsets['2']![1]}&to=${offsets['2']![2]}`, viewer)).body).map((e) => e.offset), offsets['2']!.slice(1, 3));
    assert.equal(lines((await get('/api/events/site?sites=1&limit=3', viewer)).body).length, 3);

    assert.equal((await get('/api/events/site?sites=3', viewer)).status, 403);
    assert.equal((await get('/api/events/site', undefined)).status, 401);
    assert.equal((await get('/api/events/sites', viewer)).status, 404);
    for (const [query, error] of [
      ['event=task:update', /unknown parameter "event" \(did you mean events\?\)/],
      ['users=1', /unknown parameter "users"/],
      ['format=xlsx', /format must be one of ndjson, csv, parquet/],
      ['format=csv&follow=1', /follow=1 streams NDJSON only/],
      ['events=task:updated', /not in the site stream/],
      ['sites=1&sites=2', /given twice/],
      ['limit=0', /limit must be/],
      ['from=last-week', /from must be an offset/],
    ] as const) {
      const bad = await get(`/api/events/site?${query}`, viewer);
      assert.equal(bad.status, 400, query);
      assert.match(JSON.parse(bad.body.toString()).error, error, query);
    }
    assert.equal(await consumers(), baseline);
  });

  it('lets a token read its own notifications only, the analyst role and the service token everything', async () => {
    const mine = await pub.sendUserNotification('ann@example.com', { title: 'for ann' });
    await pub.sendUserNotification('bob', { title: 'for bob' });
    const ann = await t.token({ sub: 'ann@example.com', sites: [] });
    const own = lines((await get('/api/events/user', ann)).body);
    assert.deepEqual(own.map((e) => [e.offset, e.user, e.data.title]), [[mine, 'ann@example.com', 'for ann']]);
    assert.equal((await get('/api/events/user?users=bob', ann)).status, 403);
    assert.equal((await get('/api/events/site', ann)).status, 403, 'a token with no site has no site events');
    const broadcast = await pub.sendGlobalNotification({ title: 'everyone' });
    assert.deepEqual(lines((await get('/api/events/global', ann)).body).map((e) => e.offset), [broadcast]);

    const analyst = await t.token({ sub: 'an', sites: [], role: 'analyst' });
    assert.deepEqual(lines((await get('/api/events/user', analyst)).body).map((e) => e.user), ['ann@example.com', 'bob']);
    assert.deepEqual(lines((await get('/api/events/user?users=bob', SERVICE_TOKEN)).body).map((e) => e.user), ['bob']);
    // Events restricted to a role (HUB_EVENT_ROLES) stay out of other tokens' exports, as they do on the socket.
    const order = await pub.sendOrderUpdate(9, { id: 1, status: 'confirmed' });
    const nine = await t.token({ sub: 'n', sites: [9] });
    assert.deepEqual(lines((await get('/api/events/site', nine)).body), []);
    assert.equal((await get('/api/events/site?events=order:update', nine)).status, 403);
    assert.deepEqual(lines((await get('/api/events/site?sites=9', analyst)).body).map((e) => e.offset), [order]);
  });

  it('marks derived events in the WebSocket meta as in exports, and leaves domain events’ meta as it was', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ws', sites: [50] }));
    await r.client.subscribeSite(50);
    const domain = await pub.sendTaskUpdate(50, { id: 1, status: 'x' });
    const derived = (await appendToLog(jetstream(nc), buildAppend(t.ns, { event: 'dashboard:update', siteId: 50, data: { offset: domain } }), `dash-${domain}`, { derived: true })).seq;
    await r.waitFor((x) => x.some((e) => e.meta?.offset === derived));
    const meta = (offset: number) => r.received.find((e) => e.meta?.offset === offset)!.meta as unknown as Record<string, unknown>;
    assert.equal(meta(derived).derived, true);
    assert.equal('derived' in meta(domain), false);
    r.close();
    const exported = lines((await get('/api/events/site?sites=50', SERVICE_TOKEN)).body);
    assert.deepEqual(exported.map((e) => [e.offset, e.derived, e.epoch, e.ts]), [
      [domain, false, meta(domain).epoch, meta(domain).ts],
      [derived, true, meta(derived).epoch, meta(derived).ts],
    ]);
  });

  it('writes CSV (RFC 4180) and Parquet with typed columns, which DuckDB reads back', async () => {
    const awkward = { note: 'a "quoted", comma\nand a line break', n: 1.5, 中: true };
    const first = await pub.sendProductionUpdate(20, { type: 'batch_started', batch: { id: 'b1' }, ...awkward });
    for (let i = 0; i < 9; i++) await pub.sendTaskUpdate(20, { id: i, status: 'done' });
    const last = await pub.sendDashboardUpdate(20, { offset: 1 });
    const viewer = await t.token({ sub: 'v', sites: [20] });
    const csv = await get('/api/events/site?sites=20&format=csv', viewer);
    assert.equal(csv.status, 200);
    assert.match(csv.type, /^text\/csv/);
    const parquet = await get('/api/events/site?sites=20&format=parquet', viewer);
    assert.equal(parquet.status, 200);
    assert.equal(parquet.type, 'application/vnd.apache.parquet');
    assert.match(parquet.headers.get('content-disposition') ?? '', /attachment; filename=".*-site-events\.parquet"/);
    writeFileSync(join(dir, 'e.csv'), csv.body);
    writeFileSync(join(dir, 'e.parquet'), parquet.body);
    const empty = await get('/api/events/site?sites=21&format=parquet', await t.token({ sub: 'v', sites: [21] }));
    writeFileSync(join(dir, 'empty.parquet'), empty.body);

    const db = await (await DuckDBInstance.create()).connect();
    const rows = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson();
    const types = Object.fromEntries((await rows(`DESCRIBE SELECT * FROM read_parquet('${join(dir, 'e.parquet')}')`)).map((r) => [r.column_name, r.column_type]));
    assert.deepEqual(types, { offset: 'BIGINT', epoch: 'VARCHAR', ts: 'TIMESTAMP WITH TIME ZONE', stream: 'VARCHAR', site: 'VARCHAR', user: 'VARCHAR', event: 'VARCHAR', data: 'VARCHAR', derived: 'BOOLEAN' });
    const fromParquet = await rows(`SELECT "offset", epoch(ts) * 1000 AS ms, site, "user", event, data, derived FROM read_parquet('${join(dir, 'e.parquet')}') ORDER BY "offset"`);
    const fromNdjson = lines((await get('/api/events/site?sites=20', viewer)).body);
    assert.equal(fromParquet.length, 11);
    assert.deepEqual(
      fromParquet.map((r) => [Number(r.offset), Number(r.ms), r.site, r.user, r.event, JSON.parse(r.data as string), r.derived]),
      fromNdjson.map((e) => [e.offset, e.ts, e.site, null, e.event, e.data, e.derived]),
    );
    assert.equal(Number(fromParquet[0]!.offset), first);
    assert.equal(Number(fromParquet.at(-1)!.offset), last);
    const fromCsv = await rows(`SELECT * FROM read_csv('${join(dir, 'e.csv')}', header = true, quote = '"', escape = '"', all_varchar = true) ORDER BY "offset"::BIGINT`);
    assert.deepEqual(
      fromCsv.map((r) => [Number(r.offset), r.epoch, Number(r.ts), r.stream, r.site, r.user, r.event, JSON.parse(r.data as string), r.derived]),
      fromNdjson.map((e) => [e.offset, e.epoch, e.ts, 'site', e.site, null, e.event, e.data, String(e.derived)]),
    );
    assert.deepEqual(await rows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${join(dir, 'empty.parquet')}')`), [{ n: 0 }]);
  });

  it('follows new events after the backlog until the client leaves, then deletes its consumer', async () => {
    const viewer = await t.token({ sub: 'v', sites: [30] });
    const before = await pub.sendTaskUpdate(30, { id: 0, status: 'x' });
    const { res, lines: got, close } = await stream(`/api/events/site?sites=30&from=${before}&follow=1`, viewer);
    assert.equal(res.statusCode, 200);
    await eventually('the backlog arrives', async () => got.length === 1);
    const live = await pub.sendTaskUpdate(30, { id: 1, status: 'y' });
    await eventually('the live event arrives', async () => got.length === 2);
    assert.deepEqual(got.map((e) => e.offset), [before, live]);
    assert.equal(await consumers(), baseline + 1);
    close();
    await eventually('the follower’s consumer is deleted', async () => (await consumers()) === baseline);

    // From the end, with nothing to send yet: the answer starts with the first new event (uWS sends headers with a body).
    const quietStarted = stream(`/api/events/site?sites=30&from=${live + 1}&follow=1`, viewer);
    await eventually('the quiet follower has its consumer', async () => (await consumers()) === baseline + 1);
    const next = await pub.sendTaskUpdate(30, { id: 2, status: 'z' });
    const quiet = await quietStarted;
    assert.equal(quiet.res.statusCode, 200);
    assert.equal(quiet.res.headers['x-log-epoch'], got[0].epoch);
    await eventually('the next live event arrives', async () => quiet.lines.length === 1);
    assert.equal(quiet.lines[0].offset, next);
    quiet.close();
    await eventually('the quiet follower’s consumer is deleted', async () => (await consumers()) === baseline);
  });

  it('leaves no consumer behind when a client aborts mid-stream or stops reading (cut after HUB_EXPORT_STALL_MS)', async () => {
    const payload = 'x'.repeat(20_000);
    const first = await pub.sendOrderUpdate(40, { id: 0, payload });
    await Promise.all(Array.from({ length: 1200 }, (_, i) => pub.sendOrderUpdate(40, { id: i + 1, payload })));
    const analyst = await t.token({ sub: 'an', sites: [], role: 'analyst' });
    const path = `/api/events/site?sites=40&from=${first}`;

    const aborted = await stream(path, analyst);
    await eventually('the export has started', async () => aborted.lines.length > 10);
    assert.equal(await consumers(), baseline + 1);
    aborted.close();
    await eventually('the aborted export’s consumer is deleted', async () => (await consumers()) === baseline);

    const stalled = await stream(path, analyst);
    await eventually('the export has started', async () => stalled.lines.length > 10);
    stalled.res.pause();
    await eventually('the stalled export’s consumer is deleted', async () => (await consumers()) === baseline);
    // Reading again, the client finds the connection cut short: no complete export.
    const ended = new Promise<void>((resolve) => stalled.res.once('close', resolve));
    stalled.res.resume();
    await ended;
    assert.ok(stalled.lines.length < 1201, `the stalled client was cut before the end (got ${stalled.lines.length})`);
  });

  /** A streamed GET read line by line; `close` drops the connection. */
  async function stream(path: string, bearer: string): Promise<{ res: IncomingMessage; lines: any[]; close(): void }> {
    const got: any[] = [];
    return new Promise((resolve, reject) => {
      const req = httpRequest(t.httpUrl + path, { headers: { authorization: `Bearer ${bearer}` } }, (res) => {
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          const parts = buffered.split('\n');
          buffered = parts.pop()!;
          for (const p of parts) got.push(JSON.parse(p));
        });
        res.on('error', () => {});
        resolve({ res, lines: got, close: () => req.destroy() });
      });
      req.on('error', (e) => (got.length === 0 ? reject(e) : undefined));
      req.end();
    });
  }
});

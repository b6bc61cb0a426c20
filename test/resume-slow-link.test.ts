/**
 * Catch-up over a slow link (issue 11): a resume is paced by the socket's drain, recent window
 * included, so a client far behind on a 64 KB budget is never closed for its own replay; HubClient
 * advances while it replays and drops every re-send, so even a cut connection loses and repeats nothing.
 * The full goal (50,000 events, 20 runs) is `npm run bench -- resume-slow`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { resumeOnce, type ResumeSetup } from '../bench/resume-slow.ts';
import { HubClient, type EventMeta } from '../protocol/index.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { TcpProxy } from '../bench/tcp-proxy.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

/** 16 Mbit/s. */
const LINK_BYTES_PER_SECOND = 2_000_000;
/** 5,000 events of ~1.1 KB: more than the kernel's socket buffers take, all from the hub's recent window. */
const EVENTS = 5000;
const EVENT_BYTES = 1000;

describe('resuming over a slow link', { timeout: 90_000 }, () => {
  let t: TestHub;
  let slow: TcpProxy;
  let pub: HubPublisher;
  let setup: ResumeSetup;
  before(async () => {
    t = await startTestHub({ HUB_SOCKET_BUDGET_BYTES: '65536', HUB_SOCKET_HARD_LIMIT_BYTES: '131072' });
    slow = await TcpProxy.start({ host: '127.0.0.1', port: t.hub.port }, { bytesPerSecond: LINK_BYTES_PER_SECOND });
    pub = await t.publisher();
    setup = {
      directUrl: t.wsUrl,
      slowUrl: `ws://127.0.0.1:${slow.port}/ws`,
      publisher: pub,
      token: (sub, site) => t.token({ sub, sites: [site] }),
      forcedCloses: async () => (await t.hub.metrics.forcedCloses.get()).values.reduce((n, v) => n + v.value, 0),
    };
  });
  after(async () => {
    await slow.cut();
    await t.stop();
  });

  it(`a client ${EVENTS} events behind on a 64 KB budget catches up in every one of 3 runs: 0 lost, 0 duplicates, in order, never closed`, async () => {
    for (let run = 1; run <= 3; run++) {
      const r = await resumeOnce(setup, `slow${run}`, EVENTS, EVENT_BYTES, 25_000);
      const label = `run ${run}: ${JSON.stringify(r)}`;
      assert.equal(r.completed, true, label);
      assert.equal(r.expected, EVENTS, label);
      assert.equal(r.lost, 0, label);
      assert.equal(r.duplicates, 0, label);
      assert.equal(r.inOrder, true, label);
      // Paced by drain, the replay never fills the socket to its hard limit.
      assert.equal(r.forcedCloses, 0, label);
      assert.deepEqual(r.closeCodes, [], label);
    }
  });

  it('events nearly as large as the hard limit are replayed one at a time as the buffer empties, never closing the socket', async () => {
    // 120 KB each against a 128 KB hard limit: sent behind half a budget already buffered, one would pass it.
    const r = await resumeOnce(setup, 'large', 40, 120 * 1024, 25_000);
    const label = JSON.stringify(r);
    assert.equal(r.completed, true, label);
    assert.equal(r.lost + r.duplicates, 0, label);
    assert.equal(r.forcedCloses, 0, label);
  });

  it('a subscribe from an offset cut off by a dropped connection before its reply is asked again on reconnect, from where the client got: 0 lost, 0 duplicates', async () => {
    const cuttable = await TcpProxy.start({ host: '127.0.0.1', port: t.hub.port }, { bytesPerSecond: LINK_BYTES_PER_SECOND });
    const site = 'cut';
    const probe = new HubClient({ url: t.wsUrl, token: await t.token({ sub: 'probe', sites: [site] }), WebSocket, reconnect: false });
    await probe.connect();
    const from = (await probe.subscribeSite(site)) as { offset: number; epoch: string };
    probe.close();
    const expected: number[] = [];
    const blob = 'x'.repeat(EVENT_BYTES);
    for (let i = 0; i < 2000; i += 500) expected.push(...(await Promise.all(Array.from({ length: 500 }, (_, j) => pub.sendTaskUpdate(site, { id: i + j, blob })))));

    const client = new HubClient({ url: `ws://127.0.0.1:${cuttable.port}/ws`, token: await t.token({ sub: 'cut-off', sites: [site] }), WebSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0.2 }, requestTimeoutMs: 30_000 });
    const got: number[] = [];
    const disconnects: number[] = [];
    let cut = false;
    client.on('disconnect', (info: { code: number }) => disconnects.push(info.code));
    try {
      await client.connect();
      const last = expected.at(-1)!;
      const allIn = new Promise<void>((resolve) => {
        client.on('task:update', (_data, meta?: EventMeta) => {
          got.push(meta!.offset);
          // Mid-replay, long before the hub's `subscribed` reply: the connection drops.
          if (!cut && got.length === 300) {
            cut = true;
            void cuttable.cut().then(() => cuttable.restore());
          }
          if (meta!.offset === last) resolve();
        });
      });
      const reply = (await client.subscribeSite(site, from)) as { offset: number; recovered: boolean };
      await allIn;
      assert.ok(disconnects.length >= 1, 'the connection was cut');
      assert.equal(reply.recovered, true);
      assert.ok(reply.offset >= last, 'the subscribe answers once the reconnect replayed the rest');
      assert.deepEqual(got, expected, 'every event once, in order, across the cut');
    } finally {
      client.close();
      await cuttable.cut();
    }
  });
});

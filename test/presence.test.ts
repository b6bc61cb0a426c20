/**
 * Presence across hubs: per-hub shards and heartbeats in the presence bucket,
 * counted by every hub through a watch. Counts agree with a reference merge of
 * every hub's users for any sequence of connects and subscriptions; a user on
 * two hubs counts once; a hub that stops cleanly leaves the counts at once, one
 * that is killed within its TTL; no stored value grows with the number of users.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { ensureNamespace, SimulatedHub } from '../bench/presence-sim.ts';
import { PresenceCounts } from '../hub/presence-counts.ts';
import { decodeShard, SHARD_SPLIT_BYTES } from '../hub/presence-entry.ts';
import { PresenceShards } from '../hub/presence-shards.ts';
import { HubClient } from '../protocol/index.ts';
import { type HubPresence, mergePresence, type OnlineStats } from '../protocol/presence.ts';
import { requestOnlineStats } from '../protocol/presence-read.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { presenceStatsSubject } from '../protocol/subjects.ts';
import { dropNamespace, freePort, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';
import { waitForEqual } from './support/wait-for.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `read()` deep-equals `expected`; fails with the last value after `timeoutMs`. */
const until = <T>(read: () => T | Promise<T>, expected: T, timeoutMs = 5000, what = 'counts') => waitForEqual(read, expected, { timeoutMs, what, everyMs: 25 });

/** One hub's users as the old one-entry-per-hub format had them: the reference `mergePresence` counts from. */
class HubModel {
  readonly users = new Map<string, number>();
  readonly sites = new Map<string, Map<string, number>>();

  entry(hubId: string): HubPresence {
    const sites: Record<string, Record<string, number>> = {};
    for (const [s, perUser] of this.sites) sites[s] = Object.fromEntries(perUser);
    return { hubId, at: 0, users: Object.fromEntries(this.users), sites };
  }
}

function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

describe('presence shards and counts (in memory)', () => {
  it('splits shards so no value passes the split size, each user in exactly one shard', () => {
    const shards = new PresenceShards(2048);
    for (let i = 0; i < 5000; i++) shards.set(`user-${i}`, [1 + (i % 3), String(i % 50), 1]);
    const writes = shards.takeChanges();
    assert.ok(shards.shardCount >= 64, `5,000 users of ~30 bytes in 2 KiB shards need ≥ 64 shards, got ${shards.shardCount}`);
    const seen = new Map<string, number>();
    for (const w of writes) {
      assert.ok(w.value !== undefined && w.value.length <= 2048, `shard ${w.shard}: ${w.value?.length} bytes`);
      for (const user of Object.keys(decodeShard(w.value))) seen.set(user, (seen.get(user) ?? 0) + 1);
    }
    assert.equal(seen.size, 5000);
    assert.ok([...seen.values()].every((n) => n === 1), 'a user in two shards');
    assert.equal(shards.hasChanges, false);
    // No connection and no site: the user leaves its shard.
    shards.set('user-7', [0]);
    assert.deepEqual(shards.takeChanges().length, 1, 'one leaving user rewrites one shard');
  });

  it('counts a user with records on two hubs once, and their connections twice', () => {
    const counts = new PresenceCounts();
    counts.add('alice', [1, '5', 1]);
    counts.add('alice', [2, '5', 1, '6', 2]);
    counts.add('bob', [1]);
    assert.deepEqual(counts.stats(2), { users: 2, connections: 4, hubs: 2, sites: { '5': { users: 1, connections: 2 }, '6': { users: 1, connections: 2 } } });
    counts.remove('alice', [1, '5', 1]);
    assert.deepEqual(counts.stats(1), { users: 2, connections: 3, hubs: 1, sites: { '5': { users: 1, connections: 1 }, '6': { users: 1, connections: 2 } } });
  });

  it('counts this hub\'s users, read from its own records, once with the other hubs\' records of them', () => {
    const local = new Map<string, readonly (string | number)[]>();
    const counts = new PresenceCounts(local);
    // Alice connects here and joins site 5; another hub has her on 5 and 6.
    local.set('alice', [1]);
    counts.localUser('alice', 1, 1);
    local.set('alice', [1, '5', 1]);
    counts.localSite('5', 'alice', 1, 1);
    counts.add('alice', [2, '5', 1, '6', 1]);
    assert.deepEqual(counts.stats(2), { users: 1, connections: 3, hubs: 2, sites: { '5': { users: 1, connections: 2 }, '6': { users: 1, connections: 1 } } });
    // She leaves site 5 and this hub: the other hub's record still counts her, on both sites.
    local.set('alice', [1]);
    counts.localSite('5', 'alice', -1, -1);
    local.delete('alice');
    counts.localUser('alice', -1, -1);
    assert.deepEqual(counts.stats(2), { users: 1, connections: 2, hubs: 2, sites: { '5': { users: 1, connections: 1 }, '6': { users: 1, connections: 1 } } });
    // Back here on site 5, then the other hub's record goes: she counts through this hub alone.
    local.set('alice', [1, '5', 1]);
    counts.localUser('alice', 1, 1);
    counts.localSite('5', 'alice', 1, 1);
    counts.remove('alice', [2, '5', 1, '6', 1]);
    assert.deepEqual(counts.stats(1), { users: 1, connections: 1, hubs: 1, sites: { '5': { users: 1, connections: 1 } } });
  });
});

describe('presence across three simulated hubs (real NATS)', () => {
  const ns = uniqueNamespace('tpres');
  const TTL_MS = 1500;
  let hubs: SimulatedHub[] = [];
  let pub: HubPublisher;
  before(async () => {
    await ensureNamespace(NATS_URL, ns);
    // Tiny shards: every few users split them, so users move between shards all the time.
    hubs = await Promise.all([0, 1, 2].map(() => SimulatedHub.start(NATS_URL, ns, { ttlMs: TTL_MS, splitBytes: 96 })));
    pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
  });
  after(async () => {
    await pub?.close();
    await Promise.allSettled(hubs.map((h) => h.stop()));
    await dropNamespace(ns);
  });

  it('agrees on every hub and in HubPublisher with a merge of all hubs\' users, for any connects and subscriptions (seeded property)', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 1_000_000);
    const models = hubs.map(() => new HubModel());
    const op = fc.record({ hub: fc.integer({ min: 0, max: 2 }), kind: fc.constantFrom('connect', 'disconnect', 'join', 'leave'), user: fc.integer({ min: 0, max: 11 }), site: fc.integer({ min: 1, max: 4 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        for (const { hub, kind, user: u, site: s } of ops) {
          const [user, site, m, t] = [`u${u}`, String(s), models[hub]!, hubs[hub]!.tracker];
          if (kind === 'connect') {
            t.connected(user);
            bump(m.users, user, 1);
          } else if (kind === 'disconnect' && m.users.has(user)) {
            t.disconnected(user);
            bump(m.users, user, -1);
          } else if (kind === 'join' && m.users.has(user)) {
            t.joinedSite(site, user);
            if (!m.sites.has(site)) m.sites.set(site, new Map());
            bump(m.sites.get(site)!, user, 1);
          } else if (kind === 'leave' && (m.sites.get(site)?.get(user) ?? 0) > 0) {
            t.leftSite(site, user);
            bump(m.sites.get(site)!, user, -1);
            if (m.sites.get(site)!.size === 0) m.sites.delete(site);
          }
        }
        const expected: OnlineStats = { ...mergePresence(models.map((m, i) => m.entry(String(i)))), hubs: 3 };
        for (const [i, h] of hubs.entries()) await until(() => h.tracker.stats(), expected, 5000, `hub ${i}'s counts`);
        await until(() => pub.getOnlineStats(), expected, 5000, 'HubPublisher counts');
      }),
      { seed, numRuns: 15 },
    );
  });

  it('answers a request for some sites with those sites only, a bad request with an error, and no hub with zeros', async () => {
    const [a] = hubs as [SimulatedHub];
    a.tracker.connected('filter-user');
    a.tracker.joinedSite('41', 'filter-user');
    a.tracker.joinedSite('42', 'filter-user');
    // Whichever hub answers must have heard of the user: wait for all three.
    for (const h of hubs) await until(() => h.tracker.stats().sites['42']?.users, 1);
    assert.equal(await pub.getSiteOnlineUsersCount(42), 1);
    assert.equal(await pub.getSiteOnlineUsersCount('41'), 1);
    const nc = await connect({ servers: NATS_URL });
    try {
      const some = await requestOnlineStats(nc, ns, 5000, ['42', 'nobody-here']);
      assert.deepEqual(some.sites, { '42': { users: 1, connections: 1 } });
      assert.equal(some.users, a.tracker.stats().users);
      const bad = (await nc.request(presenceStatsSubject(ns), JSON.stringify({ sites: 'all' }), { timeout: 5000 })).json<{ error: string }>();
      assert.match(bad.error, /"sites" must be an array/);
      assert.deepEqual(await requestOnlineStats(nc, uniqueNamespace('tnohub'), 5000), { users: 0, connections: 0, hubs: 0, sites: {} });
    } finally {
      await nc.close();
    }
    a.tracker.leftSite('41', 'filter-user');
    a.tracker.leftSite('42', 'filter-user');
    a.tracker.disconnected('filter-user');
  });

  it('drops the users of a hub that stops cleanly at once, and of one that crashed within its TTL; a user also on a live hub stays', async () => {
    const [a, b] = hubs as [SimulatedHub, SimulatedHub];
    const base = a.tracker.stats();
    const c = await SimulatedHub.start(NATS_URL, ns, { ttlMs: TTL_MS });
    const d = await SimulatedHub.start(NATS_URL, ns, { ttlMs: TTL_MS });
    for (const h of [c, d]) {
      h.tracker.connected('roamer');
      h.tracker.joinedSite('77', 'roamer');
    }
    c.tracker.connected('only-on-c');
    d.tracker.connected('only-on-d');
    a.tracker.connected('roamer');
    const withAll = { users: base.users + 3, connections: base.connections + 5, hubs: 5 };
    const users = (s: OnlineStats) => ({ users: s.users, connections: s.connections, hubs: s.hubs });
    await until(() => users(b.tracker.stats()), withAll);
    assert.deepEqual(b.tracker.stats().sites['77'], { users: 1, connections: 2 });

    await c.stop();
    await until(() => users(b.tracker.stats()), { users: base.users + 2, connections: base.connections + 3, hubs: 4 }, 2000, 'counts after a clean stop');

    const crashedAt = Date.now();
    await d.crash();
    await until(() => users(b.tracker.stats()), { users: base.users + 1, connections: base.connections + 1, hubs: 3 }, TTL_MS + 3000, 'counts after a crash');
    // Its last heartbeat was at most a quarter of the TTL before the crash, and counts for 0.6 of it.
    assert.ok(Date.now() - crashedAt >= TTL_MS / 4, 'a crashed hub is not dropped before its heartbeat is old: nothing deleted its keys');
    assert.equal(b.tracker.stats().sites['77'], undefined);
    await until(async () => users(await pub.getOnlineStats()), users(b.tracker.stats()));
    a.tracker.disconnected('roamer');
  });
});


describe('presence at scale (real NATS, simulated hubs)', () => {
  const ns = uniqueNamespace('tpress');
  let hubs: SimulatedHub[] = [];
  let pub: HubPublisher;
  before(async () => {
    await ensureNamespace(NATS_URL, ns);
    hubs = await Promise.all([0, 1, 2].map(() => SimulatedHub.start(NATS_URL, ns)));
    pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
  });
  after(async () => {
    await pub?.close();
    await Promise.allSettled(hubs.map((h) => h.stop()));
    await dropNamespace(ns);
  });

  it('keeps every stored value under the split size with 30,000 users over three hubs, and counts them exactly', async () => {
    const expectedUsers = 30_000;
    for (let i = 0; i < 30_000; i++) {
      const user = `scale-${i}`;
      const h = hubs[i % 3]!.tracker;
      h.connected(user);
      h.joinedSite(`s${i % 500}`, user);
      // One user in ten also on the next hub: counted once.
      if (i % 10 === 0) hubs[(i + 1) % 3]!.tracker.connected(user);
    }
    for (const h of hubs) await until(() => h.tracker.stats().users, expectedUsers, 20_000, 'users');
    for (const h of hubs) assert.equal(h.tracker.stats().sites['s7']?.users, 60);
    for (const h of hubs) assert.ok(h.tracker.writeStats.largestValueBytes <= SHARD_SPLIT_BYTES, `largest value ${h.tracker.writeStats.largestValueBytes} bytes`);
    assert.equal((await pub.getOnlineStats()).users, expectedUsers);
  });
});

/** A hub as its own process, so it can be killed with SIGKILL. */
async function startHubProcess(env: Record<string, string>): Promise<{ child: ChildProcess; wsUrl: string; kill(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'hub/main.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, HUB_PORT: String(port), HUB_HOST: '127.0.0.1', HUB_LOG_LEVEL: 'warn', HUB_JWT_SECRET: TEST_SECRET, HUB_PROJECTIONS: 'off', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  const deadline = Date.now() + 45_000;
  while (!(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await kill();
      throw new Error(`hub process did not start: ${stderr}`);
    }
    await sleep(100);
  }
  return { child, wsUrl: `ws://127.0.0.1:${port}/ws`, kill };
}

describe('presence with real hubs and sockets', () => {
  const ns = uniqueNamespace('tpresh');
  const env = { HUB_NAMESPACE: ns, HUB_PRESENCE_TTL_MS: '2000' };
  let hubs: TestHub[] = [];
  const clients: HubClient[] = [];
  before(async () => {
    hubs = [await startTestHub(env), await startTestHub(env), await startTestHub(env)];
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const h of hubs.slice(1)) await h.stop({ drop: false });
    await hubs[0]?.stop();
  });

  const open = async (hub: { wsUrl: string }, sub: string, sites: number[]) => {
    const c = new HubClient({ url: hub.wsUrl, token: await hubs[0]!.token({ sub, sites }), WebSocket });
    clients.push(c);
    await c.connect();
    for (const s of sites) await c.subscribeSite(s);
    return c;
  };
  const online = async (h: TestHub) => (await (await fetch(`${h.httpUrl}/api/stats/online`)).json()) as OnlineStats;

  it('counts connects and disconnects over three hubs, a user on two hubs once, per site', async () => {
    const ann1 = await open(hubs[0]!, 'ann', [1]);
    const ann2 = await open(hubs[1]!, 'ann', [1, 2]);
    const ben = await open(hubs[2]!, 'ben', [2]);
    const expected: OnlineStats = { users: 2, connections: 3, hubs: 3, sites: { '1': { users: 1, connections: 2 }, '2': { users: 2, connections: 2 } } };
    for (const h of hubs) await until(() => online(h), expected);
    ann2.close();
    ben.close();
    const after: OnlineStats = { users: 1, connections: 1, hubs: 3, sites: { '1': { users: 1, connections: 1 } } };
    for (const h of hubs) await until(() => online(h), after);
    ann1.close();
    for (const h of hubs) await until(() => online(h), { users: 0, connections: 0, hubs: 3, sites: {} });
  });

  it('stops counting the users of a hub killed with SIGKILL within its TTL', async () => {
    const killed = await startHubProcess({ ...env, NATS_URL });
    try {
      await open(killed, 'kim', [9]);
      await open(killed, 'lou', [9]);
      await open(hubs[0]!, 'lou', [9]);
      for (const h of hubs) await until(() => online(h), { users: 2, connections: 3, hubs: 4, sites: { '9': { users: 2, connections: 3 } } }, 10_000);
      await killed.kill();
      for (const h of hubs) await until(() => online(h), { users: 1, connections: 1, hubs: 3, sites: { '9': { users: 1, connections: 1 } } }, 2000 + 3000, 'counts after SIGKILL');
    } finally {
      await killed.kill();
    }
  });
});

/**
 * Who is connected to this hub, and who is subscribed to which site; and the
 * cluster-wide counts. This hub's users go to the presence bucket as shards
 * (presence-entry.ts), written when they change (coalesced per 100 ms) and
 * kept alive by one heartbeat per quarter of the TTL, whatever the number of
 * users; the other hubs' shards come back through a watch (presence-view.ts).
 * Counts are kept by deltas, so `stats()` answers in O(sites). HubPublisher
 * asks any hub for them over NATS (`<ns>.presence.stats`, one request).
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { OnlineStats } from '../protocol/presence.ts';
import { presenceBucket, presenceStatsSubject } from '../protocol/subjects.ts';
import type { Logger } from './logger.ts';
import { PresenceCounts } from './presence-counts.ts';
import { encodeHeartbeat, heartbeatKey, PRESENCE_RETAIN_MS, shardKey, shardsFilter, type StoredRecord } from './presence-entry.ts';
import { PresenceShards, type ShardWrite } from './presence-shards.ts';
import { PresenceView } from './presence-view.ts';
import { sharedList } from './shared-lists.ts';

/** Changes are written at most this often, so connection storms don't become write storms. */
const FLUSH_DELAY_MS = 100;
const encoder = new TextEncoder();
/** A user's record with no connection and no site (PresenceShards drops it). */
const NO_RECORD: StoredRecord = Object.freeze([0]);
/**
 * Writes in flight at most; past it a flush waits for acks (NATS slow or down) and the changes
 * wait as marks, not as queued writes. A storm's flush writes hundreds, in one round trip.
 */
const MAX_IN_FLIGHT = 4096;

/** What this hub has written to the presence bucket since it started. */
export interface PresenceWriteStats {
  /** Puts: shards and heartbeats. */
  writes: number;
  /** Of which heartbeats. */
  heartbeats: number;
  /** Shards deleted because their last user left. */
  deletes: number;
  bytes: number;
  largestValueBytes: number;
  failures: number;
}

interface Link {
  readonly nc: NatsConnection;
  readonly kv: KV;
  readonly jsm: JetStreamManager;
  readonly bucket: string;
}

export class PresenceTracker {
  readonly #pid: string;
  readonly #ttlMs: number;
  readonly #log: Logger;
  readonly #shards: PresenceShards;
  readonly #counts: PresenceCounts;
  readonly #view: PresenceView;
  /** Shards stored in the bucket, and when each was last written. */
  readonly #stored = new Map<number, number>();
  readonly #writeStats: PresenceWriteStats = { writes: 0, heartbeats: 0, deletes: 0, bytes: 0, largestValueBytes: 0, failures: 0 };
  #link: Link | undefined;
  #responder: Subscription | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Writes sent and not yet acked. */
  readonly #inFlight = new Set<Promise<void>>();
  #beatTimer: ReturnType<typeof setInterval> | undefined;
  #failing = false;

  /** `hubId` must be unique per process (the hub's random id): it names this hub's keys. `splitBytes` is for tests. */
  constructor(hubId: string, log: Logger, ttlMs = 15_000, splitBytes?: number) {
    this.#pid = hubId;
    this.#ttlMs = ttlMs;
    this.#log = log;
    this.#shards = new PresenceShards(splitBytes);
    this.#counts = new PresenceCounts(this.#shards);
    this.#view = new PresenceView(hubId, this.#counts, log);
  }

  /**
   * Starts writing to the presence bucket of namespace `ns` and following the other hubs'.
   * Answers `<ns>.presence.stats` once the bucket has been read through.
   */
  async attach(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, kv: KV, ns: string): Promise<void> {
    const link: Link = { nc, kv, jsm, bucket: presenceBucket(ns) };
    this.#link = link;
    // Our heartbeat first: the watch then has at least one message to finish its first read on.
    await this.#beat();
    await this.#view.start(js, link.bucket, this.#ttlMs);
    this.#beatTimer = setInterval(() => void this.#beat(), this.#ttlMs / 4);
    this.#beatTimer.unref();
    this.#schedule();
    void this.#view.ready.then(() => {
      if (this.#link !== link) return;
      this.#responder = nc.subscribe(presenceStatsSubject(ns), {
        queue: 'hubs',
        callback: (err, msg) => {
          if (err === null) this.#answer(nc, msg);
        },
      });
    });
  }

  /** The watch's state, for diagnosis. */
  debugState(): ReturnType<PresenceView['debugState']> {
    return this.#view.debugState();
  }

  /** Resolves once the other hubs' users as of `attach` are counted. */
  get ready(): Promise<void> {
    return this.#view.ready;
  }

  connectionsOf(userKey: string): number {
    return (this.#shards.get(userKey)?.[0] as number | undefined) ?? 0;
  }

  /** Users with a connection to this hub. */
  get localUsers(): number {
    return this.#shards.userCount;
  }

  /** Shards this hub's users are spread over now. */
  get shardCount(): number {
    return this.#shards.shardCount;
  }

  get writeStats(): Readonly<PresenceWriteStats> {
    return this.#writeStats;
  }

  // Each change replaces this hub's record of the user (shared lists: users with the same record hold one)
  // and moves the counts by its delta: a connect costs a few map operations, not a copy of the user's sites.
  connected(userKey: string): void {
    const r = this.#shards.get(userKey) ?? NO_RECORD;
    const n = r[0] as number;
    this.#shards.set(userKey, withConnections(r, n + 1));
    this.#counts.localUser(userKey, n === 0 ? 1 : 0, 1);
    this.#schedule();
  }

  disconnected(userKey: string): void {
    const r = this.#shards.get(userKey);
    const n = (r?.[0] as number | undefined) ?? 0;
    if (r === undefined || n === 0) return;
    this.#shards.set(userKey, withConnections(r, n - 1));
    this.#counts.localUser(userKey, n === 1 ? -1 : 0, -1);
    this.#schedule();
  }

  joinedSite(siteId: string, userKey: string): void {
    const r = this.#shards.get(userKey) ?? NO_RECORD;
    // Sites are strings, counts numbers: the search finds the site, never a count.
    const k = r.indexOf(siteId);
    // A new array of the exact size (push would grow it to ~20 slots), shared by the users with the same record.
    if (k === -1) this.#shards.set(userKey, sharedList(r.concat(siteId, 1)));
    else this.#shards.set(userKey, sharedList(r.map((v, i) => (i === k + 1 ? (v as number) + 1 : v))));
    this.#counts.localSite(siteId, userKey, k === -1 ? 1 : 0, 1);
    this.#schedule();
  }

  leftSite(siteId: string, userKey: string): void {
    const r = this.#shards.get(userKey);
    const k = r === undefined ? -1 : r.indexOf(siteId);
    if (r === undefined || k === -1) return;
    const n = r[k + 1] as number;
    if (n <= 1) this.#shards.set(userKey, sharedList(r.filter((_, i) => i !== k && i !== k + 1)));
    else this.#shards.set(userKey, sharedList(r.map((v, i) => (i === k + 1 ? n - 1 : v))));
    this.#counts.localSite(siteId, userKey, n <= 1 ? -1 : 0, -1);
    this.#schedule();
  }

  /** Cluster-wide counts: this hub's live state and every other live hub's, as last heard. */
  stats(): OnlineStats {
    return this.#counts.stats(1 + this.#view.liveHubs);
  }

  /** `stats()`, in the promise the HTTP route awaits. */
  async clusterStats(): Promise<OnlineStats> {
    return this.stats();
  }

  /** Stops writing and watching; removes this hub's keys (clean shutdown: its users leave the counts now). */
  async close(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    clearTimeout(this.#flushTimer);
    clearInterval(this.#beatTimer);
    this.#responder?.unsubscribe();
    await this.#view.stop();
    if (link === undefined) return;
    // A write still in flight could land after the purge and leave a shard behind.
    await Promise.allSettled([...this.#inFlight]);
    await link.kv.delete(heartbeatKey(this.#pid)).catch(() => {});
    await link.jsm.streams.purge(`KV_${link.bucket}`, { filter: shardsFilter(link.bucket, this.#pid) }).catch(() => {});
  }

  /** A stats request: `{"sites":[…]}` asks for those sites only (all of them without a body). */
  #answer(nc: NatsConnection, msg: Msg): void {
    let body: string;
    try {
      const sites = msg.data.length === 0 ? undefined : (msg.json<{ sites?: unknown }>().sites as unknown);
      if (sites !== undefined && !(Array.isArray(sites) && sites.every((s) => typeof s === 'string'))) throw new TypeError('"sites" must be an array of site ids (strings)');
      body = JSON.stringify(sites === undefined ? this.stats() : this.#counts.statsOf(sites as string[], 1 + this.#view.liveHubs));
    } catch (e) {
      body = JSON.stringify({ error: `bad presence request: ${(e as Error).message}` });
    }
    // Past NATS's message limit (tens of thousands of sites) the publish would throw: say so instead.
    const max = nc.info?.max_payload ?? Infinity;
    if (body.length > max) body = JSON.stringify({ error: `online stats for every site are ${body.length} bytes, over NATS's max_payload ${max}: ask for the sites you need` });
    msg.respond(encoder.encode(body));
  }

  #schedule(): void {
    if (this.#link === undefined || this.#flushTimer !== undefined || !this.#shards.hasChanges) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, FLUSH_DELAY_MS);
  }

  /**
   * Sends every changed shard without waiting for the acks of earlier flushes: writes of one
   * connection to one stream are stored in the order sent, so a shard's newer value always
   * lands after its older one, and one slow ack never holds back the next changes.
   */
  #flush(): void {
    const link = this.#link;
    if (link === undefined) return;
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      this.#schedule();
      return;
    }
    for (const w of this.#shards.takeChanges()) {
      const write = this.#write(link, w).finally(() => {
        this.#inFlight.delete(write);
        // A write that failed marked its shard again.
        this.#schedule();
      });
      this.#inFlight.add(write);
    }
  }

  async #write(link: Link, w: ShardWrite): Promise<void> {
    try {
      if (w.value !== undefined) {
        // Stored as of the send: a delete that follows must be sent even if this put is still in flight.
        this.#stored.set(w.shard, Date.now());
        await link.kv.put(shardKey(this.#pid, w.shard), w.value);
        this.#wrote(w.value.length);
      } else if (this.#stored.has(w.shard)) {
        this.#stored.delete(w.shard);
        await link.kv.delete(shardKey(this.#pid, w.shard));
        this.#writeStats.deletes++;
      }
      this.#recovered();
    } catch (e) {
      // Written again with the next flush, from the state then: a late write never brings back an old one.
      if (w.value === undefined) this.#stored.set(w.shard, 0);
      this.#shards.markChanged(w.shard);
      this.#failed(e as Error);
    }
  }

  async #beat(): Promise<void> {
    const link = this.#link;
    if (link === undefined) return;
    try {
      const value = encodeHeartbeat({ ttlMs: this.#ttlMs });
      await link.kv.put(heartbeatKey(this.#pid), value);
      this.#wrote(value.length);
      this.#writeStats.heartbeats++;
      this.#recovered();
    } catch (e) {
      this.#failed(e as Error);
    }
    // Shards that did not change for half the bucket's max age are rewritten before it removes them.
    const due = Date.now() - PRESENCE_RETAIN_MS / 2;
    for (const [shard, at] of this.#stored) if (at < due) this.#shards.markChanged(shard);
    this.#schedule();
  }

  #wrote(bytes: number): void {
    this.#writeStats.writes++;
    this.#writeStats.bytes += bytes;
    if (bytes > this.#writeStats.largestValueBytes) this.#writeStats.largestValueBytes = bytes;
  }

  #failed(e: Error): void {
    this.#writeStats.failures++;
    if (!this.#failing) this.#log.warn({ err: e.message }, 'presence write failed; retried with the next change or heartbeat (other hubs stop counting this one after its TTL)');
    this.#failing = true;
  }

  #recovered(): void {
    if (this.#failing) this.#log.info('presence writes work again');
    this.#failing = false;
  }
}

/** `r` with `connections` in its place: the shared list of that content. */
function withConnections(r: StoredRecord, connections: number): StoredRecord {
  const next = r.slice();
  next[0] = connections;
  return sharedList(next);
}

/**
 * The other hubs' users, as their shards and heartbeats arrive from the presence
 * bucket: one ordered consumer (last value per key, then every change) feeds
 * PresenceCounts by deltas, so counts follow a connect on another hub within a
 * flush and a watch delivery (~0.1–0.2 s), and reading them costs nothing per user.
 *
 * Liveness: a hub beats every third of the TTL it announces, and counts while
 * its last heartbeat is younger than three quarters of it: a crashed hub's users
 * stop counting within its TTL (sweep and a late timer included), while a live
 * hub's heartbeat may arrive up to 5/12 of the TTL late. Time here is the
 * watch's: while it is behind (messages pending), a heartbeat's age is measured
 * against the newest message read, not the wall clock, so a hub busy reading a
 * backlog does not take the others for dead. The bucket's max age removes messages silently (no watcher hears
 * of it), so expiry is decided here, by a sweep, from heartbeat times. A hub
 * that stops beating keeps its shards here, uncounted, until the bucket's max
 * age would have removed them: if it beats again (a partition healed) it counts
 * again at once, without rewriting anything.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from './logger.ts';
import type { PresenceCounts } from './presence-counts.ts';
import { decodeHeartbeat, decodeShard, parsePresenceKey, PRESENCE_RETAIN_MS, type UserRecord } from './presence-entry.ts';

/** Share of its TTL after which a hub's last heartbeat says it is gone. */
const DEAD_AFTER = 0.75;

interface Peer {
  /** When its last heartbeat was written (server time, capped at ours). */
  lastBeat: number;
  ttlMs: number;
  /** When anything of it was last written: forgotten once the bucket's max age has passed that. */
  lastSeen: number;
  counted: boolean;
  readonly users: Map<string, { shard: number; record: UserRecord }>;
  /** Users per shard as last written, to find who left a shard. */
  readonly shards: Map<number, string[]>;
}

export class PresenceView {
  readonly #selfPid: string;
  readonly #counts: PresenceCounts;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #peers = new Map<string, Peer>();
  #prefix = '';
  /** Server time of the newest message read, and whether nothing was pending after it. */
  #readUpTo = -Infinity;
  #caughtUp = false;
  #stop: (() => Promise<void>) | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #resolveReady!: () => void;
  /** Resolves once the bucket's content as of the start has been read. */
  readonly ready = new Promise<void>((resolve) => (this.#resolveReady = resolve));

  constructor(selfPid: string, counts: PresenceCounts, log: Logger, now: () => number = Date.now) {
    this.#selfPid = selfPid;
    this.#counts = counts;
    this.#log = log;
    this.#now = now;
  }

  /** Other hubs counted now. */
  get liveHubs(): number {
    let n = 0;
    for (const p of this.#peers.values()) if (p.counted) n++;
    return n;
  }

  /** Follows bucket `bucket` (stream `KV_<bucket>`); `sweepMs` is how often expiry is checked. */
  async start(js: JetStreamClient, bucket: string, sweepMs: number): Promise<void> {
    this.#prefix = `$KV.${bucket}.`;
    const consumer = await js.consumers.get(`KV_${bucket}`, { filter_subjects: `${this.#prefix}>`, deliver_policy: DeliverPolicy.LastPerSubject });
    // A short pull expiry, as the fan-out's: after a NATS restart the consumer is recreated within seconds.
    const messages = await consumer.consume({ expires: 2000, callback: (m) => this.#receive(m) });
    this.#stop = () => messages.close().then(() => {});
    this.#sweep = setInterval(() => this.expire(), sweepMs);
    this.#sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#stop?.().catch(() => {});
  }

  /** Stops counting hubs whose heartbeat is older than 3/4 of their TTL; forgets those gone from the bucket. */
  expire(): void {
    const now = this.#caughtUp ? this.#now() : Math.min(this.#now(), this.#readUpTo);
    for (const [pid, p] of this.#peers) {
      if (p.counted && now - p.lastBeat > p.ttlMs * DEAD_AFTER) {
        this.#uncount(p);
        this.#log.info({ hub: pid, users: p.users.size, silentMs: now - p.lastBeat }, 'presence: a hub stopped beating; its users no longer count');
      }
      if (!p.counted && now - p.lastSeen > PRESENCE_RETAIN_MS) this.#peers.delete(pid);
    }
  }

  #receive(m: JsMsg): void {
    try {
      this.#apply(m);
    } catch (e) {
      // One bad entry costs that entry, never the watch.
      this.#log.warn({ subject: m.subject, err: (e as Error).message }, 'presence entry skipped');
    }
    this.#readUpTo = Math.max(this.#readUpTo, m.info.timestampNanos / 1e6);
    this.#caughtUp = m.info.pending === 0;
    if (this.#caughtUp) this.#resolveReady();
  }

  #apply(m: JsMsg): void {
    const key = parsePresenceKey(m.subject.slice(this.#prefix.length));
    if (key === undefined || key.pid === this.#selfPid) return;
    const op = m.headers?.get('KV-Operation');
    const removed = op === 'DEL' || op === 'PURGE';
    const now = this.#now();
    const at = Math.min(now, m.info.timestampNanos / 1e6);
    let peer = this.#peers.get(key.pid);
    if (key.kind === 'heartbeat') {
      if (removed) {
        // A clean shutdown: its users leave now, not a TTL later.
        if (peer?.counted) this.#uncount(peer);
        this.#peers.delete(key.pid);
        return;
      }
      const { ttlMs } = decodeHeartbeat(m.data);
      peer ??= this.#newPeer(key.pid);
      peer.ttlMs = ttlMs;
      peer.lastBeat = Math.max(peer.lastBeat, at);
      peer.lastSeen = Math.max(peer.lastSeen, at);
      if (!peer.counted && now - peer.lastBeat <= ttlMs * DEAD_AFTER) this.#count(peer);
      return;
    }
    const users = removed ? new Map<string, UserRecord>() : decodeShard(m.data);
    peer ??= this.#newPeer(key.pid);
    peer.lastSeen = Math.max(peer.lastSeen, at);
    this.#applyShard(peer, key.shard, users);
  }

  #applyShard(peer: Peer, shard: number, users: Map<string, UserRecord>): void {
    for (const user of peer.shards.get(shard) ?? []) {
      const held = peer.users.get(user);
      // A user who moved to another shard (the hub split its shards) is that shard's to remove.
      if (users.has(user) || held === undefined || held.shard !== shard) continue;
      peer.users.delete(user);
      if (peer.counted) this.#counts.remove(user, held.record);
    }
    for (const [user, record] of users) {
      const held = peer.users.get(user);
      // A shard is rewritten whole for one change in it: the users who did not change cost a comparison.
      if (held !== undefined && held.shard === shard && sameRecord(held.record, record)) continue;
      if (peer.counted) {
        if (held !== undefined) this.#counts.remove(user, held.record);
        this.#counts.add(user, record);
      }
      peer.users.set(user, { shard, record });
    }
    if (users.size === 0) peer.shards.delete(shard);
    else peer.shards.set(shard, [...users.keys()]);
  }

  #newPeer(pid: string): Peer {
    const peer: Peer = { lastBeat: -Infinity, ttlMs: 0, lastSeen: -Infinity, counted: false, users: new Map(), shards: new Map() };
    this.#peers.set(pid, peer);
    return peer;
  }

  #count(peer: Peer): void {
    peer.counted = true;
    for (const [user, held] of peer.users) this.#counts.add(user, held.record);
  }

  #uncount(peer: Peer): void {
    peer.counted = false;
    for (const [user, held] of peer.users) this.#counts.remove(user, held.record);
  }
}

function sameRecord(a: UserRecord, b: UserRecord): boolean {
  if (a.connections !== b.connections) return false;
  let n = 0;
  for (const site in a.sites) {
    if (a.sites[site] !== b.sites[site]) return false;
    n++;
  }
  for (const _ in b.sites) n--;
  return n === 0;
}

/**
 * The other hubs' users, as their shards and heartbeats arrive from the presence
 * bucket: one ordered consumer (last value per key, then every change) feeds
 * PresenceCounts by deltas, so counts follow a connect on another hub within a
 * flush and a watch delivery (~0.1–0.2 s), and reading them costs nothing per user.
 *
 * Liveness is read from the bucket's own clock: every message carries the
 * server's time, and this hub's own heartbeat (every quarter of its TTL) keeps
 * that time moving while the watch works. A hub counts until the newest message
 * read was stored more than 0.6 of its TTL after its last heartbeat: a crashed
 * hub's users stop counting within its TTL (0.6 + the next own heartbeat's
 * quarter), a live hub's heartbeat may be 0.35 of the TTL late, and a hub busy
 * reading a backlog, or whose event loop was blocked, does not take the others
 * for dead: it judges them by what it has read, not by the wall clock. If the
 * watch stops, counts stay as last read (a warning says so) rather than drop.
 * The bucket's max age removes messages silently (no watcher hears of it), so
 * expiry is decided here. A hub that stops beating keeps its shards here,
 * uncounted, until the bucket's max age would have removed them: if it beats
 * again (a partition healed) it counts again at once, without rewriting anything.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from './logger.ts';
import type { PresenceCounts } from './presence-counts.ts';
import { decodeHeartbeat, decodeShard, parsePresenceKey, PRESENCE_RETAIN_MS, type StoredRecord, type StoredShard } from './presence-entry.ts';

/** Share of its TTL after which a hub's last heartbeat says it is gone (hubs beat every quarter of it). */
const DEAD_AFTER = 0.6;

interface Peer {
  /** When its last heartbeat was stored (server time). */
  lastBeat: number;
  ttlMs: number;
  /** When anything of it was last written: forgotten once the bucket's max age has passed that. */
  lastSeen: number;
  counted: boolean;
  /**
   * Its shards as last written, decoded and kept as they are: per user the least memory (every
   * hub holds every online user of the cluster). A user moving between shards (the hub grew its
   * shard count) is in both for the moment between the two writes of one flush.
   */
  readonly shards: Map<number, StoredShard>;
}

const NO_USERS: StoredShard = Object.freeze({});

export class PresenceView {
  readonly #selfPid: string;
  readonly #counts: PresenceCounts;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #peers = new Map<string, Peer>();
  #prefix = '';
  /** Server time of the newest message read: the clock heartbeats are judged by. */
  #readUpTo = -Infinity;
  /** Wall time when `#readUpTo` last moved, to notice a watch that stopped. */
  #movedAt = 0;
  #stalled = false;
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

  /** For logs and benches: how far the watch has read, and each other hub's state. */
  debugState(): { readUpTo: number; peers: Array<{ pid: string; counted: boolean; beatAgeMs: number; users: number }> } {
    return { readUpTo: this.#readUpTo, peers: [...this.#peers].map(([pid, p]) => ({ pid: pid.slice(0, 8), counted: p.counted, beatAgeMs: Math.round(this.#readUpTo - p.lastBeat), users: usersOf(p) })) };
  }

  /** Other hubs counted now. */
  get liveHubs(): number {
    let n = 0;
    for (const p of this.#peers.values()) if (p.counted) n++;
    return n;
  }

  /** Follows bucket `bucket` (stream `KV_<bucket>`); a watch that has read nothing for `stallMs` is reported. */
  async start(js: JetStreamClient, bucket: string, stallMs: number): Promise<void> {
    this.#prefix = `$KV.${bucket}.`;
    const consumer = await js.consumers.get(`KV_${bucket}`, { filter_subjects: `${this.#prefix}>`, deliver_policy: DeliverPolicy.LastPerSubject });
    // A short pull expiry, as the fan-out's: after a NATS restart the consumer is recreated within seconds.
    const messages = await consumer.consume({ expires: 2000, callback: (m) => this.#receive(m) });
    this.#stop = () => messages.close().then(() => {});
    this.#movedAt = this.#now();
    this.#sweep = setInterval(() => this.#checkStall(stallMs), stallMs);
    this.#sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#stop?.().catch(() => {});
  }

  /** Stops counting hubs whose heartbeat the bucket's clock has passed; forgets those gone from the bucket. */
  #expire(): void {
    const now = this.#readUpTo;
    for (const [pid, p] of this.#peers) {
      if (p.counted && now - p.lastBeat > p.ttlMs * DEAD_AFTER) {
        this.#uncount(p);
        this.#log.info({ hub: pid, users: usersOf(p), silentMs: Math.round(now - p.lastBeat) }, 'presence: a hub stopped beating; its users no longer count');
      }
      if (!p.counted && now - p.lastSeen > PRESENCE_RETAIN_MS) this.#peers.delete(pid);
    }
  }

  #checkStall(stallMs: number): void {
    const stalled = this.#now() - this.#movedAt > stallMs;
    if (stalled && !this.#stalled) this.#log.warn({ silentMs: this.#now() - this.#movedAt }, 'presence watch reads nothing (not even this hub\'s heartbeats): online counts stay as last read');
    if (!stalled && this.#stalled) this.#log.info('presence watch reads again');
    this.#stalled = stalled;
  }

  #receive(m: JsMsg): void {
    const at = m.info.timestampNanos / 1e6;
    if (at > this.#readUpTo) {
      this.#readUpTo = at;
      this.#movedAt = this.#now();
    }
    let heartbeat = false;
    try {
      heartbeat = this.#apply(m, at);
    } catch (e) {
      // One bad entry costs that entry, never the watch.
      this.#log.warn({ subject: m.subject, err: (e as Error).message }, 'presence entry skipped');
    }
    // Heartbeats move the clock by a step that matters: judge every hub then.
    if (heartbeat) this.#expire();
    if (m.info.pending === 0) {
      this.#expire();
      this.#resolveReady();
    }
  }

  /** Applies one message read at server time `at`; true for a heartbeat (this hub's too). */
  #apply(m: JsMsg, at: number): boolean {
    const key = parsePresenceKey(m.subject.slice(this.#prefix.length));
    if (key === undefined) return false;
    if (key.pid === this.#selfPid) return key.kind === 'heartbeat';
    const op = m.headers?.get('KV-Operation');
    const removed = op === 'DEL' || op === 'PURGE';
    let peer = this.#peers.get(key.pid);
    if (key.kind === 'heartbeat') {
      if (removed) {
        // A clean shutdown: its users leave now, not a TTL later.
        if (peer?.counted) this.#uncount(peer);
        this.#peers.delete(key.pid);
        return false;
      }
      const { ttlMs } = decodeHeartbeat(m.data);
      peer ??= this.#newPeer(key.pid);
      peer.ttlMs = ttlMs;
      peer.lastBeat = Math.max(peer.lastBeat, at);
      peer.lastSeen = Math.max(peer.lastSeen, at);
      if (!peer.counted && this.#readUpTo - peer.lastBeat <= ttlMs * DEAD_AFTER) this.#count(peer);
      return true;
    }
    const users = removed ? NO_USERS : decodeShard(m.data);
    peer ??= this.#newPeer(key.pid);
    peer.lastSeen = Math.max(peer.lastSeen, at);
    this.#applyShard(peer, key.shard, users);
    return false;
  }

  #applyShard(peer: Peer, shard: number, next: StoredShard): void {
    const prev = peer.shards.get(shard) ?? NO_USERS;
    // A shard is rewritten whole for one change in it: the users who did not change cost a comparison.
    if (peer.counted) {
      for (const user in prev) {
        const was = prev[user]!;
        const now = next[user];
        if (now === undefined || !sameRecord(was, now)) this.#counts.remove(user, was);
      }
      for (const user in next) {
        const now = next[user]!;
        const was = prev[user];
        if (was === undefined || !sameRecord(was, now)) this.#counts.add(user, now);
      }
    }
    if (next === NO_USERS || isEmpty(next)) peer.shards.delete(shard);
    else peer.shards.set(shard, next);
  }

  #newPeer(pid: string): Peer {
    const peer: Peer = { lastBeat: -Infinity, ttlMs: 0, lastSeen: -Infinity, counted: false, shards: new Map() };
    this.#peers.set(pid, peer);
    return peer;
  }

  #count(peer: Peer): void {
    peer.counted = true;
    for (const users of peer.shards.values()) for (const user in users) this.#counts.add(user, users[user]!);
  }

  #uncount(peer: Peer): void {
    peer.counted = false;
    for (const users of peer.shards.values()) for (const user in users) this.#counts.remove(user, users[user]!);
  }
}

function sameRecord(a: StoredRecord, b: StoredRecord): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function isEmpty(users: StoredShard): boolean {
  for (const _ in users) return false;
  return true;
}

function usersOf(peer: Peer): number {
  let n = 0;
  for (const users of peer.shards.values()) for (const _ in users) n++;
  return n;
}

/**
 * Who is connected to this hub, and who is subscribed to which site. Published
 * to the presence KV bucket (coalesced, refreshed before it expires) so any hub
 * or HubPublisher can count users cluster-wide.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { readHubPresence } from '../protocol/presence-read.ts';
import { type HubPresence, mergePresence, type OnlineStats } from '../protocol/presence.ts';
import type { Logger } from './logger.ts';
import { PRESENCE_TTL_MS } from './streams.ts';

/** Changes are written at most this often, so connection storms don't become write storms. */
const FLUSH_DELAY_MS = 100;

export class PresenceTracker {
  readonly #hubId: string;
  readonly #users = new Map<string, number>();
  readonly #sites = new Map<string, Map<string, number>>();
  #kv: KV | undefined;
  #jsm: JetStreamManager | undefined;
  #ns = '';
  #log: Logger;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;

  constructor(hubId: string, log: Logger) {
    this.#hubId = hubId;
    this.#log = log;
  }

  /** Starts publishing to the bucket of namespace `ns`. */
  attach(kv: KV, jsm: JetStreamManager, ns: string): void {
    this.#kv = kv;
    this.#jsm = jsm;
    this.#ns = ns;
    this.#refreshTimer = setInterval(() => this.#schedule(), PRESENCE_TTL_MS / 3);
    this.#refreshTimer.unref();
    this.#schedule();
  }

  connectionsOf(userKey: string): number {
    return this.#users.get(userKey) ?? 0;
  }

  connected(userKey: string): void {
    bump(this.#users, userKey, 1);
    this.#schedule();
  }

  disconnected(userKey: string): void {
    bump(this.#users, userKey, -1);
    this.#schedule();
  }

  joinedSite(siteId: string, userKey: string): void {
    let perUser = this.#sites.get(siteId);
    if (perUser === undefined) this.#sites.set(siteId, (perUser = new Map()));
    bump(perUser, userKey, 1);
    this.#schedule();
  }

  leftSite(siteId: string, userKey: string): void {
    const perUser = this.#sites.get(siteId);
    if (perUser === undefined) return;
    bump(perUser, userKey, -1);
    if (perUser.size === 0) this.#sites.delete(siteId);
    this.#schedule();
  }

  /** This hub's entry, as written to the bucket. */
  snapshot(): HubPresence {
    const sites: Record<string, Record<string, number>> = {};
    for (const [site, perUser] of this.#sites) sites[site] = Object.fromEntries(perUser);
    return { hubId: this.#hubId, at: Date.now(), users: Object.fromEntries(this.#users), sites };
  }

  /** Cluster-wide counts: the other hubs' entries from the bucket, this hub's live state. */
  async clusterStats(): Promise<OnlineStats> {
    const entries: HubPresence[] = [this.snapshot()];
    if (this.#kv !== undefined) {
      try {
        entries.push(...(await readHubPresence(this.#jsm!, this.#kv, this.#ns, this.#hubId)));
      } catch (e) {
        this.#log.warn({ err: (e as Error).message }, 'presence bucket unreadable; counting this hub only');
      }
    }
    return mergePresence(entries);
  }

  /** Removes this hub's entry (clean shutdown). */
  async close(): Promise<void> {
    clearTimeout(this.#flushTimer);
    clearInterval(this.#refreshTimer);
    await this.#kv?.delete(this.#hubId).catch(() => {});
    this.#kv = undefined;
  }

  #schedule(): void {
    if (this.#kv === undefined || this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#kv?.put(this.#hubId, JSON.stringify(this.snapshot())).catch((e: Error) => {
        this.#log.warn({ err: e.message }, 'presence write failed; will retry on the next change or refresh');
      });
    }, FLUSH_DELAY_MS);
  }
}

function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

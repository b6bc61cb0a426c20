/**
 * Cluster-wide online counts kept up to date by deltas: every live hub's record
 * of a user is added once and removed once, so a count is a map's size, read in
 * O(sites) however many users there are. A user on two hubs has two records and
 * is counted once (the maps count records per user).
 */
import type { OnlineStats, OnlineCounts } from '../protocol/presence.ts';
import type { UserRecord } from './presence-entry.ts';

interface SiteCounts {
  /** Records per user subscribed to the site. */
  readonly users: Map<string, number>;
  connections: number;
}

export class PresenceCounts {
  /** Records (hubs) per user. */
  readonly #users = new Map<string, number>();
  readonly #sites = new Map<string, SiteCounts>();
  #connections = 0;

  add(user: string, r: UserRecord): void {
    // Online means connected: a record left with sites but no connection (never written in order) counts for its sites only.
    if (r.connections > 0) this.#users.set(user, (this.#users.get(user) ?? 0) + 1);
    this.#connections += r.connections;
    for (const site in r.sites) {
      let s = this.#sites.get(site);
      if (s === undefined) this.#sites.set(site, (s = { users: new Map(), connections: 0 }));
      s.users.set(user, (s.users.get(user) ?? 0) + 1);
      s.connections += r.sites[site]!;
    }
  }

  /** Takes away a record added before (the caller keeps what it added). */
  remove(user: string, r: UserRecord): void {
    if (r.connections > 0) decrement(this.#users, user);
    this.#connections -= r.connections;
    for (const site in r.sites) {
      const s = this.#sites.get(site);
      if (s === undefined) continue;
      decrement(s.users, user);
      s.connections -= r.sites[site]!;
      if (s.users.size === 0) this.#sites.delete(site);
    }
  }

  get users(): number {
    return this.#users.size;
  }

  /** Unique users subscribed to one site. */
  siteUsers(site: string): number {
    return this.#sites.get(site)?.users.size ?? 0;
  }

  stats(hubs: number): OnlineStats {
    const sites: Record<string, OnlineCounts> = {};
    for (const [site, s] of this.#sites) sites[site] = { users: s.users.size, connections: s.connections };
    return { users: this.#users.size, connections: this.#connections, hubs, sites };
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/**
 * Cluster-wide online counts kept up to date by deltas: every live hub's record
 * of a user is added once and removed once, so a count is a map's size, read in
 * O(sites) however many users there are. A user on two hubs has two records and
 * is counted once (the maps count records per user).
 */
import type { OnlineStats, OnlineCounts } from '../protocol/presence.ts';

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

  /** Adds one hub's record of a user: `[connections, site, count, site, count, …]` as a shard stores it. */
  add(user: string, r: ReadonlyArray<string | number>): void {
    const connections = r[0] as number;
    // Online means connected: a record left with sites but no connection counts for its sites only.
    this.userDelta(user, connections > 0 ? 1 : 0, connections);
    for (let k = 1; k < r.length; k += 2) this.siteDelta(r[k] as string, user, 1, r[k + 1] as number);
  }

  /** Takes away a record added before (the caller keeps what it added). */
  remove(user: string, r: ReadonlyArray<string | number>): void {
    const connections = r[0] as number;
    this.userDelta(user, connections > 0 ? -1 : 0, -connections);
    for (let k = 1; k < r.length; k += 2) this.siteDelta(r[k] as string, user, -1, -(r[k + 1] as number));
  }

  /** `records`: +1 when a record of the user gained its first connection, -1 when it lost its last. */
  userDelta(user: string, records: number, connections: number): void {
    if (records !== 0) bump(this.#users, user, records);
    this.#connections += connections;
  }

  /** `records`: +1 when a record of the user joined the site, -1 when it left it. */
  siteDelta(site: string, user: string, records: number, connections: number): void {
    let s = this.#sites.get(site);
    if (s === undefined) this.#sites.set(site, (s = { users: new Map(), connections: 0 }));
    if (records !== 0) bump(s.users, user, records);
    s.connections += connections;
    if (s.users.size === 0) this.#sites.delete(site);
  }

  get users(): number {
    return this.#users.size;
  }

  /** Unique users subscribed to one site. */
  siteUsers(site: string): number {
    return this.#sites.get(site)?.users.size ?? 0;
  }

  /** `stats` with only the sites named (those with no one online left out). */
  statsOf(siteIds: readonly string[], hubs: number): OnlineStats {
    const sites: Record<string, OnlineCounts> = {};
    for (const site of siteIds) {
      const s = this.#sites.get(site);
      if (s !== undefined) sites[site] = { users: s.users.size, connections: s.connections };
    }
    return { users: this.#users.size, connections: this.#connections, hubs, sites };
  }

  stats(hubs: number): OnlineStats {
    const sites: Record<string, OnlineCounts> = {};
    for (const [site, s] of this.#sites) sites[site] = { users: s.users.size, connections: s.connections };
    return { users: this.#users.size, connections: this.#connections, hubs, sites };
  }
}

function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
